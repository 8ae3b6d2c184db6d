// Floating-point operations of an iBOT training step, for MFU (model FLOPs utilisation = these FLOPs
// per second / the chip's dense peak). Counted analytically, as the work the step must do:
//   matmuls 2*M*N*K; per ViT block on N tokens of width D: 24*N*D^2 (qkv 6, proj 2, MLP 16) plus
//   attention 4*N^2*D (Q K^T and P V); the patch embedding 2*(N-1)*(C*p*p)*D; the iBOT head per row
//   2*(D*h + h*h + h*b + b*K). Backward = 2x forward. Elementwise work (norms, softmax, GELU) is not
//   counted (the usual convention; it is a few percent).
// The student runs forward+backward on the global crops (masked) and the local crops, its head only on
// the [CLS] rows and the masked patch rows (the other rows carry no loss); the teacher runs forward only,
// on the global crops, its head on every token (the patch targets and the patch centre need them all).
#pragma once
#include <cstdint>

#include "autograd/nn/ibot_head.h"
#include "autograd/nn/vit.h"

namespace vfm {

struct IBotStepShape {
  int64_t batch = 0;  // images per crop (per rank)
  int64_t n_global = 2, n_local = 0;
  int64_t global_size = 224, local_size = 96;
  int64_t masked_patches = 0;  // over all global crops of the step
};

double ViTForwardFlops(const nn::ViTConfig& vit, int64_t images, int64_t img_size);
double HeadForwardFlops(const nn::IBotHeadConfig& head, int64_t dim, int64_t rows);
double IBotStepFlops(const nn::ViTConfig& vit, const nn::IBotHeadConfig& head, const IBotStepShape& shape);
// The tokens ([CLS] + patches) the student's backbone processes in the step, global and local crops.
int64_t StudentTokens(const nn::ViTConfig& vit, const IBotStepShape& shape);

}  // namespace vfm
