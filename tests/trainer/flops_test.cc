// The FLOP count behind MFU and --budget_flops, against published figures (timm lists ViT-B/16 at 224 px
// as 17.6 GMACs, ViT-S/16 as 4.6), against a hand count of the iBOT step's parts, and against a count of
// the matmuls of a built network's weights.
#include "trainer/flops.h"

#include <gtest/gtest.h>

#include "autograd/nn/ibot_head.h"

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

// 2 x rows x (the weight's elements) for every weight matrix of a built network (the patch embedding's
// conv on the patches, the blocks' linears on every token, the head's on its rows), plus attention's
// 4 N^2 D per block: the matmuls the networks' Forward does, counted from what is there.
TEST(Flops, FormulaMatchesACountOfTheBuiltNetworksMatmuls) {
  nn::ViTConfig vit = *nn::ViTConfigByName("vit_small", 8, 32);
  vit.depth = 3;
  const nn::IBotHeadConfig head{96, 48, 200, true};
  const nn::IBotNetwork net(vit, head, 7);
  const int64_t patches = (32 / 8) * (32 / 8), tokens = patches + 1, head_rows = 5;
  double backbone = 0, head_flops = 0;
  int matrices = 0;
  for (const auto& [name, p] : net.NamedParameters()) {
    const bool matrix = p.dim() >= 2 && (name.size() >= 6 && (name.rfind("weight") == name.size() - 6 ||
                                                              name.rfind("weight_v") == name.size() - 8));
    if (!matrix) continue;
    ++matrices;
    if (name.rfind("head.", 0) == 0) head_flops += 2.0 * head_rows * double(p.numel());
    else if (name.rfind("patch_embed.", 0) == 0) backbone += 2.0 * patches * double(p.numel());
    else backbone += 2.0 * tokens * double(p.numel());
  }
  EXPECT_EQ(matrices, 1 + 4 * 3 + 4);  // patch embedding, qkv/proj/fc1/fc2 per block, the head's four
  backbone += vit.depth * 4.0 * tokens * tokens * vit.dim;
  EXPECT_DOUBLE_EQ(ViTForwardFlops(vit, 1, 32), backbone);
  EXPECT_DOUBLE_EQ(HeadForwardFlops(head, vit.dim, head_rows), head_flops);
}

TEST(Flops, StudentTokensCountEveryCrop) {
  const nn::ViTConfig vit = Vit("vit_small");
  EXPECT_EQ(StudentTokens(vit, {8, 2, 10, 224, 96, 300}), 8 * (2 * 197 + 10 * 37));
}

}  // namespace
}  // namespace vfm
