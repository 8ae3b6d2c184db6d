// ZeRO stage 1 (Rajbhandari et al. 2020): AdamW with its moments sharded across ranks. After the
// reducer's reduce-scatter, rank r holds the averaged gradients of block r of every bucket. It clips them
// per parameter (each parameter's squared norm is the all-reduced sum of its pieces' partial sums, since
// a parameter may straddle blocks), runs AdamW on its block with its shard of m and v, and all-gathers
// the blocks so that every rank ends with every parameter. Element by element this is the same update as
// AdamW over the full averaged gradients, with 1/world of the optimizer memory.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "distributed/reducer.h"

namespace vfm::dist {

struct Zero1Config {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  // Whether weight decay applies to a parameter (the trainer's AdamW::IsDecayed).
  std::function<bool(const std::string& name, const Tensor& p)> decayed;
};

class Zero1AdamW {
 public:
  // `reducer` must have been built with zero1 and outlive this.
  Zero1AdamW(GradientReducer& reducer, Zero1Config config);

  // One update after reducer.Finish(). clip_grad > 0 scales each gradient whose norm exceeds it by
  // clip_grad / (norm + 1e-6), as ClipGradientsPerParameter does; a parameter for which `frozen` is true
  // is left untouched and its step count does not advance, as is one that no rank had a gradient for (as
  // AdamW skips a parameter without gradient).
  absl::Status Step(double lr, double weight_decay, double clip_grad,
                    const std::function<bool(const std::string&)>& frozen);

  // The full optimizer state by parameter name, for checkpoints. Collective: every rank calls it.
  struct ParamState {
    Tensor m, v;
    int64_t step = 0;
  };
  absl::StatusOr<std::map<std::string, ParamState>> GatherState();
  // Loads a full state (every rank passes the same one, e.g. read from a checkpoint written by any number
  // of ranks) and keeps this rank's shard.
  absl::Status LoadState(const std::map<std::string, ParamState>& state);

 private:
  // The part of one parameter that lies in this rank's block: elements [begin, end) of the parameter,
  // at shard_offset in its bucket's shard.
  struct Piece {
    size_t bucket;
    int param;  // index into params_
    int64_t begin, end, shard_offset;
  };
  struct Param {
    const GradientReducer::Slot* slot;
    size_t bucket;
    bool decayed;
    int64_t step = 0;
  };

  GradientReducer& reducer_;
  Zero1Config config_;
  std::vector<Param> params_;
  std::vector<Piece> pieces_;
  std::vector<Tensor> m_, v_;  // per bucket, shaped like its shard
};

}  // namespace vfm::dist
