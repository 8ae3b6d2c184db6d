// libFuzzer: a checkpoint's JSON files (trainer/checkpoint.h): the first byte picks state.json or
// MANIFEST.json, the rest is its content; then the checkpoint is verified and its state read.
#include <cstdint>

#include "tests/fuzz/fuzz_util.h"
#include "trainer/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string dir = vfm::fuzz::ScratchDir() + "/ckpt-00000001";
  static const bool made = [&] { return std::system(("mkdir -p " + dir).c_str()) == 0; }();
  if (!made) return 0;
  vfm::fuzz::WriteFile(dir + (data[0] & 1 ? "/MANIFEST.json" : "/state.json"), data + 1, size - 1);
  (void)vfm::VerifyCheckpoint(dir);
  (void)vfm::ReadTrainingState(dir);
  return 0;
}
