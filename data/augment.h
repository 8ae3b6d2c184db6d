// The iBOT / VisionFM multi-crop augmentation, one view at a time, each step matching torchvision 0.14 on PIL
// images (what those pipelines run): RandomResizedCrop (bicubic) -> RandomHorizontalFlip -> RandomApply(
// ColorJitter) -> RandomGrayscale -> GaussianBlur (p) -> RandomSolarize (p) -> ToTensor + Normalize.
// Every parameter of a view is drawn first (DrawView) from a counter-based Rng keyed by (seed, epoch,
// sample, view), so views never depend on the thread that renders them, and so the decoder can pick a JPEG
// scale knowing every crop of the sample (ChooseScaleDenom). Pixels stay uint8 (1 or 3 channels) until the
// final normalisation, as in PIL; gray images stay one channel and are widened to three at the very end.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "data/image.h"
#include "kernels/random.h"

namespace vfm::data {

// How one kind of view (a global crop i, or a local crop) is made. Defaults: torchvision's.
struct ViewOptions {
  int size = 224;
  float scale_min = 0.32f, scale_max = 1.0f;  // crop area / image area
  float ratio_min = 0.8f, ratio_max = 1.2f;   // crop width / height (log-uniform)
  float flip_p = 0.5f;
  float jitter_p = 0.8f, brightness = 0.4f, contrast = 0.4f, saturation = 0.2f, hue = 0.1f;
  float gray_p = 0.2f;
  float blur_p = 0.0f, blur_sigma_min = 0.1f, blur_sigma_max = 2.0f;
  int blur_kernel = 9;  // odd; torchvision GaussianBlur's kernel_size
  float solarize_p = 0.0f;
  int solarize_threshold = 128;
};

// Everything random about one view, drawn up front.
struct ViewParams {
  int size = 0;
  int top = 0, left = 0, height = 0, width = 0;  // crop box in the original image (torchvision's i, j, h, w)
  bool flip = false;
  bool jitter = false;
  std::array<int, 4> jitter_order{};  // 0 brightness, 1 contrast, 2 saturation, 3 hue
  float brightness = 1, contrast = 1, saturation = 1, hue = 0;
  bool gray = false;
  bool blur = false;
  float blur_sigma = 0;
  int blur_kernel = 0;
  bool solarize = false;
  int solarize_threshold = 128;
};

// Draws a view of an image of height x width: the torchvision draws in torchvision's order.
ViewParams DrawView(Rng& rng, int height, int width, const ViewOptions& options);

// The largest JPEG DCT scale (1, 2, 4 or 8) at which every view's crop still has at least its output
// size in pixels, so scaled decoding never makes a crop upsample more than at full size.
int ChooseScaleDenom(const std::vector<ViewParams>& views);

// Renders a view from `decoded`, which may be a scaled decode of an original_height x original_width
// image (the crop box is mapped to it). `out` gets size x size, 1 or 3 channels.
void RenderView(const Image& decoded, int original_height, int original_width, const ViewParams& view,
                Image* out);

// The single steps (exposed for the torchvision parity test), in place on uint8 images.
void FlipHorizontal(Image* image);
void AdjustBrightness(Image* image, float factor);
void AdjustContrast(Image* image, float factor);
void AdjustSaturation(Image* image, float factor);
void AdjustHue(Image* image, float hue);
void ToGrayscale(Image* image);  // RGB -> one channel (the loader widens it back to three)
void GaussianBlur(Image* image, int kernel_size, float sigma);
void Solarize(Image* image, int threshold);

// Writes `image` as planar float32 [3, H, W]: (v / 255 - mean[c]) / std[c]; gray fills all three planes.
void NormalizeToPlanar(const Image& image, const std::array<float, 3>& mean, const std::array<float, 3>& std,
                       float* out);
// Writes `image` as planar uint8 [3, H, W] (normalisation left to the GPU).
void CopyToPlanar(const Image& image, uint8_t* out);

}  // namespace vfm::data
