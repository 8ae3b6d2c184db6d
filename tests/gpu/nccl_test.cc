// The NCCL communicator on one rank (the GPU machine has one GPU): each collective on device tensors,
// ordered with vfm's compute stream, and the bucketed gradient reducer over NCCL giving the gradients
// of a plain backward. Several ranks are tested on the CPU with MPI (tests/distributed).
#include "distributed/nccl_communicator.h"

#include "distributed/reducer.h"
#include "tests/gpu/gpu_test.h"
#include "trainer/ibot_step.h"

namespace vfm {
namespace {
using testing::GpuTest;

std::unique_ptr<dist::Communicator> OneRankNccl() {
  auto comm = dist::CreateCommunicator(dist::ProcessInfo{}, Device::CUDA(0), dist::CommOptions{});
  EXPECT_TRUE(comm.ok()) << comm.status();
  return comm.ok() ? std::move(*comm) : nullptr;
}

TEST_F(GpuTest, NcclCollectivesOnOneRank) {
  auto comm = OneRankNccl();
  ASSERT_NE(comm, nullptr);
  const Tensor x = Tensor::Randn({1000, 37}, 1);
  // Produced by a kernel on the compute stream just before the collective: the collective must see it.
  Tensor t = ops::Scale(x.ToDevice(Gpu()), 2.0);
  ASSERT_TRUE(comm->AllReduce(t, dist::ReduceOp::kSum)->Wait().ok());
  EXPECT_EQ(t.ToVector(), ops::Scale(x, 2.0).ToVector());
  ASSERT_TRUE(comm->AllReduce(t, dist::ReduceOp::kAvg)->Wait().ok());
  EXPECT_EQ(t.ToVector(), ops::Scale(x, 2.0).ToVector());
  Tensor shard = Tensor::Empty({1000, 37}, DType::kF32, Gpu()), whole = Tensor::Empty({1000, 37}, DType::kF32, Gpu());
  ASSERT_TRUE(comm->ReduceScatter(t, shard, dist::ReduceOp::kAvg)->Wait().ok());
  ASSERT_TRUE(comm->AllGather(shard, whole)->Wait().ok());
  EXPECT_EQ(whole.ToVector(), ops::Scale(x, 2.0).ToVector());
  Tensor b = x.ToDevice(Gpu());
  ASSERT_TRUE(comm->Broadcast(b, 0)->Wait().ok());
  EXPECT_EQ(b.ToVector(), x.ToVector());
  EXPECT_TRUE(comm->Barrier().ok());
}

TEST_F(GpuTest, NcclReducerGivesThePlainGradients) {
  auto vit = *nn::ViTConfigByName("vit_tiny", 16, 64);
  nn::IBotHeadConfig head;
  head.out_dim = 256;
  nn::IBotNetwork net(vit, head, 5);
  net.MoveTo(Gpu());
  const Tensor images = Tensor::Randn({4, 3, 64, 64}, 6).ToDevice(Gpu());
  auto grads = [&](dist::GradientReducer* reducer) {
    net.ZeroGrad();
    ops::Sum(ops::Cast(net.head->Forward(net.backbone->Forward(images, Tensor(), nullptr)), DType::kF32)).Backward();
    if (reducer) {
      EXPECT_TRUE(reducer->Finish().ok());
    }
    std::vector<std::vector<float>> out;
    for (const auto& [name, p] : net.NamedParameters()) out.push_back(p.grad().defined() ? p.grad().ToVector() : std::vector<float>{});
    return out;
  };
  const auto plain = grads(nullptr);
  auto comm = OneRankNccl();
  ASSERT_NE(comm, nullptr);
  GradBuckets buckets(net.NamedParameters(), /*bucket_bytes=*/1 << 20);  // several buckets in flight during backward
  dist::GradientReducer reducer(buckets, *comm, dist::ReducerOptions{});
  EXPECT_EQ(grads(&reducer), plain);
  EXPECT_EQ(grads(&reducer), plain) << "second step (buckets reused)";
}

}  // namespace
}  // namespace vfm
