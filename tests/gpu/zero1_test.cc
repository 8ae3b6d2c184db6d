// ZeRO-1 on the GPU (distributed/zero1.h, trainer/adamw.h). The GPU machine has one GPU, so several ranks
// are tested on the CPU with MPI (tests/distributed); here:
// - the whole ZeRO-1 step on one rank over NCCL (in-place reduce-scatter of the gradient buckets, AdamW,
//   in-place all-gather of the parameters, the copies through the buckets) gives the plain step's
//   weights bit for bit, and the gradients stay in their buckets;
// - two ranks' shards, simulated on the one GPU: two AdamWs over blocks 0 and 1 of the same buckets, the
//   clip's squared norms summed across them as the all-reduce would, reach the weights of AdamW over
//   whole parameters (GPU and CPU), and their moments put back together are its state; a whole state
//   (from a checkpoint, on the host) loads into the shards.
#include "distributed/zero1.h"

#include "distributed/reducer.h"
#include "tests/gpu/gpu_test.h"
#include "trainer/data_parallel.h"

namespace vfm {
namespace {
using testing::GpuTest;
using testing::OnHost;

// Three steps of a ViT-Ti/16 iBOT student on the GPU (fp32), clipping active, the last layer frozen in the
// first step; with zero1, through the reducer and the ZeRO-1 hooks on a one-rank NCCL communicator.
std::vector<std::vector<float>> TrainOnGpu(bool zero1) {
  auto vit = *nn::ViTConfigByName("vit_tiny", 16, 64);
  nn::IBotHeadConfig head;
  head.out_dim = 256;
  nn::IBotNetwork student(vit, head, 5), teacher(vit, head, 5);
  for (auto [name, p] : teacher.NamedParameters()) p.set_requires_grad(false);
  student.MoveTo(Device::CUDA(0));
  teacher.MoveTo(Device::CUDA(0));
  IBotLoss loss(head.out_dim, 2, 0);
  loss.MoveTo(Device::CUDA(0));
  GradBuckets grads(student.NamedParameters(), /*bucket_bytes=*/1 << 20);  // several buckets
  AdamW optimizer(grads);
  std::unique_ptr<dist::Communicator> comm;
  std::unique_ptr<dist::GradientReducer> reducer;
  IBotStepHooks hooks;
  if (zero1) {
    auto created = dist::CreateCommunicator(dist::ProcessInfo{}, Device::CUDA(0), dist::CommOptions{});
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return {};
    comm = std::move(*created);
    reducer = std::make_unique<dist::GradientReducer>(grads, *comm, dist::ReducerOptions{true, true});
    hooks = DataParallelHooks(*reducer);
  }
  for (int step = 0; step < 3; ++step) {
    IBotCrops crops;
    Rng rng(MixKey({11, uint64_t(step)}));
    crops.global = Tensor::Randn({8, 3, 64, 64}, MixKey({1, uint64_t(step)})).ToDevice(Device::CUDA(0));
    crops.masks = Tensor::Empty({8, 16}, DType::kU8);
    for (int64_t k = 0; k < crops.masks.numel(); ++k) crops.masks.data<uint8_t>()[k] = rng.Uniform() < 0.3f;
    IBotStepSettings s{1e-3, 0.04, 0.99, 0.04, 0.07};
    s.clip_grad = 0.3;
    s.freeze_last_layer = step == 0;
    IBotTrainStep(student, teacher, loss, optimizer, crops, s, nullptr, hooks);
  }
  std::vector<std::vector<float>> weights;
  for (const auto& [name, p] : student.NamedParameters()) weights.push_back(p.ToVector());
  for (const auto& [name, p] : teacher.NamedParameters()) weights.push_back(p.ToVector());
  return weights;
}

TEST_F(GpuTest, Zero1StepOverNcclOnOneRankIsThePlainStep) {
  const auto plain = TrainOnGpu(false), sharded = TrainOnGpu(true);
  ASSERT_EQ(sharded.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_EQ(sharded[i], plain[i]) << "tensor " << i;
}

TEST_F(GpuTest, Zero1GradientsStayInTheirBuckets) {
  auto vit = *nn::ViTConfigByName("vit_tiny", 16, 64);
  nn::IBotHeadConfig head;
  head.out_dim = 256;
  nn::IBotNetwork net(vit, head, 5);
  net.MoveTo(Gpu());
  auto comm = dist::CreateCommunicator(dist::ProcessInfo{}, Gpu(), dist::CommOptions{});
  ASSERT_TRUE(comm.ok()) << comm.status();
  GradBuckets grads(net.NamedParameters(), 1 << 20);
  dist::GradientReducer reducer(grads, **comm, dist::ReducerOptions{true, true});
  const Tensor images = Tensor::Randn({2, 3, 64, 64}, 6).ToDevice(Gpu());
  ops::Sum(net.head->Forward(net.backbone->Forward(images, Tensor(), nullptr))).Backward();
  ASSERT_TRUE(reducer.Finish().ok());
  for (const auto& [name, p] : net.NamedParameters()) {
    if (!p.requires_grad()) continue;  // the frozen norm of the weight-normalised last layer
    if (name == "mask_token") {        // no masks: no gradient anywhere
      EXPECT_FALSE(p.grad().defined());
      continue;
    }
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().impl(), p.grad_home().impl()) << name;
    EXPECT_EQ(p.grad().storage(), grads.buckets()[0].flat.storage()) << name;
  }
}

// Parameters as the trainer holds them: decayed weights, a bias and a norm weight (no decay), sized so
// that 8 KiB buckets hold several and the block boundary of two ranks cuts some of them.
nn::NamedTensors MakeParams(Device device) {
  nn::NamedTensors params{{"blocks.0.mlp.fc1.weight", Tensor::Randn({37, 100}, 21)},
                          {"blocks.0.mlp.fc1.bias", Tensor::Randn({37}, 22)},
                          {"blocks.0.mlp.fc2.weight", Tensor::Randn({13, 37}, 23)},
                          {"norm.weight", Tensor::Randn({768}, 24)},
                          {"head.weight", Tensor::Randn({300}, 25)}};
  for (auto& [name, p] : params) {
    p = p.ToDevice(device);
    p.set_requires_grad(true);
  }
  return params;
}

void SetGrads(const nn::NamedTensors& params, int step) {
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor p = params[i].second;
    if (step == 1 && i == 1) {  // a parameter without a gradient is skipped (its step count too)
      p.ZeroGrad();
      continue;
    }
    const double scale = i % 2 ? 0.01 : 5.0;  // some norms above the clip, some below
    Tensor home = p.grad_home();
    home.CopyFrom(ops::Scale(Tensor::Randn(p.shape(), 100 * uint64_t(step) + i), scale).ToDevice(p.device()));
    p.set_grad(home);
  }
}

// Bucket-shaped moments from the blocks of two shards, as dist::GatherBlocks gives them.
std::vector<Tensor> PutTogether(const std::vector<Tensor>& block0, const std::vector<Tensor>& block1) {
  std::vector<Tensor> whole;
  for (size_t b = 0; b < block0.size(); ++b) whole.push_back(ops::Concat({block0[b], block1[b]}, 0));
  return whole;
}

TEST_F(GpuTest, TwoShardsOfAdamWReachTheWholeUpdate) {
  const nn::NamedTensors cpu = MakeParams(Device::CPU()), gpu = MakeParams(Gpu()), shards = MakeParams(Gpu());
  GradBuckets cpu_grads(cpu, 8 << 10), gpu_grads(gpu, 8 << 10), shard_grads(shards, 8 << 10, /*blocks=*/2);
  AdamW cpu_opt(cpu_grads), gpu_opt(gpu_grads), rank0(shard_grads, 0), rank1(shard_grads, 1);
  // Some parameter is cut between the two blocks.
  int cut = 0;
  for (const GradBuckets::Span& a : shard_grads.Spans(0))
    for (const GradBuckets::Span& b : shard_grads.Spans(1)) cut += a.slot == b.slot;
  ASSERT_GT(cut, 0);

  for (int step = 0; step < 4; ++step) {
    SetGrads(cpu, step);
    SetGrads(gpu, step);
    SetGrads(shards, step);
    cpu_opt.ClipGradients(3.0);
    gpu_opt.ClipGradients(3.0);
    // Each rank's squared norms of its parts (measured before either clips), summed as the all-reduce does.
    Tensor parts0, parts1;
    rank0.ClipGradients(1e30, [&](Tensor& t) { parts0 = t.Clone(); });
    rank1.ClipGradients(1e30, [&](Tensor& t) { parts1 = t.Clone(); });
    rank0.ClipGradients(3.0, [&](Tensor& t) { ops::AddInPlace(t, parts1); });
    rank1.ClipGradients(3.0, [&](Tensor& t) { ops::AddInPlace(t, parts0); });
    cpu_opt.Step(2e-3, 0.04);
    gpu_opt.Step(2e-3, 0.04);
    rank0.Step(2e-3, 0.04);
    rank1.Step(2e-3, 0.04);
  }
  for (size_t i = 0; i < cpu.size(); ++i) {
    SCOPED_TRACE(cpu[i].first);
    EXPECT_GPU_CLOSE(OnHost(shards[i].second), OnHost(gpu[i].second), 1e-6);
    EXPECT_GPU_CLOSE(OnHost(shards[i].second), cpu[i].second, 2e-6);
  }

  // The shards' moments put together are the whole state (what a checkpoint holds).
  const AdamW::States want = gpu_opt.WholeState();
  const AdamW::States got = rank0.WholeState(PutTogether(rank0.exp_avg(), rank1.exp_avg()),
                                             PutTogether(rank0.exp_avg_sq(), rank1.exp_avg_sq()));
  for (const auto& [name, w] : want) {
    SCOPED_TRACE(name);
    EXPECT_EQ(got.at(name).step, w.step);
    EXPECT_GPU_CLOSE(OnHost(got.at(name).m), OnHost(w.m), 1e-5);
    EXPECT_GPU_CLOSE(OnHost(got.at(name).v), OnHost(w.v), 1e-5);
  }
  // A whole state on the host (as read from a checkpoint) loads into the shards: put together, it is that
  // state exactly.
  AdamW::States host = cpu_opt.WholeState();
  ASSERT_TRUE(rank0.LoadState(host).ok());
  ASSERT_TRUE(rank1.LoadState(host).ok());
  const AdamW::States loaded = rank0.WholeState(PutTogether(rank0.exp_avg(), rank1.exp_avg()),
                                                PutTogether(rank0.exp_avg_sq(), rank1.exp_avg_sq()));
  for (const auto& [name, w] : host) {
    EXPECT_EQ(OnHost(loaded.at(name).m).ToVector(), w.m.ToVector()) << name;
    EXPECT_EQ(OnHost(loaded.at(name).v).ToVector(), w.v.ToVector()) << name;
  }
}

}  // namespace
}  // namespace vfm
