// iBOT's blockwise patch masking (after BEiT's MaskingGenerator, as iBOT's ImageFolderMask runs it): per
// global crop, a mask ratio r (0 with probability prob_none, else uniform in [ratio_min, ratio_max]), then
// rectangles are added until about r * H * W patches of the H x W patch grid are masked. Each rectangle:
// up to 10 tries of area ~ U(low, remaining) with low = (min(H, W) / 3)^2, aspect ~ exp(U(log a, -log a)),
// h = round(sqrt(area * aspect)), w = round(sqrt(area / aspect)); it must fit (h < H, w < W) and add between
// 1 and `remaining` new patches; stop when a whole round of tries adds nothing.
#pragma once
#include <cstdint>

#include "kernels/random.h"

namespace vfm::data {

struct MaskOptions {
  int patch_size = 16;
  float ratio_min = 0.1f, ratio_max = 0.5f;
  float prob_none = 0.5f;  // probability that a crop gets no mask at all
  float min_aspect = 0.3f;
};

float DrawMaskRatio(Rng& rng, const MaskOptions& options);

// Fills mask[grid_h * grid_w] with 0/1 for `ratio`.
void BlockMask(Rng& rng, int grid_h, int grid_w, float ratio, float min_aspect, uint8_t* mask);

}  // namespace vfm::data
