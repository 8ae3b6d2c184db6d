// libFuzzer: the TIFF decoder (data/tiff.h: libtiff from memory, behind vfm's layout checks) on arbitrary
// bytes with a TIFF signature. Pages over 4 Mpixel are refused before decoding (as decode_fuzz skips them),
// so the fuzzer's memory limit tests the decoder, not the image size. Any outcome but an error status or an
// image is a finding.
#include <cstdint>

#include "data/tiff.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vfm::data;
  if (!IsTiff(data, size)) return 0;
  Image image;
  (void)DecodeTiff(data, size, &image, int64_t(1) << 22);
  return 0;
}
