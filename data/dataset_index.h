// index.json: the dataset's table of contents (format in shard_format.h). Read and written only here.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vfm::data {

struct ShardEntry {
  std::string file;  // relative to the dataset folder
  int64_t samples = 0;
  int64_t bytes = 0;  // file size
  uint32_t crc32c = 0;  // of the whole file
  bool synthetic = false;
  std::map<std::string, int64_t> modality_counts;
};

struct DatasetIndex {
  int format_version = 0;
  std::string created_by;
  std::vector<std::string> modalities;  // index = modality code
  std::vector<std::string> labels;      // optional class names, index = label
  std::vector<ShardEntry> shards;
  int64_t samples = 0;
  std::map<std::string, int64_t> modality_counts;
};

absl::StatusOr<DatasetIndex> ReadDatasetIndex(const std::string& folder);
// Writes folder/index.json through a temporary file and a rename.
absl::Status WriteDatasetIndex(const std::string& folder, const DatasetIndex& index);

}  // namespace vfm::data
