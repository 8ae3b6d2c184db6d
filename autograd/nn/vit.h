// Vision Transformer (ViT-T/S/B/L, patch 16 or 14) as timm and iBOT build it: patch embedding, [CLS],
// learned position embedding (bicubic-resized for other crop sizes), pre-norm blocks (LN, MHSA with qkv
// bias, LN, MLP with GELU), optional LayerScale, stochastic depth, final LN, and iBOT's learned mask
// token that replaces masked patch embeddings (before the position embedding is added).
#pragma once
#include <string>

#include "absl/status/statusor.h"
#include "autograd/nn/module.h"
#include "kernels/random.h"

namespace vfm::nn {

struct ViTConfig {
  int64_t img_size = 224, patch = 16, in_chans = 3;
  int64_t dim = 768, depth = 12, heads = 12;
  double mlp_ratio = 4.0;
  double layerscale_init = 0.0;  // 0: no LayerScale
  double drop_path_rate = 0.0;   // at the last block; linear from 0 at the first
  double ln_eps = 1e-6;
  int64_t grid() const { return img_size / patch; }
};

// "vit_tiny" | "vit_small" | "vit_base" | "vit_large" (widths 192/384/768/1024).
absl::StatusOr<ViTConfig> ViTConfigByName(const std::string& arch, int64_t patch, int64_t img_size);

// Replaces the architecture's depth and attention heads where given (> 0); the heads must divide the width.
absl::Status OverrideDepthAndHeads(int64_t depth, int64_t heads, ViTConfig* config);

// A conv with kernel = stride = patch, named like timm's ("patch_embed.proj.weight").
class PatchProjection : public Module {
 public:
  PatchProjection(int64_t in_chans, int64_t dim, int64_t patch, uint64_t seed);
  Tensor weight, bias;  // [D, C, p, p], [D]
};

class PatchEmbedding : public Module {
 public:
  PatchEmbedding(int64_t in_chans, int64_t dim, int64_t patch, uint64_t seed);
  // images [B, C, H, W] -> [B, (H/p)(W/p), D]
  Tensor Forward(const Tensor& images) const;
  PatchProjection* proj;

 private:
  int64_t patch_;
};

class Attention : public Module {
 public:
  Attention(int64_t dim, int64_t heads, uint64_t seed);
  Tensor Forward(const Tensor& x) const;
  // The attention probabilities softmax(q k^T * scale) of each head, [B, H, N, N] float32 on the host, for
  // the (normed) input x [B, N, D]. Forward never forms them (a fused op); these are for attention maps,
  // outside autograd.
  Tensor Probabilities(const Tensor& x) const;
  Linear *qkv, *proj;

 private:
  int64_t heads_;
};

class Mlp : public Module {
 public:
  Mlp(int64_t dim, int64_t hidden, uint64_t seed);
  Tensor Forward(const Tensor& x) const { return fc2->Forward(ops::Gelu(fc1->Forward(x))); }
  Linear *fc1, *fc2;
};

class LayerScale : public Module {
 public:
  LayerScale(int64_t dim, double init);
  Tensor Forward(const Tensor& x) const { return ops::Mul(x, AsTypeOf(gamma, x)); }
  Tensor gamma;
};

class Block : public Module {
 public:
  Block(const ViTConfig& config, double drop_path, uint64_t seed);
  // rng: draws the stochastic-depth keep flags (nullptr: no drop path, e.g. the teacher or eval).
  Tensor Forward(const Tensor& x, Rng* rng) const;
  LayerNorm *norm1, *norm2;
  Attention* attn;
  Mlp* mlp;
  LayerScale *ls1 = nullptr, *ls2 = nullptr;

 private:
  Tensor Residual(const Tensor& x, const Tensor& branch, Rng* rng) const;
  double drop_path_;
};

class VisionTransformer : public Module {
 public:
  VisionTransformer(const ViTConfig& config, uint64_t seed);
  // images [B, C, H, W] (H, W multiples of the patch); mask [B, (H/p)(W/p)] u8 or undefined.
  // Returns the final-normed tokens [B, 1 + N, D], [CLS] first.
  Tensor Forward(const Tensor& images, const Tensor& mask, Rng* drop_path_rng) const;
  // Frozen features for evaluation: the [CLS] token of each of the last n blocks, each through the final
  // norm, concatenated: [B, n * D] (n = 1: the usual [CLS] feature).
  Tensor ClsFeatures(const Tensor& images, int n_last_blocks) const;
  // One forward without mask or drop path that also returns the last block's attention probabilities:
  // `tokens` as Forward's, `attention` [B, H, 1 + N, 1 + N] (row 0: what [CLS] attends to; DINO's maps).
  struct TokensAndAttention {
    Tensor tokens, attention;
  };
  TokensAndAttention ForwardWithLastAttention(const Tensor& images) const;
  // Position embedding for a gh x gw grid: [1, 1 + gh*gw, D].
  Tensor PosEmbed(int64_t gh, int64_t gw) const;
  const ViTConfig& config() const { return config_; }

  Tensor cls_token, pos_embed, masked_embed;
  PatchEmbedding* patch_embed;
  std::vector<Block*> blocks;
  LayerNorm* norm;

 private:
  // Patch embedding, mask token, [CLS] and position embedding: the input of the first block.
  Tensor Embed(const Tensor& images, const Tensor& mask) const;
  ViTConfig config_;
};

}  // namespace vfm::nn
