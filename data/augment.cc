#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "data/resize.h"
#include "kernels/cpu/normalize_images.h"

namespace vfm::data {
namespace {

// Pillow's RGB -> L: (299 R + 587 G + 114 B) / 1000 in 16-bit fixed point, rounded.
inline uint8_t Luma(const uint8_t* rgb) {
  return uint8_t((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

// Pillow's Image.blend(degenerate, image, factor): d + factor * (v - d) in float, clipped, truncated
// (branch-free so the loops around it vectorise).
inline uint8_t Blend(float degenerate, uint8_t v, float factor) {
  const float t = degenerate + factor * (float(v) - degenerate);
  return uint8_t(int(std::min(std::max(t, 0.0f), 255.0f)));
}

}  // namespace

ViewParams DrawView(Rng& rng, int height, int width, const ViewOptions& o) {
  ViewParams v;
  v.size = o.size;
  // RandomResizedCrop.get_params: up to 10 tries of (area scale, log-uniform ratio), else a centre crop.
  // Python's round() rounds half to even, as nearbyint does.
  const double area = double(height) * width;
  const double log_lo = std::log(double(o.ratio_min)), log_hi = std::log(double(o.ratio_max));
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * (o.scale_min + (o.scale_max - o.scale_min) * rng.UniformDouble());
    const double ratio = std::exp(log_lo + (log_hi - log_lo) * rng.UniformDouble());
    const int w = int(std::nearbyint(std::sqrt(target * ratio)));
    const int h = int(std::nearbyint(std::sqrt(target / ratio)));
    if (0 < w && w <= width && 0 < h && h <= height) {
      v.top = int(rng.Below(uint64_t(height - h + 1)));
      v.left = int(rng.Below(uint64_t(width - w + 1)));
      v.height = h;
      v.width = w;
      found = true;
    }
  }
  if (!found) {
    const double in_ratio = double(width) / height;
    v.width = width;
    v.height = height;
    if (in_ratio < o.ratio_min) {
      v.height = int(std::nearbyint(width / double(o.ratio_min)));
    } else if (in_ratio > o.ratio_max) {
      v.width = int(std::nearbyint(height * double(o.ratio_max)));
    }
    v.top = (height - v.height) / 2;
    v.left = (width - v.width) / 2;
  }
  v.flip = rng.Uniform() < o.flip_p;
  // RandomApply(ColorJitter, p): factors uniform in [max(0, 1 - x), 1 + x], hue in [-h, h], random order.
  v.jitter = rng.Uniform() < o.jitter_p;
  v.jitter_order = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(v.jitter_order[i], v.jitter_order[rng.Below(uint64_t(i + 1))]);
  v.brightness = rng.Uniform(std::max(0.0f, 1 - o.brightness), 1 + o.brightness);
  v.contrast = rng.Uniform(std::max(0.0f, 1 - o.contrast), 1 + o.contrast);
  v.saturation = rng.Uniform(std::max(0.0f, 1 - o.saturation), 1 + o.saturation);
  v.hue = rng.Uniform(-o.hue, o.hue);
  v.gray = rng.Uniform() < o.gray_p;
  v.blur = rng.Uniform() < o.blur_p;
  v.blur_sigma = rng.Uniform(o.blur_sigma_min, o.blur_sigma_max);
  v.blur_kernel = o.blur_kernel;
  v.solarize = rng.Uniform() < o.solarize_p;
  v.solarize_threshold = o.solarize_threshold;
  return v;
}

int ChooseScaleDenom(const std::vector<ViewParams>& views) {
  for (int denom : {8, 4, 2}) {
    bool fits = true;
    for (const ViewParams& v : views) fits &= v.height / denom >= v.size && v.width / denom >= v.size;
    if (fits) return denom;
  }
  return 1;
}

void RenderView(const Image& decoded, int original_height, int original_width, const ViewParams& v,
                Image* out) {
  const float sy = float(decoded.height) / original_height, sx = float(decoded.width) / original_width;
  ResizeBox(decoded, v.top * sy, v.left * sx, v.height * sy, v.width * sx, v.size, v.size, out);
  if (v.flip) FlipHorizontal(out);
  if (v.jitter) {
    for (int step : v.jitter_order) {
      switch (step) {
        case 0: AdjustBrightness(out, v.brightness); break;
        case 1: AdjustContrast(out, v.contrast); break;
        case 2: AdjustSaturation(out, v.saturation); break;
        case 3: AdjustHue(out, v.hue); break;
      }
    }
  }
  if (v.gray) ToGrayscale(out);
  if (v.blur) GaussianBlur(out, v.blur_kernel, v.blur_sigma);
  if (v.solarize) Solarize(out, v.solarize_threshold);
}

void FlipHorizontal(Image* image) {
  const int c = image->channels;
  for (int y = 0; y < image->height; ++y) {
    uint8_t* row = image->row(y);
    for (int l = 0, r = image->width - 1; l < r; ++l, --r)
      for (int k = 0; k < c; ++k) std::swap(row[l * c + k], row[r * c + k]);
  }
}

// ImageEnhance.Brightness: blend with black.
void AdjustBrightness(Image* image, float factor) {
  for (uint8_t& v : image->pixels) v = Blend(0, v, factor);
}

// ImageEnhance.Contrast: blend with a flat image at the rounded mean grey level.
void AdjustContrast(Image* image, float factor) {
  const size_t n = size_t(image->height) * image->width;
  if (n == 0) return;
  uint64_t sum = 0;
  if (image->channels == 1) {
    for (uint8_t v : image->pixels) sum += v;
  } else {
    for (size_t i = 0; i < n; ++i) sum += Luma(&image->pixels[3 * i]);
  }
  const float mean = float(int(double(sum) / double(n) + 0.5));
  for (uint8_t& v : image->pixels) v = Blend(mean, v, factor);
}

// ImageEnhance.Color: blend with the image's own greyscale (a no-op on gray images).
void AdjustSaturation(Image* image, float factor) {
  if (image->channels == 1) return;
  const size_t n = size_t(image->height) * image->width;
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = &image->pixels[3 * i];
    const float gray = Luma(p);
    for (int c = 0; c < 3; ++c) p[c] = Blend(gray, p[c], factor);
  }
}

// torchvision's PIL adjust_hue: to Pillow's 8-bit HSV, add uint8(hue * 255) to H (wrapping), back to RGB.
// Pillow (Convert.c rgb2hsv_row / hsv2rgb), mixing float and double exactly as it does:
//   h = (max==r ? bc-gc : max==g ? 2+rc-bc : 4+gc-rc), xc = (max - x) / (max - min);
//   H = int(fmod(h / 6 + 1, 1) * 255), S = int((max - min) / max * 255), V = max;
//   back: i = floor(6H/255), f = 6H/255 - i, s = S/255, p/q/t = round(V (1 - s)), round(V (1 - s f)),
//   round(V (1 - s (1 - f))), and (r, g, b) by sector i. A gray pixel (max == min) is unchanged.
void AdjustHue(Image* image, float hue) {
  if (image->channels == 1) return;
  // hsv2rgb's quantities that depend on H or S alone, once: sector i, remainder f, s = S / 255.
  struct Tables {
    int sector[256];
    float f[256], fs[256];
  };
  static const Tables tables = [] {
    Tables t;
    for (int x = 0; x < 256; ++x) {
      t.sector[x] = int(std::floor(float(x) * 6.0 / 255.0));
      t.f[x] = float(float(x) * 6.0 / 255.0 - float(t.sector[x]));
      t.fs[x] = float(float(x) / 255.0);
    }
    return t;
  }();
  // C's round() (half away from zero) for x >= 0, inline: x - floor(x) is exact.
  auto round_clip = [](double x) {
    const double fl = std::floor(x);
    return uint8_t(std::min(int(fl) + (x - fl >= 0.5), 255));
  };
  const uint8_t shift = uint8_t(int(hue * 255));
  const size_t n = size_t(image->height) * image->width;
  for (size_t i = 0; i < n; ++i) {
    uint8_t* px = &image->pixels[3 * i];
    const int r = px[0], g = px[1], b = px[2];
    const int maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
    if (maxc == minc) continue;
    const float cr = float(maxc - minc);
    const float s = cr / float(maxc);
    auto c = [&](int v) { return float(maxc - v) / cr; };  // Pillow's rc, gc, bc
    float h = r == maxc ? c(b) - c(g) : g == maxc ? float(2.0 + c(r) - c(b)) : float(4.0 + c(g) - c(r));
    const double h1 = h / 6.0 + 1.0;  // in [5/6, 11/6]: fmod(h1, 1) is one exact subtraction
    h = float(h1 >= 1.0 ? h1 - 1.0 : h1);
    const uint8_t h8 = uint8_t(std::clamp(int(h * 255.0), 0, 255) + shift);
    const uint8_t s8 = uint8_t(std::clamp(int(s * 255.0), 0, 255));
    const uint8_t v = uint8_t(maxc);
    if (s8 == 0) {  // Pillow's hsv2rgb: no saturation left, gray
      px[0] = px[1] = px[2] = v;
      continue;
    }
    const float f = tables.f[h8], fs = tables.fs[s8];
    const uint8_t p = round_clip(float(v) * (1.0 - fs)), q = round_clip(float(v) * (1.0 - fs * f)),
                  t = round_clip(float(v) * (1.0 - fs * (1.0 - f)));
    switch (tables.sector[h8] % 6) {
      case 0: px[0] = v, px[1] = t, px[2] = p; break;
      case 1: px[0] = q, px[1] = v, px[2] = p; break;
      case 2: px[0] = p, px[1] = v, px[2] = t; break;
      case 3: px[0] = p, px[1] = q, px[2] = v; break;
      case 4: px[0] = t, px[1] = p, px[2] = v; break;
      default: px[0] = v, px[1] = p, px[2] = q; break;
    }
  }
}

void ToGrayscale(Image* image) {
  if (image->channels == 1) return;
  const size_t n = size_t(image->height) * image->width;
  for (size_t i = 0; i < n; ++i) image->pixels[i] = Luma(&image->pixels[3 * i]);
  image->Resize(image->height, image->width, 1);
}

// torchvision gaussian_blur: kernel k[i] = exp(-x_i^2 / (2 sigma^2)) / sum, x_i = i - (size - 1) / 2,
// applied in float over a reflect-padded image (separable here; torchvision convolves with the outer
// product, the same sum), rounded to nearest (ties to even, torch.round) back to uint8.
void GaussianBlur(Image* image, int kernel_size, float sigma) {
  const int half = kernel_size / 2, h = image->height, w = image->width, c = image->channels;
  std::vector<float> k(static_cast<size_t>(kernel_size));
  float total = 0;
  for (int i = 0; i < kernel_size; ++i) {
    const float x = float(i) - float(kernel_size - 1) / 2;
    total += k[i] = std::exp(-0.5f * (x / sigma) * (x / sigma));
  }
  for (float& v : k) v /= total;
  auto reflect = [](int i, int n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; };
  // Horizontal pass over each row reflect-padded into `padded`, then vertical pass over reflected rows;
  // both inner loops run over contiguous memory so they vectorise.
  const size_t stride = size_t(w) * c;
  std::vector<float> horizontal(size_t(h) * stride), padded(size_t(w + 2 * half) * c), acc(stride);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = image->row(y);
    for (int x = -half; x < w + half; ++x)
      for (int ch = 0; ch < c; ++ch) padded[size_t(x + half) * c + ch] = row[reflect(x, w) * c + ch];
    float* out = &horizontal[size_t(y) * stride];
    std::fill(out, out + stride, 0.0f);
    for (int i = 0; i < kernel_size; ++i) {
      const float* in = &padded[size_t(i) * c];
      for (size_t j = 0; j < stride; ++j) out[j] += k[i] * in[j];
    }
  }
  for (int y = 0; y < h; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int i = 0; i < kernel_size; ++i) {
      const float* in = &horizontal[size_t(reflect(y + i - half, h)) * stride];
      for (size_t j = 0; j < stride; ++j) acc[j] += k[i] * in[j];
    }
    uint8_t* out = image->row(y);
    for (size_t j = 0; j < stride; ++j) out[j] = uint8_t(std::clamp(std::nearbyint(acc[j]), 0.0f, 255.0f));
  }
}

// ImageOps.solarize: values at or above the threshold are inverted.
void Solarize(Image* image, int threshold) {
  for (uint8_t& v : image->pixels)
    if (v >= threshold) v = uint8_t(255 - v);
}

void NormalizeToPlanar(const Image& image, const std::array<float, 3>& mean, const std::array<float, 3>& std,
                       float* out) {
  const size_t n = size_t(image.height) * image.width;
  const int c = image.channels;
  for (int plane = 0; plane < 3; ++plane) {
    // The same arithmetic as the GPU's (uint8 crops uploaded, normalised there): kernels/cpu/normalize_images.h.
    const cpu::PlaneNorm norm = cpu::PlaneNormFor(mean[plane], std[plane]);
    const uint8_t* in = image.pixels.data() + (c == 3 ? plane : 0);
    float* o = out + plane * n;
    for (size_t i = 0; i < n; ++i) o[i] = cpu::NormalizePixel(in[i * c], norm);
  }
}

void CopyToPlanar(const Image& image, uint8_t* out) {
  const size_t n = size_t(image.height) * image.width;
  const int c = image.channels;
  for (int plane = 0; plane < 3; ++plane) {
    const uint8_t* in = image.pixels.data() + (c == 3 ? plane : 0);
    for (size_t i = 0; i < n; ++i) out[plane * n + i] = in[i * c];
  }
}

}  // namespace vfm::data
