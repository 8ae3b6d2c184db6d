// A non-finite loss noticed on the device, without waiting for it on the host: a GPU step's loss is read
// back only at log and checkpoint steps, so each step records here, in device memory, the first step
// whose loss was NaN or infinite, and the host reads that when it next reads the loss. (The host's
// check is std::isfinite on the value it reads.)
#pragma once
#include <cstdint>

namespace vfm::cuda {

// if (!isfinite(*value) && *first < 0) *first = step. value and first are device pointers.
void RecordFirstNonFinite(const float* value, int64_t step, int64_t* first);

}  // namespace vfm::cuda
