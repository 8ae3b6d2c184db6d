// Tensors on the GPU: uploads, downloads, strided copies, f32 <-> bf16 conversion, fills, pinned
// uploads, and the caching allocator's steady state (no cudaMalloc once warm).
#include "autograd/caching_allocator.h"
#include "autograd/ops.h"
#include "tests/gpu/gpu_test.h"

namespace vfm {
namespace {
using testing::GpuTest;

TEST_F(GpuTest, UploadDownloadIsExact) {
  const Tensor x = Tensor::Randn({197, 37}, 1);
  const Tensor back = x.ToDevice(Gpu()).ToDevice(Device::CPU());
  EXPECT_EQ(back.ToVector(), x.ToVector());
}

TEST_F(GpuTest, StridedViewsCopyLikeTheHost) {
  const Tensor x = Tensor::Randn({5, 7, 3}, 2);
  const Tensor xt = ops::Transpose(x, 0, 2);  // [3, 7, 5], non-contiguous
  const Tensor on_gpu = ops::Transpose(x.ToDevice(Gpu()), 0, 2);
  EXPECT_EQ(on_gpu.Clone().ToVector(), xt.Clone().ToVector());
  // Into a strided destination on the device.
  Tensor dst = Tensor::Zeros({3, 7, 5}, DType::kF32, Gpu());
  Tensor dst_view = ops::Transpose(dst, 0, 2);
  dst_view.CopyFrom(x.ToDevice(Gpu()));
  EXPECT_EQ(dst.ToVector(), xt.Clone().ToVector());
}

TEST_F(GpuTest, Bf16ConversionRoundsLikeTheHost) {
  const Tensor x = Tensor::Randn({1000}, 3);
  EXPECT_EQ(x.ToDevice(Gpu()).To(DType::kBF16).ToVector(), x.To(DType::kBF16).ToVector());
  const Tensor h = x.To(DType::kBF16);
  EXPECT_EQ(h.ToDevice(Gpu()).To(DType::kF32).ToVector(), h.To(DType::kF32).ToVector());
}

TEST_F(GpuTest, FillAndZeros) {
  Tensor t = Tensor::Full({3, 37}, 0.5, DType::kBF16, Gpu());
  for (float v : t.ToVector()) EXPECT_EQ(v, 0.5f);
  for (float v : Tensor::Zeros({1001}, DType::kF32, Gpu()).ToVector()) EXPECT_EQ(v, 0.0f);
}

TEST_F(GpuTest, PinnedUploadsSurviveBufferReuse) {
  // Stage many batches through pinned buffers back to back: a pinned block must not be handed out
  // again (and overwritten) before the asynchronous copy that reads it has run.
  std::vector<Tensor> uploaded;
  for (int i = 0; i < 8; ++i) {
    Tensor staged = Tensor::EmptyPinned({64, 1024}, DType::kF32);
    staged.Fill(double(i));
    uploaded.push_back(staged.ToDevice(Gpu()));
  }
  for (int i = 0; i < 8; ++i)
    for (float v : uploaded[size_t(i)].ToVector()) ASSERT_EQ(v, float(i));
}

TEST_F(GpuTest, SteadyStateAllocatesNothingNew) {
  auto step = [&] {
    Tensor a = Tensor::Randn({64, 197, 64}, 4).ToDevice(Gpu());
    Tensor b = a.Clone();
    Tensor c = b.To(DType::kBF16);
    return c.numel();
  };
  step();
  const auto before = CudaAllocator(0).stats();
  for (int i = 0; i < 5; ++i) step();
  const auto after = CudaAllocator(0).stats();
  EXPECT_EQ(after.backend_mallocs, before.backend_mallocs) << CachingAllocator::Format(after);
  EXPECT_GT(after.cache_hits, before.cache_hits);
  EXPECT_GE(after.peak_in_use, size_t(64 * 197 * 64) * (4 + 4 + 2));
}

}  // namespace
}  // namespace vfm
