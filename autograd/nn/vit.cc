#include "autograd/nn/vit.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace vfm::nn {

absl::StatusOr<ViTConfig> ViTConfigByName(const std::string& arch, int64_t patch, int64_t img_size) {
  ViTConfig c;
  if (arch == "vit_tiny") {
    c.dim = 192, c.depth = 12, c.heads = 3;
  } else if (arch == "vit_small") {
    c.dim = 384, c.depth = 12, c.heads = 6;
  } else if (arch == "vit_base") {
    c.dim = 768, c.depth = 12, c.heads = 12;
  } else if (arch == "vit_large") {
    c.dim = 1024, c.depth = 24, c.heads = 16;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --arch '", arch, "' (vit_tiny, vit_small, vit_base, vit_large)"));
  }
  if (patch <= 0 || img_size <= 0 || img_size % patch != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("image size ", img_size, " is not a positive multiple of patch size ", patch));
  c.patch = patch;
  c.img_size = img_size;
  return c;
}

absl::Status OverrideDepthAndHeads(int64_t depth, int64_t heads, ViTConfig* config) {
  if (heads > 0 && config->dim % heads != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--heads ", heads, " does not divide the width ", config->dim));
  if (depth > 0) config->depth = depth;
  if (heads > 0) config->heads = heads;
  return absl::OkStatus();
}

PatchProjection::PatchProjection(int64_t in_chans, int64_t dim, int64_t patch, uint64_t seed) {
  const int64_t fan_in = in_chans * patch * patch;
  weight = RegisterParameter("weight", KaimingUniform({dim, in_chans, patch, patch}, fan_in, seed));
  bias = RegisterParameter("bias", KaimingUniform({dim}, fan_in, MixKey({seed, 1})));
}

PatchEmbedding::PatchEmbedding(int64_t in_chans, int64_t dim, int64_t patch, uint64_t seed) : patch_(patch) {
  proj = RegisterModule("proj", std::make_unique<PatchProjection>(in_chans, dim, patch, seed));
}

Tensor PatchEmbedding::Forward(const Tensor& images) const {
  return ops::PatchEmbed(images, AsTypeOf(proj->weight, images), AsTypeOf(proj->bias, images), patch_);
}

Attention::Attention(int64_t dim, int64_t heads, uint64_t seed) : heads_(heads) {
  qkv = RegisterModule("qkv", std::make_unique<Linear>(dim, 3 * dim, true, MixKey({seed, 1})));
  proj = RegisterModule("proj", std::make_unique<Linear>(dim, dim, true, MixKey({seed, 2})));
}

Tensor Attention::Forward(const Tensor& x) const {
  const int64_t head_dim = x.size(-1) / heads_;
  return proj->Forward(ops::Attention(qkv->Forward(x), heads_, 1.0 / std::sqrt(double(head_dim))));
}

Tensor Attention::Probabilities(const Tensor& x) const {
  const int64_t B = x.size(0), N = x.size(1), H = heads_, Dh = x.size(2) / heads_;
  const std::vector<float> packed = qkv->Forward(x).ToVector();  // [B, N, 3, H, Dh]
  auto row = [&](int64_t b, int64_t n, int64_t which, int64_t h) {
    return &packed[size_t((((b * N + n) * 3 + which) * H + h) * Dh)];
  };
  const double scale = 1.0 / std::sqrt(double(Dh));
  std::vector<float> probabilities(size_t(B * H * N * N));
  std::vector<double> logits(static_cast<size_t>(N));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < N; ++i) {
        const float* q = row(b, i, 0, h);
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j < N; ++j) {
          const float* k = row(b, j, 1, h);
          double dot = 0;
          for (int64_t d = 0; d < Dh; ++d) dot += double(q[d]) * k[d];
          logits[size_t(j)] = dot * scale;
          max = std::max(max, dot * scale);
        }
        for (double& l : logits) {
          l = std::exp(l - max);
          sum += l;
        }
        float* out = &probabilities[size_t(((b * H + h) * N + i) * N)];
        for (int64_t j = 0; j < N; ++j) out[j] = float(logits[size_t(j)] / sum);
      }
  return Tensor::FromVector(probabilities, {B, H, N, N});
}

Mlp::Mlp(int64_t dim, int64_t hidden, uint64_t seed) {
  fc1 = RegisterModule("fc1", std::make_unique<Linear>(dim, hidden, true, MixKey({seed, 1})));
  fc2 = RegisterModule("fc2", std::make_unique<Linear>(hidden, dim, true, MixKey({seed, 2})));
}

LayerScale::LayerScale(int64_t dim, double init) { gamma = RegisterParameter("gamma", Tensor::Full({dim}, init)); }

Block::Block(const ViTConfig& c, double drop_path, uint64_t seed) : drop_path_(drop_path) {
  norm1 = RegisterModule("norm1", std::make_unique<LayerNorm>(c.dim, c.ln_eps));
  attn = RegisterModule("attn", std::make_unique<Attention>(c.dim, c.heads, MixKey({seed, 1})));
  if (c.layerscale_init > 0) ls1 = RegisterModule("ls1", std::make_unique<LayerScale>(c.dim, c.layerscale_init));
  norm2 = RegisterModule("norm2", std::make_unique<LayerNorm>(c.dim, c.ln_eps));
  mlp = RegisterModule("mlp", std::make_unique<Mlp>(c.dim, int64_t(double(c.dim) * c.mlp_ratio), MixKey({seed, 2})));
  if (c.layerscale_init > 0) ls2 = RegisterModule("ls2", std::make_unique<LayerScale>(c.dim, c.layerscale_init));
}

Tensor Block::Residual(const Tensor& x, const Tensor& branch, Rng* rng) const {
  if (rng == nullptr || drop_path_ <= 0) return ops::Add(x, branch);
  std::vector<uint8_t> keep(size_t(x.size(0)));
  for (auto& k : keep) k = rng->Uniform() >= drop_path_;
  return ops::DropPathAdd(x, branch, keep, 1.0 - drop_path_);
}

Tensor Block::Forward(const Tensor& x, Rng* rng) const {
  Tensor a = attn->Forward(norm1->Forward(x));
  if (ls1) a = ls1->Forward(a);
  Tensor h = Residual(x, a, rng);
  Tensor m = mlp->Forward(norm2->Forward(h));
  if (ls2) m = ls2->Forward(m);
  return Residual(h, m, rng);
}

VisionTransformer::VisionTransformer(const ViTConfig& c, uint64_t seed) : config_(c) {
  const int64_t n = c.grid() * c.grid();
  patch_embed = RegisterModule("patch_embed", std::make_unique<PatchEmbedding>(c.in_chans, c.dim, c.patch,
                                                                                MixKey({seed, 1})));
  cls_token = RegisterParameter("cls_token", TruncNormal({1, 1, c.dim}, 0.02, MixKey({seed, 2})));
  pos_embed = RegisterParameter("pos_embed", TruncNormal({1, 1 + n, c.dim}, 0.02, MixKey({seed, 3})));
  masked_embed = RegisterParameter("masked_embed", Tensor::Zeros({c.dim}));
  for (int64_t i = 0; i < c.depth; ++i) {
    const double dpr = c.depth > 1 ? c.drop_path_rate * double(i) / double(c.depth - 1) : 0.0;
    blocks.push_back(RegisterModule(absl::StrCat("blocks.", i),
                                    std::make_unique<Block>(c, dpr, MixKey({seed, 100, uint64_t(i)}))));
  }
  norm = RegisterModule("norm", std::make_unique<LayerNorm>(c.dim, c.ln_eps));
}

Tensor VisionTransformer::PosEmbed(int64_t gh, int64_t gw) const {
  const int64_t g = config_.grid(), D = config_.dim;
  if (gh == g && gw == g) return pos_embed;
  Tensor cls_pos = ops::Slice(pos_embed, 1, 0, 1);
  Tensor grid = ops::Reshape(ops::Slice(pos_embed, 1, 1, 1 + g * g), {1, g, g, D});
  Tensor resized = ops::Reshape(ops::ResizeBicubic(grid, gh, gw), {1, gh * gw, D});
  return ops::Concat({cls_pos, resized}, 1);
}

Tensor VisionTransformer::Embed(const Tensor& images, const Tensor& mask) const {
  const int64_t B = images.size(0), p = config_.patch;
  VFM_CHECK(images.dim() == 4 && images.size(1) == config_.in_chans)
      << "ViT input " << ShapeToString(images.shape()) << " must be [B, " << config_.in_chans << ", H, W]";
  const int64_t gh = images.size(2) / p, gw = images.size(3) / p;
  Tensor x = patch_embed->Forward(images);  // [B, N, D]
  if (mask.defined()) {
    VFM_CHECK(mask.shape() == (Shape{B, gh * gw})) << "mask " << ShapeToString(mask.shape()) << " for "
                                                   << gh * gw << " patches";
    x = ops::Where(ops::Reshape(mask, {B, gh * gw, 1}), AsTypeOf(masked_embed, x), x);
  }
  x = ops::Concat({ops::Expand(AsTypeOf(cls_token, x), {B, 1, config_.dim}), x}, 1);
  return ops::Add(x, AsTypeOf(PosEmbed(gh, gw), x));
}

Tensor VisionTransformer::Forward(const Tensor& images, const Tensor& mask, Rng* drop_path_rng) const {
  Tensor x = Embed(images, mask);
  for (const Block* block : blocks) x = block->Forward(x, drop_path_rng);
  return norm->Forward(x);
}

VisionTransformer::TokensAndAttention VisionTransformer::ForwardWithLastAttention(const Tensor& images) const {
  Tensor x = Embed(images, Tensor());
  for (size_t i = 0; i + 1 < blocks.size(); ++i) x = blocks[i]->Forward(x, nullptr);
  Tensor attention = blocks.back()->attn->Probabilities(blocks.back()->norm1->Forward(x));
  return {norm->Forward(blocks.back()->Forward(x, nullptr)), attention};
}

Tensor VisionTransformer::ClsFeatures(const Tensor& images, int n_last_blocks) const {
  VFM_CHECK(n_last_blocks >= 1 && n_last_blocks <= int(blocks.size()))
      << "features of the last " << n_last_blocks << " blocks of " << blocks.size();
  Tensor x = Embed(images, Tensor());
  std::vector<Tensor> cls;
  for (size_t i = 0; i < blocks.size(); ++i) {
    x = blocks[i]->Forward(x, nullptr);
    if (i + n_last_blocks >= blocks.size()) cls.push_back(norm->Forward(ops::Select(x, 1, 0)));
  }
  return cls.size() == 1 ? cls[0] : ops::Concat(cls, 1);
}

}  // namespace vfm::nn
