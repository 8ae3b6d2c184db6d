// kernels/cuda/resize_bicubic.cu on the CPU emulator against kernels/cpu/resize_bicubic.h: the f32 forward bit
// for bit (both sum the same 16 fp32 products in the same order), the bf16 forward and the backward (the GPU
// gathers each input cell's contributions, the CPU scatters them) within fp32 tolerances of the CPU's double
// instantiation; up- and downsampling, identity, 1-pixel sides (every tap clamped onto one cell), batches,
// the grid-stride loop (--big). Every output identical under the three scheduling orders.
#include "harness.h"
#include "kernels/cuda/resize_bicubic.cu.inc"
// Compiled here, with the tests' strict IEEE flags, so the f32 forward rounds as the kernel does.
#include "kernels/cpu/resize_bicubic.cc"

using namespace vfm;
using h::Buf;
using h::F;

struct Shape {
  int64_t B, h, w, H, W, D;
};

// The forward and backward outputs' bits (y, then dx) and whether the guards held.
template <typename T>
std::vector<uint32_t> Run(const Shape& s, const std::vector<float>& x, const std::vector<float>& dy, int order) {
  h::SetOrder(order);
  const int64_t nin = s.B * s.h * s.w * s.D, nout = s.B * s.H * s.W * s.D;
  Buf<T> bx(nin), by(nout), bdy(nout), bdx(nin);
  for (int64_t i = 0; i < nin; ++i) bx[i] = h::To<T>(x[i]), bdx[i] = h::To<T>(NAN);
  for (int64_t i = 0; i < nout; ++i) bdy[i] = h::To<T>(dy[i]), by[i] = h::To<T>(NAN);
  cuda::ResizeBicubicForward<T>(bx.p, by.p, s.B, s.h, s.w, s.H, s.W, s.D);
  cuda::ResizeBicubicBackward<T>(bdy.p, bdx.p, s.B, s.h, s.w, s.H, s.W, s.D);
  std::vector<uint32_t> bits;
  for (int64_t i = 0; i < nout; ++i) bits.push_back(h::Bits(by[i]));
  for (int64_t i = 0; i < nin; ++i) bits.push_back(h::Bits(bdx[i]));
  if (!(bx.Guards() && by.Guards() && bdy.Guards() && bdx.Guards())) bits.push_back(0xDEAD);
  return bits;
}

float Value(uint32_t bits, bool bf) {
  if (bf) return h::Bf16ToFloat(h::bf16{uint16_t(bits)});
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
void Check(const Shape& s, unsigned seed, bool all_orders = true) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  const bool bf = !std::is_same_v<T, float>;
  const int64_t nin = s.B * s.h * s.w * s.D, nout = s.B * s.H * s.W * s.D;
  std::vector<float> x(nin), dy(nout);
  for (float& v : x) v = F(h::To<T>(nd(rng)));
  for (float& v : dy) v = F(h::To<T>(nd(rng)));
  std::vector<double> xd(x.begin(), x.end()), dyd(dy.begin(), dy.end()), yd(nout), dxd(nin);
  cpu::ResizeBicubicForward<double>(xd.data(), yd.data(), s.B, s.h, s.w, s.H, s.W, s.D);
  cpu::ResizeBicubicBackward<double>(dyd.data(), dxd.data(), s.B, s.h, s.w, s.H, s.W, s.D);
  std::vector<float> yf(nout);
  cpu::ResizeBicubicForward<float>(x.data(), yf.data(), s.B, s.h, s.w, s.H, s.W, s.D);

  const std::string what = h::Fmt("ResizeBicubic %s B=%ld %ldx%ld -> %ldx%ld D=%ld", h::Name<T>(), long(s.B),
                                  long(s.h), long(s.w), long(s.H), long(s.W), long(s.D));
  const std::vector<uint32_t> got = Run<T>(s, x, dy, emu::kForward);
  h::Report(got.size() == size_t(nout + nin), what + " no writes outside the buffers");
  // fp32 sums of at most 16 terms (forward; |weights| sum to at most 1.6 per axis) or of every output whose taps
  // reach a cell (backward: about 4 out/in per axis, many more for a border cell of a 1-pixel side), relative to
  // the sum of |terms| (bounded through the largest |dy| and the number of outputs per input).
  const double per_y = std::max(1.0, double(s.H) / s.h) + 3, per_x = std::max(1.0, double(s.W) / s.w) + 3;
  const double tol_y = 4e-6, tol_dx = 1.2e-6 * per_y * per_x;
  int64_t bad_y = -1, bad_dx = -1, bad_bits = -1;
  for (int64_t i = 0; i < nout && bad_y < 0; ++i) {
    const double g = Value(got[i], bf);
    if (!(std::fabs(g - yd[i]) <= tol_y + (bf ? std::fabs(yd[i]) / 256 : 0))) bad_y = i;
    if (!bf && bad_bits < 0 && got[i] != h::Bits(yf[i])) bad_bits = i;
  }
  for (int64_t i = 0; i < nin && bad_dx < 0; ++i) {
    const double g = Value(got[nout + i], bf);
    if (!(std::fabs(g - dxd[i]) <= tol_dx * (1 + std::fabs(dxd[i])) + (bf ? std::fabs(dxd[i]) / 256 : 0)))
      bad_dx = i;
  }
  h::Report(bad_y < 0, what + " forward vs double" +
                           (bad_y < 0 ? "" : h::Fmt(": elem %ld got %.9g want %.9g", long(bad_y),
                                                    Value(got[bad_y], bf), yd[bad_y])));
  if (!bf)
    h::Report(bad_bits < 0, what + " forward bit for bit vs the CPU's f32" +
                                (bad_bits < 0 ? "" : h::Fmt(": first differing elem %ld", long(bad_bits))));
  h::Report(bad_dx < 0, what + " backward vs double" +
                            (bad_dx < 0 ? "" : h::Fmt(": elem %ld got %.9g want %.9g", long(bad_dx),
                                                      Value(got[nout + bad_dx], bf), dxd[bad_dx])));
  if (!all_orders) return;
  for (int order : {emu::kReverse, emu::kRandom})
    h::Report(Run<T>(s, x, dy, order) == got, what + h::Fmt(" order=%d: same bits", order));
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  unsigned seed = 1;
  for (const Shape& s : {Shape{1, 4, 4, 4, 4, 3},      // identity
                         Shape{2, 7, 5, 16, 12, 3},    // upsampling, batch
                         Shape{1, 5, 5, 23, 23, 1},    // by 4.6: many outputs per input
                         Shape{1, 37, 37, 16, 16, 8},  // downsampling (a ViT's position embeddings)
                         Shape{1, 14, 14, 16, 16, 64},
                         Shape{2, 1, 1, 3, 5, 2},      // 1-pixel input: every tap on one cell
                         Shape{1, 6, 1, 1, 4, 5},      // 1-pixel sides, down and up
                         Shape{1, 3, 9, 8, 2, 37}}) {
    Check<float>(s, seed++);
    Check<bf16>(s, seed++);
  }
  if (big)  // 16.8M outputs: the forward's grid-stride loop goes round twice
    Check<float>(Shape{1, 64, 64, 128, 128, 1025}, seed++, false);
  return h::Summary("resize_bicubic");
}
