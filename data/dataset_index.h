// index.json: the dataset's table of contents (format in shard_format.h). Read and written only here.
// Reading checks everything index.json can check on its own: every key present with its type and range
// (errors name index.json and the key), shard names that stay inside the folder and appear once, and
// totals that agree with the per-shard figures. A version-1 dataset is refused with what to do about it.
#pragma once
#include <array>
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
  uint64_t data_offset = 0, data_bytes = 0;  // where /bytes lies in the file
  uint32_t meta_crc32c = 0;  // of the file outside /bytes
  bool synthetic = false;
  std::map<std::string, int64_t> modality_counts;
};

// A modality's channel statistics, in [0, 1] pixel units (data/modality_stats.h says how they are taken).
struct ModalityStats {
  int64_t images = 0;  // the images they are over
  std::array<double, 3> mean{}, std{};  // R, G, B (gray images count in all three)
};

struct DatasetIndex {
  int format_version = 0;
  std::string created_by;
  std::vector<std::string> modalities;  // index = modality code
  std::vector<std::string> labels;      // optional class names, index = label
  std::vector<ShardEntry> shards;
  int64_t samples = 0;
  std::map<std::string, int64_t> modality_counts;
  // Optional (datasets written before it have none; `vfm stats` adds them): per modality name.
  std::map<std::string, ModalityStats> modality_stats;
};

absl::StatusOr<DatasetIndex> ReadDatasetIndex(const std::string& folder);
// Whether `text` is valid UTF-8, so that index.json (JSON) can hold it.
bool IsValidUtf8(const std::string& text);
// Writes folder/index.json through a temporary file and a rename. Names that are not valid UTF-8 (JSON
// cannot hold them) give an error naming the key.
absl::Status WriteDatasetIndex(const std::string& folder, const DatasetIndex& index);

}  // namespace vfm::data
