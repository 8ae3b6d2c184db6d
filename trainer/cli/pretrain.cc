// vfm pretrain: flags -> PretrainOptions (defaults: VisionFM's recipe; launch/configs/*.flags hold named
// recipes). See trainer/pretrain.h.
#include <algorithm>
#include <cstdio>
#include <set>
#include <tuple>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "data/normalization.h"
#include "distributed/bootstrap.h"
#include "kernels/device.h"
#if VFM_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif
#include "trainer/cli/command.h"
#include "trainer/cli/eval_size_flags.h"
#include "trainer/cli/flag_checks.h"
#include "trainer/cli/model_flags.h"
#include "trainer/cli/pretrain_flags.h"
#include "trainer/pretrain.h"
#include "trainer/stop_signals.h"

ABSL_FLAG(std::string, data, "", "dataset folder (vfm shard's output)");
ABSL_FLAG(std::string, run_dir, "", "pretrain: the run's folder (checkpoints, metrics.jsonl, flags.json)");
ABSL_FLAG(bool, resume, true,
          "pretrain: continue from the newest complete checkpoint in --run_dir (false: refuse a folder with "
          "checkpoints)");
ABSL_FLAG(std::vector<std::string>, allow_changed_flags, {},
          "pretrain: on resume, flags that may differ from the checkpoint's (e.g. lr,epochs; data for another "
          "dataset); all others that define the run must match");
ABSL_FLAG(std::string, init, "",
          "pretrain: checkpoint (or run) folder to start from, e.g. vfm import's output; "
          "eval: 'random' evaluates the checkpoint's architecture untrained");
ABSL_FLAG(int, global_crops, 2, "global crops per image");
ABSL_FLAG(double, global_scale_min, 0.32, "global crop area scale, min");
ABSL_FLAG(double, global_scale_max, 1.0, "global crop area scale, max");
ABSL_FLAG(int, local_crops, 0, "local crops per image (VisionFM 0, iBOT 10)");
ABSL_FLAG(int, local_size, 96, "local crop size");
ABSL_FLAG(double, local_scale_min, 0.05, "local crop area scale, min");
ABSL_FLAG(double, local_scale_max, 0.32, "local crop area scale, max");
ABSL_FLAG(std::vector<std::string>, global_blur_p, std::vector<std::string>({"1.0", "0.1"}),
          "Gaussian blur probability per global crop (the last repeats)");
ABSL_FLAG(std::vector<std::string>, global_solarize_p, std::vector<std::string>({"0.0", "0.2"}),
          "solarization probability per global crop (the last repeats)");
ABSL_FLAG(double, local_blur_p, 0.5, "Gaussian blur probability of a local crop");
ABSL_FLAG(double, flip_p, 0.5, "horizontal-flip probability of every crop");
ABSL_FLAG(double, jitter_p, 0.8, "colour-jitter probability of every crop (brightness, contrast, saturation, hue)");
ABSL_FLAG(double, blur_sigma_max, 2.0, "Gaussian blur sigma range, max (min 0.1)");
ABSL_FLAG(double, mask_ratio_min, 0.1, "iBOT mask ratio range, min");
ABSL_FLAG(double, mask_ratio_max, 0.5, "iBOT mask ratio range, max");
ABSL_FLAG(double, mask_prob_none, 0.5, "probability that a global crop is not masked");
ABSL_FLAG(int64_t, batch, 128, "global batch (images, all ranks together)");
ABSL_FLAG(int, epochs, 100, "epochs (the schedules' length)");
ABSL_FLAG(int64_t, max_steps, 0, "stop after this many steps (0: all); schedules still span --epochs");
ABSL_FLAG(double, max_minutes, 0, "stop with a checkpoint after this many minutes (0: no limit)");
ABSL_FLAG(double, budget_images, 0,
          "pretrain: the run is this many images (steps: images / batch, rounded up); the schedules span it "
          "instead of --epochs (0: none)");
ABSL_FLAG(double, budget_flops, 0,
          "pretrain: the run is this many model FLOPs (forward + backward, trainer/flops.h; steps from the "
          "expected FLOPs of a step); the schedules span it (0: none)");
ABSL_FLAG(double, budget_minutes, 0,
          "pretrain: the run is this many wall-clock minutes of training (steps fixed once from the throughput "
          "measured after the first steps, kept on resume; --eval_every's evaluations come on top); the "
          "schedules span it (0: none)");
ABSL_FLAG(std::string, lr_schedule, "cosine",
          "pretrain: cosine (lr, weight decay and EMA momentum over the run, DINO's) | constant (held after the "
          "warm-up, cooled over the last --cooldown_fraction)");
ABSL_FLAG(double, cooldown_fraction, 0, "pretrain: with --lr_schedule=constant, the share of the run's last steps "
          "that cool lr, weight decay and EMA momentum to their final values (0: none)");
ABSL_FLAG(std::string, cooldown, "linear", "pretrain: the cooldown's shape, linear | cosine");
ABSL_FLAG(std::string, branch_from, "",
          "pretrain: a checkpoint (or run) folder to continue from into an empty --run_dir with its whole state "
          "but this run's budget and schedule (a cooldown branch of a constant-lr run)");
ABSL_FLAG(int64_t, eval_every, 0,
          "pretrain: steps between evaluations of the teacher (kNN, --eval_linear) on --eval_data / "
          "--eval_test_data (their samples of --modalities), and one at the last step (0: none)");
ABSL_FLAG(std::string, eval_data, "", "pretrain: labelled training shards of the evaluations (kNN memory, probe fit)");
ABSL_FLAG(std::string, eval_test_data, "", "pretrain: labelled test shards of the evaluations");
ABSL_FLAG(bool, eval_linear, false, "pretrain: the evaluations also fit a linear probe");
ABSL_FLAG(int, eval_probe_epochs, 100, "pretrain: epochs of the evaluations' linear probe per learning rate");
ABSL_FLAG(double, lr, 7.5e-5, "peak learning rate per 256 images (scaled by batch/256)");
ABSL_FLAG(double, min_lr, 2e-6, "final learning rate");
ABSL_FLAG(double, warmup_epochs, 50, "linear learning-rate warm-up, epochs");
ABSL_FLAG(double, weight_decay, 0.04, "weight decay at the start (cosine to --weight_decay_end)");
ABSL_FLAG(double, weight_decay_end, 0.4, "weight decay at the end");
ABSL_FLAG(double, momentum_teacher, 0.996, "EMA momentum at the start (cosine to 1)");
ABSL_FLAG(double, clip_grad, 3.0, "per-parameter gradient norm clip (0: off)");
ABSL_FLAG(double, freeze_last_layer, 3, "epochs during which the head's last layer is frozen");
ABSL_FLAG(double, student_temp, 0.1, "student temperature");
ABSL_FLAG(double, teacher_temp, 0.04, "teacher [CLS] temperature after warm-up");
ABSL_FLAG(double, warmup_teacher_temp, 0.04, "teacher [CLS] temperature at the start");
ABSL_FLAG(double, teacher_patch_temp, 0.07, "teacher patch temperature after warm-up");
ABSL_FLAG(double, warmup_teacher_patch_temp, 0.04, "teacher patch temperature at the start");
ABSL_FLAG(int, warmup_teacher_temp_epochs, 30, "teacher temperature warm-up, epochs");
ABSL_FLAG(double, lambda1, 1.0, "weight of the [CLS] loss");
ABSL_FLAG(double, lambda2, 1.0, "weight of the patch (MIM) loss");
ABSL_FLAG(double, koleo, 0.0,
          "weight of DINOv2's KoLeo regulariser on the student's global [CLS] tokens, per crop over each rank's "
          "batch (DINOv2: 0.1; 0: off, as in iBOT and VisionFM)");
ABSL_FLAG(std::string, norm, "dataset",
          "per-modality normalisation: dataset (each modality's mean/std from index.json, ImageNet's where it "
          "has none) | imagenet | MEAN,STD | MEAN_R,MEAN_G,MEAN_B,STD_R,STD_G,STD_B (in [0, 1] units); eval: "
          "dataset means the statistics the checkpoint was pretrained with");
ABSL_FLAG(std::vector<std::string>, modalities, {},
          "pretrain: train on these modalities of --data only, e.g. fundus,oct (default: all); eval: evaluate "
          "each of these modalities on its own samples and print a table (all: every modality of --test_data)");
ABSL_FLAG(std::vector<std::string>, modality_weights, {},
          "sampling weights per modality, e.g. fundus:2,oct:1 (unlisted modalities are not drawn; default: "
          "natural proportions); with weights or --synthetic_ratio an epoch draws as many samples as the "
          "selected modalities hold");
ABSL_FLAG(double, synthetic_ratio, -1,
          "share of synthetic samples drawn, in [0, 1] (-1: their natural proportion)");
ABSL_FLAG(uint64_t, seed, 0, "seed of the data order, augmentation, masks, init and drop path");
ABSL_FLAG(int, data_threads, 4, "loader threads (decode + augmentation)");
ABSL_FLAG(int, prefetch, 2, "batches prepared ahead");
ABSL_FLAG(int, log_every, 10, "steps between progress lines");
ABSL_FLAG(int, checkpoint_every, 500, "steps between checkpoints");
ABSL_FLAG(int, keep_checkpoints, 3, "checkpoints kept (newest)");
ABSL_FLAG(double, peak_tflops, 0, "dense peak TFLOP/s of one device, for MFU in the progress lines (H100/H200 bf16: 989.4)");
ABSL_FLAG(bool, zero1, false, "shard the AdamW state across ranks (ZeRO stage 1); nothing to shard on one rank");
ABSL_FLAG(double, bucket_mb, 25, "size of a gradient all-reduce bucket in MiB");
ABSL_FLAG(double, comm_timeout_s, 300,
          "seconds a collective may take before the job ends with an error naming the rank and the collective "
          "(a rank died or hangs)");
ABSL_FLAG(std::string, device, "auto", "auto (the GPU of this rank when there is one) | cpu | cuda");
ABSL_FLAG(std::string, precision, "bf16", "on a GPU: bf16 (bf16 compute, fp32 master weights) | fp32; the CPU is always fp32");

namespace vfm::cli {

namespace {

// Every flag pretrain reads (its registration's list), with its current value, for flags.json and checkpoints.
nlohmann::json ResolvedFlags() {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, flag] : absl::GetAllFlags())
    if (Reads(Registry().at("pretrain"), *flag))
      j[std::string(name)] = flag->CurrentValue();
  return j;
}

// --modalities, --modality_weights (NAME:WEIGHT, each weight finite and >= 0, some > 0), --synthetic_ratio.
void ReadSamplingFlags(FlagChecker* f, PretrainOptions* o) {
  o->modalities = absl::GetFlag(FLAGS_modalities);
  const std::set<std::string> selected(o->modalities.begin(), o->modalities.end());
  f->Require(selected.size() == o->modalities.size(), "--modalities lists a modality twice");
  double total = 0;
  for (const std::string& item : absl::GetFlag(FLAGS_modality_weights)) {
    const std::vector<std::string> parts = absl::StrSplit(item, ':');
    float weight = 0;
    const bool ok = parts.size() == 2 && !parts[0].empty() && absl::SimpleAtof(parts[1], &weight) && weight >= 0 &&
                    weight < 1e30f;
    f->Require(ok, absl::StrCat("--modality_weights must be NAME:WEIGHT,... with weights in [0, 1e30), got '", item, "'"));
    f->Require(!ok || o->modality_weights.count(parts[0]) == 0,
               absl::StrCat("--modality_weights names ", parts[0], " twice"));
    f->Require(!ok || selected.empty() || selected.count(parts[0]),
               absl::StrCat("--modality_weights names ", parts[0], ", which --modalities leaves out"));
    if (ok) o->modality_weights[parts[0]] = weight, total += weight;
  }
  f->Require(o->modality_weights.empty() || total > 0, "--modality_weights are all 0: nothing would be drawn");
  o->synthetic_ratio = f->Get(FLAGS_synthetic_ratio, -1, 1);
  f->Require(o->synthetic_ratio == -1 || o->synthetic_ratio >= 0,
             absl::StrCat("--synthetic_ratio must be in [0, 1] or -1 (natural), got ", o->synthetic_ratio));
}

void ReadBudgetFlags(FlagChecker* f, PretrainOptions* o) {
  BudgetOptions& b = o->budget;
  b.images = f->Get(FLAGS_budget_images, 0, 1e18);
  b.flops = f->Get(FLAGS_budget_flops, 0, kNoLimit);
  b.minutes = f->Get(FLAGS_budget_minutes, 0, 1e9);
  f->Require((b.images > 0) + (b.flops > 0) + (b.minutes > 0) <= 1,
             "--budget_images, --budget_flops and --budget_minutes each define the run: give at most one");
  const std::string schedule = absl::GetFlag(FLAGS_lr_schedule), cooldown = absl::GetFlag(FLAGS_cooldown);
  f->Require(schedule == "cosine" || schedule == "constant",
             absl::StrCat("--lr_schedule must be cosine or constant, not '", schedule, "'"));
  f->Require(cooldown == "linear" || cooldown == "cosine",
             absl::StrCat("--cooldown must be linear or cosine, not '", cooldown, "'"));
  b.constant_lr = schedule == "constant";
  b.cosine_cooldown = cooldown == "cosine";
  b.cooldown_fraction = f->Get(FLAGS_cooldown_fraction, 0, 1);
  f->Require(b.cooldown_fraction == 0 || b.constant_lr, "--cooldown_fraction needs --lr_schedule=constant");
  o->branch_from = absl::GetFlag(FLAGS_branch_from);
}

void ReadEvalFlags(FlagChecker* f, PretrainOptions* o) {
  PeriodicEvalOptions& e = o->eval;
  e.every = f->Get(FLAGS_eval_every, 0, int64_t{1000000000});
  e.train_data = absl::GetFlag(FLAGS_eval_data);
  e.test_data = absl::GetFlag(FLAGS_eval_test_data);
  e.linear = absl::GetFlag(FLAGS_eval_linear);
  e.probe_epochs = f->Get(FLAGS_eval_probe_epochs, 1, 100000);
  // --patch out of range is refused already (max: no division by zero)
  auto size = ResolveEvalSize(ReadEvalSizeFlags(f), o->crops.global.size, std::max<int64_t>(o->patch, 1),
                              absl::StrCat("--patch ", o->patch));
  f->Require(size.ok(), std::string(size.status().message()));
  if (size.ok()) std::tie(e.size, e.resize) = *size;
  e.threads = o->data_threads;
  e.modalities = o->modalities;
  f->Require(e.every == 0 || (!e.train_data.empty() && !e.test_data.empty()),
             "--eval_every needs --eval_data and --eval_test_data (labelled datasets)");
  f->Require(e.every > 0 || (e.train_data.empty() && e.test_data.empty() && !e.linear),
             "--eval_data, --eval_test_data and --eval_linear take effect with --eval_every (steps between "
             "evaluations), which is 0");
}

}  // namespace

absl::Status ReadPretrainFlags(PretrainOptions* o) {
  FlagChecker f;
  const ModelFlags model = ReadModelFlags(&f);
  o->arch = model.arch;
  o->patch = model.patch;
  o->depth = model.depth;
  o->heads = model.heads;
  o->drop_path = model.drop_path;
  o->layerscale = model.layerscale;
  o->head = model.head;
  o->data = absl::GetFlag(FLAGS_data);
  o->run_dir = absl::GetFlag(FLAGS_run_dir);
  o->resume = absl::GetFlag(FLAGS_resume);
  o->allow_changed_flags = absl::GetFlag(FLAGS_allow_changed_flags);
  o->init = absl::GetFlag(FLAGS_init);
  data::MultiCropOptions& crops = o->crops;
  crops.global_crops = f.Get(FLAGS_global_crops, 1, 16);
  crops.global.size = model.global_size;
  crops.global.scale_min = float(f.GetAbove(FLAGS_global_scale_min, 0, 1));
  crops.global.scale_max = float(f.GetAbove(FLAGS_global_scale_max, 0, 1));
  f.Ordered(FLAGS_global_scale_min, FLAGS_global_scale_max);
  crops.local_crops = f.Get(FLAGS_local_crops, 0, 64);
  crops.local.size = f.Get(FLAGS_local_size, kMinCropSize, 4096);
  crops.local.scale_min = float(f.GetAbove(FLAGS_local_scale_min, 0, 1));
  crops.local.scale_max = float(f.GetAbove(FLAGS_local_scale_max, 0, 1));
  f.Ordered(FLAGS_local_scale_min, FLAGS_local_scale_max);
  crops.global_blur_p = f.GetProbabilities(FLAGS_global_blur_p);
  crops.global_solarize_p = f.GetProbabilities(FLAGS_global_solarize_p);
  crops.local.blur_p = float(f.Get(FLAGS_local_blur_p, 0, 1));
  crops.global.flip_p = crops.local.flip_p = float(f.Get(FLAGS_flip_p, 0, 1));
  crops.global.jitter_p = crops.local.jitter_p = float(f.Get(FLAGS_jitter_p, 0, 1));
  crops.global.blur_sigma_max = crops.local.blur_sigma_max = float(f.Get(FLAGS_blur_sigma_max, 0.1, 100));
  crops.masking.ratio_min = float(f.Get(FLAGS_mask_ratio_min, 0, 1));
  crops.masking.ratio_max = float(f.Get(FLAGS_mask_ratio_max, 0, 1));
  f.Ordered(FLAGS_mask_ratio_min, FLAGS_mask_ratio_max);
  crops.masking.prob_none = float(f.Get(FLAGS_mask_prob_none, 0, 1));
  o->global_batch = f.Get(FLAGS_batch, 1, 1 << 20);
  o->epochs = f.Get(FLAGS_epochs, 1, 1000000);
  o->max_steps = f.Get(FLAGS_max_steps, 0, int64_t{1000000000000});
  o->max_minutes = f.Get(FLAGS_max_minutes, 0, kNoLimit);
  o->lr = f.Get(FLAGS_lr, 0, kNoLimit);
  o->min_lr = f.Get(FLAGS_min_lr, 0, kNoLimit);
  o->warmup_epochs = f.Get(FLAGS_warmup_epochs, 0, 1000000);
  o->weight_decay = f.Get(FLAGS_weight_decay, 0, 100);
  o->weight_decay_end = f.Get(FLAGS_weight_decay_end, 0, 100);
  o->momentum_teacher = f.Get(FLAGS_momentum_teacher, 0, 1);
  o->clip_grad = f.Get(FLAGS_clip_grad, 0, kNoLimit);
  o->freeze_last_layer = f.Get(FLAGS_freeze_last_layer, 0, 1000000);
  o->student_temp = f.GetAbove(FLAGS_student_temp, 0, 100);
  o->teacher_temp = f.GetAbove(FLAGS_teacher_temp, 0, 100);
  o->warmup_teacher_temp = f.GetAbove(FLAGS_warmup_teacher_temp, 0, 100);
  o->teacher_patch_temp = f.GetAbove(FLAGS_teacher_patch_temp, 0, 100);
  o->warmup_teacher_patch_temp = f.GetAbove(FLAGS_warmup_teacher_patch_temp, 0, 100);
  o->warmup_teacher_temp_epochs = f.Get(FLAGS_warmup_teacher_temp_epochs, 0, 1000000);
  o->lambda1 = f.Get(FLAGS_lambda1, 0, kNoLimit);
  o->lambda2 = f.Get(FLAGS_lambda2, 0, kNoLimit);
  o->koleo = f.Get(FLAGS_koleo, 0, kNoLimit);
  ReadSamplingFlags(&f, o);
  o->norm = absl::GetFlag(FLAGS_norm);
  const absl::Status norm = data::CheckNormalizationSpec(o->norm);
  f.Require(norm.ok(), std::string(norm.message()));
  o->seed = absl::GetFlag(FLAGS_seed);
  o->data_threads = f.Get(FLAGS_data_threads, 1, kMaxThreads);
  o->prefetch = f.Get(FLAGS_prefetch, 0, 64);
  o->log_every = f.Get(FLAGS_log_every, 1, 1000000000);
  o->checkpoint_every = f.Get(FLAGS_checkpoint_every, 1, 1000000000);
  o->keep_checkpoints = f.Get(FLAGS_keep_checkpoints, 1, 1000000);
  o->peak_tflops = f.Get(FLAGS_peak_tflops, 0, kNoLimit);
  o->parallel.zero1 = absl::GetFlag(FLAGS_zero1);
  o->parallel.bucket_bytes = int64_t(f.GetAbove(FLAGS_bucket_mb, 0, 1 << 20) * (1 << 20));
  o->parallel.comm.timeout_s = f.GetAbove(FLAGS_comm_timeout_s, 0, kNoLimit);
  ReadBudgetFlags(&f, o);
  ReadEvalFlags(&f, o);
  return f.status();
}

namespace {

int RunPretrain(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "vfm pretrain: unexpected argument '%s' (flags are --name=value)\n", args[0].c_str());
    return 2;
  }
  // Device: the GPU when there is one (auto), or as told; --device=cuda without a usable GPU is an
  // error, not a silent CPU run.
  const std::string device = absl::GetFlag(FLAGS_device), precision = absl::GetFlag(FLAGS_precision);
  if (device != "auto" && device != "cpu" && device != "cuda") {
    std::fprintf(stderr, "vfm pretrain: --device must be auto, cpu or cuda, not '%s'\n", device.c_str());
    return 2;
  }
  if (precision != "bf16" && precision != "fp32") {
    std::fprintf(stderr, "vfm pretrain: --precision must be bf16 or fp32, not '%s'\n", precision.c_str());
    return 2;
  }
  const CudaProbe cuda = ProbeCuda();
  const bool on_gpu = VFM_WITH_CUDA && cuda.devices > 0 && device != "cpu";
  if (device == "cuda" && !on_gpu) {
    std::fprintf(stderr, "vfm pretrain: --device=cuda but no usable GPU (%s)\n",
                 VFM_WITH_CUDA ? cuda.detail.c_str() : "this build has no CUDA backend");
    return 2;
  }
  PretrainOptions o;
  if (absl::Status s = ReadPretrainFlags(&o); !s.ok()) {
    std::fprintf(stderr, "vfm pretrain: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  o.flags = ResolvedFlags();
  auto process = dist::InitProcess(nullptr, nullptr);
  if (!process.ok()) {
    std::fprintf(stderr, "vfm pretrain: %s\n", std::string(process.status().message()).c_str());
    return 1;
  }
  if (on_gpu) {
    // One GPU per rank, by local rank (a single visible GPU serves every rank of a host).
    const int gpu = cuda.devices == 1 ? 0 : process->local_rank % cuda.devices;
#if VFM_WITH_CUDA
    cuda::SetDevice(gpu);
#endif
    o.device = Device::CUDA(gpu);
    o.precision = precision == "bf16" ? DType::kBF16 : DType::kF32;
  }
  if (process->rank == 0)
    std::printf("vfm: training on %s (%s)\n", on_gpu ? ("cuda:" + std::to_string(o.device.index) + ", " + precision).c_str() : "the CPU, fp32",
                cuda.detail.c_str());
  absl::StatusOr<PretrainEnd> end;
  try {
    end = Pretrain(o, *process);
  } catch (const Error& e) {
    end = absl::InternalError(e.what());
  }
  if (!end.ok()) {
    // With other ranks waiting on this one, the whole job ends here (with the message and the rank).
    if (process->world > 1) dist::AbortProcess(end.status());
    std::fprintf(stderr, "vfm pretrain: %s\n", std::string(end.status().message()).c_str());
    return 1;
  }
  dist::FinalizeProcess();
  return *end == PretrainEnd::kStopped ? kExitStopped : 0;
}

const RegisterCommand kRegister("pretrain", {"iBOT pretraining of a ViT on a shard dataset", RunPretrain,
                                             {"pretrain.cc", "model_flags.cc", "eval_size", "eval_resize"}});

}  // namespace
}  // namespace vfm::cli
