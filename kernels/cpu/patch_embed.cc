#include "kernels/cpu/patch_embed.h"

namespace vfm::cpu {

namespace {
// Visits every (image offset, column offset) pair; `copy` moves one row of p pixels.
template <typename F>
void ForEachPatchRow(int64_t B, int64_t C, int64_t H, int64_t W, int64_t p, F copy) {
  const int64_t gh = H / p, gw = W / p, row = C * p * p;
#pragma omp parallel for collapse(2) schedule(static) if (B * C * H * W > 65536)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t py = 0; py < gh; ++py)
      for (int64_t px = 0; px < gw; ++px)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t ky = 0; ky < p; ++ky) {
            const int64_t img_off = ((b * C + c) * H + py * p + ky) * W + px * p;
            const int64_t col_off = (b * gh * gw + py * gw + px) * row + (c * p + ky) * p;
            copy(img_off, col_off);
          }
}
}  // namespace

template <typename T>
void Patchify(const T* img, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  ForEachPatchRow(B, C, H, W, p, [&](int64_t i, int64_t c) {
    for (int64_t k = 0; k < p; ++k) cols[c + k] = img[i + k];
  });
}

template <typename T>
void Unpatchify(const T* cols, T* img, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p) {
  ForEachPatchRow(B, C, H, W, p, [&](int64_t i, int64_t c) {
    for (int64_t k = 0; k < p; ++k) img[i + k] = cols[c + k];
  });
}

template void Patchify<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void Patchify<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void Unpatchify<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t);
template void Unpatchify<double>(const double*, double*, int64_t, int64_t, int64_t, int64_t, int64_t);

}  // namespace vfm::cpu
