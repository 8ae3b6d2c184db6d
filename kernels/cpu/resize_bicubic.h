// Bicubic resize of a grid of D-vectors, as torch.nn.functional.interpolate(mode='bicubic',
// align_corners=False) computes it: for output pixel y, source coordinate s = (y + 0.5) * in/out - 0.5,
// t = s - floor(s), taps at floor(s) + {-1, 0, 1, 2} (clamped to the border) with Keys' cubic
// convolution weights (a = -0.75):
//   W(x) = (a+2)|x|^3 - (a+3)|x|^2 + 1       for |x| <= 1
//   W(x) = a|x|^3 - 5a|x|^2 + 8a|x| - 4a      for 1 < |x| < 2
// Layout [B, h, w, D] -> [B, H, W, D]. The op is linear, so backward scatters with the same weights.
#pragma once
#include <cstdint>

namespace vfm::cpu {

template <typename T>
void ResizeBicubicForward(const T* x, T* y, int64_t batch, int64_t in_h, int64_t in_w, int64_t out_h,
                          int64_t out_w, int64_t D);
// dx is overwritten.
template <typename T>
void ResizeBicubicBackward(const T* dy, T* dx, int64_t batch, int64_t in_h, int64_t in_w, int64_t out_h,
                           int64_t out_w, int64_t D);

}  // namespace vfm::cpu
