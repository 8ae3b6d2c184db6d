#include "trainer/budget.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "trainer/flops.h"
#include "trainer/pretrain.h"
#include "trainer/schedule.h"

namespace vfm {

double ExpectedStepFlops(const PretrainOptions& o, const nn::ViTConfig& vit) {
  const data::MultiCropOptions& c = o.crops;
  const double patches = std::pow(double(c.global.size / o.patch), 2);
  const double masked_share = (1 - c.masking.prob_none) * (c.masking.ratio_min + c.masking.ratio_max) / 2;
  const int64_t masked = std::llround(double(o.global_batch * c.global_crops) * patches * masked_share);
  return IBotStepFlops(vit, o.head, {o.global_batch, c.global_crops, c.local_crops, c.global.size, c.local.size, masked});
}

RunLength SizeRun(const PretrainOptions& o, const nn::ViTConfig& vit, int64_t steps_per_epoch, int64_t budget_steps) {
  const BudgetOptions& b = o.budget;
  RunLength l;
  l.steps_per_epoch = steps_per_epoch;
  if (b.images > 0) {
    l.total = int64_t(std::ceil(b.images / double(o.global_batch)));
  } else if (b.flops > 0) {
    l.total = int64_t(std::ceil(b.flops / ExpectedStepFlops(o, vit)));
  } else if (b.minutes > 0) {
    l.total = budget_steps > 0 ? budget_steps : RunLength::kNotFixed;
  } else {
    l.total = steps_per_epoch * o.epochs;
  }
  l.total = std::max<int64_t>(l.total, 1);
  l.stop = o.max_steps > 0 ? std::min(l.total, o.max_steps) : l.total;
  l.warmup = int64_t(o.warmup_epochs * double(steps_per_epoch));
  l.base_lr = o.lr * double(o.global_batch) / 256.0;
  l.teacher_temp_warmup_epochs = o.warmup_teacher_temp_epochs;
  // Under a budget the teacher temperatures reach their final values by the last step's epoch.
  if (b.defines_run() && l.fixed())
    l.teacher_temp_warmup_epochs = std::min<int64_t>(l.teacher_temp_warmup_epochs, (l.total - 1) / steps_per_epoch);
  return l;
}

std::string DescribeBudget(const PretrainOptions& o, const nn::ViTConfig& vit, const RunLength& length) {
  const BudgetOptions& b = o.budget;
  const std::string budget = b.images > 0  ? absl::StrCat(b.images, " images")
                             : b.flops > 0 ? absl::StrFormat("%g FLOPs (%.4g per step expected)", b.flops,
                                                             ExpectedStepFlops(o, vit))
                                           : absl::StrCat(b.minutes, " minutes");
  return absl::StrCat("a budget of ", budget, ": ",
                      length.fixed() ? absl::StrCat(length.total, " steps")
                                     : absl::StrFormat("steps fixed after the first %d, or %g%% of the budget if longer",
                                                     StepTimer::kWarmup + StepTimer::kMeasured,
                                                     100 * StepTimer::kWindowShare));
}

namespace {

// Constant at `base` after the warm-up, then cooled to `final_value` over the last `cooldown_fraction` of
// the steps, reaching it at the last one.
double ConstantWithCooldown(const BudgetOptions& b, int64_t step, int64_t total, int64_t warmup, double base,
                            double final_value) {
  if (step < std::min(warmup, total)) return CosineSchedule(step, total, warmup, base, final_value);
  const int64_t cooldown = std::llround(b.cooldown_fraction * double(total)), start = total - cooldown;
  if (cooldown == 0 || step < start) return base;
  const double p = double(std::min(step - start + 1, cooldown)) / double(cooldown);  // (0, 1]
  const double shape = b.cosine_cooldown ? 0.5 * (1 - std::cos(M_PI * p)) : p;
  return final_value * shape + base * (1 - shape);  // exactly final_value at the last step
}

}  // namespace

IBotStepSettings ScheduledSettings(const PretrainOptions& o, const RunLength& l, int64_t step) {
  const auto schedule = [&](int64_t warmup, double base, double final_value) {
    if (!l.fixed() && step >= warmup) return base;  // the length is not known yet
    return o.budget.constant_lr ? ConstantWithCooldown(o.budget, step, l.total, warmup, base, final_value)
                                : CosineSchedule(step, l.total, warmup, base, final_value);
  };
  const int64_t whole_epoch = step / l.steps_per_epoch;
  IBotStepSettings s;
  s.lr = schedule(l.warmup, l.base_lr, o.min_lr);
  s.weight_decay = schedule(0, o.weight_decay, o.weight_decay_end);
  s.ema_momentum = schedule(0, o.momentum_teacher, 1.0);
  s.teacher_temp = LinearWarmup(whole_epoch, l.teacher_temp_warmup_epochs, o.warmup_teacher_temp, o.teacher_temp);
  s.teacher_patch_temp =
      LinearWarmup(whole_epoch, l.teacher_temp_warmup_epochs, o.warmup_teacher_patch_temp, o.teacher_patch_temp);
  s.clip_grad = o.clip_grad;
  s.freeze_last_layer = double(step) / double(l.steps_per_epoch) < o.freeze_last_layer;
  return s;
}

int64_t MinutesBudgetSteps(double minutes, int64_t steps_done, double wall_s, double seconds_per_step) {
  const double left = std::max(minutes * 60 - wall_s, 0.0);
  return steps_done + std::max<int64_t>(1, int64_t(left / std::max(seconds_per_step, 1e-9)));
}

std::optional<double> StepTimer::AfterStep(double wall_s) {
  ++steps_;
  if (steps_ == kWarmup) start_ = wall_s;
  if (steps_ != kWarmup + window_) return std::nullopt;
  return (wall_s - start_) / double(window_);
}

int64_t StepTimer::WindowSteps(double budget_s, double seconds_per_step) {
  return std::max<int64_t>(kMeasured, int64_t(std::ceil(kWindowShare * budget_s / std::max(seconds_per_step, 1e-9))));
}

bool StepTimer::SetWindow(int64_t steps) {
  window_set_ = true;
  window_ = std::max<int64_t>(steps, kMeasured);
  return window_ > kMeasured;
}

}  // namespace vfm
