// ops::DropPath / DropPathAdd (autograd/ops/drop_path.cc).
#include <cmath>

#include "tests/ops/gradcheck.h"

namespace vfm {
namespace {
using testing::ExpectClose;
using testing::ExpectGradientsMatch;
using testing::RandD;

TEST(DropPath, ZeroesDroppedSamplesAndScalesKept) {
  auto x = RandD({3, 2, 2}, 1).set_requires_grad(true);
  const std::vector<uint8_t> keep{1, 0, 1};
  Tensor y = ops::DropPath(x, keep, 0.8);
  EXPECT_EQ(y.at({1, 1, 1}), 0.0);
  EXPECT_NEAR(y.at({2, 0, 1}), x.at({2, 0, 1}) / 0.8, 1e-15);
  ExpectGradientsMatch([keep](const std::vector<Tensor>& in) { return ops::DropPath(in[0], keep, 0.8); }, {x});
}

TEST(DropPath, AddIsTheResidualPlusTheDroppedBranch) {
  auto r = RandD({3, 2, 2}, 2).set_requires_grad(true);
  auto x = RandD({3, 2, 2}, 3).set_requires_grad(true);
  const std::vector<uint8_t> keep{0, 1, 1};
  EXPECT_EQ(ops::DropPathAdd(r, x, keep, 0.8).ToVector(), ops::Add(r, ops::DropPath(x, keep, 0.8)).ToVector());
  ExpectGradientsMatch(
      [keep](const std::vector<Tensor>& in) { return ops::DropPathAdd(in[0], in[1], keep, 0.8); }, {r, x});
  EXPECT_THROW(ops::DropPathAdd(RandD({3, 2, 1}, 4), x, keep, 0.8), Error);
}

}  // namespace
}  // namespace vfm
