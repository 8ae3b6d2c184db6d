// Softmax and log-softmax over the last dimension (C) on the GPU; the math is in kernels/cpu/softmax.h.
// Same signatures as the CPU kernels; T = float or bf16, arithmetic in fp32. Rows of any width
// (the iBOT head's K = 8192 prototypes, up to 65536 and beyond).
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

template <typename T> void SoftmaxForward(const T* x, T* y, int64_t rows, int64_t C);
template <typename T> void SoftmaxBackward(const T* dy, const T* y, T* dx, int64_t rows, int64_t C);
template <typename T> void LogSoftmaxForward(const T* x, T* y, int64_t rows, int64_t C);
template <typename T> void LogSoftmaxBackward(const T* dy, const T* y, T* dx, int64_t rows, int64_t C);

}  // namespace vfm::cuda
