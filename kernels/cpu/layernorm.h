// LayerNorm over the last dimension (C) of `rows` rows:
//   mean = sum(x)/C,  rstd = 1/sqrt(sum((x-mean)^2)/C + eps),  xhat = (x-mean)*rstd,  y = xhat*w + b
// Backward (per row, with dxhat = dy*w):
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dw = sum_rows dy*xhat,  db = sum_rows dy
// mean and rstd are saved by the forward for the backward.
#pragma once
#include <cstdint>

namespace vfm::cpu {

template <typename T>
void LayerNormForward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows, int64_t C,
                      double eps);

// dw and db are accumulated into (+=); dx is overwritten.
template <typename T>
void LayerNormBackward(const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx, T* dw, T* db,
                       int64_t rows, int64_t C);

}  // namespace vfm::cpu
