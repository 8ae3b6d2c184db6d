#include "data/tiff.h"

#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/decode.h"

namespace vfm::data {
namespace {

// The encoded bytes as libtiff's client file, and the first error libtiff reported about them.
struct MemoryFile {
  const uint8_t* data;
  size_t size;
  uint64_t pos = 0;
  char error[200] = "";
};

tmsize_t ReadProc(thandle_t handle, void* buffer, tmsize_t n) {
  auto* f = static_cast<MemoryFile*>(handle);
  const size_t left = f->pos < f->size ? size_t(f->size - f->pos) : 0, take = std::min(size_t(n), left);
  if (take == 0) return 0;  // also past the end (a seek may go there): no pointer beyond the data
  std::memcpy(buffer, f->data + f->pos, take);
  f->pos += take;
  return tmsize_t(take);
}
tmsize_t WriteProc(thandle_t, void*, tmsize_t) { return -1; }
toff_t SeekProc(thandle_t handle, toff_t offset, int whence) {
  auto* f = static_cast<MemoryFile*>(handle);
  f->pos = (whence == SEEK_SET ? 0 : whence == SEEK_CUR ? f->pos : f->size) + offset;
  return f->pos;
}
int CloseProc(thandle_t) { return 0; }
toff_t SizeProc(thandle_t handle) { return static_cast<MemoryFile*>(handle)->size; }
int MapProc(thandle_t handle, void** base, toff_t* size) {  // lets libtiff read strips in place
  auto* f = static_cast<MemoryFile*>(handle);
  *base = const_cast<uint8_t*>(f->data);
  *size = f->size;
  return 1;
}
void UnmapProc(thandle_t, void*, toff_t) {}

int KeepFirstError(TIFF*, void* user_data, const char*, const char* format, va_list args) {
  auto* f = static_cast<MemoryFile*>(user_data);
  if (f->error[0] == '\0') std::vsnprintf(f->error, sizeof(f->error), format, args);
  return 1;  // handled: libtiff's global handlers (stderr) are not called
}
int IgnoreWarning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

absl::Status TiffError(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("tiff: ", message));
}
// libtiff's own message when it gave one, else `fallback`.
absl::Status LibtiffError(const MemoryFile& f, absl::string_view fallback) {
  return TiffError(f.error[0] != '\0' ? absl::string_view(f.error) : fallback);
}

uint8_t Scale16To8(uint16_t v) { return uint8_t((uint32_t(v) * 255 + 32767) / 65535); }  // round(v*255/65535)

struct Layout {
  uint32_t width = 0, height = 0;
  uint16_t bits = 0, samples = 0, photometric = 0, planar = 0;
  int channels = 0;  // as decoded: 1 or 3
};

// Reads every strip or tile of an 8- or 16-bit image into `native` (row-major, samples interleaved, host
// byte order). With separate planes each strip or tile holds one sample of its pixels.
absl::Status ReadNative(TIFF* tif, const MemoryFile& f, const Layout& l, std::vector<uint8_t>* native) {
  const size_t sample_bytes = l.bits / 8, pixel_bytes = sample_bytes * l.samples;
  const bool separate = l.planar == PLANARCONFIG_SEPARATE && l.samples > 1;
  const size_t chunk_pixel_bytes = separate ? sample_bytes : pixel_bytes;
  const bool tiled = TIFFIsTiled(tif);
  uint32_t chunk_width = l.width, chunk_height = 0;
  if (tiled) {
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &chunk_width);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &chunk_height);
  } else {
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &chunk_height);
    chunk_height = std::min(chunk_height, l.height);
  }
  // A tile reaches past the page by less than TIFF's 16-pixel tile step, or fits in 1024 x 1024: a larger one
  // (like a strip of more rows than the page) comes from a damaged header and would size a huge buffer.
  const auto fits = [](uint32_t chunk, uint32_t page) { return chunk <= std::max((page + 15) / 16 * 16, 1024u); };
  if (chunk_width == 0 || chunk_height == 0 || !fits(chunk_width, l.width) || !fits(chunk_height, l.height))
    return TiffError(absl::StrCat("bad ", tiled ? "tile" : "strip", " size ", chunk_width, "x", chunk_height,
                                  " for a ", l.width, "x", l.height, " page"));
  // libtiff reads at most this much of a strip or tile: its pixels, uncompressed.
  const tmsize_t chunk_bytes = tmsize_t(chunk_width) * chunk_height * tmsize_t(chunk_pixel_bytes);
  std::vector<uint8_t> chunk(static_cast<size_t>(chunk_bytes));
  native->resize(size_t(l.height) * l.width * pixel_bytes);
  for (uint16_t plane = 0; plane < (separate ? l.samples : 1); ++plane)
    for (uint32_t y0 = 0; y0 < l.height; y0 += chunk_height)
      for (uint32_t x0 = 0; x0 < l.width; x0 += chunk_width) {
        const tmsize_t got =
            tiled ? TIFFReadEncodedTile(tif, TIFFComputeTile(tif, x0, y0, 0, plane), chunk.data(), chunk_bytes)
                  : TIFFReadEncodedStrip(tif, TIFFComputeStrip(tif, y0, plane), chunk.data(), chunk_bytes);
        const uint32_t rows = std::min(chunk_height, l.height - y0), cols = std::min(chunk_width, l.width - x0);
        if (got < 0 || size_t(got) < ((rows - 1) * size_t(chunk_width) + cols) * chunk_pixel_bytes)
          return LibtiffError(f, absl::StrCat("cannot read the ", tiled ? "tile" : "strip", " at row ", y0));
        for (uint32_t r = 0; r < rows; ++r) {
          const uint8_t* src = chunk.data() + r * size_t(chunk_width) * chunk_pixel_bytes;
          uint8_t* dst = native->data() + ((y0 + r) * size_t(l.width) + x0) * pixel_bytes + plane * sample_bytes;
          if (!separate) {
            std::memcpy(dst, src, cols * pixel_bytes);
          } else {
            for (uint32_t x = 0; x < cols; ++x) std::memcpy(dst + x * pixel_bytes, src + x * sample_bytes, sample_bytes);
          }
        }
      }
  return absl::OkStatus();
}

// 8- and 16-bit gray and RGB: the first `channels` samples of each pixel (an extra one is alpha, dropped).
absl::Status DecodeNative(TIFF* tif, const MemoryFile& f, const Layout& l, Image* out) {
  std::vector<uint8_t> native;
  if (absl::Status s = ReadNative(tif, f, l, &native); !s.ok()) return s;
  const bool invert = l.photometric == PHOTOMETRIC_MINISWHITE;
  out->Resize(int(l.height), int(l.width), l.channels);
  uint8_t* dst = out->pixels.data();
  const size_t pixels = size_t(l.height) * l.width;
  for (size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < l.channels; ++c) {
      const size_t k = i * l.samples + size_t(c);
      uint16_t v16 = 0;
      if (l.bits == 16) std::memcpy(&v16, native.data() + 2 * k, 2);
      const uint8_t v = l.bits == 8 ? native[k] : Scale16To8(v16);
      *dst++ = invert ? uint8_t(255 - v) : v;  // = the rule applied to 65535 - v: it is symmetric
    }
  return absl::OkStatus();
}

// Palette, 1/2/4-bit gray and YCbCr through libtiff's RGBA reader, rows as stored.
absl::Status DecodeRgba(TIFF* tif, const MemoryFile& f, const Layout& l, Image* out) {
  char why[1024] = "";
  if (!TIFFRGBAImageOK(tif, why)) return TiffError(why);
  uint16_t orientation = ORIENTATION_TOPLEFT;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orientation);
  std::vector<uint32_t> raster(size_t(l.height) * l.width);
  // Asking for the file's own orientation keeps the rows as stored (no flip).
  if (!TIFFReadRGBAImageOriented(tif, l.width, l.height, raster.data(), orientation, 1))
    return LibtiffError(f, "cannot read the image");
  out->Resize(int(l.height), int(l.width), l.channels);
  uint8_t* dst = out->pixels.data();
  for (const uint32_t abgr : raster) {
    *dst++ = uint8_t(TIFFGetR(abgr));
    if (l.channels == 3) {
      *dst++ = uint8_t(TIFFGetG(abgr));
      *dst++ = uint8_t(TIFFGetB(abgr));
    }
  }
  return absl::OkStatus();
}

// Checks the page's layout and picks the reader.
absl::Status DecodePage(TIFF* tif, const MemoryFile& f, int64_t max_pixels, Image* out) {
  if (const int pages = TIFFNumberOfDirectories(tif); pages > 1)
    return TiffError(absl::StrCat(pages, " pages: only single-page TIFFs are read (split it, e.g. with tiffsplit)"));
  Layout l;
  uint16_t format = SAMPLEFORMAT_UINT;
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &l.width);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &l.height);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &l.bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &l.samples);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &l.planar);
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &l.photometric)) return TiffError("no photometric interpretation");
  if (l.width == 0 || l.height == 0) return TiffError("empty image");
  // Unsigned: the product of two uint32 overflows int64 (tests/fuzz's tiff target found 4294901784 x 4245684736).
  if (uint64_t(l.width) * l.height > uint64_t(max_pixels))
    return TiffError(absl::StrCat(l.width, "x", l.height, " is too large"));
  if (format == SAMPLEFORMAT_IEEEFP) return TiffError("floating-point samples are not supported");
  if (format != SAMPLEFORMAT_UINT) return TiffError(absl::StrCat("sample format ", format, " is not supported (unsigned integers are)"));
  if (l.bits != 1 && l.bits != 2 && l.bits != 4 && l.bits != 8 && l.bits != 16)
    return TiffError(absl::StrCat(l.bits, "-bit samples are not supported (1, 2, 4, 8 and 16 bits are)"));
  const bool gray = l.photometric == PHOTOMETRIC_MINISBLACK || l.photometric == PHOTOMETRIC_MINISWHITE;
  if (!gray && l.photometric != PHOTOMETRIC_RGB && l.photometric != PHOTOMETRIC_PALETTE &&
      l.photometric != PHOTOMETRIC_YCBCR)
    return TiffError(absl::StrCat("photometric interpretation ", l.photometric,
                                  " is not supported (gray, RGB, palette and YCbCr are)"));
  l.channels = gray ? 1 : 3;
  if (l.samples > 4) return TiffError(absl::StrCat(l.samples, " samples per pixel are not supported (at most 4)"));
  if (gray || l.photometric == PHOTOMETRIC_RGB) {
    if (l.samples != l.channels && l.samples != l.channels + 1)
      return TiffError(absl::StrCat(l.samples, " samples per pixel for ", gray ? "gray" : "RGB",
                                    " are not supported (one extra, alpha, at most)"));
    if (l.bits >= 8) return DecodeNative(tif, f, l, out);
  }
  if (l.bits == 16) return TiffError("16-bit palette or YCbCr images are not supported");
  return DecodeRgba(tif, f, l, out);
}

}  // namespace

bool IsTiff(const uint8_t* data, size_t size) {
  if (size < 4) return false;
  if (data[0] == 'I' && data[1] == 'I') return (data[2] == 42 || data[2] == 43) && data[3] == 0;
  if (data[0] == 'M' && data[1] == 'M') return data[2] == 0 && (data[3] == 42 || data[3] == 43);
  return false;
}

absl::Status DecodeTiff(const uint8_t* data, size_t size, Image* out, int64_t max_pixels) {
  MemoryFile file{data, size};
  TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(options, KeepFirstError, &file);
  TIFFOpenOptionsSetWarningHandlerExtR(options, IgnoreWarning, nullptr);
  TIFF* tif = TIFFClientOpenExt("tiff", "r", &file, ReadProc, WriteProc, SeekProc, CloseProc, SizeProc, MapProc,
                                UnmapProc, options);
  TIFFOpenOptionsFree(options);
  absl::Status status = tif ? DecodePage(tif, file, max_pixels, out) : LibtiffError(file, "not a readable TIFF");
  if (tif) TIFFClose(tif);
  if (!status.ok()) out->Resize(0, 0, 0);
  return status;
}

}  // namespace vfm::data
