// Decoding a sample's bytes: JPEG with libjpeg-turbo (TurboJPEG API, optionally scaled by 1/2, 1/4 or 1/8
// in the DCT, which is much cheaper than decoding full size and resizing), PNG with libpng (8- or 16-bit,
// gray, RGB, palette; alpha dropped; 16-bit scaled to 8 as round(v * 255 / 65535)), raw pixels as stored.
// Corrupt or truncated input gives an error status, never a crash or a half-filled image.
#pragma once
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/image.h"
#include "data/shard_format.h"

namespace vfm::data {

// Larger images are refused (a corrupt header must not make us allocate gigabytes): 256 Mpixel.
inline constexpr int64_t kMaxPixels = int64_t(1) << 28;

struct ImageHeader {
  int height = 0, width = 0, channels = 0;  // channels as decoded: 1 or 3
};

// Reads only the header of a JPEG or PNG.
absl::StatusOr<ImageHeader> ProbeImage(const uint8_t* data, size_t size, Codec codec);

// Decodes into `out` (its buffer is reused). `scale_denom` (1, 2, 4 or 8) shrinks JPEGs during decoding to
// ceil(size / scale_denom); other codecs ignore it. `raw` gives the shape of kRaw bytes.
absl::Status DecodeImage(const uint8_t* data, size_t size, Codec codec, const ImageHeader& raw,
                         int scale_denom, Image* out);

// The codec a file's first bytes announce (JPEG SOI or PNG signature), or an error.
absl::StatusOr<Codec> SniffCodec(const uint8_t* data, size_t size);

}  // namespace vfm::data
