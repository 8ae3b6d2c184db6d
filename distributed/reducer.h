// Data-parallel gradient averaging that overlaps backward (as flashlight's and PyTorch DDP's reducers do).
// The trainable parameters are grouped into buckets of about `bucket_bytes`, in reverse order of
// registration, which is the order backward completes their gradients. A gradient-ready hook copies
// each gradient into its bucket's flat fp32 buffer; the moment a bucket is complete its reduction starts,
// so communication runs while backward goes on. Buckets start strictly in order (a complete bucket waits
// for the ones before it), so every rank issues the same collectives in the same order.
// Without ZeRO-1 a bucket is all-reduced (averaged) and Finish() points every .grad at its slice of the
// averaged buffer. With ZeRO-1 it is reduce-scattered: each bucket is cut into `world` equal blocks
// (zero-padded) and rank r receives the average of block r only, which Zero1AdamW then applies.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "autograd/nn/module.h"
#include "distributed/communicator.h"

namespace vfm::dist {

struct ReducerOptions {
  int64_t bucket_bytes = 25 << 20;
  bool zero1 = false;
  // false: no bucket starts before Finish(), i.e. the reduction runs after backward (the baseline that
  // bench/distributed measures the overlap against).
  bool overlap = true;
};

class GradientReducer {
 public:
  // A parameter's place in its bucket's flat buffer.
  struct Slot {
    std::string name;
    Tensor param;
    int64_t offset;         // in elements
    bool ready = false;     // its gradient is in the bucket (this step, this rank)
    bool has_grad = false;  // after Finish(): some rank had a gradient for it
  };
  struct Bucket {
    std::vector<Slot> slots;
    Tensor flat;              // the gradients back to back, padded to a multiple of world
    Tensor shard;             // ZeRO-1: this rank's block of the averaged gradients
    int64_t shard_begin = 0;  // ZeRO-1: where that block starts in flat
    int pending = 0;          // slots not yet ready in this step
    std::unique_ptr<Work> work;
  };
  struct StepStats {
    int buckets = 0, started_in_backward = 0;  // how many buckets overlapped backward
    double finish_wait_s = 0;                  // the time Finish() waited for communication
  };

  // Registers a gradient-ready hook on every trainable parameter of `params` (which must outlive it).
  GradientReducer(const nn::NamedTensors& params, Communicator& comm, const ReducerOptions& options);
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // After backward: starts the buckets still waiting (a parameter that got no gradient on this rank
  // counts as zero), waits for all of them, and gets ready for the next step. A parameter that got no
  // gradient on any rank keeps none, as on one rank (AdamW then skips it).
  absl::Status Finish();

  const std::vector<Bucket>& buckets() const { return buckets_; }
  Communicator& comm() const { return comm_; }
  bool zero1() const { return options_.zero1; }
  const StepStats& last_step() const { return stats_; }

 private:
  void OnGradReady(size_t bucket, size_t slot, const Tensor& grad);
  void StartReadyBuckets(bool in_backward);

  Communicator& comm_;
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  size_t next_ = 0;  // the next bucket to start
  StepStats stats_, current_;
  std::shared_ptr<GradientReducer*> self_;  // the hooks hold it weakly: they outlive the reducer
};

// Copies rank 0's values of `params` to every rank: at start-up, so that all replicas begin equal
// whatever each rank loaded or initialised. Collective.
absl::Status BroadcastParameters(const nn::NamedTensors& params, Communicator& comm);

// A slot's stretch of a bucket-shaped buffer (its gradients, the gathered parameters or optimizer state),
// shaped like its parameter.
Tensor SlotView(const Tensor& flat, const GradientReducer::Slot& slot);

}  // namespace vfm::dist
