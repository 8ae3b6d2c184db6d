// Reads a dataset folder. Open() reads index.json, then for each shard: opens it, checks its size and its
// meta_crc32c (the HDF5 metadata and per-sample tables, so libhdf5 never parses a corrupted file), opens it
// with HDF5 (file locking off) to read the per-sample tables and the file offset of `/bytes`, checks every
// table against index.json and against itself, and keeps a plain file descriptor. Read() then fetches a
// sample's bytes with one pread, no HDF5 (HDF5 holds a global lock), and verifies its crc32c, so many
// threads can read at once.
//
// Documented behaviour on bad data (every error names the file, and the key or sample at fault):
//   - index.json missing, not JSON, a key missing or of the wrong type/range, a shard name that leaves the
//     folder or is listed twice, totals that do not add up                    -> Open fails (DataLoss);
//   - a version-1 dataset (HDF5 variable-length strings)  -> Open fails (FailedPrecondition): re-run `vfm shard`;
//   - a shard listed in index.json is missing          -> Open fails (NotFound), naming the shard;
//   - a shard is not a regular file, its size differs from index.json (truncated), it is the same file as
//     another shard, its metadata checksum differs, or (with verify_shard_checksums) its whole-file
//     checksum differs                                 -> Open fails (DataLoss), naming the shard;
//   - a shard's tables disagree with index.json or with themselves (shapes, types, offsets, codes, labels,
//     image sizes, modality counts)                    -> Open fails (DataLoss), naming shard and sample;
//   - a sample's bytes do not match its crc32c          -> Read returns DataLoss naming shard, index, source.
#pragma once
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/dataset_index.h"
#include "data/shard_format.h"

namespace vfm::data {

class Dataset {
 public:
  struct Options {
    // Also read every shard whole to check index.json's crc32c. Not needed for safety (the metadata
    // checksum and each sample's checksum cover every byte) but finds damage in /bytes at open rather
    // than when the sample is read; costs a full read of the dataset (about 1 s per GB from page cache).
    bool verify_shard_checksums = false;
  };
  static absl::StatusOr<std::unique_ptr<Dataset>> Open(const std::string& folder, Options options);
  static absl::StatusOr<std::unique_ptr<Dataset>> Open(const std::string& folder) {
    return Open(folder, Options());
  }
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  int64_t size() const { return int64_t(records_.size()); }
  const std::string& folder() const { return folder_; }
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
  // 32 bytes per sample; the strings live in sources_ and subjects_.
  struct Record {
    uint64_t offset;  // within /bytes
    uint32_t size, crc32c, height, width;
    int32_t label;
    uint16_t shard;
    uint8_t modality, channels, codec;
  };
  Dataset() = default;
  // `files`: (device, inode) of the shards opened so far, to refuse one file listed under two names.
  absl::Status OpenShard(const ShardEntry& entry, Options options, std::set<std::pair<uint64_t, uint64_t>>* files);

  std::string folder_;
  DatasetIndex index_;
  std::vector<Shard> shards_;
  std::vector<Record> records_;
  // Every sample's source (and subject) back to back: sample i's is [ends[i], ends[i+1]).
  std::string sources_, subjects_;
  std::vector<uint64_t> source_ends_{0}, subject_ends_{0};
};

}  // namespace vfm::data
