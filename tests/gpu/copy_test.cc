// kernels/cuda/copy.cu through Tensor on the GPU: uploads, downloads, strided copies, f32 <-> bf16
// conversion (ops::Cast's kernels), fills, pinned uploads, and the caching allocator's steady state.
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

// Device copies move words of up to 16 bytes where the pointers, strides and row length allow it, else
// single elements (kernels/cuda/copy.cu): copies into and out of a window of a wider row, at offsets
// that give every alignment, for row lengths that are and are not multiples of the words, are exact.
TEST_F(GpuTest, StridedCopiesOfEveryAlignmentAreExact) {
  for (DType dtype : {DType::kBF16, DType::kF32})
    for (int64_t len : {1, 3, 8, 12, 24, 768})
      for (int64_t offset : {0, 1, 2, 4, 8}) {
        SCOPED_TRACE(::testing::Message() << DTypeName(dtype) << " row " << len << " at " << offset);
        const Tensor src = Tensor::Randn({5, len}, 4, dtype);
        Tensor on_host = Tensor::Zeros({5, len + 8}, dtype);
        Tensor on_gpu = Tensor::Zeros({5, len + 8}, dtype, Gpu());
        Tensor host_window = ops::Slice(on_host, 1, offset, offset + len);
        host_window.CopyFrom(src);
        Tensor gpu_window = ops::Slice(on_gpu, 1, offset, offset + len);
        gpu_window.CopyFrom(src.ToDevice(Gpu()));
        EXPECT_EQ(on_gpu.ToVector(), on_host.ToVector());
        EXPECT_EQ(gpu_window.Clone().ToVector(), src.ToVector());
      }
  // A broadcast (stride-0) source, as the [CLS] token is copied into every sample's first row.
  const Tensor row = Tensor::Randn({1, 1, 768}, 5, DType::kBF16);
  Tensor tokens = Tensor::Zeros({4, 3, 768}, DType::kBF16, Gpu());
  Tensor first = ops::Slice(tokens, 1, 0, 1);
  first.CopyFrom(ops::Expand(row.ToDevice(Gpu()), {4, 1, 768}));
  EXPECT_EQ(first.Clone().ToVector(), ops::Expand(row, {4, 1, 768}).Clone().ToVector());
}

TEST_F(GpuTest, Bf16ConversionRoundsLikeTheHost) {
  // 1003 elements: packs of 8 and a tail; then a view one element in (no 16-byte accesses).
  const Tensor x = Tensor::Randn({1003}, 3);
  EXPECT_EQ(x.ToDevice(Gpu()).To(DType::kBF16).ToVector(), x.To(DType::kBF16).ToVector());
  const Tensor h = x.To(DType::kBF16);
  EXPECT_EQ(h.ToDevice(Gpu()).To(DType::kF32).ToVector(), h.To(DType::kF32).ToVector());
  const Tensor x_view = ops::Slice(x.ToDevice(Gpu()), 0, 1, 1003);
  EXPECT_EQ(x_view.To(DType::kBF16).ToVector(), ops::Slice(x, 0, 1, 1003).To(DType::kBF16).ToVector());
}

// ops::ConvertedCopies converts many tensors in batched launches (cuda::ConvertMany, 64 per launch):
// 70 tensors of assorted sizes (packs and tails, a large one, views one element into their buffer)
// give exactly what one conversion each gives.
TEST_F(GpuTest, BatchedConversionsEqualSingleOnes) {
  std::vector<Tensor> xs;
  for (int i = 0; i < 70; ++i) {
    const int64_t n = i == 5 ? 2359296 : 1 + 37 * i;  // one fc weight of ViT-B: the longest stride loop
    const Tensor x = Tensor::Randn({n + 1}, uint64_t(100 + i)).ToDevice(Gpu());
    xs.push_back(i % 3 == 2 ? ops::Slice(x, 0, 1, n + 1) : ops::Slice(x, 0, 0, n));
  }
  const std::vector<Tensor> copies = ops::ConvertedCopies(xs, DType::kBF16);
  ASSERT_EQ(copies.size(), xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(copies[i].dtype(), DType::kBF16);
    EXPECT_TRUE(copies[i].device() == Gpu());
    EXPECT_EQ(copies[i].ToVector(), xs[i].To(DType::kBF16).ToVector());
  }
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
