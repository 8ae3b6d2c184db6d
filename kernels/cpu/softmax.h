// Softmax and log-softmax over the last dimension (C) of `rows` rows, max-subtracted for stability:
//   y = exp(x - max) / sum(exp(x - max)),           dx = y * (dy - sum(dy * y))
//   l = x - max - log(sum(exp(x - max))),           dx = dy - exp(l) * sum(dy)
#pragma once
#include <cstdint>

namespace vfm::cpu {

template <typename T> void SoftmaxForward(const T* x, T* y, int64_t rows, int64_t C);
template <typename T> void SoftmaxBackward(const T* dy, const T* y, T* dx, int64_t rows, int64_t C);
template <typename T> void LogSoftmaxForward(const T* x, T* y, int64_t rows, int64_t C);
template <typename T> void LogSoftmaxBackward(const T* dy, const T* y, T* dx, int64_t rows, int64_t C);

}  // namespace vfm::cpu
