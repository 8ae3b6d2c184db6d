#include "trainer/pretrain.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "data/crc32c.h"
#include "data/normalization.h"
#include "autograd/caching_allocator.h"
#include "autograd/ops.h"
#include "kernels/cuda/nonfinite.h"
#include "trainer/checkpoint.h"
#include "trainer/compute_account.h"
#include "trainer/crop_uploader.h"
#include "trainer/data_parallel.h"
#include "trainer/flops.h"
#include "trainer/ibot_step.h"
#include "trainer/run_lock.h"
#include "trainer/schedule.h"
#include "trainer/stop_signals.h"

namespace vfm {

namespace fs = std::filesystem;

namespace {

// Masks stay on the host: the step uploads what the GPU needs of them.
Tensor MaskToTensor(const std::vector<uint8_t>& mask, int64_t rows) {
  Tensor t = Tensor::Empty({rows, int64_t(mask.size()) / rows}, DType::kU8);
  std::memcpy(t.raw_data(), mask.data(), mask.size());
  return t;
}

// A group of the loader's crops as the CPU step's input: normalised per row by the group's table.
Tensor NormalizeOnHost(const data::CropGroup& crops) {
  Tensor pixels = Tensor::Empty({crops.rows, 3, crops.side, crops.side}, DType::kU8);
  std::memcpy(pixels.raw_data(), crops.pixels.data(), crops.pixels.size());
  return ops::NormalizeImages(pixels, Tensor::FromVector(crops.norms, {crops.rows, 3, 2}), DType::kF32);
}

std::string FormatDuration(double seconds) {
  const int64_t s = int64_t(seconds);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  return absl::StrFormat("%dm%02ds", s / 60, s % 60);
}

// Removes checkpoint folders a killed run left half-written (they never have the final name).
void RemoveStaleTemporaries(const std::string& run_dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec))
    if (e.path().filename().string().rfind(".tmp-ckpt-", 0) == 0) fs::remove_all(e.path(), ec);
}

int64_t CountParameters(const nn::Module& m) {
  int64_t n = 0;
  for (const auto& [name, p] : m.NamedParameters()) n += p.numel();
  return n;
}

// Flags that change how a run executes, not what it computes: free to differ on resume. The data-parallel
// ones split the same step across ranks and buckets (as the rank count, which may change too): --zero1
// on 2 ranks gives the hashes of plain data parallel (bench/results/golden_hashes.md), a bucket size
// changes no sum on one rank, and --comm_timeout_s only acts on a failure.
const std::set<std::string> kRuntimeFlags = {
    "data",       "run_dir",        "resume",           "init",          "max_steps",  "max_minutes",
    "log_every",  "checkpoint_every", "keep_checkpoints", "data_threads",  "prefetch",   "peak_tflops",
    "device",     "precision",      "allow_changed_flags", "branch_from", "eval_every", "eval_data",
    "eval_test_data", "eval_linear", "eval_probe_epochs", "eval_size", "eval_resize",
    "zero1",      "bucket_mb",      "comm_timeout_s"};
// Flags a --branch_from run may set apart from its trunk's: its length and its schedule's end.
const std::set<std::string> kBranchFlags = {"epochs",         "budget_images", "budget_flops", "budget_minutes",
                                            "lr_schedule",    "cooldown_fraction", "cooldown"};

// A checkpoint folder, or a run folder's newest complete checkpoint.
absl::StatusOr<std::string> CheckpointIn(const std::string& path) {
  return fs::exists(path + "/MANIFEST.json") ? path : LatestCheckpoint(path);
}

std::string FlagText(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// The training data's identity: the crc32c of its index.json (a moved folder keeps it, a re-sharded one not).
absl::StatusOr<std::string> DatasetIdentity(const std::string& folder) {
  std::ifstream f(folder + "/index.json", std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot read ", folder, "/index.json"));
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return absl::StrFormat("%08x", data::Crc32c(text.data(), text.size()));
}

// Drops the metrics.jsonl records after `step` (steps a resumed run replays), through a rename.
absl::Status CutMetricsAfter(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return absl::OkStatus();
  std::string kept, line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("step", int64_t(0)) <= step) kept += line + "\n";
  }
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::trunc);
  out << kept;
  out.close();
  std::error_code ec;
  if (out) fs::rename(tmp, path, ec);
  if (!out || ec) return absl::InternalError(absl::StrCat("cannot rewrite ", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

// Images per second and FLOPs over the steps since the last progress line.
struct Throughput {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now(), window_start = start;
  int64_t window_steps = 0;
  double window_flops = 0;  // this rank's
  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

// One pretraining run: Setup builds the parts, Resume restores a checkpoint (or --init), StartLoader sizes
// the run, Train runs the steps; each step is Step (crops in, one IBotTrainStep), CheckLoss, Log, Save.
class PretrainRun {
 public:
  PretrainRun(const PretrainOptions& options, const dist::ProcessInfo& process)
      : o_(options), process_(process), lead_(process.rank == 0) {}

  absl::Status Setup();
  // After a failed start: removes --run_dir if this process created it (it holds only what the start wrote).
  void RemoveRunDirIfCreated();
  absl::Status Resume();
  absl::Status StartLoader();
  absl::StatusOr<PretrainEnd> Train();

 private:
  // Loads --init's networks (a fresh run started from vfm import's output or another run).
  absl::Status Initialise();
  // Restores `checkpoint`'s whole state: a resume, or a branch (which may change kBranchFlags).
  absl::Status ContinueFrom(const std::string& checkpoint, bool branch);
  // Refuses a resume whose seed, data or run-defining flags differ from the checkpoint's (but `allowed`).
  absl::Status CheckSameRun(const TrainingState& saved, const std::string& checkpoint,
                            std::set<std::string> allowed) const;
  // The per-modality normalisation (--norm) into the loader's options and the state checkpoints record.
  absl::Status ChooseNormalization(data::LoaderOptions* options);
  IBotCrops Crops(const data::Batch& batch);
  IBotStepSettings SettingsAt(int64_t step) const;
  // Reads the step's loss (on a GPU only when it is logged or saved) and fails on a non-finite one.
  absl::Status CheckLoss(const IBotForwardResult& r, int64_t step, bool read_now);
  // A progress line and a metrics.jsonl record of the global batch's loss and its parts (every rank
  // calls it: the figures are averaged across ranks; the lead rank writes them).
  void Log(const IBotForwardResult& r, const IBotStepSettings& settings, int64_t first_step);
  void PrintMemoryOnce(int64_t first_step) const;
  // Fixes a --budget_minutes run's step count once the step timer has measured the throughput.
  void FixMinutesBudget();
  // Evaluates the teacher (trainer/periodic_eval.h) and logs the figures (every rank calls it).
  absl::Status Evaluate();

  const PretrainOptions& o_;
  const dist::ProcessInfo& process_;
  const bool lead_;  // prints, writes metrics and checkpoints
  std::optional<RunLock> lock_;  // the lead rank's, on run_dir
  bool created_run_dir_ = false;  // the lead rank made run_dir in Setup
  std::shared_ptr<const data::Dataset> dataset_;
  nn::ViTConfig vit_;
  std::unique_ptr<nn::IBotNetwork> student_, teacher_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<DataParallel> dp_;
  std::unique_ptr<IBotLoss> loss_;
  TrainingState state_;
  std::unique_ptr<data::Loader> loader_;
  RunLength length_;
  Throughput throughput_;
  std::unique_ptr<ComputeMeter> meter_;
  StepTimer step_timer_;  // --budget_minutes
  std::unique_ptr<PeriodicEval> eval_;  // --eval_every
  bool branched_ = false;  // this process started a --branch_from run
  std::ofstream metrics_;
  // On a GPU the loader's uint8 crops (a quarter of the f32 bytes) are uploaded on the copy stream, beside
  // the previous step's compute, and normalised there by the batch's table in the compute dtype.
  std::unique_ptr<CropUploader> uploader_;
  // On a GPU, the first step whose loss was not finite, recorded on the device every step (-1: none yet).
  Tensor first_nonfinite_;

  // What a checkpoint holds, with the optimizer's whole state by name (saved from, or loaded into, it).
  CheckpointParts parts(AdamW::States* optimizer_state) const {
    return {student_.get(), teacher_.get(), optimizer_state, loss_.get()};
  }
};

void PretrainRun::RemoveRunDirIfCreated() {
  if (!created_run_dir_ || !lock_) return;
  std::error_code ec;
  fs::remove_all(o_.run_dir, ec);  // holding the lock: nothing but this start has written there
  lock_.reset();
}

absl::Status PretrainRun::Setup() {
  if (o_.data.empty() || o_.run_dir.empty()) return absl::InvalidArgumentError("--data and --run_dir are required");
  if (o_.global_batch % process_.world != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--batch ", o_.global_batch, " is not a multiple of the ", process_.world, " ranks"));
  if (lead_) {
    std::error_code ec;
    created_run_dir_ = fs::create_directories(o_.run_dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create --run_dir ", o_.run_dir, ": ", ec.message()));
    auto lock = RunLock::Acquire(o_.run_dir);
    if (!lock.ok()) return lock.status();
    lock_.emplace(std::move(*lock));
    RemoveStaleTemporaries(o_.run_dir);
  }
  InstallStopSignals();
  auto dataset = data::Dataset::Open(o_.data);
  if (!dataset.ok()) return dataset.status();
  dataset_ = std::move(*dataset);

  auto vit = nn::ViTConfigByName(o_.arch, o_.patch, o_.crops.global.size);
  if (!vit.ok()) return vit.status();
  vit_ = *vit;
  if (absl::Status s = nn::OverrideDepthAndHeads(o_.depth, o_.heads, &vit_); !s.ok()) return s;
  vit_.drop_path_rate = o_.drop_path;
  vit_.layerscale_init = o_.layerscale;
  if (o_.crops.local_crops > 0 && o_.crops.local.size % o_.patch != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--local_size ", o_.crops.local.size, " is not a multiple of --patch ", o_.patch));

  student_ = std::make_unique<nn::IBotNetwork>(vit_, o_.head, MixKey({o_.seed, 0x6d6f64656c}));
  teacher_ = std::make_unique<nn::IBotNetwork>(vit_, o_.head, MixKey({o_.seed, 0x6d6f64656c}));
  teacher_->LoadFrom(student_->NamedParameters());
  for (auto [name, p] : teacher_->NamedParameters()) p.set_requires_grad(false);
  student_->MoveTo(o_.device);  // initialised on the host (deterministic), trained on the device
  teacher_->MoveTo(o_.device);
  auto dp = DataParallel::Create(process_, o_.parallel, *student_, *teacher_);
  if (!dp.ok()) return dp.status();
  dp_ = std::move(*dp);
  optimizer_ = std::make_unique<AdamW>(dp_->grads(), dp_->optimizer_block());
  loss_ = std::make_unique<IBotLoss>(o_.head.out_dim, o_.crops.global_crops, o_.crops.local_crops,
                                     IBotLossConfig{o_.student_temp, 0.9, 0.9, o_.lambda1, o_.lambda2, o_.koleo});
  loss_->MoveTo(o_.device);
  if (!o_.device.is_cpu()) {
    uploader_ = std::make_unique<CropUploader>(o_.device);
    first_nonfinite_ = Tensor::Full({1}, -1.0, DType::kI64, o_.device);
  }
  return absl::OkStatus();
}

absl::Status PretrainRun::Resume() {
  state_.loader.seed = o_.seed;
  state_.flags = o_.flags;
  state_.model = ModelConfigToJson(ModelConfig{vit_, o_.head});
  state_.world_size = process_.world;
  auto dataset = DatasetIdentity(o_.data);
  if (!dataset.ok()) return dataset.status();
  state_.dataset = *dataset;
  auto latest = LatestCheckpoint(o_.run_dir);
  if (!latest.ok() && !absl::IsNotFound(latest.status())) return latest.status();  // none verifies
  if (latest.ok() && !o_.resume)
    return absl::FailedPreconditionError(absl::StrCat(
        "--resume=false but --run_dir ", o_.run_dir, " holds checkpoints (newest ", *latest,
        "): a new run there would mix with them; use an empty --run_dir"));
  if (!latest.ok() && !o_.branch_from.empty()) {
    auto trunk = CheckpointIn(o_.branch_from);
    if (!trunk.ok()) return absl::Status(trunk.status().code(), absl::StrCat("--branch_from: ", trunk.status().message()));
    return ContinueFrom(*trunk, /*branch=*/true);
  }
  if (!latest.ok()) return o_.init.empty() ? absl::OkStatus() : Initialise();
  if (absl::Status s = ContinueFrom(*latest, /*branch=*/false); !s.ok()) return s;
  return lead_ ? CutMetricsAfter(o_.run_dir + "/metrics.jsonl", state_.step) : absl::OkStatus();
}

absl::Status PretrainRun::ContinueFrom(const std::string& checkpoint, bool branch) {
  auto saved = ReadTrainingState(checkpoint);
  if (!saved.ok()) return saved.status();
  if (saved->model != state_.model)
    return absl::FailedPreconditionError(absl::StrCat(
        "the model flags differ from the checkpoint's in ", checkpoint, " (saved ", saved->model.dump(), ", now ",
        state_.model.dump(), "): use another --run_dir or the same flags"));
  if (absl::Status s = CheckSameRun(*saved, checkpoint, branch ? kBranchFlags : std::set<std::string>()); !s.ok())
    return s;
  const std::string dataset = state_.dataset;
  AdamW::States saved_optimizer;
  if (absl::Status s = LoadCheckpoint(checkpoint, parts(&saved_optimizer), &state_); !s.ok()) return s;
  // Each rank keeps its spans of the whole state (all of it without ZeRO-1), whatever ranks wrote it.
  if (absl::Status s = optimizer_->LoadState(saved_optimizer); !s.ok())
    return absl::Status(s.code(), absl::StrCat(checkpoint, "/optimizer.safetensors ", s.message()));
  const int saved_world = state_.world_size;
  state_.flags = o_.flags;
  state_.world_size = process_.world;
  state_.dataset = dataset;
  branched_ = branch;
  if (branch) state_.budget_steps = 0;  // a branch's --budget_minutes is measured anew
  if (lead_ && saved_world != process_.world)
    std::printf("the checkpoint was written by %d ranks, continuing on %d (same global batch order)\n", saved_world,
                process_.world);
  if (lead_)
    std::printf("%s %s (step %lld, epoch %lld, %lld samples of the epoch consumed)\n",
                branch ? "branching from" : "resuming from", checkpoint.c_str(), (long long)state_.step,
                (long long)state_.loader.epoch, (long long)state_.loader.consumed);
  return absl::OkStatus();
}

absl::Status PretrainRun::Initialise() {
  const std::string init = CheckpointIn(o_.init).value_or(o_.init);
  if (absl::Status s = LoadCheckpoint(init, {student_.get(), teacher_.get(), nullptr, nullptr}, nullptr); !s.ok())
    return s;
  if (lead_) std::printf("initialised from %s\n", init.c_str());
  return absl::OkStatus();
}

absl::Status PretrainRun::CheckSameRun(const TrainingState& saved, const std::string& checkpoint,
                                       std::set<std::string> allowed) const {
  if (saved.loader.seed != o_.seed)
    return absl::FailedPreconditionError(
        absl::StrCat("--seed ", o_.seed, " differs from the checkpoint's ", saved.loader.seed));
  allowed.insert(o_.allow_changed_flags.begin(), o_.allow_changed_flags.end());
  std::vector<std::string> changed;
  for (const auto& [name, value] : o_.flags.items()) {
    if (kRuntimeFlags.count(name) || allowed.count(name) || !saved.flags.contains(name)) continue;
    if (saved.flags[name] != value)
      changed.push_back(absl::StrCat("--", name, " ", FlagText(saved.flags[name]), " -> ", FlagText(value)));
  }
  if (!saved.dataset.empty() && saved.dataset != state_.dataset && !allowed.count("data"))
    changed.push_back(absl::StrCat("--data (index.json crc32c ", saved.dataset, " -> ", state_.dataset, ")"));
  if (changed.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the flags that define the run differ from ", checkpoint, "'s: ", absl::StrJoin(changed, ", "),
      "; resume with the same flags, or name those you mean to change in --allow_changed_flags"));
}

absl::Status PretrainRun::StartLoader() {
  data::LoaderOptions lo = TrainingLoaderOptions(o_, process_.rank, process_.world);
  if (absl::Status s = ChooseNormalization(&lo); !s.ok()) return s;
  auto loader = data::Loader::Create(dataset_, lo, state_.loader);
  if (!loader.ok()) return loader.status();
  loader_ = std::move(*loader);
  length_.steps_per_epoch = loader_->steps_per_epoch();
  if (length_.steps_per_epoch <= 0)
    return absl::InvalidArgumentError(absl::StrCat("--data has ", dataset_->size(),
                                                   " samples, fewer than one --batch of ", o_.global_batch));
  length_ = SizeRun(o_, vit_, length_.steps_per_epoch, state_.budget_steps);
  if (branched_ && state_.step >= length_.total)
    return absl::InvalidArgumentError(absl::StrCat("--branch_from's checkpoint is at step ", state_.step,
                                                   ", not before the end of this run's budget (step ", length_.total,
                                                   "): branch from an earlier checkpoint or raise the budget"));
  meter_ = std::make_unique<ComputeMeter>(state_.compute, dataset_->index().modalities, process_.world);
  if (o_.eval.every > 0) {
    auto eval = PeriodicEval::Create(o_.eval, lo.normalization, process_.world);
    if (!eval.ok()) return eval.status();
    eval_ = std::move(*eval);
  }

  if (lead_) {
    std::ofstream flags_file(o_.run_dir + "/flags.json");
    flags_file << o_.flags.dump(2) << "\n";
    const int64_t n_params = CountParameters(*student_);
    const std::string length =
        o_.budget.defines_run() ? DescribeBudget(o_, vit_, length_)
                                : absl::StrFormat("%d epochs (%lld steps)", o_.epochs, (long long)length_.total);
    std::printf("vfm pretrain: %s/%d depth %lld (%.1fM parameters, student+teacher+AdamW %.0f MB fp32), %lld samples, "
                "%lld steps/epoch, %s, batch %lld on %d rank(s), stopping at %s\n",
                o_.arch.c_str(), o_.patch, (long long)vit_.depth, n_params / 1e6, n_params * 16.0 / 1e6,
                (long long)dataset_->size(), (long long)length_.steps_per_epoch, length.c_str(),
                (long long)o_.global_batch, process_.world,
                length_.stop == RunLength::kNotFixed ? "the budget's end"
                                                     : absl::StrCat("step ", length_.stop).c_str());
    std::fflush(stdout);
    metrics_.open(o_.run_dir + "/metrics.jsonl", std::ios::app);
  }
  return absl::OkStatus();
}

absl::Status PretrainRun::ChooseNormalization(data::LoaderOptions* options) {
  std::vector<std::string> notes;
  auto table = data::ResolveNormalization(o_.norm, dataset_->index(), &notes);
  if (!table.ok()) return table.status();
  if (!o_.modalities.empty()) {  // a run on some modalities records (and exports) only theirs
    data::NormalizationTable selected;
    for (const std::string& m : o_.modalities)
      if (table->count(m)) selected[m] = table->at(m);
    table->swap(selected);
  }
  options->normalization = *table;
  state_.normalization = data::NormalizationToJson(*table);
  if (lead_) {
    for (const std::string& note : notes) std::printf("note: %s\n", note.c_str());
    for (const auto& [name, n] : *table)
      std::printf("normalising %s with mean %.4f %.4f %.4f, std %.4f %.4f %.4f (--norm=%s)\n", name.c_str(), n.mean[0],
                  n.mean[1], n.mean[2], n.std[0], n.std[1], n.std[2], o_.norm.c_str());
  }
  return absl::OkStatus();
}

IBotCrops PretrainRun::Crops(const data::Batch& batch) {
  IBotCrops crops;
  auto input = [&](const data::CropGroup& group) {
    return uploader_ ? uploader_->Upload(group, o_.precision) : NormalizeOnHost(group);
  };
  if (uploader_) uploader_->BeginStep();
  crops.global = input(batch.global);
  if (batch.local.rows > 0) crops.local = input(batch.local);
  crops.masks = MaskToTensor(batch.masks, batch.global.rows);
  int64_t masked = 0;
  for (uint8_t v : batch.masks) masked += v != 0;
  const double flops = IBotStepFlops(vit_, o_.head, {batch.size, o_.crops.global_crops, o_.crops.local_crops,
                                                     o_.crops.global.size, o_.crops.local.size, masked});
  throughput_.window_flops += flops;
  meter_->AddStep(batch.modalities, flops);
  return crops;
}

IBotStepSettings PretrainRun::SettingsAt(int64_t step) const { return ScheduledSettings(o_, length_, step); }

absl::Status PretrainRun::CheckLoss(const IBotForwardResult& r, int64_t step, bool read_now) {
#if VFM_WITH_CUDA
  if (first_nonfinite_.defined())
    cuda::RecordFirstNonFinite(r.loss.loss.data<float>(), step + 1, first_nonfinite_.data<int64_t>());
#endif
  // Reading the loss waits for the step to finish: on a GPU only when it is logged or a checkpoint is
  // due (so a non-finite loss is still caught before anything of it is saved, and named by the first
  // step it occurred at, which the device records every step); on the CPU every step.
  if (!o_.device.is_cpu() && !read_now) return absl::OkStatus();
  const double loss = r.loss.loss.item();
  int64_t bad_step = std::isfinite(loss) ? -1 : step + 1;
  if (first_nonfinite_.defined() && first_nonfinite_.item() >= 0) bad_step = int64_t(first_nonfinite_.item());
  if (bad_step < 0) return absl::OkStatus();
  auto newest = LatestCheckpoint(o_.run_dir);
  return absl::InternalError(absl::StrFormat(
      "non-finite loss at step %d (epoch %.2f; loss %f at step %d): stopping; nothing of it is saved; the "
      "newest checkpoint is %s",
      bad_step, double(bad_step - 1) / double(length_.steps_per_epoch), loss, step + 1,
      newest.ok() ? *newest : std::string("none")));
}

void PretrainRun::PrintMemoryOnce(int64_t first_step) const {
#if VFM_WITH_CUDA
  if (lead_ && !o_.device.is_cpu() && state_.step == first_step + 1) {
    const CachingAllocator::Stats m = CudaAllocator(o_.device.index).stats();
    std::printf("GPU memory after the first step: peak %.2f GiB in use, %.2f GiB reserved\n",
                double(m.peak_in_use) / (1 << 30), double(m.reserved) / (1 << 30));
  }
#endif
}

void PretrainRun::Log(const IBotForwardResult& r, const IBotStepSettings& settings, int64_t first_step) {
  // Each rank's loss is the mean over its share of the global batch (equal shares): their mean is the
  // global batch's.
  const bool koleo = r.loss.koleo_loss.defined();
  const std::vector<double> parts = dp_->MeanOverRanks(
      {r.loss.loss.item(), r.loss.cls_loss.item(), r.loss.patch_loss.item(), koleo ? r.loss.koleo_loss.item() : 0.0});
  const double loss = parts[0], cls_loss = parts[1], patch_loss = parts[2];
  if (!lead_) return;
  Throughput& t = throughput_;
  const auto now = std::chrono::steady_clock::now();
  const double window = std::chrono::duration<double>(now - t.window_start).count();
  const double img_s = double(t.window_steps * o_.global_batch) / std::max(window, 1e-9);
  const double per_step = t.Elapsed() / double(state_.step - first_step);
  const double tflops = t.window_flops / std::max(window, 1e-9) / 1e12;  // per rank
  const double epoch = double(state_.step - 1) / double(length_.steps_per_epoch);
  const std::string mfu = o_.peak_tflops > 0 ? absl::StrFormat(", MFU %.1f%%", 100 * tflops / o_.peak_tflops) : "";
  // Before a --budget_minutes run's step count is fixed its last step is not known ("?" unless --max_steps
  // caps it) and the run ends within the budget's time left.
  const bool stop_known = length_.stop != RunLength::kNotFixed;
  const std::string of = stop_known ? absl::StrCat(length_.stop) : "?";
  double left_s = stop_known ? per_step * double(length_.stop - state_.step) : HUGE_VAL;
  if (!length_.fixed()) left_s = std::min(left_s, std::max(o_.budget.minutes * 60 - meter_->WallSeconds(), 0.0));
  const std::string koleo_part = koleo ? absl::StrFormat(", koleo %.4f", parts[3]) : "";
  std::printf("step %lld/%s | epoch %.2f | loss %.4f (cls %.4f, patch %.4f%s) | lr %.3g | wd %.3g | %.1f img/s | "
              "%.3g TFLOP/s per rank%s | ETA %s\n",
              (long long)state_.step, of.c_str(), epoch, loss, cls_loss, patch_loss, koleo_part.c_str(), settings.lr,
              settings.weight_decay, img_s, tflops, mfu.c_str(), FormatDuration(left_s).c_str());
  std::fflush(stdout);
  const ComputeAccount& c = meter_->account();
  const double tokens_per_image = double(StudentTokens(vit_, {1, o_.crops.global_crops, o_.crops.local_crops,
                                                              o_.crops.global.size, o_.crops.local.size, 0}));
  nlohmann::json m = {{"kind", "train"},
                      {"step", state_.step},
                      {"epoch", epoch},
                      {"loss", loss},
                      {"cls_loss", cls_loss},
                      {"patch_loss", patch_loss},
                      {"lr", settings.lr},
                      {"weight_decay", settings.weight_decay},
                      {"momentum", settings.ema_momentum},
                      {"teacher_temp", settings.teacher_temp},
                      {"img_per_s", img_s},
                      {"tflop_per_s_per_rank", tflops},
                      {"mfu", o_.peak_tflops > 0 ? tflops / o_.peak_tflops : 0.0},
                      {"images_seen", c.images_seen},
                      {"samples_per_modality", c.samples_per_modality},
                      {"flops", c.flops},
                      {"wall_s", c.wall_s},
                      {"device_s", c.device_s},
                      {"eval_s", c.eval_s},
                      {"tokens_per_s", img_s * tokens_per_image},
                      {"elapsed_s", t.Elapsed()}};
  if (koleo) m["koleo_loss"] = parts[3];
  metrics_ << m.dump() << "\n" << std::flush;
  t.window_start = now;
  t.window_steps = 0;
  t.window_flops = 0;
}

void PretrainRun::FixMinutesBudget() {
  const std::optional<double> seconds_per_step = step_timer_.AfterStep(meter_->WallSeconds());
  if (!seconds_per_step) return;
  if (!step_timer_.window_set()) {  // the first estimate sizes the window, the same on every rank
    const double steps = lead_ ? double(StepTimer::WindowSteps(o_.budget.minutes * 60, *seconds_per_step)) : 0;
    if (step_timer_.SetWindow(int64_t(dp_->SumOverRanks({steps})[0]))) return;
  }
  // The lead rank's figure, for every rank (the others add 0).
  const double steps =
      lead_ ? double(MinutesBudgetSteps(o_.budget.minutes, state_.step, meter_->WallSeconds(), *seconds_per_step)) : 0;
  state_.budget_steps = int64_t(dp_->SumOverRanks({steps})[0]);
  length_ = SizeRun(o_, vit_, length_.steps_per_epoch, state_.budget_steps);
  if (lead_)
    std::printf("--budget_minutes %g: %.3f s per step measured over %lld steps, the run is %lld steps\n",
                o_.budget.minutes, *seconds_per_step, (long long)step_timer_.measured_steps(), (long long)length_.total);
}

absl::Status PretrainRun::Evaluate() {
  const auto start = std::chrono::steady_clock::now();
  auto figures = eval_->Run(*teacher_->backbone, *dp_);
  if (!figures.ok()) return figures.status();
  // The evaluation's time is left out of the throughput figures and of the training time (a minutes
  // budget's and the compute account's).
  const auto spent = std::chrono::steady_clock::now() - start;
  throughput_.start += spent;
  throughput_.window_start += spent;
  meter_->AddEvalSeconds(std::chrono::duration<double>(spent).count());
  state_.compute = meter_->Fold(*dp_);  // collective: a checkpoint saved at this step counts the eval
  if (!lead_) return absl::OkStatus();
  nlohmann::json m = {{"kind", "eval"}, {"step", state_.step}, {"images_seen", state_.compute.images_seen},
                      {"flops", state_.compute.flops}};
  m.update(*figures);
  metrics_ << m.dump() << "\n" << std::flush;
  const std::string linear =
      figures->contains("linear_top1") ? absl::StrFormat(" | linear top-1 %.2f%%", double((*figures)["linear_top1"])) : "";
  std::string per_modality;
  if (figures->contains("per_modality"))
    for (const auto& [name, f] : (*figures)["per_modality"].items())
      per_modality += absl::StrFormat(" | %s kNN top-1 %.2f%%", name, double(f["knn_top1"]));
  std::printf("eval at step %lld | kNN top-1 %.2f%% top-5 %.2f%%%s%s\n", (long long)state_.step,
              double((*figures)["knn_top1"]), double((*figures)["knn_top5"]), linear.c_str(), per_modality.c_str());
  std::fflush(stdout);
  return absl::OkStatus();
}

absl::StatusOr<PretrainEnd> PretrainRun::Train() {
  const int64_t first_step = state_.step;
  for (int64_t step = state_.step; step < length_.stop; ++step) {
    absl::StatusOr<std::unique_ptr<data::Batch>> next = loader_->Next();
    if (!next.ok()) return next.status();  // too many unreadable samples
    std::unique_ptr<data::Batch> batch = *std::move(next);
    const IBotCrops crops = Crops(*batch);
    loader_->Recycle(std::move(batch));  // its pixels are copied into the tensors above
    const IBotStepSettings settings = SettingsAt(step);
    // Keyed by rank too: ranks hold different samples. (So with drop path on, N ranks match one rank in
    // distribution, not bit for bit; the run is still exactly reproducible for a given rank count.)
    Rng drop_path_rng(MixKey({o_.seed, uint64_t(step), uint64_t(process_.rank), 0x64726f70}));
    const IBotForwardResult r =
        IBotTrainStep(*student_, *teacher_, *loss_, *optimizer_, crops, settings, &drop_path_rng, dp_->hooks());
    state_.step = step + 1;
    state_.loader = loader_->state();
    ++throughput_.window_steps;
    if (!length_.fixed()) FixMinutesBudget();
    const bool out_of_time =
        o_.max_minutes > 0 && dp_->AnyRank(throughput_.Elapsed() > o_.max_minutes * 60.0);
    const bool stop = dp_->AnyRank(StopSignal() != 0);  // a signal on any rank stops them all here
    const bool log_now = state_.step % o_.log_every == 0 || state_.step == length_.stop || out_of_time || stop;
    const bool save_now =
        state_.step % o_.checkpoint_every == 0 || state_.step == length_.stop || out_of_time || stop;
    const bool eval_now = eval_ && eval_->Due(state_.step, length_.stop);
    if (absl::Status s = CheckLoss(r, step, log_now || save_now); !s.ok()) return s;
    PrintMemoryOnce(first_step);
    if (log_now || save_now) state_.compute = meter_->Fold(*dp_);  // collective (Evaluate folds after its eval)
    if (log_now) Log(r, settings, first_step);
    if (eval_now)
      if (absl::Status s = Evaluate(); !s.ok()) return s;
    if (save_now) {
      auto optimizer_state = dp_->OptimizerState(*optimizer_);  // collective
      if (!optimizer_state.ok()) return optimizer_state.status();
      if (lead_)
        if (absl::Status s = SaveCheckpoint(o_.run_dir, parts(&*optimizer_state), state_, o_.keep_checkpoints);
            !s.ok())
          return s;
    }
    if (stop) {
      if (lead_)
        std::printf("stopping at step %lld on %s: checkpoint written (resume continues from here)\n",
                    (long long)state_.step, StopSignal() ? StopSignalName(StopSignal()) : "a signal to another rank");
      return PretrainEnd::kStopped;
    }
    if (out_of_time) {
      if (lead_)
        std::printf("stopping at step %lld: --max_minutes %.1f reached (resume continues from here)\n",
                    (long long)state_.step, o_.max_minutes);
      break;
    }
  }
  if (lead_ && loader_->bad_samples() > 0)
    std::printf("%lld samples could not be read or decoded and were skipped (see the messages above)\n",
                (long long)loader_->bad_samples());
  return PretrainEnd::kDone;
}

}  // namespace

data::LoaderOptions TrainingLoaderOptions(const PretrainOptions& o, int rank, int world) {
  data::LoaderOptions lo;
  lo.rank = rank;
  lo.world_size = world;
  lo.seed = o.seed;
  lo.global_batch = o.global_batch;
  lo.threads = o.data_threads;
  lo.prefetch = o.prefetch;
  lo.crops = o.crops;
  lo.crops.masking.patch_size = o.patch;
  lo.modalities = o.modalities;
  lo.modality_weights = o.modality_weights;
  lo.synthetic_ratio = float(o.synthetic_ratio);
  return lo;
}

absl::StatusOr<PretrainEnd> Pretrain(const PretrainOptions& options, const dist::ProcessInfo& process) {
  PretrainRun run(options, process);
  absl::Status s = run.Setup();
  if (s.ok()) s = run.Resume();
  if (s.ok()) s = run.StartLoader();
  if (!s.ok()) {
    run.RemoveRunDirIfCreated();  // a refused start leaves no empty run folder behind
    return s;
  }
  return run.Train();
}

}  // namespace vfm
