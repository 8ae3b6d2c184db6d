// kernels/cuda/normalize_images.cu on the CPU emulator against kernels/cpu/normalize_images.h: bit for bit in
// f32 (both one fused multiply-add per pixel), the f32 result rounded once in bf16; planes of odd and
// multiple-of-8 sizes, every output identical under the three scheduling orders.
#include "harness.h"
#include "kernels/cuda/normalize_images.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;

template <typename T>
void Check(int64_t planes, int64_t plane_size, size_t off) {
  const int64_t n = planes * plane_size;
  std::mt19937 rng(planes * 1000 + plane_size);
  Buf<uint8_t> in(n, off);
  Buf<cpu::PlaneNorm> norms(planes);
  for (int64_t i = 0; i < n; ++i) in[i] = uint8_t(rng());
  in[0] = 0, in[n - 1] = 255;
  for (int64_t p = 0; p < planes; ++p)
    norms[p] = cpu::PlaneNormFor(0.3f + 0.1f * float(p % 3) + 0.01f * float(p), 0.2f + 0.03f * float(p));
  std::vector<float> want(n);
  cpu::NormalizeImages(in.p, norms.p, want.data(), planes, plane_size);
  const std::string what = h::Fmt("NormalizeImages %s planes=%ld plane_size=%ld off=%zu", h::Name<T>(), long(planes),
                                  long(plane_size), off);
  std::vector<uint32_t> first;
  for (int order : {emu::kForward, emu::kReverse, emu::kRandom}) {
    h::SetOrder(order);
    Buf<T> out(n, off);
    for (int64_t i = 0; i < n; ++i) out[i] = h::To<T>(NAN);
    NormalizeImages<T>(in.p, norms.p, out.p, planes, plane_size);
    int64_t bad = -1;
    std::vector<uint32_t> bits(n);
    for (int64_t i = 0; i < n; ++i) {
      bits[i] = h::Bits(out[i]);
      if (bad < 0 && bits[i] != h::Bits(h::To<T>(want[i]))) bad = i;
    }
    h::Report(bad < 0 && in.Guards() && norms.Guards() && out.Guards(),
              what + h::Fmt(" order=%d%s", order,
                            bad < 0 ? "" : h::Fmt(": elem %ld got %.9g want %.9g", long(bad), h::F(out[bad]),
                                                  want[bad]).c_str()));
    if (order == emu::kForward) first = bits;
    else h::Report(bits == first, what + h::Fmt(" order=%d: same bits as forward", order));
  }
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  for (int64_t planes : {1, 3, 6})
    for (int64_t size : {1, 3, 8, 37, 197, 224 * 8}) {
      Check<float>(planes, size, planes == 3);
      Check<bf16>(planes, size, planes == 3);
    }
  if (big) Check<float>(3, 5600003, 0);  // more pixels than 65535 blocks of 256 threads: the grid-stride loop
  return h::Summary("normalize_images");
}
