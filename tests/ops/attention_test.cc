#include <cmath>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

// softmax(q k^T * scale) v per (batch, head), from the packed [B, N, 3, H, Dh] layout, in plain loops.
Tensor NaiveAttention(const Tensor& qkv, int64_t H, double scale) {
  const int64_t B = qkv.size(0), N = qkv.size(1), Dh = qkv.size(2) / (3 * H);
  Tensor out = Tensor::Zeros({B, N, H * Dh}, DType::kF64);
  auto at = [&](int64_t b, int64_t n, int64_t which, int64_t h, int64_t d) {
    return qkv.at({b, n, which * H * Dh + h * Dh + d});
  };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < N; ++i) {
        std::vector<double> s(N);
        double m = -1e300, z = 0;
        for (int64_t j = 0; j < N; ++j) {
          for (int64_t d = 0; d < Dh; ++d) s[j] += at(b, i, 0, h, d) * at(b, j, 1, h, d) * scale;
          m = std::max(m, s[j]);
        }
        for (int64_t j = 0; j < N; ++j) z += std::exp(s[j] - m);
        for (int64_t d = 0; d < Dh; ++d) {
          double o = 0;
          for (int64_t j = 0; j < N; ++j) o += std::exp(s[j] - m) / z * at(b, j, 2, h, d);
          out.data<double>()[(b * N + i) * H * Dh + h * Dh + d] = o;
        }
      }
  return out;
}

TEST(Attention, ForwardMatchesNaiveAtOddLengths) {
  for (int64_t N : {1, 5, 37}) {
    const int64_t B = 2, H = 3, Dh = 8;
    Tensor qkv = RandD({B, N, 3 * H * Dh}, 10 + N);
    ExpectClose(ops::Attention(qkv, H, 0.35), NaiveAttention(qkv, H, 0.35), 1e-12, 1e-10,
                "N=" + std::to_string(N));
    ExpectClose(ops::Attention(qkv.To(DType::kF32), H, 0.35), NaiveAttention(qkv, H, 0.35), 1e-5, 1e-4,
                "f32 N=" + std::to_string(N));
  }
}

TEST(Attention, Gradients) {
  auto qkv = RandD({2, 5, 3 * 2 * 4}, 1).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Attention(in[0], 2, 0.5); }, {qkv});
}

TEST(Attention, RejectsBadLayout) {
  EXPECT_THROW(ops::Attention(RandD({2, 5, 10}, 1), 3, 1.0), Error);
}

}  // namespace
}  // namespace vfm
