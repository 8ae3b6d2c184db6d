#include "data/multicrop.h"

#include <algorithm>

#include "kernels/random.h"

namespace vfm::data {
namespace {
constexpr uint64_t kMaskTag = 0x6D61736Bull;  // "mask"

float PerView(const std::vector<float>& values, int view) {
  return values.empty() ? 0.0f : values[size_t(std::min<int>(view, int(values.size()) - 1))];
}
}  // namespace

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
