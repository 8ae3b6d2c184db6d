#include "data/normalization.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vfm::data {
namespace {

constexpr float kMinStd = 1e-3f;

absl::Status CheckRange(const Normalization& n, const std::string& what) {
  for (int c = 0; c < 3; ++c) {
    if (!(n.mean[size_t(c)] >= 0 && n.mean[size_t(c)] <= 1))
      return absl::InvalidArgumentError(absl::StrCat(what, ": mean ", n.mean[size_t(c)], " is not in [0, 1]"));
    if (!(n.std[size_t(c)] >= kMinStd && n.std[size_t(c)] <= 1))
      return absl::InvalidArgumentError(absl::StrCat(what, ": std ", n.std[size_t(c)], " is not in [", kMinStd, ", 1]"));
  }
  return absl::OkStatus();
}

// "M,S" or "M1,M2,M3,S1,S2,S3".
absl::StatusOr<Normalization> ParseValues(const std::string& spec) {
  const absl::Status bad = absl::InvalidArgumentError(absl::StrCat(
      "--norm '", spec, "' is not dataset, imagenet, MEAN,STD or MEAN_R,MEAN_G,MEAN_B,STD_R,STD_G,STD_B"));
  std::vector<float> v;
  for (absl::string_view part : absl::StrSplit(spec, ',')) {
    float x = 0;
    if (!absl::SimpleAtof(part, &x)) return bad;
    v.push_back(x);
  }
  if (v.size() != 2 && v.size() != 6) return bad;
  const size_t k = v.size() / 2;
  Normalization n;
  for (size_t c = 0; c < 3; ++c) {
    n.mean[c] = v[k == 1 ? 0 : c];
    n.std[c] = v[k == 1 ? 1 : 3 + c];
  }
  if (absl::Status s = CheckRange(n, absl::StrCat("--norm ", spec)); !s.ok()) return s;
  return n;
}

}  // namespace

absl::Status CheckNormalizationSpec(const std::string& spec) {
  return spec == "dataset" || spec == "imagenet" ? absl::OkStatus() : ParseValues(spec).status();
}

absl::StatusOr<NormalizationTable> ResolveNormalization(const std::string& spec, const DatasetIndex& index,
                                                        std::vector<std::string>* notes) {
  NormalizationTable table;
  if (spec == "dataset") {
    for (const auto& [name, count] : index.modality_counts) {
      const auto stats = index.modality_stats.find(name);
      if (stats == index.modality_stats.end()) {
        table[name] = Normalization();
        if (notes)
          notes->push_back(absl::StrCat("modality ", name, " has no statistics in index.json (`vfm stats` adds them): ",
                                        "normalised with ImageNet's"));
        continue;
      }
      Normalization n;
      for (size_t c = 0; c < 3; ++c) {
        n.mean[c] = float(stats->second.mean[c]);
        n.std[c] = float(stats->second.std[c]);
      }
      if (absl::Status s = CheckRange(n, absl::StrCat("--norm=dataset: modality ", name)); !s.ok())
        return absl::InvalidArgumentError(absl::StrCat(s.message(), " (its images are nearly constant): pass --norm=imagenet or values"));
      table[name] = n;
    }
    return table;
  }
  Normalization n;  // ImageNet's
  if (spec != "imagenet") {
    absl::StatusOr<Normalization> values = ParseValues(spec);
    if (!values.ok()) return values.status();
    n = *values;
  }
  for (const auto& [name, count] : index.modality_counts) table[name] = n;
  return table;
}

nlohmann::json NormalizationToJson(const NormalizationTable& table) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, n] : table) j[name] = {{"mean", n.mean}, {"std", n.std}};
  return j;
}

absl::StatusOr<NormalizationTable> NormalizationFromJson(const nlohmann::json& j) {
  NormalizationTable table;
  if (!j.is_object()) return absl::DataLossError("normalization: not an object");
  for (const auto& [name, value] : j.items()) {
    Normalization n;
    try {
      n.mean = value.at("mean").get<std::array<float, 3>>();
      n.std = value.at("std").get<std::array<float, 3>>();
    } catch (const nlohmann::json::exception& e) {
      return absl::DataLossError(absl::StrCat("normalization.", name, ": ", e.what()));
    }
    if (absl::Status s = CheckRange(n, absl::StrCat("normalization.", name)); !s.ok())
      return absl::DataLossError(s.message());
    table[name] = n;
  }
  return table;
}

NormalizationTable AsTrained(NormalizationTable own, const NormalizationTable& trained) {
  for (auto& [name, n] : own) {
    const auto it = trained.count(name) ? trained.find(name) : trained.find("*");
    if (it != trained.end()) n = it->second;
  }
  return own;
}

}  // namespace vfm::data
