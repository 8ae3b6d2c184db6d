// The collectives of the communicator a rank gets on CPU: the MPI backend under mpirun, the identity
// alone. Values are small integers, so every result is exact whatever the summation order.
#include "distributed/communicator.h"

#include <gtest/gtest.h>

#include <array>
#include <numeric>

#include "tests/distributed/comm_flags.h"

namespace vfm::dist {
namespace {

class CommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator(Process(), Device::CPU(), TestCommOptions());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(*comm);
    rank_ = comm_->rank(), world_ = comm_->world();
  }
  std::unique_ptr<Communicator> comm_;
  int rank_ = 0, world_ = 1;
};

// Element i of rank r's buffer: r + 1 + i; summed over ranks: world (world + 1) / 2 + world i.
std::vector<float> RankValues(int rank, int n) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), float(rank + 1));
  return v;
}
double SumOverRanks(int world, int i) { return world * (world + 1) / 2.0 + double(world) * i; }

TEST_F(CommunicatorTest, KnowsItsPlaceInTheJob) {
  const ProcessInfo& p = Process();
  EXPECT_EQ(rank_, p.rank);
  EXPECT_EQ(world_, p.world);
  EXPECT_LT(p.local_rank, p.local_world);
  EXPECT_LE(p.local_world, p.world);
  if (!p.mpi) {
    EXPECT_EQ(world_, 1) << "a process started without a launcher runs alone";
  }
}

TEST_F(CommunicatorTest, AllReduceSumsAndAverages) {
  Tensor sum = Tensor::FromVector(RankValues(rank_, 1000), {1000});
  Tensor avg = Tensor::FromVector(RankValues(rank_, 1000), {1000}).To(DType::kF64);
  ASSERT_TRUE(comm_->AllReduce(sum, ReduceOp::kSum)->Wait().ok());
  ASSERT_TRUE(comm_->AllReduce(avg, ReduceOp::kAvg)->Wait().ok());
  for (int i = 0; i < 1000; i += 37) {
    EXPECT_EQ(sum.at({i}), SumOverRanks(world_, i)) << i;
    EXPECT_EQ(avg.at({i}), SumOverRanks(world_, i) / world_) << i;
  }
}

TEST_F(CommunicatorTest, ManyCollectivesInFlightCompleteInCallOrder) {
  std::vector<Tensor> buffers;
  std::vector<std::unique_ptr<Work>> works;
  for (int k = 0; k < 24; ++k) {
    const int n = 1 + 997 * k;
    buffers.push_back(Tensor::FromVector(RankValues(rank_, n), {n}));
    works.push_back(comm_->AllReduce(buffers.back(), ReduceOp::kSum));
  }
  for (int k = 23; k >= 0; --k) ASSERT_TRUE(works[size_t(k)]->Wait().ok()) << k;
  for (const Tensor& t : buffers) EXPECT_EQ(t.at({t.numel() - 1}), SumOverRanks(world_, int(t.numel()) - 1));
}

TEST_F(CommunicatorTest, ReduceScatterGivesEachRankItsBlock) {
  const int block = 123;
  Tensor in = Tensor::FromVector(RankValues(rank_, block * world_), {block * world_});
  Tensor out = Tensor::Zeros({block});
  ASSERT_TRUE(comm_->ReduceScatter(in, out, ReduceOp::kAvg)->Wait().ok());
  for (int i = 0; i < block; ++i) EXPECT_EQ(out.at({i}), SumOverRanks(world_, rank_ * block + i) / world_) << i;
}

TEST_F(CommunicatorTest, AllGatherConcatenatesTheBlocksOfAnyDType) {
  Tensor in = Tensor::Full({5}, rank_ * 10, DType::kI64);
  Tensor out = Tensor::Zeros({5 * world_}, DType::kI64);
  ASSERT_TRUE(comm_->AllGather(in, out)->Wait().ok());
  for (int r = 0; r < world_; ++r) EXPECT_EQ(out.at({5 * r + 4}), r * 10) << r;
}

TEST_F(CommunicatorTest, BroadcastCopiesTheRootsTensor) {
  const int root = world_ - 1;
  Tensor t = Tensor::Full({7, 3}, rank_ == root ? 42.0 : -1.0);
  ASSERT_TRUE(comm_->Broadcast(t, root)->Wait().ok());
  EXPECT_EQ(t.at({6, 2}), 42.0);
}

// How every rank, on every host, gets the NCCL id before NCCL can connect them (nccl_communicator.cc):
// the id is 128 opaque bytes that rank 0 makes. Alone, rank 0 keeps its own.
TEST(BootstrapTest, BroadcastFromRankZeroGivesEveryRankRankZerosBytes) {
  std::array<unsigned char, 128> id{};
  if (Process().rank == 0)
    for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<unsigned char>(7 * i + 1);
  ASSERT_TRUE(BroadcastFromRankZero(id.data(), int(id.size()), 60, "broadcasting a test id").ok());
  for (size_t i = 0; i < id.size(); ++i) ASSERT_EQ(id[i], static_cast<unsigned char>(7 * i + 1)) << "byte " << i;
}

TEST_F(CommunicatorTest, BarrierReturns) { EXPECT_TRUE(comm_->Barrier().ok()); }

TEST_F(CommunicatorTest, RejectsWrongBlockSizes) {
  Tensor in = Tensor::Zeros({10 * world_ + 1}), out = Tensor::Zeros({10});
  EXPECT_THROW(comm_->ReduceScatter(in, out, ReduceOp::kSum), Error);
  EXPECT_THROW(comm_->AllReduce(Tensor::Zeros({4}, DType::kI32), ReduceOp::kSum), Error);
}

}  // namespace
}  // namespace vfm::dist
