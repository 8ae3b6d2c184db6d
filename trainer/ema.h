// The teacher is an exponential moving average of the student (iBOT, DINO).
//
// Each model's parameters live in one flat f32 buffer, back to back in NamedParameters order (moved there
// once, by the first update: FlatParameters), so that the update is one loop (CPU) or one launch (GPU)
// over the teacher's and the student's buffers, however many tensors the models have. These buffers are
// not laid out like the gradient buckets (autograd/grad_buckets.h): those hold the trainable parameters
// only, and the EMA averages every parameter, frozen ones too (as iBOT does).
// Under ZeRO-1 every rank still updates its whole teacher: it holds the whole student after the
// all-gather of the parameters and needs the whole teacher for the next forward, so updating one block and
// all-gathering the teacher would give the same values at the cost of sending the teacher every step.
#pragma once
#include "autograd/nn/module.h"

namespace vfm {

// The parameters' flat home: a 1-D view of one buffer that holds exactly them, back to back, in order.
// When they are not there yet it is allocated and they are moved into it (values copied once; every
// handle to them follows: Tensor::MoveInto); later calls find them there. They must be contiguous f32,
// on one device.
Tensor FlatParameters(const nn::NamedTensors& params);

// teacher <- momentum * teacher + (1 - momentum) * student, over the flat homes of parameters with the
// same names, shapes and order.
void EmaUpdate(const nn::NamedTensors& teacher, const nn::NamedTensors& student, double momentum);

}  // namespace vfm
