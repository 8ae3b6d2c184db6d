// libFuzzer: index.json (data/dataset_index.h) from arbitrary bytes.
#include <cstdint>

#include "data/dataset_index.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = vfm::fuzz::ScratchDir();
  vfm::fuzz::WriteFile(dir + "/index.json", data, size);
  (void)vfm::data::ReadDatasetIndex(dir);
  return 0;
}
