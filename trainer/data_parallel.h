// Data parallel training for the trainer: the student's gradient buckets (autograd/grad_buckets.h, on one
// rank too), the communicator and the bucketed gradient reducer set up from MPI and DataParallelOptions,
// and the IBotStepHooks that plug them into a training step. With zero1 the buckets have one block per
// rank and each rank's AdamW updates its block only (distributed/zero1.h). A process started without a
// launcher (world 1) gets no reducer and empty hooks: the step is exactly the single-process one.
#pragma once
#include <memory>

#include "distributed/bootstrap.h"
#include "distributed/communicator.h"
#include "distributed/reducer.h"
#include "trainer/adamw.h"
#include "trainer/ibot_step.h"

namespace vfm {

// How the ranks share the work (vfm pretrain's --zero1, --bucket_mb, --comm_timeout_s). None of it changes
// what a step computes, only how its sums are split across ranks and buckets.
struct DataParallelOptions {
  bool zero1 = false;               // shard the AdamW state across ranks (ZeRO-1); nothing to shard on one rank
  int64_t bucket_bytes = 25 << 20;  // the gradient buckets' size
  dist::CommOptions comm;           // the collectives' time-out
};

// Fails the job on a communication error: the other ranks would wait for this one forever.
void CheckCollective(const absl::Status& status);

// The hooks of a step over `reducer`: its Finish after backward, the centres' (and ZeRO-1's norms')
// all-reduce, and under ZeRO-1 the all-gather of the parameters after the update.
IBotStepHooks DataParallelHooks(dist::GradientReducer& reducer);

class DataParallel {
 public:
  // Broadcasts rank 0's student and teacher weights, lays out the student's gradient buckets and
  // registers the reducer on them.
  static absl::StatusOr<std::unique_ptr<DataParallel>> Create(const dist::ProcessInfo& process,
                                                              const DataParallelOptions& options,
                                                              nn::IBotNetwork& student, nn::IBotNetwork& teacher);
  int rank() const { return process_.rank; }
  int world() const { return process_.world; }
  const GradBuckets& grads() const { return *grads_; }
  // The block of every bucket this rank's AdamW updates: its rank under ZeRO-1, else the only one.
  int optimizer_block() const { return zero1_ ? process_.rank : 0; }
  const IBotStepHooks& hooks() const { return hooks_; }
  // The optimizer's whole state by parameter name, as checkpoints hold it: under ZeRO-1 gathered from
  // every rank's block (collective: every rank calls it).
  absl::StatusOr<AdamW::States> OptimizerState(const AdamW& optimizer);
  // True when `value` is true on some rank (collective), so that every rank takes the same decision.
  bool AnyRank(bool value);
  // Each value averaged over the ranks (collective; the values themselves on one rank).
  std::vector<double> MeanOverRanks(const std::vector<double>& values);
  // Each value summed over the ranks, in f64 (collective): counts stay exact up to 2^53.
  std::vector<double> SumOverRanks(const std::vector<double>& values);
  // `t` (a host f32 tensor) summed over the ranks, in place (collective): gathers what each rank wrote
  // into its own rows of a zeroed tensor.
  void SumOverRanks(Tensor* t);

 private:
  dist::ProcessInfo process_;
  Device device_;  // where the parameters (and so the collectives) live
  bool zero1_ = false;
  std::unique_ptr<dist::Communicator> comm_;
  std::unique_ptr<GradBuckets> grads_;
  std::unique_ptr<dist::GradientReducer> reducer_;
  IBotStepHooks hooks_;
};

}  // namespace vfm
