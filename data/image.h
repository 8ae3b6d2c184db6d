// Decoded images: 8-bit, rows top to bottom, channels interleaved (1 = gray, 3 = RGB). Grayscale stays one
// channel through decoding and augmentation; the loader widens it to three at the very end.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vfm::data {

struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels

  void Resize(int h, int w, int c) {
    height = h;
    width = w;
    channels = c;
    pixels.resize(size_t(h) * w * c);
  }
  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels; }
};

}  // namespace vfm::data
