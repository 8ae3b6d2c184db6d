// The tail of the augmentation (torchvision's ToTensor + Normalize): planar uint8 RGB crops ->
//   out = (v / 255 - mean_c) / std_c,  computed as  fma(v, scale_c, shift_c)
// with scale_c = 1 / (255 std_c) and shift_c = -mean_c / std_c, one fused multiply-add per element so
// the host (the loader's float output) and the GPU (kernels/cuda/normalize_images.cu, after a uint8
// upload) produce the same bits. Normalisation is per sample and plane (each sample's modality has its
// own mean/std).
#pragma once
#include <cmath>
#include <cstdint>

namespace vfm::cpu {

struct PlaneNorm {
  float scale, shift;
};

inline PlaneNorm PlaneNormFor(float mean, float std) { return {1.0f / (255.0f * std), -mean / std}; }

inline float NormalizePixel(uint8_t v, PlaneNorm n) { return std::fma(float(v), n.scale, n.shift); }

// in [planes, plane_size] (planes = samples x 3), norms [planes] -> out [planes, plane_size].
inline void NormalizeImages(const uint8_t* in, const PlaneNorm* norms, float* out, int64_t planes,
                            int64_t plane_size) {
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < plane_size; ++i) out[p * plane_size + i] = NormalizePixel(in[p * plane_size + i], norms[p]);
}

}  // namespace vfm::cpu
