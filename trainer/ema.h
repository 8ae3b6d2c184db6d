// The teacher is an exponential moving average of the student (iBOT, DINO).
#pragma once
#include "autograd/nn/module.h"

namespace vfm {

// teacher <- momentum * teacher + (1 - momentum) * student, over parameters of the same names and order.
void EmaUpdate(const nn::NamedTensors& teacher, const nn::NamedTensors& student, double momentum);

}  // namespace vfm
