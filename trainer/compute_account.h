// What a run has spent, cumulative over resumes (and over the trunk a branch started from): images seen,
// samples per modality, model FLOPs, wall and device seconds of training, seconds of evaluation.
// Checkpoints hold it (state.json "compute"), every train line of metrics.jsonl carries it, and `vfm
// inspect` prints it.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace vfm {

class DataParallel;

struct ComputeAccount {
  int64_t images_seen = 0;
  std::map<std::string, int64_t> samples_per_modality;  // by the training data's modality name
  // Model FLOPs done, forward + backward, all ranks (trainer/flops.h's IBotStepFlops summed over steps).
  double flops = 0;
  // Seconds of training: setup and loading before the first step, and the periodic evaluations, excluded.
  double wall_s = 0;
  double device_s = 0;  // wall seconds x devices (ranks) of each stretch
  double eval_s = 0;    // seconds of the periodic evaluations (--eval_every), beside wall_s

  nlohmann::json ToJson() const;  // the fields above, by these names
  static absl::StatusOr<ComputeAccount> FromJson(const nlohmann::json& j);
};

// Counts this rank's spending step by step and folds all ranks' counts into the account when asked.
// The counts are whole numbers summed in f64, so the account does not depend on when it is folded (a
// resumed run counts what an uninterrupted one does).
class ComputeMeter {
 public:
  // `start`: what the run had spent before (a checkpoint's account); `modalities`: the training data's
  // modality names by code.
  ComputeMeter(ComputeAccount start, std::vector<std::string> modalities, int world);
  // This rank's share of one step: its samples' modality codes and its FLOPs.
  void AddStep(const std::vector<uint8_t>& modalities, double flops);
  // Folds every rank's counts since the last call into the account, and the time since the meter was
  // made into wall_s and device_s. Collective: every rank calls it at the same steps.
  const ComputeAccount& Fold(DataParallel& dp);
  const ComputeAccount& account() const { return account_; }
  // The run's seconds of training now (this rank's clock, the evaluations left out).
  double WallSeconds() const;
  // Leaves a periodic evaluation's `seconds` out of the training time; they count as eval_s.
  void AddEvalSeconds(double seconds) { eval_s_ += seconds; }

 private:
  ComputeAccount start_, account_;
  std::vector<std::string> modalities_;
  int world_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::vector<double> pending_;  // per modality code, then FLOPs; this rank's since the last Fold
  double eval_s_ = 0;            // since the meter was made
};

}  // namespace vfm
