#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(View, ReshapeTransposeSliceShareStorage) {
  Tensor x = RandD({2, 3, 4}, 1);
  Tensor t = ops::Transpose(x, 0, 2);
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.storage(), x.storage());
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.at({3, 1, 0}), x.at({0, 1, 3}));
  Tensor s = ops::Slice(x, 1, 1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(s.at({1, 0, 2}), x.at({1, 1, 2}));
  Tensor r = ops::Reshape(x, {6, -1});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_EQ(r.at({5, 3}), x.at({1, 2, 3}));
  Tensor rt = ops::Reshape(t, {-1});  // non-contiguous: a copy in row-major order of t
  EXPECT_EQ(rt.at({1}), t.at({0, 0, 1}));
  EXPECT_THROW(ops::Reshape(x, {5, -1}), Error);
  EXPECT_THROW(ops::Slice(x, 1, 2, 4), Error);
}

TEST(View, Gradients) {
  auto x = RandD({2, 3, 4}, 1).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Reshape(ops::Transpose(in[0], 0, 1), {3, 8}); }, {x});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Slice(in[0], 2, 1, 3); }, {x});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Select(in[0], 1, 2); }, {x});
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Contiguous(ops::Transpose(in[0], 1, 2)); }, {x});
  auto row = RandD({1, 3, 1}, 2).set_requires_grad(true);
  ExpectGradientsMatch([](const std::vector<Tensor>& in) { return ops::Expand(in[0], {2, 3, 4}); }, {row});
}

}  // namespace
}  // namespace vfm
