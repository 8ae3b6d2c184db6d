// AdamW with iBOT's two groups: weight decay on weights, none on biases and on 1-D parameters (norms,
// masked_embed). Per-parameter step counts: a parameter whose gradient is absent in a step (the frozen
// last layer) is skipped entirely, as torch.optim.AdamW does.
//
// It runs over spans of the gradient buckets (autograd/grad_buckets.h): the parameters' elements in one
// block of every bucket, with moments for that block only, in one loop (CPU) or a few batched launches
// (GPU) over the list of spans. With one block that is every parameter whole; under ZeRO-1 (one block per
// rank) it is rank r's share, the reducer's in-place reduce-scatter coming before and
// dist::AllGatherParameters after (distributed/zero1.h). Gradients are read from each parameter's .grad
// (its slot in the buckets, where backward put it).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "autograd/grad_buckets.h"

namespace vfm {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class AdamW {
 public:
  // Updates block `block` of every bucket of `grads` (which must outlive it).
  explicit AdamW(const GradBuckets& grads, int block = 0, AdamWConfig config = {});

  // Per-parameter gradient clipping as DINO/iBOT do it, over this optimizer's spans: each gradient with
  // norm above `max_norm` is scaled by max_norm / (norm + 1e-6). When the spans are parts of parameters
  // (several blocks), a parameter's squared norm is the sum over the ranks' parts: `sum_over_ranks` adds
  // the vector of them across ranks, in place. Returns the norms by name (parameters with a gradient).
  // Gradients on a GPU are measured and scaled on the device (no host synchronisation); return_norms =
  // false leaves their norms out (and never waits for the device).
  std::map<std::string, double> ClipGradients(double max_norm,
                                              const std::function<void(Tensor&)>& sum_over_ranks = nullptr,
                                              bool return_norms = true);

  // One update of every span whose parameter has a gradient, at learning rate lr and weight decay wd
  // (wd applies to the decayed group only).
  void Step(double lr, double weight_decay);

  static bool IsDecayed(const std::string& name, const Tensor& p);

  // The state of one parameter, as checkpoints hold it.
  struct State {
    Tensor m, v;
    int64_t step = 0;
  };
  using States = std::map<std::string, State>;
  // This optimizer's moments: its block of each bucket (ZeRO-1 gathers them: dist::GatherBlocks).
  const std::vector<Tensor>& exp_avg() const { return m_; }
  const std::vector<Tensor>& exp_avg_sq() const { return v_; }
  // The whole state by parameter name from the moments of every block, bucket-shaped (views of m and v).
  States WholeState(const std::vector<Tensor>& m, const std::vector<Tensor>& v) const;
  // With buckets of one block: this optimizer's own state is the whole (views of it).
  States WholeState() const;
  // Loads a whole state (written by any number of ranks), keeping this optimizer's spans of it. DataLoss
  // ("lacks the state of <name>", "holds the state of <name> with shape ...") when a parameter's state is
  // missing or misshapen.
  absl::Status LoadState(const States& state);

 private:
  struct Param {
    bool decayed;
    int64_t step = 0;
  };
  // Element `begin` of span `span` in this optimizer's moments.
  float* Moment(const std::vector<Tensor>& moments, const GradBuckets::Span& span) const;

  const GradBuckets& grads_;
  AdamWConfig config_;
  std::vector<Param> params_;  // per slot of grads_
  std::vector<GradBuckets::Span> spans_;
  std::vector<Tensor> m_, v_;  // per bucket, its block
};

}  // namespace vfm
