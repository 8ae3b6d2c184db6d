// VisionTransformer::ForwardWithLastAttention: the probabilities behind the fused attention op, for
// attention maps. Its tokens are Forward's; its probabilities are distributions whose weighted sums of the
// values give the fused op's output.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/nn/vit.h"
#include "autograd/ops.h"

namespace vfm {
namespace {

TEST(VitAttentionMaps, RowsAreTheFusedOpsDistributions) {
  nn::ViTConfig c;
  c.img_size = 16, c.patch = 4, c.dim = 32, c.depth = 2, c.heads = 4;
  nn::VisionTransformer vit(c, 7);
  const Tensor images = Tensor::Randn({2, 3, 16, 16}, 11);
  const auto [tokens, attention] = vit.ForwardWithLastAttention(images);
  const int64_t B = 2, H = 4, N = 17, Dh = 8;
  ASSERT_EQ(attention.shape(), (Shape{B, H, N, N}));
  EXPECT_EQ(tokens.ToVector(), vit.Forward(images, Tensor(), nullptr).ToVector());

  // The last block's input (the embedding through block 0), its packed qkv and the fused op's output.
  const Tensor embedded = ops::Add(
      ops::Concat({ops::Expand(vit.cls_token, {B, 1, c.dim}), vit.patch_embed->Forward(images)}, 1), vit.PosEmbed(4, 4));
  const Tensor x = vit.blocks[0]->Forward(embedded, nullptr);
  const Tensor normed = vit.blocks[1]->norm1->Forward(x);
  const std::vector<float> qkv = vit.blocks[1]->attn->qkv->Forward(normed).ToVector();
  const std::vector<float> fused =
      ops::Attention(vit.blocks[1]->attn->qkv->Forward(normed), H, 1.0 / std::sqrt(double(Dh))).ToVector();
  const std::vector<float> p = attention.ToVector();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < N; ++i) {
        const float* row = &p[size_t(((b * H + h) * N + i) * N)];
        double sum = 0;
        for (int64_t j = 0; j < N; ++j) {
          EXPECT_GE(row[j], 0.0f);
          sum += row[j];
        }
        EXPECT_NEAR(sum, 1.0, 1e-5) << "batch " << b << " head " << h << " row " << i;
        for (int64_t d = 0; d < Dh; ++d) {
          double out = 0;
          for (int64_t j = 0; j < N; ++j) out += row[j] * qkv[size_t((((b * N + j) * 3 + 2) * H + h) * Dh + d)];
          EXPECT_NEAR(out, fused[size_t((b * N + i) * H * Dh + h * Dh + d)], 1e-4);
        }
      }
}

}  // namespace
}  // namespace vfm
