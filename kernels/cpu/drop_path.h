// Stochastic depth (Huang et al. 2016) on a residual branch x [batch, inner], per sample b:
//   y[b, i] = x[b, i] * scale[b],   scale[b] = keep[b] / keep_prob   (0: the sample's branch is dropped)
// Backward: dx = dy * scale, the same map applied to dy. The residual form r + DropPath(x) is an Add on the
// host; kernels/cuda/drop_path.cu is the GPU version (fp32 arithmetic, fp32 scale, the residual add fused).
#pragma once
#include <cstdint>
#include <vector>

namespace vfm::cpu {

// scale[b] = keep[b] ? 1 / keep_prob : 0.
template <typename T>
std::vector<T> DropPathScales(const std::vector<uint8_t>& keep, double keep_prob) {
  std::vector<T> scale(keep.size());
  for (size_t b = 0; b < keep.size(); ++b) scale[b] = keep[b] ? T(1.0 / keep_prob) : T(0);
  return scale;
}

// y = x * scale[b] for contiguous x, y [batch, inner] (x == y allowed).
template <typename T>
void DropPathScale(const T* x, const T* scale, T* y, int64_t batch, int64_t inner) {
#pragma omp parallel for schedule(static) if (batch * inner > 65536)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = b * inner; i < (b + 1) * inner; ++i) y[i] = x[i] * scale[b];
}

}  // namespace vfm::cpu
