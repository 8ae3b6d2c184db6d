// One sample's multi-crop views: n global crops, n local crops and a patch mask per global crop, from its
// encoded bytes. Every view's parameters are drawn first (view v from Rng(MixKey({key, v}))), then the
// image is decoded once at the coarsest JPEG scale every crop allows, then each view is rendered.
#pragma once
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "data/augment.h"
#include "data/decode.h"
#include "data/image.h"
#include "data/masking.h"

namespace vfm::data {

struct MultiCropOptions {
  int global_crops = 2;
  ViewOptions global;  // size 224, scale 0.32-1; blur/solarize probabilities come from the vectors below
  std::vector<float> global_blur_p = {1.0f, 0.1f};      // per global crop (the last repeats)
  std::vector<float> global_solarize_p = {0.0f, 0.2f};  // per global crop (the last repeats)
  int local_crops = 0;
  ViewOptions local = [] {
    ViewOptions o;
    o.size = 96;
    o.scale_min = 0.05f;
    o.scale_max = 0.32f;
    o.blur_p = 0.5f;
    return o;
  }();
  bool mask = true;  // draw a patch mask per global crop
  MaskOptions masking;
};

struct SampleViews {
  std::vector<Image> global, local;
  std::vector<std::vector<uint8_t>> masks;  // per global crop: (size / patch)^2 of 0/1
  int scale_denom = 1;                      // the JPEG scale the sample was decoded at
};

// Checks every option's range; the error names the option at fault (e.g. "local.scale_min").
absl::Status ValidateMultiCropOptions(const MultiCropOptions& options);

// `shape` is the sample's stored height, width, channels (also the layout of raw bytes). `key` identifies
// the sample draw: MixKey({seed, epoch, position, sample id}).
absl::Status MakeViews(const uint8_t* bytes, size_t size, Codec codec, const ImageHeader& shape, uint64_t key,
                       const MultiCropOptions& options, SampleViews* out);

}  // namespace vfm::data
