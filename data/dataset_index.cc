#include "data/dataset_index.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "data/shard_format.h"
#include "nlohmann/json.hpp"

namespace vfm::data {

absl::StatusOr<DatasetIndex> ReadDatasetIndex(const std::string& folder) {
  const std::string path = folder + "/" + kIndexFile;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open (is this a vfm dataset folder?)"));
  std::stringstream text;
  text << in.rdbuf();
  try {
    const nlohmann::json j = nlohmann::json::parse(text.str());
    DatasetIndex index;
    index.format_version = j.at("format_version").get<int>();
    if (index.format_version != kFormatVersion)
      return absl::FailedPreconditionError(absl::StrCat(path, ": format_version ", index.format_version,
                                                        ", this reader knows ", kFormatVersion));
    index.created_by = j.value("created_by", "");
    index.modalities = j.at("modalities").get<std::vector<std::string>>();
    index.labels = j.value("labels", std::vector<std::string>{});
    index.samples = j.at("samples").get<int64_t>();
    index.modality_counts = j.at("modality_counts").get<std::map<std::string, int64_t>>();
    for (const auto& s : j.at("shards")) {
      ShardEntry e;
      e.file = s.at("file").get<std::string>();
      e.samples = s.at("samples").get<int64_t>();
      e.bytes = s.at("bytes").get<int64_t>();
      e.crc32c = s.at("crc32c").get<uint32_t>();
      e.synthetic = s.value("synthetic", false);
      e.modality_counts = s.value("modality_counts", std::map<std::string, int64_t>{});
      index.shards.push_back(std::move(e));
    }
    return index;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": malformed: ", e.what()));
  }
}

absl::Status WriteDatasetIndex(const std::string& folder, const DatasetIndex& index) {
  nlohmann::json j;
  j["format_version"] = index.format_version;
  j["created_by"] = index.created_by;
  j["modalities"] = index.modalities;
  j["labels"] = index.labels;
  j["samples"] = index.samples;
  j["modality_counts"] = index.modality_counts;
  j["shards"] = nlohmann::json::array();
  for (const ShardEntry& e : index.shards) {
    j["shards"].push_back({{"file", e.file}, {"samples", e.samples}, {"bytes", e.bytes},
                           {"crc32c", e.crc32c}, {"synthetic", e.synthetic},
                           {"modality_counts", e.modality_counts}});
  }
  const std::string path = folder + "/" + kIndexFile, tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(1) << "\n";
    if (!out.flush()) return absl::InternalError(absl::StrCat(tmp, ": write failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError(absl::StrCat("rename ", tmp, " -> ", path, " failed"));
  return absl::OkStatus();
}

}  // namespace vfm::data
