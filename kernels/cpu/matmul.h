// Row-major GEMM on the CPU through OpenBLAS: C = alpha * op(A) op(B) + beta * C,
// op(X) = X or X^T; A is M x K after op, B is K x N after op, C is M x N.
#pragma once
#include <cstdint>

namespace vfm::cpu {

template <typename T>
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// The naive triple loop, the reference that tests hold Gemm to.
template <typename T>
void GemmReference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                   int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace vfm::cpu
