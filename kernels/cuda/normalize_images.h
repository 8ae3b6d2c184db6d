// The augmentation tail on the GPU: uploaded planar uint8 crops -> normalised f32 or bf16, the math of
// kernels/cpu/normalize_images.h (the same fused multiply-add, so f32 results equal the host's bits).
#pragma once
#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/cpu/normalize_images.h"

namespace vfm::cuda {

// in [planes, plane_size] uint8, norms [planes] (device memory), out [planes, plane_size].
template <typename T>
void NormalizeImages(const uint8_t* in, const cpu::PlaneNorm* norms, T* out, int64_t planes, int64_t plane_size);

}  // namespace vfm::cuda
