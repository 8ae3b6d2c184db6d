#include "data/masking.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace vfm::data {

float DrawMaskRatio(Rng& rng, const MaskOptions& o) {
  const bool none = rng.Uniform() < o.prob_none;
  const float ratio = rng.Uniform(o.ratio_min, o.ratio_max);
  return none ? 0.0f : ratio;
}

void BlockMask(Rng& rng, int grid_h, int grid_w, float ratio, float min_aspect, uint8_t* mask) {
  std::memset(mask, 0, size_t(grid_h) * grid_w);
  const double target = double(ratio) * grid_h * grid_w;
  const double log_aspect = std::log(double(min_aspect));
  const double low = std::pow(std::min(grid_h, grid_w) / 3, 2);
  double masked = 0;
  while (masked < target) {
    const double remaining = target - masked;
    int added = 0;
    for (int attempt = 0; attempt < 10 && added == 0; ++attempt) {
      const double area = low + (remaining - low) * rng.UniformDouble();
      const double aspect = std::exp(log_aspect + (-2 * log_aspect) * rng.UniformDouble());
      const int h = int(std::nearbyint(std::sqrt(area * aspect)));
      const int w = int(std::nearbyint(std::sqrt(area / aspect)));
      if (w >= grid_w || h >= grid_h) continue;
      const int top = int(rng.Below(uint64_t(grid_h - h + 1)));
      const int left = int(rng.Below(uint64_t(grid_w - w + 1)));
      int already = 0;
      for (int i = top; i < top + h; ++i)
        for (int j = left; j < left + w; ++j) already += mask[i * grid_w + j];
      const int fresh = h * w - already;
      if (fresh > 0 && fresh <= remaining) {
        for (int i = top; i < top + h; ++i)
          for (int j = left; j < left + w; ++j) mask[i * grid_w + j] = 1;
        added = fresh;
      }
    }
    if (added == 0) break;
    masked += added;
  }
}

}  // namespace vfm::data
