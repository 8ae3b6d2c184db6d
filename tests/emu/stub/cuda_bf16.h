// Stands in for the CUDA toolkit's cuda_bf16.h when the kernels are built for the CPU emulator.
#pragma once
#include "tests/emu/emu.h"
