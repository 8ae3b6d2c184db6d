// vfm::Error: the project's one exception type, for programming errors (VFM_CHECK in autograd/check.h) and
// device failures (CUDA, cuBLASLt: kernels/cuda). The CLI turns it into a one-line message and a non-zero
// status; I/O and user input use absl::Status instead.
#pragma once
#include <stdexcept>

namespace vfm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vfm
