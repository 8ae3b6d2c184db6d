// Budgets and schedules (trainer/budget.h): a budget sizes the run, every schedule reaches its final value
// at the budget's last step, the constant schedule's cooldown ends exactly there, and without a budget the
// schedules are those of --epochs (DINO's cosine).
#include "trainer/budget.h"

#include <gtest/gtest.h>

#include <cmath>

#include "trainer/flops.h"
#include "trainer/pretrain.h"
#include "trainer/schedule.h"

namespace vfm {
namespace {

// The tiny recipe of tests/trainer/common.sh: batch 16, 16 steps per epoch.
PretrainOptions Tiny() {
  PretrainOptions o;
  o.arch = "vit_tiny";
  o.patch = 4;
  o.depth = 1;
  o.crops.global.size = 16;
  o.crops.local_crops = 2;
  o.crops.local.size = 8;
  o.head = {64, 32, 64, true};  // hidden, bottleneck, out_dim
  o.global_batch = 16;
  o.epochs = 2;
  o.warmup_epochs = 0.5;
  o.warmup_teacher_temp_epochs = 30;  // longer than any budget below: cut to end by the last step
  return o;
}

nn::ViTConfig Vit(const PretrainOptions& o) {
  nn::ViTConfig vit = *nn::ViTConfigByName(o.arch, o.patch, o.crops.global.size);
  vit.depth = o.depth;
  return vit;
}

constexpr int64_t kStepsPerEpoch = 16;

// The gap DINO's cosine leaves at its last step: final + (base - final) (1 + cos(pi (n-1)/n)) / 2.
double CosineGap(double base, double final_value, int64_t n) {
  return std::abs(base - final_value) * (1 + std::cos(M_PI * double(n - 1) / double(n))) / 2;
}

void ExpectFinalValuesAt(const PretrainOptions& o, const RunLength& l, int64_t last_step) {
  const IBotStepSettings s = ScheduledSettings(o, l, last_step);
  const int64_t n = l.total - std::min(l.warmup, l.total);
  EXPECT_NEAR(s.lr, o.min_lr, CosineGap(l.base_lr, o.min_lr, n) + 1e-15);
  EXPECT_NEAR(s.weight_decay, o.weight_decay_end, CosineGap(o.weight_decay, o.weight_decay_end, l.total) + 1e-15);
  EXPECT_NEAR(s.ema_momentum, 1.0, CosineGap(o.momentum_teacher, 1.0, l.total) + 1e-15);
  EXPECT_EQ(s.teacher_temp, o.teacher_temp);
  EXPECT_EQ(s.teacher_patch_temp, o.teacher_patch_temp);
  // Halfway the cosine schedules are halfway, not at their ends.
  const IBotStepSettings mid = ScheduledSettings(o, l, l.warmup + (l.total - l.warmup) / 2);
  EXPECT_GT(mid.lr, o.min_lr + 0.3 * (l.base_lr - o.min_lr));
  EXPECT_LT(mid.weight_decay, o.weight_decay_end - 0.3 * (o.weight_decay_end - o.weight_decay));
}

TEST(Budget, ImagesSizeTheRunAndTheSchedulesEndAtItsLastStep) {
  PretrainOptions o = Tiny();
  o.budget.images = 1000;  // 62.5 batches: 63 steps, about 4 epochs where --epochs says 2
  const RunLength l = SizeRun(o, Vit(o), kStepsPerEpoch, 0);
  EXPECT_EQ(l.total, 63);
  EXPECT_EQ(l.stop, 63);
  EXPECT_EQ(l.teacher_temp_warmup_epochs, 3);  // 30 epochs cut to the last step's epoch (62 / 16)
  ExpectFinalValuesAt(o, l, l.total - 1);
  o.max_steps = 10;  // a runtime stop, not the schedules' end
  EXPECT_EQ(SizeRun(o, Vit(o), kStepsPerEpoch, 0).total, 63);
  EXPECT_EQ(SizeRun(o, Vit(o), kStepsPerEpoch, 0).stop, 10);
}

TEST(Budget, FlopsSizeTheRunFromTheExpectedStepFlops) {
  PretrainOptions o = Tiny();
  o.crops.masking.prob_none = 1;  // no masks: a step's FLOPs are exact
  const double step = IBotStepFlops(Vit(o), o.head, {16, 2, 2, 16, 8, 0});
  EXPECT_DOUBLE_EQ(ExpectedStepFlops(o, Vit(o)), step);
  o.budget.flops = 40.5 * step;
  const RunLength l = SizeRun(o, Vit(o), kStepsPerEpoch, 0);
  EXPECT_EQ(l.total, 41);
  ExpectFinalValuesAt(o, l, l.total - 1);
  // With masks, the expected count: half the global crops masked at a mean ratio of 0.3 of 16 patches.
  o.crops.masking = {};
  o.crops.masking.ratio_min = 0.1f;
  o.crops.masking.ratio_max = 0.5f;
  o.crops.masking.prob_none = 0.5f;
  EXPECT_DOUBLE_EQ(ExpectedStepFlops(o, Vit(o)),
                   IBotStepFlops(Vit(o), o.head, {16, 2, 2, 16, 8, std::llround(32 * 16 * 0.5 * 0.3)}));
}

TEST(Budget, MinutesFixTheStepsOnceMeasuredAndKeepThem) {
  PretrainOptions o = Tiny();
  o.budget.minutes = 2;
  const RunLength pending = SizeRun(o, Vit(o), kStepsPerEpoch, 0);
  EXPECT_FALSE(pending.fixed());
  // Before the step count is fixed the schedules read their start values (so they do not depend on it).
  const IBotStepSettings s = ScheduledSettings(o, pending, 12);
  EXPECT_EQ(s.lr, pending.base_lr);
  EXPECT_EQ(s.weight_decay, o.weight_decay);
  EXPECT_EQ(s.ema_momentum, o.momentum_teacher);
  // 10 steps done at 20 s, 0.5 s per step: 200 more fit in the 100 s left.
  EXPECT_EQ(MinutesBudgetSteps(2, 10, 20, 0.5), 210);
  EXPECT_EQ(MinutesBudgetSteps(2, 10, 500, 0.5), 11);  // over time already: one more step
  const RunLength fixed = SizeRun(o, Vit(o), kStepsPerEpoch, 210);  // as a resume reads it from state.json
  EXPECT_TRUE(fixed.fixed());
  EXPECT_EQ(fixed.total, 210);
  ExpectFinalValuesAt(o, fixed, 209);
}

// Feeds the timer steps of 10 s while warming up, then steps of `rate` seconds; returns the step at which
// it gave a mean (0: none in 1000 steps) and sets *mean.
int64_t StepsUntilMeasured(StepTimer& timer, double rate, double* mean) {
  double wall = 0;
  for (int64_t step = 1; step <= 1000; ++step) {
    wall += step <= StepTimer::kWarmup ? 10 : rate;
    if (std::optional<double> m = timer.AfterStep(wall)) return *mean = *m, step;
  }
  return 0;
}

TEST(Budget, StepTimerMeasuresAfterTheWarmupSteps) {
  StepTimer timer;
  double mean = 0;
  EXPECT_EQ(StepsUntilMeasured(timer, 0.5, &mean), StepTimer::kWarmup + StepTimer::kMeasured);
  EXPECT_DOUBLE_EQ(mean, 0.5);
  // A 60-s budget: 5% is 3 s, 6 steps at 0.5 s: the window stays at its 8 steps.
  EXPECT_EQ(StepTimer::WindowSteps(60, 0.5), StepTimer::kMeasured);
  EXPECT_FALSE(timer.SetWindow(StepTimer::WindowSteps(60, 0.5)));
}

TEST(Budget, StepTimerWindowCoversAShareOfTheBudget) {
  // A 10-minute budget at 0.5 s per step: 5% is 30 s, 60 steps.
  ASSERT_EQ(StepTimer::WindowSteps(600, 0.5), 60);
  StepTimer timer;
  double mean = 0;
  ASSERT_EQ(StepsUntilMeasured(timer, 0.5, &mean), StepTimer::kWarmup + StepTimer::kMeasured);
  ASSERT_TRUE(timer.SetWindow(60));
  // The first 8 steps were faster than the rest: the window's mean counts all 60 from the warm-up on.
  double wall = 2 * 10 + 8 * 0.5, got = 0;
  int64_t step = StepTimer::kWarmup + StepTimer::kMeasured;
  while (++step <= 1000) {
    wall += 1.0;
    if (std::optional<double> m = timer.AfterStep(wall)) {
      got = *m;
      break;
    }
  }
  EXPECT_EQ(step, StepTimer::kWarmup + 60);
  EXPECT_DOUBLE_EQ(got, (8 * 0.5 + 52 * 1.0) / 60);
}

TEST(Budget, ConstantScheduleCoolsDownToTheFinalValuesAtTheLastStep) {
  PretrainOptions o = Tiny();
  o.budget.images = 16 * 40;  // 40 steps
  o.budget.constant_lr = true;
  o.budget.cooldown_fraction = 0.25;  // the last 10 steps
  const RunLength l = SizeRun(o, Vit(o), kStepsPerEpoch, 0);
  ASSERT_EQ(l.total, 40);
  EXPECT_DOUBLE_EQ(ScheduledSettings(o, l, 4).lr, CosineSchedule(4, 40, l.warmup, l.base_lr, o.min_lr));  // warm-up
  for (int64_t step : {8, 20, 29}) {
    const IBotStepSettings s = ScheduledSettings(o, l, step);
    EXPECT_EQ(s.lr, l.base_lr) << step;
    EXPECT_EQ(s.weight_decay, o.weight_decay) << step;
    EXPECT_EQ(s.ema_momentum, o.momentum_teacher) << step;
  }
  const IBotStepSettings last = ScheduledSettings(o, l, 39);
  EXPECT_DOUBLE_EQ(last.lr, o.min_lr);
  EXPECT_DOUBLE_EQ(last.weight_decay, o.weight_decay_end);
  EXPECT_DOUBLE_EQ(last.ema_momentum, 1.0);
  EXPECT_EQ(last.teacher_temp, o.teacher_temp);
  // Linear: step 34 is the 5th of 10 cooldown steps.
  EXPECT_DOUBLE_EQ(ScheduledSettings(o, l, 34).lr, l.base_lr + (o.min_lr - l.base_lr) * 0.5);
  o.budget.cosine_cooldown = true;
  EXPECT_DOUBLE_EQ(ScheduledSettings(o, l, 34).lr, l.base_lr + (o.min_lr - l.base_lr) * 0.5);  // cos's midpoint
  EXPECT_LT(ScheduledSettings(o, l, 31).lr - l.base_lr, 0);
  EXPECT_GT(ScheduledSettings(o, l, 31).lr, l.base_lr + (o.min_lr - l.base_lr) * 0.2);  // slower start than linear
  EXPECT_DOUBLE_EQ(ScheduledSettings(o, l, 39).lr, o.min_lr);
}

TEST(Budget, WithoutABudgetTheSchedulesAreThoseOfTheEpochs) {
  const PretrainOptions o = Tiny();
  const RunLength l = SizeRun(o, Vit(o), kStepsPerEpoch, 0);
  EXPECT_EQ(l.total, 32);
  EXPECT_EQ(l.warmup, 8);
  EXPECT_EQ(l.teacher_temp_warmup_epochs, 30);  // not cut: --epochs alone keeps the recipe as it was
  for (int64_t step = 0; step < 32; ++step) {
    const IBotStepSettings s = ScheduledSettings(o, l, step);
    EXPECT_EQ(s.lr, CosineSchedule(step, 32, 8, l.base_lr, o.min_lr));
    EXPECT_EQ(s.weight_decay, CosineSchedule(step, 32, 0, o.weight_decay, o.weight_decay_end));
    EXPECT_EQ(s.ema_momentum, CosineSchedule(step, 32, 0, o.momentum_teacher, 1.0));
    EXPECT_EQ(s.teacher_temp, LinearWarmup(step / 16, 30, o.warmup_teacher_temp, o.teacher_temp));
    EXPECT_EQ(s.freeze_last_layer, double(step) / 16 < o.freeze_last_layer);
  }
}

}  // namespace
}  // namespace vfm
