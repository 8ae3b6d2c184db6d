// The shard format (DESIGN.md, "Data: the shard format"). A dataset is a folder: index.json plus shards
// shard-00000.h5, ... Each shard is an HDF5 file holding the encoded images back to back in one contiguous
// uint8 dataset `/bytes` (so a reader can pread a sample at the dataset's file offset without HDF5), and
// one entry per sample in `/offset` (uint64, N+1: sample i is [offset[i], offset[i+1]) of /bytes),
// `/modality` (uint8), `/label` (int32, -1 unlabeled), `/height`, `/width` (uint32), `/channels` (uint8),
// `/codec` (uint8), `/crc32c` (uint32, of the sample's bytes). The strings are stored like the images:
// `/source_bytes` (uint8, every sample's source path or id back to back) with `/source_offset` (uint64, N+1),
// and `/subject_bytes` with `/subject_offset` (patient ids, may be empty). There are no HDF5
// variable-length strings anywhere (a flipped bit in their global heap crashes libhdf5 itself).
// Attributes: `format_version` (int), `modalities` and `created_by` (fixed-length strings).
//
// index.json (version 2):
//   {"format_version": 2, "created_by": "...", "modalities": ["fundus", ...], "labels": ["cat", ...],
//    "samples": N, "modality_counts": {"fundus": n, ...},
//    "shards": [{"file": "shard-00000.h5", "samples": n, "bytes": file size, "crc32c": crc of the file,
//                "data_offset": where /bytes starts in the file, "data_bytes": its size,
//                "meta_crc32c": crc of the file outside /bytes, "synthetic": false,
//                "modality_counts": {...}}, ...],
//    "modality_stats": {"fundus": {"images": n, "mean": [r, g, b], "std": [r, g, b]}, ...}}
// Every key is required but "modality_stats" (optional, per modality present; values in [0, 1]; how they
// are taken: modality_stats.h; `vfm shard` writes them, `vfm stats` adds them to an older dataset). "file" is a plain file name inside the dataset folder. "synthetic" tags a shard's
// samples as synthetic (generated) images, for the loader's real:synthetic mix. "labels" may be empty (then
// labels are plain integers); "modality_counts" list only the modalities present.
//
// Every byte of a shard is covered by a checksum: `meta_crc32c` covers the HDF5 metadata and the
// per-sample tables (everything outside /bytes; small, so the reader always checks it, before libhdf5 reads
// anything), each sample's `/crc32c` covers its bytes (checked on every read), and `crc32c` covers the
// whole file (checked on request: it reads everything).
#pragma once
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace vfm::data {

inline constexpr int kFormatVersion = 2;
inline constexpr const char* kIndexFile = "index.json";

// How a sample's bytes are encoded. kRaw is height*width*channels uint8, row-major, channels interleaved.
enum class Codec : uint8_t { kJpeg = 0, kPng = 1, kRaw = 2 };
inline constexpr int kCodecs = 3;

// Everything the shard stores about one sample besides its bytes.
struct SampleMeta {
  uint8_t modality = 0;
  int32_t label = -1;  // -1: unlabeled
  uint32_t height = 0, width = 0;
  uint8_t channels = 0;  // 1 (gray) or 3 (RGB), as decoded
  Codec codec = Codec::kRaw;
  uint32_t crc32c = 0;  // of the encoded bytes
  std::string source;   // original path or id
  std::string subject;  // patient id, may be empty
};

// "shard-00042.h5"
std::string ShardFileName(int index);

// crc32c of the bytes [begin, end) of the file open at `fd`, extending `crc` (0 to start).
absl::StatusOr<uint32_t> FileRangeCrc32c(int fd, uint64_t begin, uint64_t end, uint32_t crc = 0);
// A shard's meta_crc32c: of its `file_size` bytes outside [data_offset, data_offset + data_bytes).
absl::StatusOr<uint32_t> ShardMetaCrc32c(int fd, uint64_t file_size, uint64_t data_offset, uint64_t data_bytes);

}  // namespace vfm::data
