#include "trainer/pretrain.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "autograd/caching_allocator.h"
#include "kernels/cpu/normalize_images.h"
#include "kernels/cuda/nonfinite.h"
#include "trainer/checkpoint.h"
#include "trainer/crop_uploader.h"
#include "trainer/data_parallel.h"
#include "trainer/flops.h"
#include "trainer/ibot_step.h"
#include "trainer/schedule.h"

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

}  // namespace

absl::Status Pretrain(const PretrainOptions& o, const dist::ProcessInfo& process) {
  if (o.data.empty() || o.run_dir.empty()) return absl::InvalidArgumentError("--data and --run_dir are required");
  if (o.global_batch % process.world != 0)
    return absl::InvalidArgumentError(absl::StrCat("--batch ", o.global_batch, " is not a multiple of the ", process.world, " ranks"));
  const bool lead = process.rank == 0;  // prints, writes metrics and checkpoints
  std::error_code ec;
  if (lead) {
    fs::create_directories(o.run_dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create --run_dir ", o.run_dir, ": ", ec.message()));
    RemoveStaleTemporaries(o.run_dir);
  }

  auto dataset = data::Dataset::Open(o.data);
  if (!dataset.ok()) return dataset.status();
  std::shared_ptr<const data::Dataset> ds = std::move(*dataset);

  auto vit = nn::ViTConfigByName(o.arch, o.patch, o.crops.global.size);
  if (!vit.ok()) return vit.status();
  if (o.depth > 0) vit->depth = o.depth;
  vit->drop_path_rate = o.drop_path;
  vit->layerscale_init = o.layerscale;
  if (o.crops.local_crops > 0 && o.crops.local.size % o.patch != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("--local_size ", o.crops.local.size, " is not a multiple of --patch ", o.patch));
  const ModelConfig model{*vit, o.head};

  nn::IBotNetwork student(*vit, o.head, MixKey({o.seed, 0x6d6f64656c}));
  nn::IBotNetwork teacher(*vit, o.head, MixKey({o.seed, 0x6d6f64656c}));
  teacher.LoadFrom(student.NamedParameters());
  for (auto [name, p] : teacher.NamedParameters()) p.set_requires_grad(false);
  student.MoveTo(o.device);  // initialised on the host (deterministic), trained on the device
  teacher.MoveTo(o.device);
  AdamW optimizer(student.NamedParameters());
  auto dp = DataParallel::Create(process, student, teacher);
  if (!dp.ok()) return dp.status();
  IBotLoss loss(o.head.out_dim, o.crops.global_crops, o.crops.local_crops,
                IBotLossConfig{o.student_temp, 0.9, 0.9, o.lambda1, o.lambda2});
  loss.MoveTo(o.device);
  const CheckpointParts parts{&student, &teacher, &optimizer, &loss};

  TrainingState state;
  state.loader.seed = o.seed;
  state.flags = o.flags;
  state.model = ModelConfigToJson(model);
  auto latest = o.resume ? LatestCheckpoint(o.run_dir) : absl::NotFoundError("resume off");
  if (latest.ok()) {
    auto saved = ReadTrainingState(*latest);
    if (!saved.ok()) return saved.status();
    if (saved->model != state.model)
      return absl::FailedPreconditionError(absl::StrCat(
          "the model flags differ from the checkpoint's in ", *latest, " (saved ", saved->model.dump(), ", now ",
          state.model.dump(), "): use another --run_dir or the same flags"));
    if (absl::Status s = LoadCheckpoint(*latest, parts, &state); !s.ok()) return s;
    if (state.loader.seed != o.seed)
      return absl::FailedPreconditionError(absl::StrCat("--seed ", o.seed, " differs from the checkpoint's ", state.loader.seed));
    if (absl::Status s = (*dp)->ScatterOptimizerState(optimizer); !s.ok()) return s;
    const int saved_world = state.world_size;
    state.flags = o.flags;
    state.world_size = process.world;
    if (lead && saved_world != process.world)
      std::printf("the checkpoint was written by %d ranks, continuing on %d (same global batch order)\n", saved_world,
                  process.world);
    if (lead) std::printf("resuming from %s (step %lld, epoch %lld, %lld samples of the epoch consumed)\n", latest->c_str(),
                (long long)state.step, (long long)state.loader.epoch, (long long)state.loader.consumed);
  } else if (!o.init.empty()) {
    const std::string init = fs::exists(o.init + "/MANIFEST.json") ? o.init : LatestCheckpoint(o.init).value_or(o.init);
    if (absl::Status s = LoadCheckpoint(init, {&student, &teacher, nullptr, nullptr}, nullptr); !s.ok()) return s;
    std::printf("initialised from %s\n", init.c_str());
  }

  state.world_size = process.world;
  data::LoaderOptions lo;
  lo.rank = process.rank;
  lo.world_size = process.world;
  lo.seed = o.seed;
  lo.global_batch = o.global_batch;
  lo.threads = o.data_threads;
  lo.prefetch = o.prefetch;
  lo.crops = o.crops;
  lo.crops.masking.patch_size = o.patch;
  lo.uint8_output = !o.device.is_cpu();
  auto loader = data::Loader::Create(ds, lo, state.loader);
  if (!loader.ok()) return loader.status();
  const int64_t spe = (*loader)->steps_per_epoch();
  if (spe <= 0)
    return absl::InvalidArgumentError(absl::StrCat("--data has ", ds->size(), " samples, fewer than one --batch of ",
                                                   o.global_batch));
  const int64_t total = spe * o.epochs;
  const int64_t stop = o.max_steps > 0 ? std::min(total, o.max_steps) : total;
  const int64_t warmup = int64_t(o.warmup_epochs * double(spe));
  const double base_lr = o.lr * double(o.global_batch) / 256.0;

  if (lead) {
    std::ofstream flags_file(o.run_dir + "/flags.json");
    flags_file << o.flags.dump(2) << "\n";
  }
  const int64_t n_params = CountParameters(student);
  if (lead) std::printf("vfm pretrain: %s/%d depth %lld (%.1fM parameters, student+teacher+AdamW %.0f MB fp32), %lld samples, "
              "%lld steps/epoch, %d epochs (%lld steps), batch %lld on %d rank(s), stopping at step %lld\n",
              o.arch.c_str(), o.patch, (long long)vit->depth, n_params / 1e6, n_params * 16.0 / 1e6,
              (long long)ds->size(), (long long)spe, o.epochs, (long long)total, (long long)o.global_batch,
              process.world, (long long)stop);
  std::fflush(stdout);

  std::ofstream metrics;
  if (lead) metrics.open(o.run_dir + "/metrics.jsonl", std::ios::app);
  const auto start = std::chrono::steady_clock::now();
  auto window_start = start;
  int64_t window_steps = 0;
  double window_flops = 0;  // this rank's
  const int64_t first_step = state.step;
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };

  // On a GPU the loader hands out uint8 crops (a quarter of the f32 bytes): uploaded on the copy stream,
  // beside the previous step's compute, and normalised there per sample's modality in the compute dtype.
  std::unique_ptr<CropUploader> uploader;
  if (!o.device.is_cpu()) uploader = std::make_unique<CropUploader>(o.device);
  // On a GPU, the first step whose loss was not finite, recorded on the device every step (-1: none yet).
  Tensor first_nonfinite;
  if (!o.device.is_cpu()) first_nonfinite = Tensor::Full({1}, -1.0, DType::kI64, o.device);

  for (int64_t step = state.step; step < stop; ++step) {
    std::unique_ptr<data::Batch> batch = (*loader)->Next();
    const int64_t B = batch->size;
    IBotCrops crops;
    if (o.device.is_cpu()) {
      for (const auto& global : batch->global_crops) crops.global.push_back(ImagesToTensor(global, B, o.crops.global.size));
      for (const auto& local : batch->local_crops) crops.local.push_back(ImagesToTensor(local, B, o.crops.local.size));
    } else {
      const Tensor norms = SampleNorms(**loader, batch->modalities, o.device);
      uploader->BeginStep();
      for (const auto& global : batch->global_crops_u8)
        crops.global.push_back(uploader->Upload(global, B, o.crops.global.size, norms, o.precision));
      for (const auto& local : batch->local_crops_u8)
        crops.local.push_back(uploader->Upload(local, B, o.crops.local.size, norms, o.precision));
    }
    for (const auto& mask : batch->masks) crops.masks.push_back(MaskToTensor(mask, B));
    int64_t masked = 0;
    for (const auto& m : batch->masks)
      for (uint8_t v : m) masked += v != 0;
    window_flops += IBotStepFlops(*vit, o.head, {B, o.crops.global_crops, o.crops.local_crops, o.crops.global.size,
                                                 o.crops.local.size, masked});
    (*loader)->Recycle(std::move(batch));  // its pixels are copied into the tensors above

    const double epoch = double(step) / double(spe);
    const int64_t whole_epoch = step / spe;
    IBotStepSettings settings;
    settings.lr = CosineSchedule(step, total, warmup, base_lr, o.min_lr);
    settings.weight_decay = CosineSchedule(step, total, 0, o.weight_decay, o.weight_decay_end);
    settings.ema_momentum = CosineSchedule(step, total, 0, o.momentum_teacher, 1.0);
    settings.teacher_temp = LinearWarmup(whole_epoch, o.warmup_teacher_temp_epochs, o.warmup_teacher_temp, o.teacher_temp);
    settings.teacher_patch_temp =
        LinearWarmup(whole_epoch, o.warmup_teacher_temp_epochs, o.warmup_teacher_patch_temp, o.teacher_patch_temp);
    settings.clip_grad = o.clip_grad;
    settings.freeze_last_layer = epoch < o.freeze_last_layer;
    // Keyed by rank too: ranks hold different samples. (So with drop path on, N ranks match one rank in
    // distribution, not bit for bit; the run is still exactly reproducible for a given rank count.)
    Rng drop_path_rng(MixKey({o.seed, uint64_t(step), uint64_t(process.rank), 0x64726f70}));

    const IBotForwardResult r =
        IBotTrainStep(student, teacher, loss, optimizer, crops, settings, &drop_path_rng, (*dp)->hooks());
    state.step = step + 1;
    state.loader = (*loader)->state();
    ++window_steps;
    const bool out_of_time = o.max_minutes > 0 && (*dp)->AnyRank(elapsed() > o.max_minutes * 60.0);
    const bool log_now = state.step % o.log_every == 0 || state.step == stop || out_of_time;
    const bool save_now = state.step % o.checkpoint_every == 0 || state.step == stop || out_of_time;

    // Reading the loss waits for the step to finish: on a GPU only when it is logged or a checkpoint is
    // due (so a non-finite loss is still caught before anything of it is saved, and named by the first
    // step it occurred at, which the device records every step); on the CPU every step.
#if VFM_WITH_CUDA
    if (first_nonfinite.defined())
      cuda::RecordFirstNonFinite(r.loss.loss.data<float>(), step + 1, first_nonfinite.data<int64_t>());
#endif
    double loss_value = 0;
    if (o.device.is_cpu() || log_now || save_now) {
      loss_value = r.loss.loss.item();
      int64_t bad_step = std::isfinite(loss_value) ? -1 : step + 1;
      if (first_nonfinite.defined() && first_nonfinite.item() >= 0) bad_step = int64_t(first_nonfinite.item());
      if (bad_step >= 0) {
        auto newest = LatestCheckpoint(o.run_dir);
        return absl::InternalError(absl::StrFormat(
            "non-finite loss at step %d (epoch %.2f; loss %f at step %d): stopping; nothing of it is saved; the "
            "newest checkpoint is %s",
            bad_step, double(bad_step - 1) / double(spe), loss_value, step + 1,
            newest.ok() ? *newest : std::string("none")));
      }
    }
#if VFM_WITH_CUDA
    if (lead && !o.device.is_cpu() && state.step == first_step + 1) {  // the memory budget, once
      const CachingAllocator::Stats m = CudaAllocator(o.device.index).stats();
      std::printf("GPU memory after the first step: peak %.2f GiB in use, %.2f GiB reserved\n",
                  double(m.peak_in_use) / (1 << 30), double(m.reserved) / (1 << 30));
    }
#endif
    if (lead && log_now) {
      const auto now = std::chrono::steady_clock::now();
      const double window = std::chrono::duration<double>(now - window_start).count();
      const double img_s = double(window_steps * o.global_batch) / std::max(window, 1e-9);
      const double per_step = elapsed() / double(state.step - first_step);
      const double tflops = window_flops / std::max(window, 1e-9) / 1e12;  // per rank
      const std::string mfu = o.peak_tflops > 0 ? absl::StrFormat(", MFU %.1f%%", 100 * tflops / o.peak_tflops) : "";
      std::printf("step %lld/%lld | epoch %.2f | loss %.4f (cls %.4f, patch %.4f) | lr %.3g | wd %.3g | %.1f img/s | "
                  "%.3g TFLOP/s per rank%s | ETA %s\n",
                  (long long)state.step, (long long)stop, epoch, loss_value, r.loss.cls_loss.item(),
                  r.loss.patch_loss.item(), settings.lr, settings.weight_decay, img_s, tflops, mfu.c_str(),
                  FormatDuration(per_step * double(stop - state.step)).c_str());
      std::fflush(stdout);
      const nlohmann::json m = {{"step", state.step},
                                {"epoch", epoch},
                                {"loss", loss_value},
                                {"cls_loss", r.loss.cls_loss.item()},
                                {"patch_loss", r.loss.patch_loss.item()},
                                {"lr", settings.lr},
                                {"weight_decay", settings.weight_decay},
                                {"momentum", settings.ema_momentum},
                                {"teacher_temp", settings.teacher_temp},
                                {"img_per_s", img_s},
                                {"tflop_per_s_per_rank", tflops},
                                {"mfu", o.peak_tflops > 0 ? tflops / o.peak_tflops : 0.0},
                                {"images_seen", state.step * o.global_batch},
                                {"elapsed_s", elapsed()}};
      metrics << m.dump() << "\n" << std::flush;
      window_start = now;
      window_steps = 0;
      window_flops = 0;
    }
    if (save_now) {
      if (absl::Status s = (*dp)->GatherOptimizerState(optimizer); !s.ok()) return s;  // collective
      if (lead)
        if (absl::Status s = SaveCheckpoint(o.run_dir, parts, state, o.keep_checkpoints); !s.ok()) return s;
    }
    if (out_of_time) {
      if (lead) std::printf("stopping at step %lld: --max_minutes %.1f reached (resume continues from here)\n",
                  (long long)state.step, o.max_minutes);
      break;
    }
  }
  if (lead && (*loader)->bad_samples() > 0)
    std::printf("%lld samples could not be read or decoded and were skipped (see the messages above)\n",
                (long long)(*loader)->bad_samples());
  return absl::OkStatus();
}

}  // namespace vfm
