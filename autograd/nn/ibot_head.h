// The iBOT projection head, shared by the [CLS] and patch tokens (as VisionFM runs it):
//   h = Linear(D, 2048) -> GELU -> Linear(2048, 2048) -> GELU -> Linear(2048, 256)   ("mlp.0/2/4")
//   z = h / ||h||,  out = z W^T with W = g * v / ||v|| row-wise  ("last_layer.weight_g/_v"), K rows.
// With norm_last_layer, g is fixed at 1 (not trained), so every prototype has unit norm.
// IBotNetwork pairs a backbone with its head; backbone parameters keep timm's names, the head's are
// prefixed "head.".
#pragma once
#include "autograd/nn/vit.h"

namespace vfm::nn {

struct IBotHeadConfig {
  int64_t hidden = 2048, bottleneck = 256, out_dim = 8192;
  bool norm_last_layer = true;
};

class IBotHead : public Module {
 public:
  IBotHead(int64_t in_dim, const IBotHeadConfig& config, uint64_t seed);
  Tensor Forward(const Tensor& x) const;  // [..., D] -> [..., K]
  Linear *fc0, *fc1, *fc2;
  Tensor weight_g, weight_v;
};

class IBotNetwork : public Module {
 public:
  IBotNetwork(const ViTConfig& vit, const IBotHeadConfig& head, uint64_t seed);
  VisionTransformer* backbone;
  IBotHead* head;
};

}  // namespace vfm::nn
