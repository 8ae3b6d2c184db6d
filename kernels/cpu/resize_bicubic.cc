#include "kernels/cpu/resize_bicubic.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace vfm::cpu {

namespace {
// Taps and weights of one output coordinate.
struct Taps {
  int64_t index[4];
  double weight[4];
};

Taps CubicTaps(int64_t out, int64_t in_size, int64_t out_size) {
  constexpr double a = -0.75;
  const double s = (double(out) + 0.5) * double(in_size) / double(out_size) - 0.5;
  const double f = std::floor(s), t = s - f;
  auto near = [](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [](double x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };  // 1 < |x| < 2
  Taps taps{};
  const double w[4] = {far(t + 1), near(t), near(1 - t), far(2 - t)};
  for (int i = 0; i < 4; ++i) {
    taps.index[i] = std::clamp<int64_t>(int64_t(f) - 1 + i, 0, in_size - 1);
    taps.weight[i] = w[i];
  }
  return taps;
}
}  // namespace

template <typename T>
void ResizeBicubicForward(const T* x, T* y, int64_t batch, int64_t in_h, int64_t in_w, int64_t out_h,
                          int64_t out_w, int64_t D) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const Taps ty = CubicTaps(oy, in_h, out_h);
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const Taps tx = CubicTaps(ox, in_w, out_w);
        T* dst = y + ((b * out_h + oy) * out_w + ox) * D;
        std::fill(dst, dst + D, T(0));
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const T w = T(ty.weight[i] * tx.weight[j]);
            const T* src = x + ((b * in_h + ty.index[i]) * in_w + tx.index[j]) * D;
            for (int64_t d = 0; d < D; ++d) dst[d] += w * src[d];
          }
      }
    }
}

template <typename T>
void ResizeBicubicBackward(const T* dy, T* dx, int64_t batch, int64_t in_h, int64_t in_w, int64_t out_h,
                           int64_t out_w, int64_t D) {
  std::memset(dx, 0, sizeof(T) * size_t(batch * in_h * in_w * D));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const Taps ty = CubicTaps(oy, in_h, out_h);
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const Taps tx = CubicTaps(ox, in_w, out_w);
        const T* g = dy + ((b * out_h + oy) * out_w + ox) * D;
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const T w = T(ty.weight[i] * tx.weight[j]);
            T* dst = dx + ((b * in_h + ty.index[i]) * in_w + tx.index[j]) * D;
            for (int64_t d = 0; d < D; ++d) dst[d] += w * g[d];
          }
      }
    }
}

template void ResizeBicubicForward<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                          int64_t);
template void ResizeBicubicForward<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                           int64_t);
template void ResizeBicubicBackward<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                           int64_t);
template void ResizeBicubicBackward<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t,
                                            int64_t, int64_t);

}  // namespace vfm::cpu
