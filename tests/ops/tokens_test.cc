#include <cmath>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(PatchEmbed, MatchesNaiveConvolution) {
  const int64_t B = 2, C = 3, H = 8, W = 12, p = 4, D = 5;
  Tensor img = RandD({B, C, H, W}, 1), w = RandD({D, C, p, p}, 2), b = RandD({D}, 3);
  Tensor y = ops::PatchEmbed(img, w, b, p);
  ASSERT_EQ(y.shape(), (Shape{B, (H / p) * (W / p), D}));
  for (int64_t n = 0; n < B; ++n)
    for (int64_t py = 0; py < H / p; ++py)
      for (int64_t px = 0; px < W / p; ++px)
        for (int64_t d = 0; d < D; ++d) {
          double s = b.at({d});
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ky = 0; ky < p; ++ky)
              for (int64_t kx = 0; kx < p; ++kx) s += img.at({n, c, py * p + ky, px * p + kx}) * w.at({d, c, ky, kx});
          EXPECT_NEAR(y.at({n, py * (W / p) + px, d}), s, 1e-12);
        }
}

TEST(PatchEmbed, Gradients) {
  auto img = RandD({1, 2, 4, 6}, 1).set_requires_grad(true);
  auto w = RandD({3, 2, 2, 2}, 2).set_requires_grad(true);
  auto b = RandD({3}, 3).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::PatchEmbed(in[0], in[1], in[2], 2); },
                       {img, w, b});
  EXPECT_THROW(ops::PatchEmbed(RandD({1, 2, 5, 6}, 1), w, b, 2), Error);
}

TEST(Concat, ForwardAndGradients) {
  auto a = RandD({2, 1, 3}, 1).set_requires_grad(true);
  auto b = RandD({2, 4, 3}, 2).set_requires_grad(true);
  Tensor y = ops::Concat({a, b}, 1);
  ASSERT_EQ(y.shape(), (Shape{2, 5, 3}));
  EXPECT_EQ(y.at({1, 0, 2}), a.at({1, 0, 2}));
  EXPECT_EQ(y.at({1, 3, 1}), b.at({1, 2, 1}));
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Concat({in[0], in[1]}, 1); }, {a, b});
  EXPECT_THROW(ops::Concat({a, RandD({3, 4, 3}, 3)}, 1), Error);
}

TEST(GatherTokens, PicksRowsAndScattersGradients) {
  auto x = RandD({2, 5, 3}, 1).set_requires_grad(true);
  Tensor idx = Tensor::Empty({2, 3}, DType::kI64);
  const int64_t picks[] = {4, 0, 4, 1, 2, 3};  // a repeated index accumulates its gradient
  std::copy(picks, picks + 6, idx.data<int64_t>());
  Tensor y = ops::GatherTokens(x, idx);
  EXPECT_EQ(y.at({1, 2, 1}), x.at({1, 3, 1}));
  ExpectGradientsMatch([idx](const std::vector<Tensor>& in) { return ops::GatherTokens(in[0], idx); }, {x});
  idx.data<int64_t>()[0] = 5;
  EXPECT_THROW(ops::GatherTokens(x, idx), Error);
}

// Keys' cubic kernel with a = -0.75, as in torch's upsample_bicubic2d.
double Cubic(double x) {
  const double a = -0.75;
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

TEST(ResizeBicubic, MatchesDirectFormula) {
  const int64_t h = 4, w = 5, H = 7, W = 3, D = 2;
  Tensor x = RandD({1, h, w, D}, 1);
  Tensor y = ops::ResizeBicubic(x, H, W);
  for (int64_t oy = 0; oy < H; ++oy)
    for (int64_t ox = 0; ox < W; ++ox)
      for (int64_t d = 0; d < D; ++d) {
        const double sy = (oy + 0.5) * h / H - 0.5, sx = (ox + 0.5) * w / W - 0.5;
        double s = 0;
        for (int64_t iy = int64_t(std::floor(sy)) - 1; iy <= int64_t(std::floor(sy)) + 2; ++iy)
          for (int64_t ix = int64_t(std::floor(sx)) - 1; ix <= int64_t(std::floor(sx)) + 2; ++ix) {
            const int64_t cy = std::clamp<int64_t>(iy, 0, h - 1), cx = std::clamp<int64_t>(ix, 0, w - 1);
            s += Cubic(sy - iy) * Cubic(sx - ix) * x.at({0, cy, cx, d});
          }
        EXPECT_NEAR(y.at({0, oy, ox, d}), s, 1e-12);
      }
}

TEST(ResizeBicubic, Gradients) {
  auto x = RandD({2, 3, 4, 2}, 1).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::ResizeBicubic(in[0], 5, 2); }, {x});
}

TEST(DropPath, ZeroesDroppedSamplesAndScalesKept) {
  auto x = RandD({3, 2, 2}, 1).set_requires_grad(true);
  const std::vector<uint8_t> keep{1, 0, 1};
  Tensor y = ops::DropPath(x, keep, 0.8);
  EXPECT_EQ(y.at({1, 1, 1}), 0.0);
  EXPECT_NEAR(y.at({2, 0, 1}), x.at({2, 0, 1}) / 0.8, 1e-15);
  ExpectGradientsMatch([keep](const std::vector<Tensor>& in) { return ops::DropPath(in[0], keep, 0.8); }, {x});
}

TEST(DropPath, AddIsTheResidualPlusTheDroppedBranch) {
  auto r = RandD({3, 2, 2}, 2).set_requires_grad(true);
  auto x = RandD({3, 2, 2}, 3).set_requires_grad(true);
  const std::vector<uint8_t> keep{0, 1, 1};
  EXPECT_EQ(ops::DropPathAdd(r, x, keep, 0.8).ToVector(), ops::Add(r, ops::DropPath(x, keep, 0.8)).ToVector());
  ExpectGradientsMatch(
      [keep](const std::vector<Tensor>& in) { return ops::DropPathAdd(in[0], in[1], keep, 0.8); }, {r, x});
  EXPECT_THROW(ops::DropPathAdd(RandD({3, 2, 1}, 4), x, keep, 0.8), Error);
}

}  // namespace
}  // namespace vfm
