#include "trainer/flops.h"

namespace vfm {

double ViTForwardFlops(const nn::ViTConfig& vit, int64_t images, int64_t img_size) {
  const double patches = double(img_size / vit.patch) * double(img_size / vit.patch), n = patches + 1;
  const double d = double(vit.dim), hidden = vit.mlp_ratio * d;
  const double block = 2 * n * d * (3 * d) + 2 * n * d * d + 2 * 2 * n * d * hidden + 4 * n * n * d;
  const double embed = 2 * patches * double(vit.in_chans * vit.patch * vit.patch) * d;
  return double(images) * (embed + double(vit.depth) * block);
}

double HeadForwardFlops(const nn::IBotHeadConfig& h, int64_t dim, int64_t rows) {
  const double hd = double(h.hidden), b = double(h.bottleneck);
  return 2.0 * double(rows) * (double(dim) * hd + hd * hd + hd * b + b * double(h.out_dim));
}

double IBotStepFlops(const nn::ViTConfig& vit, const nn::IBotHeadConfig& head, const IBotStepShape& s) {
  const int64_t globals = s.batch * s.n_global, locals = s.batch * s.n_local;
  const int64_t global_tokens = (s.global_size / vit.patch) * (s.global_size / vit.patch) + 1;
  const double student_fwd = ViTForwardFlops(vit, globals, s.global_size) + ViTForwardFlops(vit, locals, s.local_size) +
                             HeadForwardFlops(head, vit.dim, globals + locals + s.masked_patches);
  const double teacher_fwd =
      ViTForwardFlops(vit, globals, s.global_size) + HeadForwardFlops(head, vit.dim, globals * global_tokens);
  return 3 * student_fwd + teacher_fwd;
}

int64_t StudentTokens(const nn::ViTConfig& vit, const IBotStepShape& s) {
  const auto tokens = [&](int64_t size) { return (size / vit.patch) * (size / vit.patch) + 1; };
  return s.batch * (s.n_global * tokens(s.global_size) + s.n_local * tokens(s.local_size));
}

}  // namespace vfm
