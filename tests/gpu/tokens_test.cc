// Token ops on the GPU against the CPU: GatherTokens (kernels/cuda/tokens.cu; index on the host or on
// the device) and Concat (device copies into slices), forward and backward, f32 and bf16. Gathers and
// concatenations move values unchanged, so they compare exactly.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "autograd/ops.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GradsOf;
using testing::OnGpu;
using testing::RoundedToBf16;

class TokensGpu : public testing::GpuTest {};

// [B, M] i64 indices into N tokens, unique within each row (5 and 197 are coprime), as masked-token
// indices are.
Tensor UniqueIndices(int64_t B, int64_t M, int64_t N) {
  Tensor idx = Tensor::Empty({B, M}, DType::kI64);
  int64_t* p = idx.data<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t m = 0; m < M; ++m) p[b * M + m] = (b * 7 + m * 5) % N;
  return idx;
}

void CheckGather(DType dtype, bool index_on_device) {
  SCOPED_TRACE(::testing::Message() << DTypeName(dtype)
                                    << (index_on_device ? ", index on the GPU" : ", index on the host"));
  const int64_t B = 3, N = 197, M = 37, D = 100;
  const bool bf = dtype == DType::kBF16;
  Tensor x = Tensor::Randn({B, N, D}, 1);
  Tensor g = Tensor::Randn({B, M, D}, 2);
  if (bf) {
    x = RoundedToBf16(x);
    g = RoundedToBf16(g);
  }
  const Tensor idx = UniqueIndices(B, M, N);
  Tensor xg = OnGpu(x, dtype);
  x.set_requires_grad(true);
  xg.set_requires_grad(true);
  const Tensor want = ops::GatherTokens(x, idx);
  const Tensor got = ops::GatherTokens(xg, index_on_device ? idx.ToDevice(Device::CUDA(0)) : idx);
  EXPECT_TRUE(got.device() == Device::CUDA(0));
  EXPECT_EQ(got.dtype(), dtype);
  EXPECT_EQ(got.shape(), want.shape());
  EXPECT_EQ(got.ToVector(), want.ToVector());
  // Unique indices: each dx element receives at most one addition onto zero, so the gradient is exact.
  const std::vector<Tensor> want_grads = GradsOf(want, g), got_grads = GradsOf(got, OnGpu(g, dtype));
  ASSERT_EQ(got_grads.size(), 1u);
  ASSERT_EQ(want_grads.size(), 1u);
  EXPECT_TRUE(got_grads[0].device() == Device::CUDA(0));
  EXPECT_EQ(got_grads[0].shape(), x.shape());
  EXPECT_EQ(got_grads[0].ToVector(), want_grads[0].ToVector());
}

TEST_F(TokensGpu, GatherMatchesHost) {
  for (DType dtype : {DType::kF32, DType::kBF16})
    for (bool on_device : {false, true}) CheckGather(dtype, on_device);
}

// The iBOT layout: all patch tokens of all crops as one row, the masked ones picked.
TEST_F(TokensGpu, GatherMaskedPatchesOfABatch) {
  const int64_t N = 2 * 4 * 196, D = 37;
  std::vector<int64_t> picked;
  for (int64_t i = 0; i < N; ++i)
    if ((i * 2654435761u) % 10 < 3) picked.push_back(i);
  Tensor idx = Tensor::Empty({1, int64_t(picked.size())}, DType::kI64);
  std::copy(picked.begin(), picked.end(), idx.data<int64_t>());
  const Tensor x = Tensor::Randn({1, N, D}, 3);
  const Tensor got = ops::GatherTokens(OnGpu(x, DType::kF32), idx);
  EXPECT_EQ(got.ToVector(), ops::GatherTokens(x, idx).ToVector());
}

TEST_F(TokensGpu, ConcatMatchesHost) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    SCOPED_TRACE(DTypeName(dtype));
    std::vector<Tensor> host, dev;
    const int64_t lengths[] = {1, 196, 37};
    for (int64_t i = 0; i < 3; ++i) {
      Tensor t = RoundedToBf16(Tensor::Randn({2, lengths[i], 37}, uint64_t(10 + i)));
      Tensor d = OnGpu(t, dtype);
      t.set_requires_grad(true);
      d.set_requires_grad(true);
      host.push_back(t);
      dev.push_back(d);
    }
    const Tensor want = ops::Concat(host, 1), got = ops::Concat(dev, 1);
    EXPECT_TRUE(got.device() == Device::CUDA(0));
    EXPECT_EQ(got.dtype(), dtype);
    EXPECT_EQ(got.shape(), want.shape());
    EXPECT_EQ(got.ToVector(), want.ToVector());
    const Tensor g = RoundedToBf16(Tensor::Randn(want.shape(), 20));
    const std::vector<Tensor> want_grads = GradsOf(want, g), got_grads = GradsOf(got, OnGpu(g, dtype));
    ASSERT_EQ(got_grads.size(), 3u);
    ASSERT_EQ(want_grads.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_TRUE(got_grads[i].device() == Device::CUDA(0));
      EXPECT_EQ(got_grads[i].shape(), want_grads[i].shape());
      EXPECT_EQ(got_grads[i].ToVector(), want_grads[i].ToVector());
    }
  }
}


}  // namespace
}  // namespace vfm
