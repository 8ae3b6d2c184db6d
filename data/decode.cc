#include "data/decode.h"

#include <png.h>
#include <turbojpeg.h>

#include <csetjmp>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace vfm::data {
namespace {

// One TurboJPEG decompressor per thread, created on first use. After a failed decode the handle can be
// left mid-stream (the next image then fails with "Bogus Huffman table"), so errors replace it.
struct JpegHolder {
  tjhandle handle = tjInitDecompress();
  ~JpegHolder() { tjDestroy(handle); }
};
thread_local JpegHolder jpeg_holder;
tjhandle JpegHandle() { return jpeg_holder.handle; }

absl::Status JpegError(absl::string_view what) {
  absl::Status error = absl::InvalidArgumentError(absl::StrCat("jpeg: ", what));
  tjDestroy(jpeg_holder.handle);
  jpeg_holder.handle = tjInitDecompress();
  return error;
}

absl::StatusOr<ImageHeader> JpegHeader(const uint8_t* data, size_t size) {
  tjhandle tj = JpegHandle();
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height, &subsamp, &colorspace) != 0)
    return JpegError(tjGetErrorStr2(tj));
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    return absl::InvalidArgumentError("jpeg: CMYK images are not supported");
  if (int64_t(width) * height > kMaxPixels)
    return absl::InvalidArgumentError(absl::StrCat("jpeg: ", width, "x", height, " is too large"));
  return ImageHeader{height, width, colorspace == TJCS_GRAY ? 1 : 3};
}

absl::Status DecodeJpeg(const uint8_t* data, size_t size, int scale_denom, Image* out) {
  absl::StatusOr<ImageHeader> header = JpegHeader(data, size);
  if (!header.ok()) return header.status();
  const tjscalingfactor scale{1, scale_denom};
  const int w = TJSCALED(header->width, scale), h = TJSCALED(header->height, scale);
  out->Resize(h, w, header->channels);
  tjhandle tj = JpegHandle();
  // Any warning (for example a truncated file libjpeg would pad with grey) counts as an error.
  if (tjDecompress2(tj, data, (unsigned long)size, out->pixels.data(), w, 0, h,
                    header->channels == 1 ? TJPF_GRAY : TJPF_RGB, 0) != 0) {
    out->Resize(0, 0, 0);
    return JpegError(tjGetErrorStr2(tj));
  }
  return absl::OkStatus();
}

// libpng reports errors by longjmp; this carries the message out and keeps stderr quiet.
struct PngReader {
  const uint8_t* data;
  size_t size, pos = 0;
  char error[200] = "";
};

void PngRead(png_structp png, png_bytep dst, png_size_t n) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "truncated file");
  std::memcpy(dst, r->data + r->pos, n);
  r->pos += n;
}
void PngError(png_structp png, png_const_charp message) {
  auto* r = static_cast<PngReader*>(png_get_error_ptr(png));
  std::snprintf(r->error, sizeof(r->error), "%s", message);
  png_longjmp(png, 1);
}
void PngWarning(png_structp, png_const_charp) {}

// Reads the header (and, when `out` is set, the pixels) of a PNG.
absl::StatusOr<ImageHeader> ReadPng(const uint8_t* data, size_t size, Image* out) {
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) return absl::InvalidArgumentError("png: bad signature");
  PngReader reader{data, size};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, PngError, PngWarning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return absl::ResourceExhaustedError("png: out of memory");
  }
  std::vector<png_bytep> rows;
  ImageHeader header;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    if (out) out->Resize(0, 0, 0);
    return absl::InvalidArgumentError(absl::StrCat("png: ", reader.error));
  }
  png_set_read_fn(png, &reader, PngRead);
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  header.height = int(png_get_image_height(png, info));
  header.width = int(png_get_image_width(png, info));
  header.channels = (color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
  if (int64_t(header.width) * header.height > kMaxPixels) png_error(png, "image too large");
  if (out) {
    png_set_palette_to_rgb(png);
    png_set_expand_gray_1_2_4_to_8(png);
    png_set_scale_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (int(png_get_channels(png, info)) != header.channels || png_get_bit_depth(png, info) != 8)
      png_error(png, "unsupported pixel layout");
    out->Resize(header.height, header.width, header.channels);
    rows.resize(size_t(header.height));
    for (int y = 0; y < header.height; ++y) rows[y] = out->row(y);
    png_read_image(png, rows.data());
    png_read_end(png, nullptr);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return header;
}

}  // namespace

absl::StatusOr<Codec> SniffCodec(const uint8_t* data, size_t size) {
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return Codec::kJpeg;
  if (size >= 8 && png_sig_cmp(data, 0, 8) == 0) return Codec::kPng;
  return absl::InvalidArgumentError("neither a JPEG nor a PNG file");
}

absl::StatusOr<ImageHeader> ProbeImage(const uint8_t* data, size_t size, Codec codec) {
  switch (codec) {
    case Codec::kJpeg: return JpegHeader(data, size);
    case Codec::kPng: return ReadPng(data, size, nullptr);
    case Codec::kRaw: break;
  }
  return absl::InvalidArgumentError("raw bytes carry no header");
}

absl::Status DecodeImage(const uint8_t* data, size_t size, Codec codec, const ImageHeader& raw,
                         int scale_denom, Image* out) {
  switch (codec) {
    case Codec::kJpeg:
      if (scale_denom != 1 && scale_denom != 2 && scale_denom != 4 && scale_denom != 8)
        return absl::InvalidArgumentError(absl::StrCat("jpeg: unsupported scale 1/", scale_denom));
      return DecodeJpeg(data, size, scale_denom, out);
    case Codec::kPng: return ReadPng(data, size, out).status();
    case Codec::kRaw: {
      const size_t expected = size_t(raw.height) * raw.width * raw.channels;
      if (size != expected || (raw.channels != 1 && raw.channels != 3))
        return absl::InvalidArgumentError(absl::StrCat("raw: ", size, " bytes, expected ", raw.height, "x",
                                                       raw.width, "x", raw.channels));
      out->Resize(raw.height, raw.width, raw.channels);
      std::memcpy(out->pixels.data(), data, size);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown codec ", int(codec)));
}

}  // namespace vfm::data
