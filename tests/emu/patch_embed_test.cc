// kernels/cuda/patch_embed.cu on the CPU emulator: Patchify and Unpatchify bit for bit against
// kernels/cpu/patch_embed.h (pure data movement: f32 and bf16 as raw words), square and rectangular images,
// H and W not multiples of p (the leftover image border is neither read nor written), one patch per image,
// p = 1, and patches larger than the image (nothing written). Every output identical under the three orders.
#include "harness.h"
#include "kernels/cuda/patch_embed.cu.inc"
// The CPU reference's source, instantiated for float (which holds every bf16 value exactly).
#include "kernels/cpu/patch_embed.cc"

using namespace vfm;
using h::Buf;
using h::F;

struct Shape {
  int64_t B, C, H, W, p;
};

// Patchify's cols and Unpatchify's image as bits, the outputs starting as a sentinel (what is not written
// stays so); a trailing 0xDEAD if a guard was overwritten.
template <typename T>
std::vector<uint32_t> Run(const Shape& s, const std::vector<float>& img, const std::vector<float>& cols, int order) {
  h::SetOrder(order);
  Buf<T> bimg(img.size()), bcols(cols.size()), ocols(cols.size()), oimg(img.size());
  for (size_t i = 0; i < img.size(); ++i) bimg[i] = h::To<T>(img[i]), oimg[i] = h::To<T>(-7.f);
  for (size_t i = 0; i < cols.size(); ++i) bcols[i] = h::To<T>(cols[i]), ocols[i] = h::To<T>(-7.f);
  cuda::Patchify<T>(bimg.p, ocols.p, s.B, s.C, s.H, s.W, s.p);
  cuda::Unpatchify<T>(bcols.p, oimg.p, s.B, s.C, s.H, s.W, s.p);
  std::vector<uint32_t> bits;
  for (size_t i = 0; i < cols.size(); ++i) bits.push_back(h::Bits(ocols[i]));
  for (size_t i = 0; i < img.size(); ++i) bits.push_back(h::Bits(oimg[i]));
  if (!(bimg.Guards() && bcols.Guards() && ocols.Guards() && oimg.Guards())) bits.push_back(0xDEAD);
  return bits;
}

template <typename T>
void Check(const Shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t gh = s.p > 0 ? s.H / s.p : 0, gw = s.p > 0 ? s.W / s.p : 0;
  std::vector<float> img(s.B * s.C * s.H * s.W), cols(s.B * gh * gw * s.C * s.p * s.p);
  for (float& v : img) v = F(h::To<T>(nd(rng)));
  for (float& v : cols) v = F(h::To<T>(nd(rng)));
  std::vector<float> want_cols(cols.size(), -7.f), want_img(img.size(), -7.f);
  if (s.p > 0) {
    cpu::Patchify<float>(img.data(), want_cols.data(), s.B, s.C, s.H, s.W, s.p);
    cpu::Unpatchify<float>(cols.data(), want_img.data(), s.B, s.C, s.H, s.W, s.p);
  }
  std::vector<uint32_t> want;
  for (float v : want_cols) want.push_back(h::Bits(h::To<T>(v)));
  for (float v : want_img) want.push_back(h::Bits(h::To<T>(v)));
  const std::string what = h::Fmt("Patchify/Unpatchify %s B=%ld C=%ld H=%ld W=%ld p=%ld", h::Name<T>(), long(s.B),
                                  long(s.C), long(s.H), long(s.W), long(s.p));
  const std::vector<uint32_t> got = Run<T>(s, img, cols, emu::kForward);
  h::Report(got.size() == want.size(), what + " no writes outside the buffers");
  int64_t bad = -1;
  for (size_t i = 0; i < std::min(got.size(), want.size()) && bad < 0; ++i)
    if (got[i] != want[i]) bad = int64_t(i);
  h::Report(bad < 0, what + " bit for bit vs the CPU" +
                         (bad < 0 ? "" : bad < int64_t(cols.size())
                                             ? h::Fmt(": cols element %ld", long(bad))
                                             : h::Fmt(": image element %ld", long(bad - cols.size()))));
  for (int order : {emu::kReverse, emu::kRandom})
    h::Report(Run<T>(s, img, cols, order) == got, what + h::Fmt(" order=%d: same bits", order));
}

int main() {
  unsigned seed = 1;
  for (const Shape& s : {Shape{1, 3, 16, 16, 4}, Shape{2, 3, 14, 14, 4},  // 14: a 2-pixel border left over
                         Shape{2, 3, 32, 48, 16}, Shape{1, 3, 224, 224, 16}, Shape{1, 2, 5, 7, 1},
                         Shape{1, 4, 6, 6, 6},                            // one patch
                         Shape{2, 2, 13, 9, 3}, Shape{1, 3, 16, 16, 32}, Shape{1, 3, 8, 8, 0}}) {
    Check<float>(s, seed++);
    Check<bf16>(s, seed++);
  }
  return h::Summary("patch_embed");
}
