// One thread: the check of kernels/cuda/nonfinite.h, queued on the compute stream after the step.
#include "kernels/cuda/nonfinite.h"

#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

__global__ void RecordFirstNonFiniteKernel(const float* value, int64_t step, int64_t* first) {
  if (!isfinite(*value) && *first < 0) *first = step;
}

}  // namespace

void RecordFirstNonFinite(const float* value, int64_t step, int64_t* first) {
  RecordFirstNonFiniteKernel<<<1, 1, 0, Compute()>>>(value, step, first);
  VFM_CUDA_LAUNCHED("RecordFirstNonFinite");
}

}  // namespace vfm::cuda
