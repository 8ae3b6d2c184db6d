// Patchify: cut images [B, C, H, W] into non-overlapping p x p patches, one row per patch:
//   cols[b, py * (W/p) + px, c * p * p + ky * p + kx] = img[b, c, py * p + ky, px * p + kx]
// so that a conv with kernel = stride = p and weight [D, C, p, p] is cols @ weight.reshape(D, -1)^T.
// Unpatchify is the exact inverse (patches do not overlap), which is also patchify's backward.
#pragma once
#include <cstdint>

namespace vfm::cpu {

template <typename T>
void Patchify(const T* img, T* cols, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);
template <typename T>
void Unpatchify(const T* cols, T* img, int64_t B, int64_t C, int64_t H, int64_t W, int64_t p);

}  // namespace vfm::cpu
