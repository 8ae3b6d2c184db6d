// Writes a dataset folder: shards of about `target_shard_bytes` each, then index.json. A shard is filled in
// memory and written to "<name>.tmp", then renamed, so a crash never leaves half a shard under a real name;
// index.json is written last the same way, so a folder with an index.json is always complete.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset_index.h"
#include "data/shard_format.h"

namespace vfm::data {

// One shard's content before it is written.
struct ShardContent {
  std::vector<SampleMeta> metas;
  std::vector<uint64_t> offsets{0};  // N+1
  std::string bytes;
};

// Writes one HDF5 shard file at `path` as is (no temporary name: DatasetWriter adds that); returns the
// file offset of its /bytes data (which must not be empty).
absl::StatusOr<uint64_t> WriteShardFile(const std::string& path, const ShardContent& shard,
                                        const std::vector<std::string>& modalities);

// Fills in `entry`'s size and checksums (bytes, crc32c, meta_crc32c) for the shard file at `path` whose
// /bytes lies at [data_offset, data_offset + data_bytes).
absl::Status DescribeShardFile(const std::string& path, uint64_t data_offset, uint64_t data_bytes,
                               ShardEntry* entry);

class DatasetWriter {
 public:
  // `modalities`: names, index = modality code. `labels`: optional class names, index = label.
  DatasetWriter(std::string folder, std::vector<std::string> modalities, std::vector<std::string> labels,
                int64_t target_shard_bytes);

  // Appends one sample; meta.crc32c is computed here. Real and synthetic samples go to separate shards.
  absl::Status Add(SampleMeta meta, std::string_view bytes, bool synthetic = false);
  // Channel statistics per modality name, written into index.json by Finish.
  void set_modality_stats(std::map<std::string, ModalityStats> stats) { index_.modality_stats = std::move(stats); }
  // Writes the open shards and index.json; returns the index written. The writer is spent afterwards.
  absl::StatusOr<DatasetIndex> Finish();

 private:
  absl::Status Flush(bool synthetic);

  std::string folder_;
  int64_t target_shard_bytes_;
  DatasetIndex index_;
  ShardContent open_[2];  // [real, synthetic]
};

}  // namespace vfm::data
