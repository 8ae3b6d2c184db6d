// ops::ResizeBicubic (autograd/ops/resize_bicubic.cc): the direct formula and finite differences.
#include <cmath>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

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

}  // namespace
}  // namespace vfm
