// Data parallel training for the trainer: the communicator, the bucketed gradient reducer and (with
// --zero1) the sharded AdamW, set up from MPI and the distributed flags, and the IBotStepHooks that plug
// them into a training step. A process started without a launcher (world 1) gets no reducer and empty
// hooks: the step is exactly the single-process one.
#pragma once
#include <memory>

#include "distributed/bootstrap.h"
#include "distributed/communicator.h"
#include "distributed/reducer.h"
#include "distributed/zero1.h"
#include "trainer/adamw.h"
#include "trainer/ibot_step.h"

namespace vfm {

// Fails the job on a communication error: the other ranks would wait for this one forever.
void CheckCollective(const absl::Status& status);

IBotStepHooks DataParallelHooks(dist::GradientReducer& reducer, dist::Zero1AdamW* zero1);

class DataParallel {
 public:
  // Broadcasts rank 0's student and teacher weights, then registers the reducer on the student.
  static absl::StatusOr<std::unique_ptr<DataParallel>> Create(const dist::ProcessInfo& process, nn::IBotNetwork& student,
                                                              nn::IBotNetwork& teacher);
  int rank() const { return process_.rank; }
  int world() const { return process_.world; }
  const IBotStepHooks& hooks() const { return hooks_; }
  // ZeRO-1 keeps the optimizer state sharded: these move it between the shards and the full AdamW state
  // that checkpoints hold (collective: every rank calls them). No-ops without ZeRO-1.
  absl::Status GatherOptimizerState(AdamW& optimizer);
  absl::Status ScatterOptimizerState(const AdamW& optimizer);
  // True when `value` is true on some rank (collective), so that every rank takes the same decision.
  bool AnyRank(bool value);
  // Each value averaged over the ranks (collective; the values themselves on one rank).
  std::vector<double> MeanOverRanks(const std::vector<double>& values);

 private:
  dist::ProcessInfo process_;
  Device device_;  // where the parameters (and so the collectives) live
  std::unique_ptr<dist::Communicator> comm_;
  std::unique_ptr<dist::GradientReducer> reducer_;
  std::unique_ptr<dist::Zero1AdamW> zero1_;
  IBotStepHooks hooks_;
};

}  // namespace vfm
