#include "distributed/zero1.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/adamw.h"

namespace vfm::dist {

namespace {
absl::Status WaitAll(std::vector<std::unique_ptr<Work>>& works) {
  absl::Status status;
  for (auto& w : works) {
    absl::Status s = w->Wait();
    if (status.ok()) status = s;
  }
  works.clear();
  return status;
}
}  // namespace

Zero1AdamW::Zero1AdamW(GradientReducer& reducer, Zero1Config config) : reducer_(reducer), config_(std::move(config)) {
  VFM_CHECK(reducer.zero1()) << "Zero1AdamW needs a gradient reducer built with zero1";
  VFM_CHECK(config_.decayed != nullptr) << "Zero1AdamW needs the weight-decay rule";
  const auto& buckets = reducer.buckets();
  for (size_t b = 0; b < buckets.size(); ++b) {
    const GradientReducer::Bucket& bucket = buckets[b];
    const int64_t lo = bucket.shard_begin, hi = lo + bucket.shard.numel();
    for (const GradientReducer::Slot& slot : bucket.slots) {
      params_.push_back(Param{&slot, b, config_.decayed(slot.name, slot.param)});
      const int64_t begin = std::max(lo, slot.offset), end = std::min(hi, slot.offset + slot.param.numel());
      if (begin < end)
        pieces_.push_back(Piece{b, int(params_.size()) - 1, begin - slot.offset, end - slot.offset, begin - lo});
    }
    m_.push_back(Tensor::Zeros(bucket.shard.shape()));
    v_.push_back(Tensor::Zeros(bucket.shard.shape()));
  }
}

absl::Status Zero1AdamW::Step(double lr, double weight_decay, double clip_grad,
                              const std::function<bool(const std::string&)>& frozen) {
  const auto& buckets = reducer_.buckets();
  Communicator& comm = reducer_.comm();

  // Per-parameter norms of the full gradients: partial sums of squares here, summed over ranks.
  Tensor sq = Tensor::Zeros({int64_t(params_.size())}, DType::kF64);
  if (clip_grad > 0) {
    double* s = sq.data<double>();
    for (const Piece& piece : pieces_) {
      const float* g = buckets[piece.bucket].shard.data<float>() + piece.shard_offset;
      for (int64_t i = 0; i < piece.end - piece.begin; ++i) s[piece.param] += double(g[i]) * g[i];
    }
    if (absl::Status st = comm.AllReduce(sq, ReduceOp::kSum)->Wait(); !st.ok()) return st;
  }

  std::vector<bool> skip(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    skip[i] = !params_[i].slot->has_grad || (frozen && frozen(params_[i].slot->name));
    if (!skip[i]) ++params_[i].step;
  }
  for (const Piece& piece : pieces_) {
    if (skip[piece.param]) continue;
    const Param& param = params_[piece.param];
    float* g = buckets[piece.bucket].shard.data<float>() + piece.shard_offset;
    const int64_t n = piece.end - piece.begin;
    if (clip_grad > 0) {
      const double coef = clip_grad / (std::sqrt(sq.data<double>()[piece.param]) + 1e-6);
      if (coef < 1)
        for (int64_t i = 0; i < n; ++i) g[i] *= float(coef);
    }
    cpu::AdamWUpdate(param.slot->param.data<float>() + piece.begin, g,
                     m_[piece.bucket].data<float>() + piece.shard_offset,
                     v_[piece.bucket].data<float>() + piece.shard_offset, n,
                     {lr, param.decayed ? weight_decay : 0.0, config_.beta1, config_.beta2, config_.eps, param.step});
  }

  // Every rank's updated block to everyone. The buffers are free now: the shard (its gradients are used)
  // sends this rank's parameter values, the flat gradient buffer receives all of them.
  std::vector<std::unique_ptr<Work>> works;
  for (size_t b = 0; b < buckets.size(); ++b) {
    Tensor shard = buckets[b].shard;  // a handle: the same storage
    shard.Fill(0.0);                  // the padding past the last parameter must stay zero
    for (const Piece& piece : pieces_)
      if (piece.bucket == b) {
        const Tensor& p = params_[piece.param].slot->param;
        std::copy(p.data<float>() + piece.begin, p.data<float>() + piece.end,
                  buckets[b].shard.data<float>() + piece.shard_offset);
      }
    works.push_back(comm.AllGather(buckets[b].shard, buckets[b].flat));
  }
  if (absl::Status st = WaitAll(works); !st.ok()) return st;
  for (const Param& param : params_) {
    Tensor p = param.slot->param;
    p.CopyFrom(SlotView(buckets[param.bucket].flat, *param.slot));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, Zero1AdamW::ParamState>> Zero1AdamW::GatherState() {
  const auto& buckets = reducer_.buckets();
  std::vector<Tensor> m_full, v_full;
  std::vector<std::unique_ptr<Work>> works;
  for (size_t b = 0; b < buckets.size(); ++b) {
    m_full.push_back(Tensor::Empty(buckets[b].flat.shape()));
    v_full.push_back(Tensor::Empty(buckets[b].flat.shape()));
    works.push_back(reducer_.comm().AllGather(m_[b], m_full[b]));
    works.push_back(reducer_.comm().AllGather(v_[b], v_full[b]));
  }
  if (absl::Status st = WaitAll(works); !st.ok()) return st;
  std::map<std::string, ParamState> state;
  for (const Param& param : params_) {
    state[param.slot->name] = ParamState{SlotView(m_full[param.bucket], *param.slot).Clone(),
                                         SlotView(v_full[param.bucket], *param.slot).Clone(), param.step};
  }
  return state;
}

absl::Status Zero1AdamW::LoadState(const std::map<std::string, ParamState>& state) {
  for (const Param& param : params_) {
    auto it = state.find(param.slot->name);
    if (it == state.end())
      return absl::InvalidArgumentError(absl::StrCat("optimizer state has no entry for ", param.slot->name));
    const Shape& shape = param.slot->param.shape();
    if (it->second.m.shape() != shape || it->second.v.shape() != shape)
      return absl::InvalidArgumentError(absl::StrCat("optimizer state of ", param.slot->name, " has shape ",
                                                     ShapeToString(it->second.m.shape()), ", the parameter ",
                                                     ShapeToString(shape)));
  }
  for (Param& param : params_) param.step = state.at(param.slot->name).step;
  for (const Piece& piece : pieces_) {
    const ParamState& s = state.at(params_[piece.param].slot->name);
    const Tensor m = s.m.To(DType::kF32), v = s.v.To(DType::kF32);  // contiguous f32 copies
    std::copy(m.data<float>() + piece.begin, m.data<float>() + piece.end,
              m_[piece.bucket].data<float>() + piece.shard_offset);
    std::copy(v.data<float>() + piece.begin, v.data<float>() + piece.end,
              v_[piece.bucket].data<float>() + piece.shard_offset);
  }
  return absl::OkStatus();
}

}  // namespace vfm::dist
