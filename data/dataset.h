// Reads a dataset folder. Open() reads index.json, opens every shard once with HDF5 (file locking off) to
// learn the per-sample tables and the file offset of `/bytes`, checks them against index.json, and keeps
// a plain file descriptor per shard. Read() then fetches a sample's bytes with one pread, no HDF5 (HDF5
// holds a global lock), and verifies its crc32c, so many threads can read at once.
//
// Documented behaviour on bad data:
//   - a shard listed in index.json is missing          -> Open fails (NotFound), naming the shard;
//   - a shard's size differs from index.json (truncated) -> Open fails (DataLoss), naming both sizes;
//   - a shard's sample count/tables disagree with index.json or with itself -> Open fails (DataLoss);
//   - a sample's bytes do not match its crc32c          -> Read returns DataLoss naming shard, index, source.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset_index.h"
#include "data/shard_format.h"

namespace vfm::data {

class Dataset {
 public:
  struct Options {
    bool verify_shard_checksums = false;  // read every shard once to check index.json's crc32c (slow)
  };
  static absl::StatusOr<std::unique_ptr<Dataset>> Open(const std::string& folder, Options options);
  static absl::StatusOr<std::unique_ptr<Dataset>> Open(const std::string& folder) {
    return Open(folder, Options());
  }
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  int64_t size() const { return int64_t(records_.size()); }
  const DatasetIndex& index() const { return index_; }
  // Sample ids are 0..size()-1, shard by shard in index.json order.
  SampleMeta meta(int64_t id) const;
  uint8_t modality(int64_t id) const { return records_[id].modality; }
  int32_t label(int64_t id) const { return records_[id].label; }
  bool synthetic(int64_t id) const { return shards_[records_[id].shard].synthetic; }
  Codec codec(int64_t id) const { return Codec(records_[id].codec); }
  uint32_t height(int64_t id) const { return records_[id].height; }
  uint32_t width(int64_t id) const { return records_[id].width; }
  uint8_t channels(int64_t id) const { return records_[id].channels; }
  // "shard-00003.h5 sample 17 (source /x/y.jpg)": how errors name a sample.
  std::string Describe(int64_t id) const;

  // Reads sample `id`'s encoded bytes into `out` and checks its crc32c. Thread-safe.
  absl::Status Read(int64_t id, std::vector<uint8_t>* out) const;

 private:
  struct Shard {
    std::string file;
    int fd = -1;
    uint64_t bytes_file_offset = 0;  // where /bytes starts in the file
    int64_t first_id = 0;
    bool synthetic = false;
  };
  // 32 bytes per sample; the strings live in string_pool_.
  struct Record {
    uint64_t offset;  // within /bytes
    uint32_t size, crc32c, height, width;
    int32_t label;
    uint16_t shard;
    uint8_t modality, channels, codec;
  };
  Dataset() = default;
  absl::Status OpenShard(const std::string& folder, const ShardEntry& entry, Options options);

  DatasetIndex index_;
  std::vector<Shard> shards_;
  std::vector<Record> records_;
  // Source and subject of every sample back to back: sample i's source is [ends[2i], ends[2i+1]) and its
  // subject [ends[2i+1], ends[2i+2]) in string_pool_, with string_ends_ = {0, ...}.
  std::string string_pool_;
  std::vector<uint64_t> string_ends_{0};
};

}  // namespace vfm::data
