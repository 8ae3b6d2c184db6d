// Tensor copies on the host (kernels/cpu/copy.cc through Tensor::CopyFrom / Clone / Contiguous): every
// layout against an element-by-element loop, bits preserved, dtype conversions.
#include <cstring>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::RandD;

// dst must hold src's values at every index (compared through at(), which reads any strides).
void ExpectSameValues(const Tensor& dst, const Tensor& src) {
  ASSERT_EQ(dst.shape(), src.shape());
  const Tensor flat_dst = ops::Reshape(dst.Contiguous(), {-1}), flat_src = ops::Reshape(src.Contiguous(), {-1});
  for (int64_t i = 0; i < src.numel(); ++i) ASSERT_EQ(flat_dst.at({i}), flat_src.at({i})) << "element " << i;
}

TEST(Copy, EveryLayoutMatchesAnElementLoop) {
  const Tensor x = RandD({3, 4, 5}, 1);
  const Tensor layouts[] = {
      x,                                                // contiguous
      ops::Transpose(x, 0, 2),                          // no unit stride
      ops::Slice(x, 2, 1, 4),                           // rows contiguous, gaps between them
      ops::Slice(ops::Transpose(x, 1, 2), 0, 1, 3),     // both
      x.View({3, 4, 5}, {0, 5, 1}, 0),                  // stride 0 (broadcast source)
      x.View({}, {}, 7),                                // a scalar
      x.View({3, 0, 5}, {20, 5, 1}, 0),                 // empty
  };
  for (const Tensor& src : layouts) {
    SCOPED_TRACE(ShapeToString(src.shape()) + " strides " + ShapeToString(src.strides()));
    ExpectSameValues(src.Clone(), src);
    EXPECT_TRUE(src.Clone().is_contiguous());
    // Into a strided destination: the transpose of a fresh buffer.
    if (src.dim() == 3) {
      Tensor buffer = Tensor::Zeros({src.size(2), src.size(1), src.size(0)}, DType::kF64);
      Tensor dst = ops::Transpose(buffer, 0, 2);
      dst.CopyFrom(src);
      ExpectSameValues(dst, src);
    }
  }
}

TEST(Copy, SameTypeCopiesKeepEveryBit) {
  // int64 values above 2^53 (a copy through double would round them) and a NaN payload.
  Tensor big = Tensor::Empty({2, 3}, DType::kI64);
  for (int64_t i = 0; i < 6; ++i) big.data<int64_t>()[i] = (int64_t(1) << 60) + i;
  const Tensor t = ops::Transpose(big, 0, 1).Clone();
  EXPECT_EQ(t.data<int64_t>()[1], (int64_t(1) << 60) + 3);
  Tensor f = Tensor::Empty({2, 2}, DType::kF32);
  const uint32_t payload = 0x7fc12345;
  for (int i = 0; i < 4; ++i) std::memcpy(f.data<float>() + i, &payload, 4);
  const Tensor ft = ops::Transpose(f, 0, 1).Clone();
  uint32_t bits;
  std::memcpy(&bits, ft.data<float>() + 1, 4);
  EXPECT_EQ(bits, payload);
}

TEST(Copy, ContiguousSharesStorageOnlyWhenAlreadyContiguous) {
  const Tensor x = RandD({4, 6}, 2);
  EXPECT_EQ(x.Contiguous().storage(), x.storage());
  const Tensor t = ops::Transpose(x, 0, 1);
  EXPECT_NE(t.Contiguous().storage(), x.storage());
  ExpectSameValues(t.Contiguous(), t);
}

TEST(Copy, ConvertsBetweenTypes) {
  const Tensor x = ops::Transpose(RandD({3, 5}, 3), 0, 1);
  Tensor f = Tensor::Empty({5, 3}, DType::kF32);
  f.CopyFrom(x);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(f.at({i, j}), double(float(x.at({i, j}))));
  EXPECT_THROW(f.CopyFrom(RandD({3, 5}, 4)), Error);
}

}  // namespace
}  // namespace vfm
