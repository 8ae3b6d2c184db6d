// A views file (`vfm views`): a training stream's first batches as the Loader hands them out, before
// normalisation, in HDF5 (read with h5py: bench/learning_parity trains its PyTorch reference on them):
//   global [N, global_crops, B, 3, S, S] uint8    local [N, local_crops, B, 3, s, s] uint8 (with local crops)
//   masks  [N, global_crops, B, patches] uint8 (1 = masked)    ids [N, B] uint64 (the samples' ids)
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "data/loader.h"

namespace vfm::data {

// Writes `batches` (all of one shape, with masks) to `path` through a temporary file and a rename, so an
// existing file is replaced whole or not at all.
absl::Status WriteViewsFile(const std::vector<std::unique_ptr<Batch>>& batches, const std::string& path);

}  // namespace vfm::data
