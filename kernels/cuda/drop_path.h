// Stochastic depth on the GPU: a per-sample scale of a residual branch (autograd/ops/drop_path.cc).
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

// y[b, i] = x[b, i] * scale[b] for contiguous x, y [batch, inner]; scale is fp32 on the device
// (keep[b] / keep_prob: 0 for dropped samples). The backward is the same map applied to dy. With a
// contiguous `residual` of the same shape: y = residual + x * scale (fp32, rounded once).
template <typename T>
void DropPathScale(const T* x, const float* scale, T* y, int64_t batch, int64_t inner, const T* residual = nullptr);

}  // namespace vfm::cuda
