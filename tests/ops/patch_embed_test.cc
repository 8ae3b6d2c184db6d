// ops::PatchEmbed (autograd/ops/patch_embed.cc): a naive convolution and finite differences.
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

}  // namespace
}  // namespace vfm
