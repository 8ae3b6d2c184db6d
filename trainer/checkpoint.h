// Checkpoints: a folder run_dir/ckpt-<step>/ holding
//   student.safetensors, teacher.safetensors   parameters by timm-style name
//   optimizer.safetensors                      AdamW exp_avg.<name>, exp_avg_sq.<name>; step counts in metadata
//   loss.safetensors                           the iBOT centres
//   state.json                                 format version, step, loader state, model config, flags, world size,
//                                              compute account (compute_account.h), budget_steps
//   MANIFEST.json                              size and crc32c of every other file (written last)
// There is no RNG state to save: every random draw (augmentation, masks, drop path) comes from a
// counter-based generator keyed by (seed, epoch or step, sample, ...), so the loader state and the step
// determine them all.
// It is written under a temporary name, fsynced, and renamed into place, so a crash at any moment leaves
// either the complete checkpoint or none that resume would pick. Only the newest `keep` are kept.
#pragma once
#include <string>

#include "absl/status/statusor.h"
#include "autograd/nn/ibot_head.h"
#include "data/loader.h"
#include "nlohmann/json.hpp"
#include "trainer/adamw.h"
#include "trainer/compute_account.h"
#include "trainer/ibot_loss.h"

namespace vfm {

inline constexpr int kCheckpointFormatVersion = 1;

struct TrainingState {
  int64_t step = 0;  // optimizer steps completed
  data::LoaderState loader;
  nlohmann::json flags = nlohmann::json::object();  // the run's resolved flags
  nlohmann::json model = nlohmann::json::object();  // ModelConfigToJson of the networks
  int world_size = 1;
  std::string dataset;  // the identity of the training data: crc32c of its index.json ("" before it was kept)
  // Per modality, the mean/std samples were normalised with (data/normalization.h); empty in checkpoints
  // written before it was kept (they were all normalised with ImageNet's).
  nlohmann::json normalization = nlohmann::json::object();
  ComputeAccount compute;  // zeros in checkpoints written before it was kept
  // The run's step count when a --budget_minutes fixed it from the measured throughput (0: not fixed).
  int64_t budget_steps = 0;
};

// The networks' shapes as JSON (stored in checkpoints and in exported safetensors metadata), and back.
struct ModelConfig {
  nn::ViTConfig vit;
  nn::IBotHeadConfig head;
};
nlohmann::json ModelConfigToJson(const ModelConfig& config);
absl::StatusOr<ModelConfig> ModelConfigFromJson(const nlohmann::json& j);

// What a checkpoint holds, by reference to the live objects it is saved from / restored into.
struct CheckpointParts {
  nn::IBotNetwork* student;
  nn::IBotNetwork* teacher;
  // The optimizer's whole state by parameter name (AdamW::WholeState, or DataParallel::OptimizerState
  // under ZeRO-1): saved from, or loaded into (every entry of the file). May be null (export/import read
  // or write only the networks).
  AdamW::States* optimizer;
  IBotLoss* loss;    // may be null
};

// Refuses (FailedPrecondition) to write non-finite weights, optimizer state or centres.
absl::Status SaveCheckpoint(const std::string& run_dir, const CheckpointParts& parts, const TrainingState& state,
                            int keep);
// The newest complete checkpoint in run_dir: NotFound when there is no checkpoint at all, DataLoss when
// there are checkpoints but none verifies. Incomplete or corrupt ones are skipped with a warning on stderr.
absl::StatusOr<std::string> LatestCheckpoint(const std::string& run_dir);
// Checks MANIFEST.json against the files.
absl::Status VerifyCheckpoint(const std::string& dir);
absl::StatusOr<TrainingState> ReadTrainingState(const std::string& dir);
absl::Status LoadCheckpoint(const std::string& dir, const CheckpointParts& parts, TrainingState* state);

// The networks of a checkpoint, built from its model config: `path` is a checkpoint folder or a run
// folder (its newest complete checkpoint).
struct LoadedNetworks {
  std::string dir;
  ModelConfig config;
  TrainingState state;
  std::unique_ptr<nn::IBotNetwork> student, teacher;
};
absl::StatusOr<LoadedNetworks> LoadNetworks(const std::string& path);

}  // namespace vfm
