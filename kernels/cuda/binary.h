// Elementwise kernels over broadcast operands on the GPU: the CUDA counterparts of
// kernels/cpu/binary.h (same math; the CPU file is the reference), plus the scalar maps of
// ops::Scale / ops::AddScalar and the in-place a += alpha * b of ops::AddInPlace.
// Arithmetic is fp32 whatever the storage type (f32 or bf16); the output is rounded once.
#pragma once
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

constexpr int kMaxBroadcastDims = 8;
// The operands of a broadcast kernel, as slots of BroadcastLayout::strides.
constexpr int kOperandA = 0, kOperandB = 1, kOperandMask = 2;

// The output's shape (contiguous, row-major) and every operand's strides per output dimension, in
// elements, 0 along the dimensions an operand is broadcast over (numpy rules, resolved by the caller:
// ops::internal::BroadcastStrides). Slots a kernel does not read are ignored. Passed by value as a
// kernel parameter (about 270 bytes).
struct BroadcastLayout {
  int ndim = 0;
  int64_t shape[kMaxBroadcastDims] = {};
  int64_t strides[3][kMaxBroadcastDims] = {};
};

enum class BinaryOp : int { kAdd, kSub, kMul, kDiv };

// out[i] = a[i] op b[i] for every index i of layout.shape (strides of slots kOperandA, kOperandB).
template <typename T>
void BroadcastBinary(BinaryOp op, const T* a, const T* b, T* out, const BroadcastLayout& layout);

// out[i] = mask[i] != 0 ? a[i] : b[i] (all three broadcast: slots kOperandA, kOperandB, kOperandMask).
template <typename T>
void BroadcastWhere(const uint8_t* mask, const T* a, const T* b, T* out, const BroadcastLayout& layout);

// out[i] = T(mask[i]): the mask's values (0/1) broadcast to layout.shape in the value type, as the CPU
// path of ops::Where builds it for the backward (mask.To(T), broadcast). Reads slot kOperandMask.
template <typename T>
void BroadcastMaskValues(const uint8_t* mask, T* out, const BroadcastLayout& layout);

// Contiguous maps: y = x * float(s), y = x + float(s) (x == y allowed).
template <typename T> void Scale(const T* x, T* y, int64_t n, double s);
template <typename T> void AddScalar(const T* x, T* y, int64_t n, double s);
// a[i] += float(alpha) * b[i], contiguous, in place.
template <typename T> void Axpy(T* a, const T* b, int64_t n, double alpha);

}  // namespace vfm::cuda
