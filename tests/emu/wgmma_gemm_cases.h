// The cases of wgmma_gemm.cu's GEMM tile, shared by its emulator test (tests/emu/hopper_ptx_test.cc) and its GPU
// test (tests/gpu/hopper_ptx_test.cu), so that the GPU confirms exactly what the emulator was shown: random bf16
// operands, a double reference with the error bound of fp32 sums, the operands stored K- or MN-major as the
// kernel reads them, and the list of tile shapes, swizzles and layouts.
#pragma once
#include <cmath>
#include <random>
#include <vector>

#include "kernels/bf16.h"

namespace wgmma_gemm {

struct Problem {
  int n, k;
  std::vector<vfm::bf16> a, b;  // 64 x k, n x k
  std::vector<double> want, tol;
};

inline Problem MakeProblem(int n, int k, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  Problem p{n, k, {}, {}, {}, {}};
  for (int i = 0; i < 64 * k; ++i) p.a.push_back(vfm::FloatToBf16(nd(rng)));
  for (int i = 0; i < n * k; ++i) p.b.push_back(vfm::FloatToBf16(nd(rng)));
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < n; ++c) {
      double s = 0, mag = 0;
      for (int j = 0; j < k; ++j) {
        const double x = double(vfm::Bf16ToFloat(p.a[r * k + j])) * vfm::Bf16ToFloat(p.b[c * k + j]);
        s += x, mag += std::fabs(x);
      }
      p.want.push_back(s);
      p.tol.push_back(k * std::ldexp(mag, -24) + 1e-30);  // fp32 sums of k exact products
    }
  return p;
}

// Copies a rows x cols row-major matrix into `to`, transposed if asked (an MN-major operand: cols x rows).
inline void Store(const std::vector<vfm::bf16>& m, int rows, int cols, bool transposed, vfm::bf16* to) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) to[transposed ? c * rows + r : r * cols + c] = m[r * cols + c];
}

// The worst |c - want| / tol over the 64 x n tile (a NaN counts as infinite) and its index.
struct Worst {
  double ratio = 0;
  int at = -1;
};
inline Worst WorstError(const Problem& p, const float* c) {
  Worst w;
  for (int i = 0; i < 64 * p.n; ++i) {
    const double e = std::isnan(c[i]) ? INFINITY : std::fabs(c[i] - p.want[i]) / p.tol[i];
    if (e > w.ratio || (std::isinf(e) && w.at < 0)) w.ratio = e, w.at = i;
  }
  return w;
}

// Calls run.Run<N, kSpan, kARegs, kAMN, kBMN>(k, seed) for every correct case: every N with every swizzle mode
// (K = 256: four chunks over two stages, each mbarrier through two phases of each parity), seven chunks (the
// phases flip an odd number of times), A from registers, and MN-major operands (imm-trans 1): B N-major with
// every swizzle mode and N, A M-major, and the P V shape of attention (A from registers, B N-major).
template <typename Runner>
void ForEachCase(Runner& run) {
  unsigned seed = 1;
  run.template Run<64, 16, false, false, false>(256, seed++);
  run.template Run<64, 32, false, false, false>(256, seed++);
  run.template Run<64, 64, false, false, false>(256, seed++);
  run.template Run<64, 128, false, false, false>(256, seed++);
  run.template Run<128, 16, false, false, false>(256, seed++);
  run.template Run<128, 32, false, false, false>(256, seed++);
  run.template Run<128, 64, false, false, false>(256, seed++);
  run.template Run<128, 128, false, false, false>(256, seed++);
  run.template Run<256, 16, false, false, false>(256, seed++);
  run.template Run<256, 32, false, false, false>(256, seed++);
  run.template Run<256, 64, false, false, false>(256, seed++);
  run.template Run<256, 128, false, false, false>(256, seed++);
  run.template Run<128, 128, false, false, false>(448, seed++);
  run.template Run<64, 128, true, false, false>(256, seed++);
  run.template Run<256, 16, true, false, false>(256, seed++);
  run.template Run<128, 64, true, false, false>(256, seed++);
  run.template Run<64, 16, false, false, true>(256, seed++);
  run.template Run<64, 32, false, false, true>(256, seed++);
  run.template Run<128, 64, false, false, true>(256, seed++);
  run.template Run<256, 128, false, false, true>(256, seed++);
  run.template Run<128, 16, false, true, false>(256, seed++);
  run.template Run<64, 128, false, true, false>(256, seed++);
  run.template Run<128, 32, false, true, true>(256, seed++);
  run.template Run<64, 128, true, false, true>(256, seed++);
  run.template Run<128, 16, true, false, true>(256, seed++);
}

}  // namespace wgmma_gemm
