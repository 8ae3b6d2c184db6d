// The FLOP count behind MFU, against published figures (timm lists ViT-B/16 at 224 px as 17.6 GMACs,
// ViT-S/16 as 4.6) and against a hand count of the iBOT step's parts.
#include "trainer/flops.h"

#include <gtest/gtest.h>

namespace vfm {
namespace {

nn::ViTConfig Vit(const char* arch) { return *nn::ViTConfigByName(arch, 16, 224); }

TEST(Flops, ViTForwardMatchesPublishedMacs) {
  EXPECT_NEAR(ViTForwardFlops(Vit("vit_base"), 1, 224) / 2, 17.6e9, 0.1e9);
  EXPECT_NEAR(ViTForwardFlops(Vit("vit_small"), 1, 224) / 2, 4.6e9, 0.1e9);
  EXPECT_DOUBLE_EQ(ViTForwardFlops(Vit("vit_base"), 64, 224), 64 * ViTForwardFlops(Vit("vit_base"), 1, 224));
}

TEST(Flops, StepCountsStudentThreeTimesAndTeacherOnce) {
  const nn::ViTConfig vit = Vit("vit_small");
  nn::IBotHeadConfig head;
  const IBotStepShape s{8, 2, 10, 224, 96, 300};
  const double student = ViTForwardFlops(vit, 16, 224) + ViTForwardFlops(vit, 80, 96) +
                         HeadForwardFlops(head, 384, 16 + 80 + 300);
  const double teacher = ViTForwardFlops(vit, 16, 224) + HeadForwardFlops(head, 384, 16 * 197);
  EXPECT_DOUBLE_EQ(IBotStepFlops(vit, head, s), 3 * student + teacher);
  EXPECT_DOUBLE_EQ(HeadForwardFlops(head, 384, 1), 2.0 * (384 * 2048 + 2048 * 2048 + 2048 * 256 + 256 * 8192));
}

}  // namespace
}  // namespace vfm
