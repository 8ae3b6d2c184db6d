// The shard format (DESIGN.md, "Data: the shard format"). A dataset is a folder: index.json plus shards
// shard-00000.h5, ... Each shard is an HDF5 file holding the encoded images back to back in one contiguous
// uint8 dataset `/bytes` (so a reader can pread a sample at the dataset's file offset without HDF5), and
// one entry per sample in `/offset` (N+1), `/modality`, `/label`, `/height`, `/width`, `/channels`,
// `/codec`, `/crc32c`, `/source`, `/subject`; attributes `format_version`, `modalities`, `created_by`.
//
// index.json (version 1):
//   {"format_version": 1, "created_by": "...", "modalities": ["fundus", ...], "labels": ["cat", ...],
//    "samples": N, "modality_counts": {"fundus": n, ...},
//    "shards": [{"file": "shard-00000.h5", "samples": n, "bytes": file size, "crc32c": crc of the file,
//                "synthetic": false, "modality_counts": {...}}, ...]}
// "synthetic" tags a shard's samples as synthetic (generated) images, for the loader's real:synthetic mix.
#pragma once
#include <cstdint>
#include <string>

namespace vfm::data {

inline constexpr int kFormatVersion = 1;
inline constexpr const char* kIndexFile = "index.json";

// How a sample's bytes are encoded. kRaw is height*width*channels uint8, row-major, channels interleaved.
enum class Codec : uint8_t { kJpeg = 0, kPng = 1, kRaw = 2 };

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

}  // namespace vfm::data
