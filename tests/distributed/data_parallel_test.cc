// Data parallel training must not change the result: 2 ranks with per-rank batch b reach the weights that
// 1 rank reaches with batch 2b (DESIGN.md, "Distributed"). Each rank trains its half of a synthetic batch
// (samples [r b, (r+1) b) of 2b, every crop and mask drawn from the sample's own seed) and, in the same
// process, the 1-rank reference on all 2b samples; then the two are compared.
//
// Why averaging gradients is exact in real arithmetic: iBOT's loss on a rank is a mean over its b images
// of per-image terms (the [CLS] term averages the crop pairs of each image; the patch term normalises by
// each image's own masked count before the mean over images), so the average over ranks of the per-rank
// means is the mean over all 2b images. The centres all-reduce the teacher sums and divide by b * world.
// Drop path is off (its draws would depend on the batch split).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "distributed/zero1.h"
#include "tests/distributed/comm_flags.h"
#include "trainer/data_parallel.h"
#include "trainer/ibot_step.h"

namespace vfm::dist {
namespace {

constexpr int kBatchPerRank = 2, kSteps = 5, kGlobal = 2, kLocal = 2;
constexpr int64_t kImg = 32, kLocalImg = 16;
constexpr uint64_t kSeed = 1234;

nn::ViTConfig Vit() {
  nn::ViTConfig c;
  c.img_size = kImg, c.patch = 8, c.dim = 48, c.depth = 2, c.heads = 3;
  return c;
}
nn::IBotHeadConfig Head() { return nn::IBotHeadConfig{64, 32, 256, true}; }

// Sample i of step t: its crops and masks depend on (t, i, view) only, not on the rank that draws them.
// Crop-major, as the loader lays a batch out: row v * count + i is crop v of sample first + i.
IBotCrops MakeBatch(int step, int first, int count) {
  const int64_t grid = kImg / 8;
  std::vector<Tensor> global, local;
  for (int v = 0; v < kGlobal + kLocal; ++v)
    for (int i = first; i < first + count; ++i) {
      const int64_t size = v < kGlobal ? kImg : kLocalImg;
      (v < kGlobal ? global : local)
          .push_back(Tensor::Randn({1, 3, size, size}, MixKey({kSeed, uint64_t(step), uint64_t(i), uint64_t(v)})));
    }
  IBotCrops crops{ops::Concat(global, 0), ops::Concat(local, 0),
                  Tensor::Zeros({kGlobal * count, grid * grid}, DType::kU8)};
  for (int v = 0; v < kGlobal; ++v)
    for (int i = 0; i < count; ++i) {
      Rng rng(MixKey({kSeed, uint64_t(step), uint64_t(first + i), 100 + uint64_t(v)}));
      const float ratio = rng.Uniform() < 0.5f ? 0.0f : rng.Uniform(0.1f, 0.5f);  // iBOT: none half the time
      uint8_t* row = crops.masks.data<uint8_t>() + (v * count + i) * grid * grid;
      for (int64_t n = 0; n < grid * grid; ++n) row[n] = rng.Uniform() < ratio;
    }
  return crops;
}

// A student, its EMA teacher (same initial weights), the loss with its centres, the student's gradient
// buckets and AdamW over block `block` of them.
struct Model {
  explicit Model(int64_t bucket_bytes = 25 << 20, int blocks = 1, int block = 0) {
    student = std::make_unique<nn::IBotNetwork>(Vit(), Head(), 7);
    teacher = std::make_unique<nn::IBotNetwork>(Vit(), Head(), 8);
    teacher->LoadFrom(student->NamedParameters());
    for (auto& [name, p] : teacher->NamedParameters()) p.set_requires_grad(false);
    loss = std::make_unique<IBotLoss>(Head().out_dim, kGlobal, kLocal);
    grads = std::make_unique<GradBuckets>(student->NamedParameters(), bucket_bytes, blocks);
    adamw = std::make_unique<AdamW>(*grads, block);
  }
  std::unique_ptr<nn::IBotNetwork> student, teacher;
  std::unique_ptr<IBotLoss> loss;
  std::unique_ptr<GradBuckets> grads;
  std::unique_ptr<AdamW> adamw;
};

// clip_grad is below most gradient norms here, so the per-parameter clip (sharded under ZeRO-1) is exercised;
// the last layer is frozen for the first two steps.
IBotStepSettings Settings(int step) {
  IBotStepSettings s{1e-3 * (step + 1), 0.04 + 0.01 * step, 0.99, 0.04, 0.07};
  s.clip_grad = 0.3;
  s.freeze_last_layer = step < 2;
  return s;
}

double RelativeError(const Tensor& got, const Tensor& want) {
  const std::vector<float> a = got.ToVector(), b = want.ToVector();
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]), ref += double(b[i]) * b[i];
  return std::sqrt(diff) / std::max(std::sqrt(ref), 1e-30);
}

// Calls check(label, got part, want part) on the parts of a parameter (or of its optimizer state) that
// can be compared after Adam steps. The key part of each qkv bias is left out: its true gradient is
// exactly zero (softmax ignores a per-row constant), so both runs hold pure rounding noise there, which
// Adam turns into lr-sized steps of random sign (see tests/parity/vit_ibot_parity_test.cc).
template <typename Check>
void ForComparableParts(const std::string& name, const Tensor& got, const Tensor& want, Check check) {
  if (name.find("attn.qkv.bias") == std::string::npos) return check(name, got, want);
  const int64_t D = want.size(0) / 3;
  check(name + "[q]", ops::Slice(got, 0, 0, D), ops::Slice(want, 0, 0, D));
  check(name + "[v]", ops::Slice(got, 0, 2 * D, 3 * D), ops::Slice(want, 0, 2 * D, 3 * D));
}

class DataParallelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator(Process(), Device::CPU(), TestCommOptions());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(*comm);
  }
  int Rank() const { return comm_->rank(); }
  int World() const { return comm_->world(); }
  IBotCrops LocalBatch(int step) const { return MakeBatch(step, Rank() * kBatchPerRank, kBatchPerRank); }
  IBotCrops WholeBatch(int step) const { return MakeBatch(step, 0, World() * kBatchPerRank); }
  // This rank's replica: under ZeRO-1 its buckets have one block per rank and its AdamW updates its own.
  Model Replica(int64_t bucket_bytes, bool zero1) const {
    return Model(bucket_bytes, zero1 ? World() : 1, zero1 ? Rank() : 0);
  }

  std::unique_ptr<Communicator> comm_;
};

TEST_F(DataParallelTest, BroadcastParametersGivesEveryRankRankZerosWeights) {
  Model model;
  if (Rank() != 0)
    for (auto [name, p] : model.student->NamedParameters()) p.Fill(Rank());
  ASSERT_TRUE(BroadcastParameters(model.student->NamedParameters(), *comm_).ok());
  const nn::NamedTensors want = Model().student->NamedParameters(), got = model.student->NamedParameters();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(RelativeError(got[i].second, want[i].second), 0) << want[i].first;
}

// Buckets take the trainable parameters in reverse order of registration (the order backward completes
// them), each up to the size limit unless a single parameter is larger, padded to a multiple of the
// blocks; every parameter's gradient home is its slot.
TEST_F(DataParallelTest, BucketsHoldParametersInReverseOrderWithinTheLimit) {
  Model model;
  const int64_t limit = 16 << 10;
  GradBuckets grads(model.student->NamedParameters(), limit, World());
  std::vector<std::string> order;
  for (const auto& [name, p] : model.student->NamedParameters())
    if (p.requires_grad()) order.push_back(name);
  std::reverse(order.begin(), order.end());
  size_t k = 0;
  for (const GradBuckets::Bucket& bucket : grads.buckets()) {
    int64_t bytes = 0;
    for (size_t s = bucket.first_slot; s < bucket.end_slot; ++s) {
      const GradBuckets::Slot& slot = grads.slots()[s];
      ASSERT_LT(k, order.size());
      EXPECT_EQ(slot.name, order[k++]);
      EXPECT_EQ(slot.offset * 4, bytes);
      const Tensor home = slot.param.grad_home();
      EXPECT_TRUE(home.storage() == bucket.flat.storage() && home.offset() == bucket.flat.offset() + slot.offset)
          << slot.name;
      bytes += slot.param.numel() * 4;
    }
    EXPECT_TRUE(bytes <= limit || bucket.end_slot - bucket.first_slot == 1)
        << bytes << " bytes in " << bucket.end_slot - bucket.first_slot;
    EXPECT_EQ(bucket.flat.numel() % World(), 0);
    EXPECT_LT(bucket.flat.numel() * 4 - bytes, 4 * World());
  }
  EXPECT_EQ(k, order.size());
}

// The reducer alone, one backward: the averaged gradients are the whole batch's gradients up to float
// summation order (the batch is split differently inside the GEMM reductions): 1e-5 relative. Each is
// where backward wrote it and the reducer averaged it: its bucket slot.
TEST_F(DataParallelTest, AveragedGradientsEqualTheWholeBatchGradients) {
  Model reference, parallel(16 << 10);
  GradientReducer reducer(*parallel.grads, *comm_, ReducerOptions{false, true});
  const IBotStepSettings s = Settings(0);
  IBotForward(*reference.student, *reference.teacher, *reference.loss, WholeBatch(0), s.teacher_temp,
              s.teacher_patch_temp, nullptr)
      .loss.loss.Backward();
  IBotForward(*parallel.student, *parallel.teacher, *parallel.loss, LocalBatch(0), s.teacher_temp, s.teacher_patch_temp,
              nullptr)
      .loss.loss.Backward();
  ASSERT_TRUE(reducer.Finish().ok());

  const nn::NamedTensors want = reference.student->NamedParameters(), got = parallel.student->NamedParameters();
  double worst = 0;
  int clipped = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!want[i].second.requires_grad()) continue;
    const Tensor& g = want[i].second.grad();
    ASSERT_TRUE(g.defined() && got[i].second.grad().defined()) << want[i].first;
    EXPECT_EQ(got[i].second.grad().impl(), got[i].second.grad_home().impl()) << want[i].first;
    const double e = RelativeError(got[i].second.grad(), g);
    EXPECT_LE(e, 1e-5) << want[i].first;
    worst = std::max(worst, e);
    double sq = 0;
    for (float v : g.ToVector()) sq += double(v) * v;
    clipped += std::sqrt(sq) > s.clip_grad;
  }
  EXPECT_GT(clipped, 3) << "clip_grad should act on several parameters";
  const GradientReducer::StepStats& stats = reducer.last_step();
  EXPECT_GE(stats.buckets, 4);
  EXPECT_GE(stats.started_in_backward, stats.buckets - 1) << "buckets should start during backward";
  if (Rank() == 0)
    std::printf("data parallel: %d ranks, %d buckets (%d started during backward), worst gradient error %.3g\n",
                World(), stats.buckets, stats.started_in_backward, worst);
}

// With no masked patch on any rank the mask token gets no gradient anywhere: it must keep none (AdamW
// skips it, as on one rank) rather than receive a zero gradient and a weight-decay step.
TEST_F(DataParallelTest, ParameterWithoutGradientOnAnyRankKeepsNone) {
  for (bool zero1 : {false, true}) {
    Model parallel = Replica(16 << 10, zero1);
    GradientReducer reducer(*parallel.grads, *comm_, ReducerOptions{zero1, true});
    IBotCrops crops = LocalBatch(0);
    crops.masks.Fill(0);
    const IBotStepSettings s = Settings(0);
    IBotForward(*parallel.student, *parallel.teacher, *parallel.loss, crops, s.teacher_temp, s.teacher_patch_temp,
                nullptr)
        .loss.loss.Backward();
    ASSERT_TRUE(reducer.Finish().ok());
    for (auto& [name, p] : parallel.student->NamedParameters())
      if (p.requires_grad()) {
        EXPECT_EQ(p.grad().defined(), name != "mask_token") << name << (zero1 ? " (ZeRO-1)" : "");
      }
  }
}

// ZeRO-1's sharded AdamW state, gathered, is AdamW's state of the 1-rank run (same tolerance as the weights
// below), and each rank holds only its block of it. A whole state loads into either, whatever number of
// ranks wrote it (as from a checkpoint): the 1-rank state into the shards gathers back to it exactly, and
// the gathered state into the 1-rank optimizer is that state exactly.
TEST_F(DataParallelTest, Zero1StateGathersToTheWholeState) {
  Model reference, parallel = Replica(16 << 10, true);
  GradientReducer reducer(*parallel.grads, *comm_, ReducerOptions{true, true});
  const IBotStepHooks hooks = DataParallelHooks(reducer);
  for (int step = 0; step < 3; ++step) {
    IBotTrainStep(*reference.student, *reference.teacher, *reference.loss, *reference.adamw, WholeBatch(step),
                  Settings(step), nullptr);
    IBotTrainStep(*parallel.student, *parallel.teacher, *parallel.loss, *parallel.adamw, LocalBatch(step),
                  Settings(step), nullptr, hooks);
  }
  int64_t held = 0, whole = 0;
  for (size_t b = 0; b < parallel.grads->buckets().size(); ++b) {
    held += parallel.adamw->exp_avg()[b].numel() + parallel.adamw->exp_avg_sq()[b].numel();
    whole += 2 * parallel.grads->buckets()[b].flat.numel();
  }
  EXPECT_EQ(held * World(), whole);

  auto gather = [&] {
    absl::StatusOr<std::vector<Tensor>> m = GatherBlocks(*parallel.grads, parallel.adamw->exp_avg(), *comm_);
    absl::StatusOr<std::vector<Tensor>> v = GatherBlocks(*parallel.grads, parallel.adamw->exp_avg_sq(), *comm_);
    EXPECT_TRUE(m.ok() && v.ok());
    return parallel.adamw->WholeState(*m, *v);
  };
  const AdamW::States state = gather();
  const AdamW::States want = reference.adamw->WholeState();
  ASSERT_EQ(state.size(), want.size());
  for (const auto& [name, w] : want) {
    const AdamW::State& got = state.at(name);
    EXPECT_EQ(got.step, w.step) << name;
    auto check = [](const std::string& label, const Tensor& g, const Tensor& wt) {
      EXPECT_LE(RelativeError(g, wt), 1e-4) << label;
    };
    ForComparableParts(name + ".m", got.m, w.m, check);
    ForComparableParts(name + ".v", got.v, w.v, check);
  }

  ASSERT_TRUE(parallel.adamw->LoadState(want).ok());
  const AdamW::States again = gather();
  for (const auto& [name, w] : want) {
    EXPECT_EQ(again.at(name).m.ToVector(), w.m.ToVector()) << name;
    EXPECT_EQ(again.at(name).v.ToVector(), w.v.ToVector()) << name;
    EXPECT_EQ(again.at(name).step, w.step) << name;
  }
  Model alone;
  ASSERT_TRUE(alone.adamw->LoadState(state).ok());
  for (const auto& [name, s] : alone.adamw->WholeState()) {
    EXPECT_EQ(s.m.ToVector(), state.at(name).m.ToVector()) << name;
    EXPECT_EQ(s.step, state.at(name).step) << name;
  }
  const absl::Status missing = parallel.adamw->LoadState({});
  EXPECT_EQ(missing.code(), absl::StatusCode::kDataLoss) << missing;
}

// ZeRO-1 is the same update as without it: the same averaged gradients, the same AdamW element by
// element; only each parameter's squared norm for the clip is summed from its parts' partial sums.
TEST_F(DataParallelTest, Zero1ReachesTheWeightsOfAllReduce) {
  Model plain = Replica(16 << 10, false), sharded = Replica(16 << 10, true);
  GradientReducer plain_reducer(*plain.grads, *comm_, ReducerOptions{false, true});
  GradientReducer sharded_reducer(*sharded.grads, *comm_, ReducerOptions{true, true});
  const IBotStepHooks plain_hooks = DataParallelHooks(plain_reducer);
  const IBotStepHooks sharded_hooks = DataParallelHooks(sharded_reducer);
  for (int step = 0; step < kSteps; ++step) {
    IBotTrainStep(*plain.student, *plain.teacher, *plain.loss, *plain.adamw, LocalBatch(step), Settings(step), nullptr,
                  plain_hooks);
    IBotTrainStep(*sharded.student, *sharded.teacher, *sharded.loss, *sharded.adamw, LocalBatch(step), Settings(step),
                  nullptr, sharded_hooks);
  }
  double worst = 0;
  const nn::NamedTensors want = plain.student->NamedParameters(), got = sharded.student->NamedParameters();
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = RelativeError(got[i].second, want[i].second);
    EXPECT_LE(e, 1e-6) << want[i].first;
    worst = std::max(worst, e);
  }
  if (Rank() == 0)
    std::printf("ZeRO-1 vs all-reduce, %d ranks, %d steps: worst weight error %.3g\n", World(), kSteps, worst);
}

struct Variant {
  const char* name;
  int64_t bucket_bytes;
  bool zero1;
};
void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class FiveStepsTest : public DataParallelTest, public ::testing::WithParamInterface<Variant> {};

// Five steps of AdamW + EMA + centres, then every student and teacher weight and both centres against the
// reference: 1e-4 relative per tensor, as in tests/parity (float32 summation order, grown by five Adam
// steps, whose 1/sqrt(v) normalisation turns relative gradient noise into relative update noise; the
// runs here differ by about 3e-6). The key part of each qkv bias is left out (ForComparableParts).
TEST_P(FiveStepsTest, ReachTheWeightsOfOneRankWithTheWholeBatch) {
  Model reference, parallel = Replica(GetParam().bucket_bytes, GetParam().zero1);
  GradientReducer reducer(*parallel.grads, *comm_, ReducerOptions{GetParam().zero1, true});
  const IBotStepHooks hooks = DataParallelHooks(reducer);
  int started_in_backward = 0;
  for (int step = 0; step < kSteps; ++step) {
    IBotTrainStep(*reference.student, *reference.teacher, *reference.loss, *reference.adamw, WholeBatch(step),
                  Settings(step), nullptr);
    IBotTrainStep(*parallel.student, *parallel.teacher, *parallel.loss, *parallel.adamw, LocalBatch(step),
                  Settings(step), nullptr, hooks);
    started_in_backward += reducer.last_step().started_in_backward;
  }

  double worst = 0;
  std::string worst_name;
  auto check = [&](const std::string& name, const Tensor& got, const Tensor& want) {
    const double e = RelativeError(got, want);
    EXPECT_LE(e, 1e-4) << name;
    if (e >= worst) worst = e, worst_name = name;
  };
  for (const char* who : {"student", "teacher"}) {
    const bool student = who[0] == 's';
    const nn::NamedTensors want = (student ? reference.student : reference.teacher)->NamedParameters();
    const nn::NamedTensors got = (student ? parallel.student : parallel.teacher)->NamedParameters();
    for (size_t i = 0; i < want.size(); ++i) {
      ForComparableParts(std::string(who) + "." + want[i].first, got[i].second, want[i].second, check);
    }
  }
  check("center", parallel.loss->center, reference.loss->center);
  check("center2", parallel.loss->center2, reference.loss->center2);
  // Alone (world 1) nothing is split: the reducer and ZeRO-1's sharded update must match AdamW bit for bit.
  if (World() == 1) {
    EXPECT_EQ(worst, 0) << worst_name;
  }
  EXPECT_GT(RelativeError(parallel.student->NamedParameters()[0].second, Model().student->NamedParameters()[0].second),
            1e-3)
      << "the weights should have moved";
  if (Rank() == 0)
    std::printf("data parallel [%s]: %d buckets, %d of %d started during backward, worst weight error %.3g (%s)\n",
                GetParam().name, reducer.last_step().buckets, started_in_backward, kSteps * reducer.last_step().buckets,
                worst, worst_name.c_str());
}

INSTANTIATE_TEST_SUITE_P(Reducers, FiveStepsTest,
                         ::testing::Values(Variant{"all-reduce, 16 KiB buckets", 16 << 10, false},
                                           Variant{"all-reduce, 25 MiB bucket", 25 << 20, false},
                                           Variant{"ZeRO-1, 16 KiB buckets", 16 << 10, true},
                                           Variant{"ZeRO-1, 25 MiB bucket", 25 << 20, true}),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return std::string(info.param.zero1 ? "Zero1" : "AllReduce") +
                                  (info.param.bucket_bytes < (1 << 20) ? "SmallBuckets" : "OneBucket");
                         });

}  // namespace
}  // namespace vfm::dist
