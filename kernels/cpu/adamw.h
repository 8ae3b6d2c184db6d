// AdamW (Loshchilov & Hutter), step by step as torch.optim.AdamW computes it, for step t >= 1:
//   p <- p * (1 - lr * wd)
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
#pragma once
#include <cmath>
#include <cstdint>

namespace vfm::cpu {

struct AdamWStep {
  double lr, weight_decay, beta1, beta2, eps;
  int64_t step;  // t, counted from 1
};

inline void AdamWUpdate(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& s) {
  const float decay = float(1.0 - s.lr * s.weight_decay);
  const float b1 = float(s.beta1), b2 = float(s.beta2);
  const float step_size = float(s.lr / (1.0 - std::pow(s.beta1, double(s.step))));
  const float bias2_sqrt = float(std::sqrt(1.0 - std::pow(s.beta2, double(s.step))));
  const float eps = float(s.eps);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    p[i] *= decay;
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bias2_sqrt + eps);
  }
}

// sum_i g_i^2 in double, in 8 interleaved partial sums added pairwise at the end: a fixed order (so the same
// on every run and thread count) that vectorises, where one running sum waits on each add's latency.
inline double SquaredNorm(const float* g, int64_t n) {
  constexpr int kLanes = 8;
  double lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += double(g[i + l]) * g[i + l];
  for (; i < n; ++i) lane[i % kLanes] += double(g[i]) * g[i];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) lane[l] += lane[l + width];
  return lane[0];
}

// EMA of the teacher: t <- momentum * t + (1 - momentum) * s.
inline void EmaUpdate(float* teacher, const float* student, int64_t n, double momentum) {
  const float a = float(momentum), b = float(1.0 - momentum);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) teacher[i] = a * teacher[i] + b * student[i];
}

}  // namespace vfm::cpu
