// Matrix products on the GPU through cuBLASLt, with cpu::Gemm's row-major semantics
// (kernels/cpu/matmul.h): C = alpha * op(A) op(B) + beta * C, op(X) = X or X^T; A is M x K after op,
// B is K x N after op, C is M x N, all row-major with leading dimensions lda, ldb, ldc (in elements).
// As on the CPU, beta = 0 means C is not read (it may hold NaNs).
//
// Types: T = float (true fp32: CUBLAS_COMPUTE_32F, TF32 off) or bf16 (bf16 inputs, fp32 accumulation).
// TC, the type of C, is T, or float with bf16 inputs (fp32 weight gradients, attention scores).
// Instantiated for (float, float), (bf16, bf16), (bf16, float).
// Everything runs on the current device's compute stream; pointers are device pointers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/bf16.h"

namespace vfm::cuda {

template <typename T, typename TC = T>
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, float beta, TC* c, int64_t ldc);

// `batch` independent products; operand i starts at a + i * stride_a (likewise b, c). A stride may be 0
// (an operand shared by every product), except stride_c.
template <typename T, typename TC = T>
void GemmStridedBatched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const T* a,
                        int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b, float beta, TC* c,
                        int64_t ldc, int64_t stride_c, int64_t batch);

// C = op(A) op(B) + bias, bias[N] added to every row (Linear's forward: y = x W^T + b), the bias in
// cuBLASLt's epilogue (no separate pass over C). Instantiated for T = float and bf16.
// (cuBLASLt's GELU epilogues use the tanh approximation, not the exact erf GELU of ops::Gelu, so they
// are deliberately not offered.)
template <typename T>
void GemmBias(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
              int64_t ldb, const T* bias, T* c, int64_t ldc);

// out[j] = sum_i g[i * cols + j] for a row-major [rows, cols] g: the bias gradient of Linear. fp32
// accumulation, deterministic (fixed two-pass order); `scratch` is device memory of at least
// ColumnSumScratchBytes(rows, cols) bytes, free for the duration of the call (stream order).
// Instantiated for (float, float), (bf16, bf16), (bf16, float).
size_t ColumnSumScratchBytes(int64_t rows, int64_t cols);
template <typename T, typename TO = T>
void ColumnSum(const T* g, TO* out, int64_t rows, int64_t cols, void* scratch);

}  // namespace vfm::cuda
