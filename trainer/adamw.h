// AdamW over named parameters with iBOT's two groups: weight decay on weights, none on biases and on
// 1-D parameters (norms, masked_embed). Per-parameter step counts: a parameter whose gradient is
// absent in a step (the frozen last layer) is skipped entirely, as torch.optim.AdamW does.
#pragma once
#include <map>
#include <string>

#include "autograd/nn/module.h"

namespace vfm {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class AdamW {
 public:
  AdamW(const nn::NamedTensors& params, AdamWConfig config = {});

  // One update of every trainable parameter that has a gradient, at learning rate lr and weight decay wd
  // (wd applies to the decayed group only).
  void Step(double lr, double weight_decay);

  static bool IsDecayed(const std::string& name, const Tensor& p);

  struct State {
    Tensor m, v;
    int64_t step = 0;
  };
  // Optimizer state by parameter name (for checkpoints).
  std::map<std::string, State>& state() { return state_; }
  const std::map<std::string, State>& state() const { return state_; }

 private:
  nn::NamedTensors params_;
  AdamWConfig config_;
  std::map<std::string, State> state_;
};

// Per-parameter gradient clipping as DINO/iBOT do it: each gradient with norm above `max_norm` is scaled
// by max_norm / (norm + 1e-6). Returns the norms before clipping, by name.
// Gradients on a GPU are measured and scaled on the device (no host synchronisation per parameter);
// their norms are read back with one synchronisation at the end, or not at all with return_norms =
// false (their entries are then absent from the map; CPU gradients' norms are always returned).
std::map<std::string, double> ClipGradientsPerParameter(const nn::NamedTensors& params, double max_norm,
                                                        bool return_norms = true);

}  // namespace vfm
