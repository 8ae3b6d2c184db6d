// Bicubic resize of a grid of D-vectors on the GPU, [B, h, w, D] -> [B, H, W, D]; the math (torch's
// interpolate(mode='bicubic', align_corners=False), a = -0.75) is in kernels/cpu/resize_bicubic.h.
// Same signatures as the CPU kernels.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

template <typename T>
void ResizeBicubicForward(const T* x, T* y, int64_t batch, int64_t in_h, int64_t in_w, int64_t out_h,
                          int64_t out_w, int64_t D);
// dx is overwritten (deterministic: each input cell gathers its contributions, no atomics).
template <typename T>
void ResizeBicubicBackward(const T* dy, T* dx, int64_t batch, int64_t in_h, int64_t in_w, int64_t out_h,
                           int64_t out_w, int64_t D);

}  // namespace vfm::cuda
