// safetensors files (the format timm/PyTorch use): an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian tensor bytes. Used for parity fixtures, export, import and checkpoints.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "autograd/tensor.h"

namespace vfm {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Writes `path` (tensors in the order given; host tensors of any dtype) with WriteFileAtomically.
absl::Status SaveSafetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                             const std::map<std::string, std::string>& metadata = {});

// Reads `path`, checking the whole header before allocating anything: a header length beyond the file
// (or the format's 100 MB), JSON that is malformed or not UTF-8, an unknown dtype, a negative dimension, a
// shape whose product overflows, data offsets outside the file, overlapping, leaving gaps or not matching
// the shape, or metadata that is not strings: DataLoss naming the file (and the tensor).
absl::StatusOr<SafetensorsFile> LoadSafetensors(const std::string& path);

// Writes `pieces` back to back to `path` through a temporary file beside it (path.tmp-<pid>), fsynced
// and renamed into place. On failure (a full disk) the error names `path` and errno's text, the temporary
// is removed and a previous file at `path` is left as it was.
absl::Status WriteFileAtomically(const std::string& path, const std::vector<std::string_view>& pieces);

}  // namespace vfm
