#include "trainer/ibot_step.h"

#include "trainer/ema.h"
#include "trainer/koleo_loss.h"

namespace vfm {

using namespace ops;

IBotForwardResult IBotForward(const nn::IBotNetwork& student, const nn::IBotNetwork& teacher, const IBotLoss& loss,
                              const IBotCrops& crops, double teacher_temp, double teacher_patch_temp,
                              Rng* drop_path_rng) {
  const Tensor& globals = crops.global;
  const Tensor& masks = crops.masks;  // on the host (the loss reads them there)
  VFM_CHECK(globals.defined() && masks.defined() && masks.size(0) == globals.size(0))
      << "IBotForward: the global crops and their masks need the same rows";
  const Tensor device_masks = masks.device() == globals.device() ? masks : masks.ToDevice(globals.device());
  const int64_t rows = globals.size(0), N = masks.size(1), D = student.backbone->config().dim;

  IBotForwardResult result;
  {
    NoGradGuard no_grad;
    // A bf16 forward converts each model's parameters once, in a few batched kernels, for all their uses
    // (the teacher's copies are freed before the student's forwards, where activation memory peaks).
    const nn::CastScope teacher_casts(teacher, globals.dtype());
    const Tensor t = teacher.head->Forward(teacher.backbone->Forward(globals, Tensor(), nullptr));
    result.teacher_cls = Select(t, 1, 0);
    result.teacher_patch = Slice(t, 1, 1, 1 + N).Clone();
  }

  const nn::CastScope student_casts(student, globals.dtype());
  const Tensor s_tokens = student.backbone->Forward(globals, device_masks, drop_path_rng);  // [rows, 1+N, D]
  std::vector<Tensor> head_rows{Select(s_tokens, 1, 0)};                          // global [CLS]
  const Tensor idx = MaskedIndices(masks).ToDevice(globals.device());
  const Tensor patches = Reshape(Slice(s_tokens, 1, 1, 1 + N), {1, rows * N, D});
  head_rows.push_back(Reshape(GatherTokens(patches, idx), {idx.size(1), D}));  // masked patches
  if (crops.local.defined()) {
    const Tensor l_tokens = student.backbone->Forward(crops.local, Tensor(), drop_path_rng);
    head_rows.push_back(Select(l_tokens, 1, 0));  // local [CLS]
  }
  const Tensor out = student.head->Forward(Concat(head_rows, 0));
  const int64_t n_local_rows = crops.local.defined() ? head_rows[2].size(0) : 0, M = idx.size(1);
  const Tensor student_cls = n_local_rows ? Concat({Slice(out, 0, 0, rows), Slice(out, 0, rows + M, rows + M + n_local_rows)}, 0)
                                          : Slice(out, 0, 0, rows);
  const Tensor student_masked = Slice(out, 0, rows, rows + M);
  result.loss = loss.Forward(student_cls, student_masked, result.teacher_cls, result.teacher_patch, masks, idx,
                             teacher_temp, teacher_patch_temp);
  if (const double weight = loss.config().koleo; weight > 0) {
    const int64_t n_global = loss.n_global(), B = rows / n_global;
    Tensor koleo;
    for (int64_t q = 0; q < n_global; ++q) {  // per crop, over the batch (DINOv2's)
      const Tensor term = KoLeoLoss(Slice(head_rows[0], 0, q * B, (q + 1) * B));
      koleo = koleo.defined() ? Add(koleo, term) : term;
    }
    result.loss.koleo_loss = koleo;
    result.loss.loss = Add(result.loss.loss, Scale(koleo, weight));
  }
  return result;
}

bool IsLastLayerParameter(const std::string& name) { return name.rfind("head.last_layer.", 0) == 0; }

IBotForwardResult IBotTrainStep(nn::IBotNetwork& student, nn::IBotNetwork& teacher, IBotLoss& loss, AdamW& optimizer,
                                const IBotCrops& crops, const IBotStepSettings& s, Rng* drop_path_rng,
                                const IBotStepHooks& hooks) {
  const nn::NamedTensors student_params = student.NamedParameters();
  student.ZeroGrad();
  IBotForwardResult r = IBotForward(student, teacher, loss, crops, s.teacher_temp, s.teacher_patch_temp, drop_path_rng);
  r.loss.loss.Backward();
  if (hooks.after_backward) hooks.after_backward();
  if (s.freeze_last_layer)
    for (auto [name, p] : student_params)
      if (IsLastLayerParameter(name)) p.ZeroGrad();
  if (s.clip_grad > 0) optimizer.ClipGradients(s.clip_grad, hooks.all_reduce_sum, /*return_norms=*/false);
  optimizer.Step(s.lr, s.weight_decay);
  if (hooks.after_update) hooks.after_update();
  EmaUpdate(teacher.NamedParameters(), student_params, s.ema_momentum);
  loss.UpdateCenters(r.teacher_cls, r.teacher_patch,
                     hooks.all_reduce_sum ? hooks.all_reduce_sum : [](Tensor&) {}, hooks.world);
  return r;
}

}  // namespace vfm
