#include "autograd/nn/ibot_head.h"

namespace vfm::nn {

namespace {
// A module that only names its parameters ("last_layer.weight_g").
class ParameterGroup : public Module {
 public:
  Tensor Add(const std::string& name, Tensor value) { return RegisterParameter(name, std::move(value)); }
};

// Holds mlp.0, mlp.2, mlp.4 (the odd indices are GELUs in PyTorch's nn.Sequential).
class MlpSequential : public Module {
 public:
  Linear* Add(int index, std::unique_ptr<Linear> layer) { return RegisterModule(std::to_string(index), std::move(layer)); }
};
}  // namespace

IBotHead::IBotHead(int64_t in_dim, const IBotHeadConfig& c, uint64_t seed) {
  auto* mlp = RegisterModule("mlp", std::make_unique<MlpSequential>());
  fc0 = mlp->Add(0, std::make_unique<Linear>(in_dim, c.hidden, true, MixKey({seed, 1})));
  fc1 = mlp->Add(2, std::make_unique<Linear>(c.hidden, c.hidden, true, MixKey({seed, 2})));
  fc2 = mlp->Add(4, std::make_unique<Linear>(c.hidden, c.bottleneck, true, MixKey({seed, 3})));
  auto* last = RegisterModule("last_layer", std::make_unique<ParameterGroup>());
  weight_g = last->Add("weight_g", Tensor::Full({c.out_dim}, 1.0));
  weight_v = last->Add("weight_v", KaimingUniform({c.out_dim, c.bottleneck}, c.bottleneck, MixKey({seed, 4})));
  if (c.norm_last_layer) weight_g.set_requires_grad(false);
}

Tensor IBotHead::Forward(const Tensor& x) const {
  Tensor h = fc2->Forward(ops::Gelu(fc1->Forward(ops::Gelu(fc0->Forward(x)))));
  return ops::WeightNormLinear(ops::L2Normalize(h), AsTypeOf(weight_v, h), AsTypeOf(weight_g, h));
}

IBotNetwork::IBotNetwork(const ViTConfig& vit, const IBotHeadConfig& head_config, uint64_t seed) {
  backbone = RegisterModule("", std::make_unique<VisionTransformer>(vit, MixKey({seed, 1})));
  head = RegisterModule("head", std::make_unique<IBotHead>(vit.dim, head_config, MixKey({seed, 2})));
}

}  // namespace vfm::nn
