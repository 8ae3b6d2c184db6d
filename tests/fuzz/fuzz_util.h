// Shared by the libFuzzer targets: a scratch folder of this process (inputs that only a path can reach are
// written there), and a file writer.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

namespace vfm::fuzz {

inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::string d = "/tmp/vfm-fuzz-" + std::to_string(getpid());
    std::system(("mkdir -p " + d).c_str());
    return d;
  }();
  return dir;
}

inline void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
}

}  // namespace vfm::fuzz
