// kernels/cuda/drop_path.cu on the CPU emulator: ScaleKernel / ScalePacksKernel through DropPathScale, with
// and without the residual, aligned and misaligned, bit for bit against the same arithmetic on the CPU.
#include "harness.h"
#include "kernels/cuda/drop_path.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

template <typename T>
void Check(int64_t batch, int64_t inner, size_t x_off, size_t y_off, size_t r_off, bool residual, int order) {
  h::SetOrder(order);
  const int64_t n = batch * inner;
  Buf<T> x(n, x_off), y(n, y_off), r(n, r_off);
  Buf<float> scale(batch);
  std::mt19937 rng(batch * 1000 + inner);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int64_t b = 0; b < batch; ++b) scale[b] = b % 3 == 1 ? 0.f : 1.f / 0.9f;
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = h::To<T>(nd(rng));
    r[i] = h::To<T>(nd(rng));
    y[i] = h::To<T>(NAN);
    const float v = F(x[i]) * scale[i / inner];
    want[i] = F(h::To<T>(residual ? F(r[i]) + v : v));
  }
  DropPathScale<T>(x.p, scale.p, y.p, batch, inner, residual ? r.p : nullptr);
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; ++i)
    if (h::Bits(y[i]) != h::Bits(h::To<T>(want[i]))) bad = i;
  const bool packed = inner % 8 == 0 && Aligned16(x.p) && Aligned16(y.p) && (!residual || Aligned16(r.p));
  h::Report(bad < 0 && x.Guards() && y.Guards() && r.Guards() && scale.Guards(),
            h::Fmt("DropPathScale %s batch=%ld inner=%ld offs=%zu/%zu/%zu residual=%d %s order=%d%s", h::Name<T>(),
                   long(batch), long(inner), x_off, y_off, r_off, int(residual), packed ? "packed" : "per-element",
                   order,
                   bad < 0 ? "" : h::Fmt(": elem %ld got %.9g want %.9g", long(bad), F(y[bad]), want[bad]).c_str()));
}

template <typename T>
void Suite() {
  for (int order : {0, 1})
    for (int64_t batch : {1, 3, 7})
      for (int64_t inner : {1, 7, 8, 16, 100, 768, 197 * 8})
        for (bool res : {false, true}) {
          Check<T>(batch, inner, 0, 0, 0, res, order);
          Check<T>(batch, inner, 1, 1, 1, res, order);
          Check<T>(batch, inner, 0, 0, 1, res, order);
          Check<T>(batch, inner, 0, 1, 0, res, order);
        }
}

int main() {
  Suite<float>();
  Suite<bf16>();
  return h::Summary("drop_path");
}
