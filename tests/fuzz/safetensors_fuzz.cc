// libFuzzer: safetensors files (autograd/safetensors.h, also the reader of checkpoints and imports).
#include <cstdint>

#include "autograd/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vfm::fuzz::ScratchDir() + "/input.safetensors";
  vfm::fuzz::WriteFile(path, data, size);
  (void)vfm::LoadSafetensors(path);
  return 0;
}
