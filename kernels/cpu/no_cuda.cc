// ProbeCuda for builds without a CUDA compiler.
#include "kernels/device.h"

namespace vfm {

CudaProbe ProbeCuda() { return {0, "this build has no CUDA support (no CUDA compiler was found)"}; }

}  // namespace vfm
