#include "trainer/schedule.h"

#include <algorithm>
#include <cmath>

namespace vfm {

// numpy.linspace(start, end, n)[i]: both ends included.
static double Linspace(double start, double end, int64_t n, int64_t i) {
  return n <= 1 ? start : start + (end - start) * double(i) / double(n - 1);
}

double CosineSchedule(int64_t step, int64_t total_steps, int64_t warmup_steps, double base, double final_value,
                      double start) {
  warmup_steps = std::clamp<int64_t>(warmup_steps, 0, total_steps);
  if (step < warmup_steps) return Linspace(start, base, warmup_steps, step);
  const int64_t span = std::max<int64_t>(total_steps - warmup_steps, 1);
  const double t = double(std::min(step - warmup_steps, span - 1)) / double(span);
  return final_value + 0.5 * (base - final_value) * (1.0 + std::cos(M_PI * t));
}

double LinearWarmup(int64_t step, int64_t warmup_steps, double start, double end) {
  return step < warmup_steps ? Linspace(start, end, warmup_steps, step) : end;
}

}  // namespace vfm
