// How long a run is and how its schedules go. By default --epochs sizes the run and DINO's cosine
// schedules span it. A budget defines the run instead: --budget_images, --budget_flops (the expected
// model FLOPs of a step, trainer/flops.h) or --budget_minutes (the step count fixed once from the
// throughput measured after warm-up steps, then stored in checkpoints so that a resume keeps it); the
// schedules then span the budget's steps, and warm-ups longer than it end at its last step.
// --lr_schedule=constant holds lr, weight decay and EMA momentum at their start values after the lr
// warm-up and cools them to their final values over the last --cooldown_fraction of the steps (linear
// or cosine), reaching them at the last step: one long constant run, branched from its checkpoints
// (--branch_from) into short cooldowns, gives many budget points (DINOv3; Hägele et al. 2024).
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "autograd/nn/ibot_head.h"
#include "autograd/nn/vit.h"
#include "trainer/ibot_step.h"

namespace vfm {

struct PretrainOptions;

struct BudgetOptions {
  double images = 0, flops = 0, minutes = 0;  // at most one is > 0 (0: no such budget)
  bool constant_lr = false;      // --lr_schedule=constant
  double cooldown_fraction = 0;  // of the run's steps, at its end (constant schedule only)
  bool cosine_cooldown = false;  // else linear
  bool defines_run() const { return images > 0 || flops > 0 || minutes > 0; }
};

// The run's length in steps and the schedules' anchors.
struct RunLength {
  // A --budget_minutes run's length before the throughput fixes it: schedules read their start values.
  static constexpr int64_t kNotFixed = int64_t{1} << 60;
  int64_t steps_per_epoch = 0;
  int64_t total = 0;   // the schedules span this many steps (--epochs, or the budget's)
  int64_t stop = 0;    // the run stops here (--max_steps, or total)
  int64_t warmup = 0;  // learning-rate warm-up steps
  int64_t teacher_temp_warmup_epochs = 0;
  double base_lr = 0;  // --lr scaled by batch / 256
  bool fixed() const { return total != kNotFixed; }
};

// The expected model FLOPs of one step of the whole global batch (the masked patches at their expected
// count), which sizes a --budget_flops run.
double ExpectedStepFlops(const PretrainOptions& o, const nn::ViTConfig& vit);

// The run's length from the flags, the dataset's steps per epoch and a --budget_minutes run's stored step
// count (0: not fixed yet).
RunLength SizeRun(const PretrainOptions& o, const nn::ViTConfig& vit, int64_t steps_per_epoch, int64_t budget_steps);

// "a budget of 400 images: 25 steps", for the run's first line.
std::string DescribeBudget(const PretrainOptions& o, const nn::ViTConfig& vit, const RunLength& length);

// lr, weight decay, EMA momentum, teacher temperatures and the last-layer freeze at `step`.
IBotStepSettings ScheduledSettings(const PretrainOptions& o, const RunLength& length, int64_t step);

// A --budget_minutes run's step count: the steps done plus those that fit in the time left at the
// measured seconds per step (at least one more).
int64_t MinutesBudgetSteps(double minutes, int64_t steps_done, double wall_s, double seconds_per_step);

// Seconds per step over a window of steps after kWarmup steps of this process (the first steps allocate).
// The window starts at kMeasured steps; their rate then sizes it to cover kWindowShare of the budget (the
// caller agrees on that size across ranks and sets it): 8 steps alone misjudged the rate of the rest, and
// 5-minute runs overran their budget by 9-14%.
class StepTimer {
 public:
  static constexpr int kWarmup = 2, kMeasured = 8;
  static constexpr double kWindowShare = 0.05;
  // Called after each step with the run's wall seconds; the window's mean once its last step is done.
  std::optional<double> AfterStep(double wall_s);
  // The window's steps for a budget of `budget_s` seconds at `seconds_per_step`: at least kMeasured.
  static int64_t WindowSteps(double budget_s, double seconds_per_step);
  // Sizes the window (once, after its first mean); true if it now ends later, false if it ends here
  // (a size of kMeasured or less).
  bool SetWindow(int64_t steps);
  bool window_set() const { return window_set_; }
  int64_t measured_steps() const { return std::max<int64_t>(steps_ - kWarmup, 0); }

 private:
  int64_t steps_ = 0, window_ = kMeasured;
  bool window_set_ = false;
  double start_ = 0;
};

}  // namespace vfm
