// libFuzzer: the JPEG and PNG decoders (data/decode.h) on arbitrary bytes: the header probe, then a full
// and a scaled decode when the header is sane. Any outcome but an error status or an image is a finding.
#include <cstdint>

#include "data/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vfm::data;
  auto codec = SniffCodec(data, size);
  if (!codec.ok()) return 0;
  auto header = ProbeImage(data, size, *codec);
  if (!header.ok() || int64_t(header->height) * header->width > (int64_t(1) << 22)) return 0;  // 4 Mpixel
  Image image;
  for (int scale : {1, 2}) (void)DecodeImage(data, size, *codec, *header, scale, &image);
  return 0;
}
