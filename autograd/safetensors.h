// safetensors files (the format timm/PyTorch use): an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian tensor bytes. Used for parity fixtures, export and import.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "autograd/tensor.h"

namespace vfm {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Writes `path` (tensors in the order given; host tensors of any dtype).
absl::Status SaveSafetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                             const std::map<std::string, std::string>& metadata = {});
absl::StatusOr<SafetensorsFile> LoadSafetensors(const std::string& path);

}  // namespace vfm
