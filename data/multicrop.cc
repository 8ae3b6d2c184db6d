#include "data/multicrop.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/random.h"

namespace vfm::data {
namespace {
constexpr uint64_t kMaskTag = 0x6D61736Bull;  // "mask"

float PerView(const std::vector<float>& values, int view) {
  return values.empty() ? 0.0f : values[size_t(std::min<int>(view, int(values.size()) - 1))];
}
absl::Status ValidateView(const ViewOptions& o, const char* kind) {
  auto bad = [&](const char* option, auto value) {
    return absl::InvalidArgumentError(absl::StrCat(kind, ".", option, " = ", value, " is out of range"));
  };
  auto probability = [](float p) { return p >= 0 && p <= 1; };
  if (o.size < 1) return bad("size", o.size);
  if (!(o.scale_min > 0 && o.scale_min <= o.scale_max)) return bad("scale_min", o.scale_min);
  if (!(o.ratio_min > 0 && o.ratio_min <= o.ratio_max)) return bad("ratio_min", o.ratio_min);
  if (!probability(o.flip_p)) return bad("flip_p", o.flip_p);
  if (!probability(o.jitter_p)) return bad("jitter_p", o.jitter_p);
  if (o.brightness < 0) return bad("brightness", o.brightness);
  if (o.contrast < 0) return bad("contrast", o.contrast);
  if (o.saturation < 0) return bad("saturation", o.saturation);
  if (!(o.hue >= 0 && o.hue <= 0.5f)) return bad("hue", o.hue);
  if (!probability(o.gray_p)) return bad("gray_p", o.gray_p);
  if (!probability(o.blur_p)) return bad("blur_p", o.blur_p);
  if (!(o.blur_sigma_min > 0 && o.blur_sigma_min <= o.blur_sigma_max)) return bad("blur_sigma_min", o.blur_sigma_min);
  if (o.blur_kernel < 1 || o.blur_kernel % 2 == 0 || o.blur_kernel / 2 >= o.size) return bad("blur_kernel", o.blur_kernel);
  if (!probability(o.solarize_p)) return bad("solarize_p", o.solarize_p);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateMultiCropOptions(const MultiCropOptions& o) {
  if (o.global_crops < 1) return absl::InvalidArgumentError(absl::StrCat("global_crops = ", o.global_crops, " < 1"));
  if (o.local_crops < 0) return absl::InvalidArgumentError(absl::StrCat("local_crops = ", o.local_crops, " < 0"));
  if (absl::Status s = ValidateView(o.global, "global"); !s.ok()) return s;
  if (absl::Status s = ValidateView(o.local, "local"); !s.ok()) return s;
  for (float p : o.global_blur_p)
    if (!(p >= 0 && p <= 1)) return absl::InvalidArgumentError(absl::StrCat("global_blur_p has ", p));
  for (float p : o.global_solarize_p)
    if (!(p >= 0 && p <= 1)) return absl::InvalidArgumentError(absl::StrCat("global_solarize_p has ", p));
  const MaskOptions& m = o.masking;
  if (m.patch_size < 1 || o.global.size % m.patch_size != 0)
    return absl::InvalidArgumentError(absl::StrCat("patch_size = ", m.patch_size, " does not divide global.size = ",
                                                   o.global.size));
  if (!(m.ratio_min >= 0 && m.ratio_min <= m.ratio_max && m.ratio_max <= 1))
    return absl::InvalidArgumentError(absl::StrCat("mask ratio range [", m.ratio_min, ", ", m.ratio_max, "]"));
  if (!(m.prob_none >= 0 && m.prob_none <= 1)) return absl::InvalidArgumentError(absl::StrCat("mask prob_none = ", m.prob_none));
  if (!(m.min_aspect > 0 && m.min_aspect <= 1)) return absl::InvalidArgumentError(absl::StrCat("mask min_aspect = ", m.min_aspect));
  return absl::OkStatus();
}

absl::Status MakeViews(const uint8_t* bytes, size_t size, Codec codec, const ImageHeader& shape, uint64_t key,
                       const MultiCropOptions& o, SampleViews* out) {
  const int n_views = o.global_crops + o.local_crops;
  std::vector<ViewParams> views;
  views.reserve(size_t(n_views));
  for (int v = 0; v < n_views; ++v) {
    Rng rng(MixKey({key, uint64_t(v)}));
    ViewOptions options = v < o.global_crops ? o.global : o.local;
    if (v < o.global_crops) {
      options.blur_p = PerView(o.global_blur_p, v);
      options.solarize_p = PerView(o.global_solarize_p, v);
    }
    views.push_back(DrawView(rng, shape.height, shape.width, options));
  }
  out->scale_denom = codec == Codec::kJpeg ? ChooseScaleDenom(views) : 1;
  thread_local Image decoded;
  if (absl::Status s = DecodeImage(bytes, size, codec, shape, out->scale_denom, &decoded); !s.ok()) return s;
  out->global.resize(size_t(o.global_crops));
  out->local.resize(size_t(o.local_crops));
  for (int v = 0; v < n_views; ++v)
    RenderView(decoded, shape.height, shape.width, views[size_t(v)],
               v < o.global_crops ? &out->global[size_t(v)] : &out->local[size_t(v - o.global_crops)]);
  out->masks.resize(o.mask ? size_t(o.global_crops) : 0);
  const int grid = o.global.size / o.masking.patch_size;
  for (size_t v = 0; v < out->masks.size(); ++v) {
    Rng rng(MixKey({key, kMaskTag, v}));
    out->masks[v].resize(size_t(grid) * grid);
    BlockMask(rng, grid, grid, DrawMaskRatio(rng, o.masking), o.masking.min_aspect, out->masks[v].data());
  }
  return absl::OkStatus();
}

}  // namespace vfm::data
