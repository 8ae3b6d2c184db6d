// Bicubic resampling as Pillow does it (and therefore torchvision on PIL images, which the iBOT/VisionFM
// pipelines use): a separable convolution with the cubic kernel a = -0.5,
//   k(x) = (a+2)|x|^3 - (a+3)|x|^2 + 1   for |x| < 1,   a|x|^3 - 5a|x|^2 + 8a|x| - 4a   for 1 <= |x| < 2,
// stretched by the scale factor when shrinking (antialiasing: support = 2 * max(1, in/out) source pixels),
// output pixel x centred at source coordinate in0 + (x + 0.5) * (in1 - in0) / out. The horizontal pass runs
// first and is rounded to uint8 before the vertical pass, as Pillow's 8-bit path does.
#pragma once
#include "data/image.h"

namespace vfm::data {

// Resamples the source box [left, left+width) x [top, top+height) (fractional coordinates allowed) of `src`
// to out_height x out_width. `src` and `out` must differ.
void ResizeBox(const Image& src, float top, float left, float height, float width, int out_height,
               int out_width, Image* out);

}  // namespace vfm::data
