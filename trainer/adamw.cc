#include "trainer/adamw.h"

#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cuda/adamw.h"

namespace vfm {

AdamW::AdamW(const GradBuckets& grads, int block, AdamWConfig config) : grads_(grads), config_(config) {
  VFM_CHECK(block >= 0 && block < grads.blocks())
      << "AdamW: block " << block << " of gradient buckets with " << grads.blocks() << " blocks";
  spans_ = grads.Spans(block);
  for (const GradBuckets::Slot& slot : grads.slots()) params_.push_back(Param{IsDecayed(slot.name, slot.param)});
  // The moments live with the gradients (on the GPU for GPU parameters).
  for (size_t b = 0; b < grads.buckets().size(); ++b) {
    m_.push_back(Tensor::Zeros({grads.block_size(b)}, DType::kF32, grads.device()));
    v_.push_back(Tensor::Zeros({grads.block_size(b)}, DType::kF32, grads.device()));
  }
}

bool AdamW::IsDecayed(const std::string& name, const Tensor& p) {
  return !(absl::EndsWith(name, ".bias") || p.dim() == 1);
}

float* AdamW::Moment(const std::vector<Tensor>& moments, const GradBuckets::Span& span) const {
  return moments[grads_.slots()[span.slot].bucket].data<float>() + span.block_offset;
}

namespace {
bool HasGrad(const GradBuckets::Slot& slot) { return slot.param.grad().defined(); }

// The gradient of a span (its parameter must have one).
float* SpanGradient(const GradBuckets::Slot& slot, const GradBuckets::Span& span) {
  const Tensor g = slot.param.grad();
  VFM_CHECK(g.dtype() == DType::kF32 && g.is_contiguous() && g.shape() == slot.param.shape() &&
            g.device() == slot.param.device())
      << "AdamW: the gradient of " << slot.name << " must be contiguous f32, shaped and placed like its parameter";
  return g.data<float>() + span.begin;
}
}  // namespace

std::map<std::string, double> AdamW::ClipGradients(double max_norm, const std::function<void(Tensor&)>& sum_over_ranks,
                                                   bool return_norms) {
  const bool parts = grads_.blocks() > 1;
  VFM_CHECK(!parts || sum_over_ranks) << "clipping parts of parameters needs their squared norms summed across ranks";
  // One entry per parameter: its span here (none: no elements), which a parameter without gradient lacks.
  const int count = int(params_.size());
  std::vector<float*> g(size_t(count), nullptr);
  std::vector<int64_t> n(size_t(count), 0);
  const std::vector<GradBuckets::Slot>& slots = grads_.slots();
  for (const GradBuckets::Span& span : spans_) {
    if (!HasGrad(slots[span.slot])) continue;
    g[span.slot] = SpanGradient(slots[span.slot], span);
    n[span.slot] = span.end - span.begin;
  }
  std::map<std::string, double> norms;
  if (grads_.device().is_cpu()) {
    Tensor squares = Tensor::Zeros({count}, DType::kF64);
    double* sq = squares.data<double>();
#pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < count; ++k) sq[k] = cpu::SquaredNorm(g[k], n[k]);  // 0 for a parameter without gradient
    if (parts) sum_over_ranks(squares);
    for (int k = 0; k < count; ++k)
      if (HasGrad(slots[size_t(k)])) norms[slots[size_t(k)].name] = std::sqrt(sq[k]);
#pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < count; ++k) {
      const double coef = max_norm / (std::sqrt(sq[k]) + 1e-6);
      if (coef < 1)
        for (int64_t i = 0; i < n[k]; ++i) g[k][i] *= float(coef);
    }
    return norms;
  }
#if VFM_WITH_CUDA
  // Each squared norm goes to its slot of one device array, the scaling reads it there.
  Tensor squares = Tensor::Empty({count}, DType::kF32, grads_.device());
  const Tensor partials = Tensor::Empty({count * cuda::kGradNormPartials}, DType::kF32, grads_.device());
  cuda::GradSquaredNorms(g.data(), n.data(), count, partials.data<float>(), squares.data<float>());
  if (parts) sum_over_ranks(squares);
  cuda::ClipBySquaredNorms(g.data(), n.data(), count, max_norm, squares.data<float>());
  if (return_norms) {  // one read-back for all of them
    const std::vector<float> host = squares.ToDevice(Device::CPU()).ToVector();
    for (int k = 0; k < count; ++k)
      if (HasGrad(slots[size_t(k)])) norms[slots[size_t(k)].name] = std::sqrt(host[size_t(k)]);
  }
#endif
  return norms;
}

void AdamW::Step(double lr, double weight_decay) {
  const std::vector<GradBuckets::Slot>& slots = grads_.slots();
  for (size_t s = 0; s < slots.size(); ++s)
    if (HasGrad(slots[s])) ++params_[s].step;
#if VFM_WITH_CUDA
  std::vector<cuda::AdamWTensor> on_gpu;  // updated together at the end (batched launches)
#endif
  for (const GradBuckets::Span& span : spans_) {
    const GradBuckets::Slot& slot = slots[span.slot];
    if (!HasGrad(slot)) continue;
    const Param& p = params_[span.slot];
    const cpu::AdamWStep step{lr, p.decayed ? weight_decay : 0.0, config_.beta1, config_.beta2, config_.eps, p.step};
    float* w = slot.param.data<float>() + span.begin;
    const float* g = SpanGradient(slot, span);
    const int64_t n = span.end - span.begin;
    if (grads_.device().is_cpu()) {
      cpu::AdamWUpdate(w, g, Moment(m_, span), Moment(v_, span), n, step);
      continue;
    }
#if VFM_WITH_CUDA
    on_gpu.push_back({w, g, Moment(m_, span), Moment(v_, span), n, step});
#endif
  }
#if VFM_WITH_CUDA
  if (!on_gpu.empty()) cuda::AdamWUpdate(on_gpu.data(), int(on_gpu.size()));
#endif
}

AdamW::States AdamW::WholeState(const std::vector<Tensor>& m, const std::vector<Tensor>& v) const {
  VFM_CHECK(m.size() == grads_.buckets().size() && v.size() == m.size())
      << "AdamW state: " << m.size() << " and " << v.size() << " tensors for " << grads_.buckets().size() << " buckets";
  States states;
  for (size_t s = 0; s < params_.size(); ++s) {
    const GradBuckets::Slot& slot = grads_.slots()[s];
    const int64_t size = grads_.buckets()[slot.bucket].flat.numel();
    VFM_CHECK(m[slot.bucket].numel() == size && v[slot.bucket].numel() == size)
        << "AdamW state: the moments of bucket " << slot.bucket << " must have its " << size << " elements";
    states[slot.name] = State{SlotView(m[slot.bucket], slot), SlotView(v[slot.bucket], slot), params_[s].step};
  }
  return states;
}

AdamW::States AdamW::WholeState() const {
  VFM_CHECK(grads_.blocks() == 1) << "AdamW: one block of " << grads_.blocks()
                                  << " holds part of the state: gather the blocks (dist::GatherBlocks)";
  return WholeState(m_, v_);
}

absl::Status AdamW::LoadState(const States& state) {
  for (const GradBuckets::Slot& slot : grads_.slots()) {
    auto it = state.find(slot.name);
    if (it == state.end()) return absl::DataLossError(absl::StrCat("lacks the state of ", slot.name));
    const Shape& shape = slot.param.shape();
    if (it->second.m.shape() != shape || it->second.v.shape() != shape)
      return absl::DataLossError(absl::StrCat("holds the state of ", slot.name, " with shape ",
                                              ShapeToString(it->second.m.shape()), ", the parameter has ",
                                              ShapeToString(shape)));
  }
  for (size_t s = 0; s < params_.size(); ++s) params_[s].step = state.at(grads_.slots()[s].name).step;
  for (const GradBuckets::Span& span : spans_) {
    const GradBuckets::Slot& slot = grads_.slots()[span.slot];
    const State& whole = state.at(slot.name);
    const int64_t at = span.block_offset, n = span.end - span.begin;
    FlatRange(m_[slot.bucket], at, at + n).CopyFrom(FlatRange(whole.m, span.begin, span.end));
    FlatRange(v_[slot.bucket], at, at + n).CopyFrom(FlatRange(whole.v, span.begin, span.end));
  }
  return absl::OkStatus();
}

}  // namespace vfm
