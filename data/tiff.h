// TIFF input for `vfm shard` (libtiff). TIFF is not one of the shard's codecs (shard_format.h: JPEG, PNG,
// raw): the converter decodes a TIFF here and stores its 8-bit pixels raw, so training, `vfm stats` and
// `vfm inspect` see a raw sample of the decoded size and channels.
//
// What is read, by the rules of the PNG decoder (decode.h): one page (a multi-page TIFF, such as an OCT
// volume, is rejected: split it into one file per page, e.g. with libtiff-tools' tiffsplit); rows as stored
// (the Orientation tag is ignored, as PIL and the JPEG decoder ignore theirs); strips or tiles, contiguous
// or separate planes, any compression libtiff decodes.
// - Unsigned 8- and 16-bit gray (min-is-black or min-is-white, the latter inverted) and RGB, with at most
//   one extra sample (alpha), which is dropped. 16 bits become 8 as round(v * 255 / 65535), like PNG.
// - Through libtiff's RGBA reader: palette images (RGB; colormap entries >> 8, or as they are when every
//   entry is <= 255: libtiff's reading of 8-bit colormaps), 1-, 2- and 4-bit gray (v * 255 / (2^bits - 1),
//   as PNG expands them; stays gray), YCbCr (RGB; JPEG-compressed YCbCr converted by libjpeg).
// Anything else (floating-point or signed samples, 32 bits, CMYK, Lab, more than four samples) is an error
// naming what is not supported. libtiff's messages never reach stderr (handlers per file, so threads decode
// independently): its first error is the message.
#pragma once
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "data/decode.h"
#include "data/image.h"

namespace vfm::data {

// A TIFF or BigTIFF signature: "II" or "MM" byte order, then 42 (TIFF) or 43 (BigTIFF).
bool IsTiff(const uint8_t* data, size_t size);

// Decodes the single page of a TIFF into `out` (its buffer is reused); an error status leaves it empty.
// A page of more than `max_pixels` is an error before anything is decoded.
absl::Status DecodeTiff(const uint8_t* data, size_t size, Image* out, int64_t max_pixels = kMaxPixels);

}  // namespace vfm::data
