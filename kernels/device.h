// Which CUDA devices this process can use. A binary built with CUDA still runs where there is no GPU (or
// no driver): it then reports zero devices and why, and vfm falls back to the CPU.
#pragma once
#include <string>

namespace vfm {

struct CudaProbe {
  int devices = 0;
  std::string detail;  // device names, or why there are none
};

CudaProbe ProbeCuda();

}  // namespace vfm
