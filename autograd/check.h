// VFM_CHECK(cond) << "message": throws vfm::Error naming the failed condition, file and line.
// Used for programming errors (shape mismatches, bad arguments); I/O and user input use absl::Status.
#pragma once
#include <sstream>
#include <string>

#include "kernels/error.h"

namespace vfm {

namespace internal {
class CheckFailure {
 public:
  CheckFailure(const char* cond, const char* file, int line) {
    stream_ << file << ":" << line << ": check failed: " << cond << " ";
  }
  [[noreturn]] ~CheckFailure() noexcept(false) { throw Error(stream_.str()); }
  template <typename T> CheckFailure& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }

 private:
  std::ostringstream stream_;
};
}  // namespace internal

}  // namespace vfm

#define VFM_CHECK(cond) \
  if (cond) {           \
  } else                \
    ::vfm::internal::CheckFailure(#cond, __FILE__, __LINE__)
