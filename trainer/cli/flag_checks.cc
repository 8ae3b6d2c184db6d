#include "trainer/cli/flag_checks.h"

#include <filesystem>

#include "absl/strings/numbers.h"

namespace vfm::cli {

double FlagChecker::GetAbove(const absl::Flag<double>& flag, double min, double max) {
  const double value = absl::GetFlag(flag);
  if (!(value > min && value <= max && value < kNoLimit))
    Fail(Name(flag), absl::StrCat("must be in ", Range(min, max, "("), ", got ", Number(value)));
  return value;
}

std::vector<float> FlagChecker::GetProbabilities(const absl::Flag<std::vector<std::string>>& flag) {
  std::vector<float> out;
  for (const std::string& text : absl::GetFlag(flag)) {
    float p = 0;
    if (!absl::SimpleAtof(text, &p)) {
      Fail(Name(flag), absl::StrCat("must be a list of numbers in [0, 1], got '", text, "'"));
    } else if (!(p >= 0 && p <= 1)) {
      Fail(Name(flag), absl::StrCat("must be a list of numbers in [0, 1], got ", Number(p)));
    }
    out.push_back(p);
  }
  if (out.empty()) Fail(Name(flag), "must list at least one probability");
  return out;
}

void FlagChecker::Ordered(const absl::Flag<double>& low, const absl::Flag<double>& high) {
  const double lo = absl::GetFlag(low), hi = absl::GetFlag(high);
  Require(lo <= hi, absl::StrCat(Name(low), " ", Number(lo), " is above ", Name(high), " ", Number(hi)));
}

void FlagChecker::Require(bool ok, const std::string& message) {
  if (!ok && status_.ok()) status_ = absl::InvalidArgumentError(message);
}

void FlagChecker::Fail(const std::string& flag, const std::string& what) { Require(false, flag + " " + what); }

bool WritableFilePath(const std::string& path) {
  const std::filesystem::path p(path), folder = p.parent_path().empty() ? "." : p.parent_path();
  return !std::filesystem::is_directory(p) && std::filesystem::is_directory(folder);
}

}  // namespace vfm::cli
