// ProbeCuda with the CUDA runtime (built only when CMake finds a CUDA compiler).
#include <cuda_runtime.h>

#include "kernels/device.h"

namespace vfm {

CudaProbe ProbeCuda() {
  CudaProbe probe;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    probe.detail = std::string("CUDA runtime: ") + cudaGetErrorString(err);
    return probe;
  }
  probe.devices = count;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess)
      probe.detail += (i ? ", " : "") + std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
                      std::to_string(prop.minor) + ")";
  }
  if (count == 0) probe.detail = "no CUDA device";
  return probe;
}

}  // namespace vfm
