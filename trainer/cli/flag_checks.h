// Flag values are checked where a subcommand reads them: each getter returns the flag's value and keeps
// the first one outside its allowed range as an InvalidArgument error naming the flag, the range and the
// value ("--out_dim must be in [1, 1048576], got 0"). A subcommand reads all its flags, then stops with
// status() (exit status 2) before doing any work.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vfm::cli {

// An upper bound for real-valued flags that only need to be finite ("[0, inf)").
inline constexpr double kNoLimit = std::numeric_limits<double>::infinity();
// Loader and decode threads of one process (more fail to start, or only contend).
inline constexpr int kMaxThreads = 256;

// T, kept out of template argument deduction: Get(FLAGS_batch, 1, 1 << 20) takes int bounds for an int64_t flag.
template <typename T>
struct NonDeduced {
  using type = T;
};

class FlagChecker {
 public:
  // min <= value <= max (and finite, for reals).
  template <typename T>
  T Get(const absl::Flag<T>& flag, typename NonDeduced<T>::type min, typename NonDeduced<T>::type max) {
    const T value = absl::GetFlag(flag);
    // Written so that NaN fails.
    if (!(value >= min && value <= max && (std::is_integral_v<T> || double(value) < kNoLimit)))
      Fail(Name(flag), absl::StrCat("must be in ", Range(min, max, "["), ", got ", Number(value)));
    return value;
  }
  // min < value <= max: temperatures and other strictly positive reals.
  double GetAbove(const absl::Flag<double>& flag, double min, double max);
  // A comma-separated list of probabilities, each in [0, 1].
  std::vector<float> GetProbabilities(const absl::Flag<std::vector<std::string>>& flag);
  // Two flags that bound a range: --low <= --high.
  void Ordered(const absl::Flag<double>& low, const absl::Flag<double>& high);
  // Any other condition; `message` is kept when `ok` is false and no earlier error is.
  void Require(bool ok, const std::string& message);

  const absl::Status& status() const { return status_; }

 private:
  template <typename T>
  static std::string Name(const absl::Flag<T>& flag) {
    return "--" + std::string(absl::GetFlagReflectionHandle(flag).Name());
  }
  // Whole numbers in full (1000000, not 1e+06).
  template <typename T>
  static std::string Number(T value) {
    if constexpr (std::is_floating_point_v<T>)
      if (value == std::trunc(value) && std::abs(value) < 1e15) return absl::StrCat(int64_t(value));
    return absl::StrCat(value);
  }
  // "[min, max]", "(min, max]", "[min, inf)".
  template <typename T>
  static std::string Range(T min, T max, const char* open) {
    if constexpr (std::is_floating_point_v<T>)
      if (max == kNoLimit) return absl::StrCat(open, Number(min), ", inf)");
    return absl::StrCat(open, Number(min), ", ", Number(max), "]");
  }
  void Fail(const std::string& flag, const std::string& what);

  absl::Status status_;
};

// True if `path` can be written as a file: its folder exists and it is not a folder itself (checked before
// the work whose result it is to hold).
bool WritableFilePath(const std::string& path);

}  // namespace vfm::cli
