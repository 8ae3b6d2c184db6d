// DINO/iBOT schedules, as pure functions of the step (so a resumed run recomputes them exactly).
#pragma once
#include <cstdint>

namespace vfm {

// DINO's cosine_scheduler: linspace(start, base, warmup_steps) for the first warmup_steps, then
// final + (base - final) (1 + cos(pi i / n)) / 2 for i = 0 .. n-1, n = total_steps - warmup_steps.
double CosineSchedule(int64_t step, int64_t total_steps, int64_t warmup_steps, double base, double final_value,
                      double start = 0.0);

// linspace(start, end, warmup_steps) then constant `end` (iBOT's teacher temperatures, indexed by epoch).
double LinearWarmup(int64_t step, int64_t warmup_steps, double start, double end);

}  // namespace vfm
