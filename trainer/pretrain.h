// `vfm pretrain`: the iBOT loop over a shard dataset, with every schedule of the VisionFM recipe, progress
// lines, metrics.jsonl, checkpoints and exact resumption. A run is a folder: starting in a folder with
// checkpoints continues from the newest complete one (unless resume is off).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "autograd/nn/ibot_head.h"
#include "data/loader.h"
#include "distributed/bootstrap.h"
#include "nlohmann/json.hpp"
#include "trainer/data_parallel.h"
#include "trainer/budget.h"
#include "trainer/periodic_eval.h"

namespace vfm {

struct PretrainOptions {
  std::string data, run_dir;
  // Where the step runs. On a GPU activations and weights are bf16 in the forward/backward, with fp32
  // master weights, optimizer state and gradients (precision kBF16); the CPU computes in f32.
  Device device = Device::CPU();
  DType precision = DType::kF32;
  bool resume = true;  // false refuses a --run_dir that holds checkpoints
  // Flags that define the run (everything but the runtime ones) must match the checkpoint's on resume,
  // except these (and "data" for another dataset).
  std::vector<std::string> allow_changed_flags;
  std::string init;  // checkpoint folder to start from (vfm import's output), when not resuming
  // A checkpoint to continue from into an empty --run_dir, with its whole state (weights, optimizer,
  // centres, data order, step, compute account) but this run's schedule and budget (a cooldown branch).
  std::string branch_from;
  // Model.
  std::string arch = "vit_base";
  int patch = 16, depth = 0, heads = 0;  // depth, heads 0: the architecture's own
  double drop_path = 0.1, layerscale = 0.0;
  nn::IBotHeadConfig head;
  // Crops and masks (data::LoaderOptions holds the augmentation; these are the sizes and counts).
  data::MultiCropOptions crops;
  // Optimisation (VisionFM defaults).
  int64_t global_batch = 128;
  int epochs = 100;
  int64_t max_steps = 0;    // stop after this many steps in total (0: all); schedules still span `epochs`
  BudgetOptions budget;     // a budget defines the run instead of `epochs` (trainer/budget.h)
  double max_minutes = 0;   // stop (with a checkpoint) after this wall time (0: no limit)
  double lr = 7.5e-5, min_lr = 2e-6, warmup_epochs = 50;  // lr is per 256 images: scaled by batch / 256
  double weight_decay = 0.04, weight_decay_end = 0.4;
  double momentum_teacher = 0.996;
  double clip_grad = 3.0;
  double freeze_last_layer = 3;  // epochs
  double student_temp = 0.1, teacher_temp = 0.04, warmup_teacher_temp = 0.04;
  double teacher_patch_temp = 0.07, warmup_teacher_patch_temp = 0.04;
  int warmup_teacher_temp_epochs = 30;
  double lambda1 = 1.0, lambda2 = 1.0;
  double koleo = 0.0;  // weight of DINOv2's KoLeo term (trainer/koleo_loss.h); 0: off
  // Data and runtime.
  std::string norm = "dataset";  // data/normalization.h: dataset | imagenet | values
  // The sampling mix (data/sampler.h): the modalities trained on (empty: all), their weights (empty: their
  // natural proportions) and the synthetic share (< 0: natural).
  std::vector<std::string> modalities;
  std::map<std::string, float> modality_weights;
  double synthetic_ratio = -1;
  uint64_t seed = 0;
  int data_threads = 4, prefetch = 2;
  int log_every = 10, checkpoint_every = 500, keep_checkpoints = 3;
  DataParallelOptions parallel;  // ZeRO-1, bucket size, collectives' time-out (several ranks)
  // The chip's dense peak in TFLOP/s (H100/H200 SXM bf16: 989.4): progress lines then show MFU, the
  // step's FLOPs (trainer/flops.h) per second over that peak. 0: TFLOP/s only.
  double peak_tflops = 0;
  PeriodicEvalOptions eval;  // evaluations during training (trainer/periodic_eval.h)
  nlohmann::json flags = nlohmann::json::object();  // the resolved flags, stored with the run
};

// How a run that returned without error ended.
enum class PretrainEnd {
  kDone,     // reached its last step (or --max_steps, --max_minutes)
  kStopped,  // a stop signal (trainer/stop_signals.h): checkpoint written, resume continues from it
};

// Runs (or resumes) a pretraining run on this process's share of the data; returns an error naming what
// went wrong (a non-finite loss names the step). With several ranks (mpirun/srun), gradients are averaged
// (distributed/), the global batch is split by the loader's contract, rank 0 alone prints progress,
// writes metrics.jsonl and checkpoints, and the figures it logs are the global batch's. Resume works with
// any rank count. The run folder is locked for the run's life (trainer/run_lock.h).
absl::StatusOr<PretrainEnd> Pretrain(const PretrainOptions& options, const dist::ProcessInfo& process);

// The loader settings of rank `rank` of `world` for `options` (seed, batch, crops, masks, sampling mix), all
// but the normalisation (resolved from the dataset's statistics): the training stream `vfm views` writes out.
data::LoaderOptions TrainingLoaderOptions(const PretrainOptions& options, int rank, int world);

}  // namespace vfm
