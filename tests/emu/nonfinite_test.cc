// kernels/cuda/nonfinite.cu on the CPU emulator: RecordFirstNonFinite records the step of the first
// non-finite value (NaN, +-inf) and keeps it over later ones; finite values (the largest, the smallest
// denormal, -0) record nothing.
#include "harness.h"
#include "kernels/cuda/nonfinite.cu.inc"

using namespace vfm::cuda;
using h::Buf;

int main() {
  const float values[] = {1.f, -0.f, 3.4028235e38f, 1e-45f, NAN, INFINITY, -INFINITY};
  for (float v : values)
    for (int64_t before : {-1, 5}) {
      Buf<float> value(1);
      Buf<int64_t> first(1);
      value[0] = v, first[0] = before;
      RecordFirstNonFinite(value.p, 42, first.p);
      const int64_t want = before < 0 && !std::isfinite(v) ? 42 : before;
      h::Report(first[0] == want && h::Bits(value[0]) == h::Bits(v) && value.Guards() && first.Guards(),
                h::Fmt("RecordFirstNonFinite value=%g first=%ld: got %ld want %ld", v, long(before), long(first[0]),
                       long(want)));
    }
  return h::Summary("nonfinite");
}
