// Data-parallel gradient averaging that overlaps backward (as flashlight's and PyTorch DDP's reducers do).
// The gradients live in the buckets of a GradBuckets layout (autograd/grad_buckets.h), where backward
// writes them; a gradient-ready hook counts each one in, and the moment a bucket is complete its reduction
// starts, in place, so communication runs while backward goes on. Buckets start strictly in order (a
// complete bucket waits for the ones before it), so every rank issues the same collectives in the same
// order. Without ZeRO-1 a bucket is all-reduced (averaged). With it, it is reduce-scattered in place: the
// layout cuts each bucket into one block per rank and rank r ends with the average of block r only, where
// its optimizer reads it (trainer/adamw.h, distributed/zero1.h).
#pragma once
#include <memory>
#include <vector>

#include "autograd/grad_buckets.h"
#include "distributed/communicator.h"

namespace vfm::dist {

struct ReducerOptions {
  bool zero1 = false;
  // false: no bucket starts before Finish(), i.e. the reduction runs after backward (the baseline that
  // bench/distributed measures the overlap against).
  bool overlap = true;
};

class GradientReducer {
 public:
  struct StepStats {
    int buckets = 0, started_in_backward = 0;  // how many buckets overlapped backward
    double finish_wait_s = 0;                  // the time Finish() waited for communication
  };

  // Registers a gradient-ready hook on every parameter of `grads` (which must outlive it). With zero1,
  // `grads` must have one block per rank.
  GradientReducer(const GradBuckets& grads, Communicator& comm, const ReducerOptions& options);
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // After backward: starts the buckets still waiting (a parameter that got no gradient on this rank
  // counts as zero), waits for all of them, and gets ready for the next step. Then every .grad is its
  // bucket slot, averaged (with ZeRO-1: only the part in this rank's block is; the rest is this rank's own
  // gradient). A parameter that got no gradient on any rank keeps none, as on one rank (AdamW skips it).
  absl::Status Finish();

  const GradBuckets& grads() const { return grads_; }
  Communicator& comm() const { return comm_; }
  bool zero1() const { return options_.zero1; }
  const StepStats& last_step() const { return stats_; }

 private:
  void ExpectEveryGradient();  // the next step's pending counts
  void OnGradReady(size_t slot, const Tensor& grad);
  void StartReadyBuckets(bool in_backward);

  const GradBuckets& grads_;
  Communicator& comm_;
  ReducerOptions options_;
  std::vector<bool> ready_;                  // per slot: its gradient is in its bucket (this step, this rank)
  std::vector<int> pending_;                 // per bucket: slots not yet ready in this step
  std::vector<std::unique_ptr<Work>> work_;  // per bucket: its reduction in flight
  size_t next_ = 0;                          // the next bucket to start
  StepStats stats_, current_;
  std::shared_ptr<GradientReducer*> self_;  // the hooks hold it weakly: they outlive the reducer
};

// Copies rank 0's values of `params` to every rank: at start-up, so that all replicas begin equal
// whatever each rank loaded or initialised. Collective.
absl::Status BroadcastParameters(const nn::NamedTensors& params, Communicator& comm);

}  // namespace vfm::dist
