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
#include "kernels/cpu/normalize_images.h"
#include "kernels/cuda/nonfinite.h"
#include "trainer/checkpoint.h"
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

Tensor ImagesToTensor(const std::vector<float>& pixels, int64_t batch, int64_t size) {
  return Tensor::FromVector(pixels, {batch, 3, size, size});
}

// (scale, shift) per sample and channel for ops::NormalizeImages, on `device`.
Tensor SampleNorms(const data::Loader& loader, const std::vector<uint8_t>& modalities, Device device) {
  Tensor norms = Tensor::Empty({int64_t(modalities.size()), 3, 2}, DType::kF32);
  float* p = norms.data<float>();
  for (uint8_t m : modalities) {
    const data::Normalization& n = loader.normalization(m);
    for (int c = 0; c < 3; ++c) {
      const cpu::PlaneNorm plane = cpu::PlaneNormFor(n.mean[size_t(c)], n.std[size_t(c)]);
      *p++ = plane.scale;
      *p++ = plane.shift;
    }
  }
  return norms.ToDevice(device);
}

// Masks stay on the host: the step uploads what the GPU needs of them.
Tensor MaskToTensor(const std::vector<uint8_t>& mask, int64_t batch) {
  Tensor t = Tensor::Empty({batch, int64_t(mask.size()) / batch}, DType::kU8);
  std::memcpy(t.raw_data(), mask.data(), mask.size());
  return t;
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

// Flags that change how a run executes, not what it computes: free to differ on resume.
const std::set<std::string> kRuntimeFlags = {
    "data",       "run_dir",        "resume",           "init",          "max_steps",  "max_minutes",
    "log_every",  "checkpoint_every", "keep_checkpoints", "data_threads",  "prefetch",   "peak_tflops",
    "device",     "precision",      "allow_changed_flags"};

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

// The run's length in steps and the schedules' anchors, from the dataset size and the flags.
struct RunLength {
  int64_t steps_per_epoch = 0;
  int64_t total = 0;   // the schedules span this many steps (--epochs)
  int64_t stop = 0;    // the run stops here (--max_steps)
  int64_t warmup = 0;  // learning-rate warm-up steps
  double base_lr = 0;  // --lr scaled by batch / 256
};

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
  absl::Status Resume();
  absl::Status StartLoader();
  absl::StatusOr<PretrainEnd> Train();

 private:
  // Loads --init's networks (a fresh run started from vfm import's output or another run).
  absl::Status Initialise();
  // Refuses a resume whose seed, data or run-defining flags differ from the checkpoint's.
  absl::Status CheckSameRun(const TrainingState& saved, const std::string& checkpoint) const;
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

  const PretrainOptions& o_;
  const dist::ProcessInfo& process_;
  const bool lead_;  // prints, writes metrics and checkpoints
  std::optional<RunLock> lock_;  // the lead rank's, on run_dir
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
  std::ofstream metrics_;
  // On a GPU the loader hands out uint8 crops (a quarter of the f32 bytes): uploaded on the copy stream,
  // beside the previous step's compute, and normalised there per sample's modality in the compute dtype.
  std::unique_ptr<CropUploader> uploader_;
  // On a GPU, the first step whose loss was not finite, recorded on the device every step (-1: none yet).
  Tensor first_nonfinite_;

  // What a checkpoint holds, with the optimizer's whole state by name (saved from, or loaded into, it).
  CheckpointParts parts(AdamW::States* optimizer_state) const {
    return {student_.get(), teacher_.get(), optimizer_state, loss_.get()};
  }
};

absl::Status PretrainRun::Setup() {
  if (o_.data.empty() || o_.run_dir.empty()) return absl::InvalidArgumentError("--data and --run_dir are required");
  if (o_.global_batch % process_.world != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--batch ", o_.global_batch, " is not a multiple of the ", process_.world, " ranks"));
  if (lead_) {
    std::error_code ec;
    fs::create_directories(o_.run_dir, ec);
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
  if (o_.depth > 0) vit_.depth = o_.depth;
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
  auto dp = DataParallel::Create(process_, *student_, *teacher_);
  if (!dp.ok()) return dp.status();
  dp_ = std::move(*dp);
  optimizer_ = std::make_unique<AdamW>(dp_->grads(), dp_->optimizer_block());
  loss_ = std::make_unique<IBotLoss>(o_.head.out_dim, o_.crops.global_crops, o_.crops.local_crops,
                                     IBotLossConfig{o_.student_temp, 0.9, 0.9, o_.lambda1, o_.lambda2});
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
  if (!latest.ok()) return o_.init.empty() ? absl::OkStatus() : Initialise();

  auto saved = ReadTrainingState(*latest);
  if (!saved.ok()) return saved.status();
  if (saved->model != state_.model)
    return absl::FailedPreconditionError(absl::StrCat(
        "the model flags differ from the checkpoint's in ", *latest, " (saved ", saved->model.dump(), ", now ",
        state_.model.dump(), "): use another --run_dir or the same flags"));
  if (absl::Status s = CheckSameRun(*saved, *latest); !s.ok()) return s;
  AdamW::States saved_optimizer;
  if (absl::Status s = LoadCheckpoint(*latest, parts(&saved_optimizer), &state_); !s.ok()) return s;
  // Each rank keeps its spans of the whole state (all of it without ZeRO-1), whatever ranks wrote it.
  if (absl::Status s = optimizer_->LoadState(saved_optimizer); !s.ok())
    return absl::Status(s.code(), absl::StrCat(*latest, "/optimizer.safetensors ", s.message()));
  const int saved_world = state_.world_size;
  state_.flags = o_.flags;
  state_.world_size = process_.world;
  state_.dataset = *dataset;
  if (lead_ && saved_world != process_.world)
    std::printf("the checkpoint was written by %d ranks, continuing on %d (same global batch order)\n", saved_world,
                process_.world);
  if (lead_)
    std::printf("resuming from %s (step %lld, epoch %lld, %lld samples of the epoch consumed)\n", latest->c_str(),
                (long long)state_.step, (long long)state_.loader.epoch, (long long)state_.loader.consumed);
  return lead_ ? CutMetricsAfter(o_.run_dir + "/metrics.jsonl", state_.step) : absl::OkStatus();
}

absl::Status PretrainRun::Initialise() {
  const std::string init =
      fs::exists(o_.init + "/MANIFEST.json") ? o_.init : LatestCheckpoint(o_.init).value_or(o_.init);
  if (absl::Status s = LoadCheckpoint(init, {student_.get(), teacher_.get(), nullptr, nullptr}, nullptr); !s.ok())
    return s;
  if (lead_) std::printf("initialised from %s\n", init.c_str());
  return absl::OkStatus();
}

absl::Status PretrainRun::CheckSameRun(const TrainingState& saved, const std::string& checkpoint) const {
  if (saved.loader.seed != o_.seed)
    return absl::FailedPreconditionError(
        absl::StrCat("--seed ", o_.seed, " differs from the checkpoint's ", saved.loader.seed));
  const std::set<std::string> allowed(o_.allow_changed_flags.begin(), o_.allow_changed_flags.end());
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
  data::LoaderOptions lo;
  lo.rank = process_.rank;
  lo.world_size = process_.world;
  lo.seed = o_.seed;
  lo.global_batch = o_.global_batch;
  lo.threads = o_.data_threads;
  lo.prefetch = o_.prefetch;
  lo.crops = o_.crops;
  lo.crops.masking.patch_size = o_.patch;
  lo.uint8_output = !o_.device.is_cpu();
  lo.modalities = o_.modalities;
  lo.modality_weights = o_.modality_weights;
  lo.synthetic_ratio = float(o_.synthetic_ratio);
  if (absl::Status s = ChooseNormalization(&lo); !s.ok()) return s;
  auto loader = data::Loader::Create(dataset_, lo, state_.loader);
  if (!loader.ok()) return loader.status();
  loader_ = std::move(*loader);
  length_.steps_per_epoch = loader_->steps_per_epoch();
  if (length_.steps_per_epoch <= 0)
    return absl::InvalidArgumentError(absl::StrCat("--data has ", dataset_->size(),
                                                   " samples, fewer than one --batch of ", o_.global_batch));
  length_.total = length_.steps_per_epoch * o_.epochs;
  length_.stop = o_.max_steps > 0 ? std::min(length_.total, o_.max_steps) : length_.total;
  length_.warmup = int64_t(o_.warmup_epochs * double(length_.steps_per_epoch));
  length_.base_lr = o_.lr * double(o_.global_batch) / 256.0;

  if (lead_) {
    std::ofstream flags_file(o_.run_dir + "/flags.json");
    flags_file << o_.flags.dump(2) << "\n";
    const int64_t n_params = CountParameters(*student_);
    std::printf("vfm pretrain: %s/%d depth %lld (%.1fM parameters, student+teacher+AdamW %.0f MB fp32), %lld samples, "
                "%lld steps/epoch, %d epochs (%lld steps), batch %lld on %d rank(s), stopping at step %lld\n",
                o_.arch.c_str(), o_.patch, (long long)vit_.depth, n_params / 1e6, n_params * 16.0 / 1e6,
                (long long)dataset_->size(), (long long)length_.steps_per_epoch, o_.epochs, (long long)length_.total,
                (long long)o_.global_batch, process_.world, (long long)length_.stop);
    std::fflush(stdout);
    metrics_.open(o_.run_dir + "/metrics.jsonl", std::ios::app);
  }
  return absl::OkStatus();
}

absl::Status PretrainRun::ChooseNormalization(data::LoaderOptions* options) {
  std::vector<std::string> notes;
  auto table = data::ResolveNormalization(o_.norm, dataset_->index(), &notes);
  if (!table.ok()) return table.status();
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
  const int64_t B = batch.size;
  IBotCrops crops;
  if (o_.device.is_cpu()) {
    for (const auto& global : batch.global_crops) crops.global.push_back(ImagesToTensor(global, B, o_.crops.global.size));
    for (const auto& local : batch.local_crops) crops.local.push_back(ImagesToTensor(local, B, o_.crops.local.size));
  } else {
    const Tensor norms = SampleNorms(*loader_, batch.modalities, o_.device);
    uploader_->BeginStep();
    for (const auto& global : batch.global_crops_u8)
      crops.global.push_back(uploader_->Upload(global, B, o_.crops.global.size, norms, o_.precision));
    for (const auto& local : batch.local_crops_u8)
      crops.local.push_back(uploader_->Upload(local, B, o_.crops.local.size, norms, o_.precision));
  }
  for (const auto& mask : batch.masks) crops.masks.push_back(MaskToTensor(mask, B));
  int64_t masked = 0;
  for (const auto& m : batch.masks)
    for (uint8_t v : m) masked += v != 0;
  throughput_.window_flops += IBotStepFlops(vit_, o_.head, {B, o_.crops.global_crops, o_.crops.local_crops,
                                                            o_.crops.global.size, o_.crops.local.size, masked});
  return crops;
}

IBotStepSettings PretrainRun::SettingsAt(int64_t step) const {
  const int64_t whole_epoch = step / length_.steps_per_epoch;
  IBotStepSettings s;
  s.lr = CosineSchedule(step, length_.total, length_.warmup, length_.base_lr, o_.min_lr);
  s.weight_decay = CosineSchedule(step, length_.total, 0, o_.weight_decay, o_.weight_decay_end);
  s.ema_momentum = CosineSchedule(step, length_.total, 0, o_.momentum_teacher, 1.0);
  s.teacher_temp = LinearWarmup(whole_epoch, o_.warmup_teacher_temp_epochs, o_.warmup_teacher_temp, o_.teacher_temp);
  s.teacher_patch_temp =
      LinearWarmup(whole_epoch, o_.warmup_teacher_temp_epochs, o_.warmup_teacher_patch_temp, o_.teacher_patch_temp);
  s.clip_grad = o_.clip_grad;
  s.freeze_last_layer = double(step) / double(length_.steps_per_epoch) < o_.freeze_last_layer;
  return s;
}

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
  const std::vector<double> parts =
      dp_->MeanOverRanks({r.loss.loss.item(), r.loss.cls_loss.item(), r.loss.patch_loss.item()});
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
  std::printf("step %lld/%lld | epoch %.2f | loss %.4f (cls %.4f, patch %.4f) | lr %.3g | wd %.3g | %.1f img/s | "
              "%.3g TFLOP/s per rank%s | ETA %s\n",
              (long long)state_.step, (long long)length_.stop, epoch, loss, cls_loss, patch_loss, settings.lr, settings.weight_decay, img_s, tflops, mfu.c_str(),
              FormatDuration(per_step * double(length_.stop - state_.step)).c_str());
  std::fflush(stdout);
  const nlohmann::json m = {{"step", state_.step},
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
                            {"images_seen", state_.step * o_.global_batch},
                            {"elapsed_s", t.Elapsed()}};
  metrics_ << m.dump() << "\n" << std::flush;
  t.window_start = now;
  t.window_steps = 0;
  t.window_flops = 0;
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
    const bool out_of_time =
        o_.max_minutes > 0 && dp_->AnyRank(throughput_.Elapsed() > o_.max_minutes * 60.0);
    const bool stop = dp_->AnyRank(StopSignal() != 0);  // a signal on any rank stops them all here
    const bool log_now = state_.step % o_.log_every == 0 || state_.step == length_.stop || out_of_time || stop;
    const bool save_now =
        state_.step % o_.checkpoint_every == 0 || state_.step == length_.stop || out_of_time || stop;
    if (absl::Status s = CheckLoss(r, step, log_now || save_now); !s.ok()) return s;
    PrintMemoryOnce(first_step);
    if (log_now) Log(r, settings, first_step);
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

absl::StatusOr<PretrainEnd> Pretrain(const PretrainOptions& options, const dist::ProcessInfo& process) {
  PretrainRun run(options, process);
  if (absl::Status s = run.Setup(); !s.ok()) return s;
  if (absl::Status s = run.Resume(); !s.ok()) return s;
  if (absl::Status s = run.StartLoader(); !s.ok()) return s;
  return run.Train();
}

}  // namespace vfm
