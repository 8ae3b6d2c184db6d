// Export loads into timm and plain PyTorch and gives vfm's features; import resizes pos_embed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "autograd/safetensors.h"
#include "trainer/export.h"

namespace vfm {
namespace {

namespace fs = std::filesystem;

ModelConfig SmallConfig(int64_t img_size) {
  ModelConfig c;
  c.vit.dim = 96, c.vit.depth = 2, c.vit.heads = 3, c.vit.patch = 4, c.vit.img_size = img_size;
  c.head.hidden = 64, c.head.bottleneck = 32, c.head.out_dim = 50;
  return c;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vfm_export_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const ModelConfig c = SmallConfig(28);
    nn::IBotNetwork student(c.vit, c.head, 1), teacher(c.vit, c.head, 2);  // teacher != student
    TrainingState state;
    state.model = ModelConfigToJson(c);
    ASSERT_TRUE(SaveCheckpoint(dir_, {&student, &teacher, nullptr, nullptr}, state, 1).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ExportTest, LoadsIntoTimmAndPyTorchWithTheSameFeatures) {
  auto nets = LoadNetworks(dir_);
  ASSERT_TRUE(nets.ok()) << nets.status();
  const std::string path = dir_ + "/export.safetensors";
  ASSERT_TRUE(ExportSafetensors(*nets, path, /*student=*/false, /*with_head=*/true).ok());

  Tensor images = Tensor::Randn({3, 3, 28, 28}, 5);
  Tensor features, head;
  {
    NoGradGuard no_grad;
    features = nets->teacher->backbone->ClsFeatures(images, 1);
    head = nets->teacher->head->Forward(nets->teacher->backbone->Forward(images, Tensor(), nullptr));
  }
  const std::string outputs = dir_ + "/outputs.safetensors";
  ASSERT_TRUE(SaveSafetensors(outputs, {{"images", images}, {"features", features}, {"head", head}}).ok());
  const std::string cmd = std::string(VFM_PYTHON) + " " + VFM_SOURCE_DIR + "/tests/trainer/export_reference.py " +
                          path + " " + outputs;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "timm / PyTorch disagree with vfm (or timm is not installed: setup.sh)";

  auto file = LoadSafetensors(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->tensors.count("masked_embed"), 0u);
  EXPECT_EQ(file->tensors.at("head.last_layer.weight_g").shape(), (Shape{50, 1}));
  EXPECT_NE(file->metadata.at("timm_kwargs").find("\"depth\":2"), std::string::npos);
}

TEST_F(ExportTest, ImportResizesPosEmbedAndKeepsTheRest) {
  auto nets = LoadNetworks(dir_);
  ASSERT_TRUE(nets.ok());
  const std::string path = dir_ + "/export.safetensors";
  ASSERT_TRUE(ExportSafetensors(*nets, path, false, false).ok());
  const std::string run = dir_ + "/imported";
  ASSERT_TRUE(ImportSafetensors(path, SmallConfig(36), 0, run).ok());  // 7x7 grid -> 9x9
  auto imported = LoadNetworks(run);
  ASSERT_TRUE(imported.ok()) << imported.status();
  const Tensor pos = imported->student->backbone->pos_embed;
  EXPECT_EQ(pos.shape(), (Shape{1, 82, 96}));
  const Tensor old_pos = nets->teacher->backbone->pos_embed;
  EXPECT_EQ(pos.at({0, 0, 7}), old_pos.at({0, 0, 7}));  // [CLS]'s entry is not resized
  // Resizing a grid to itself is the identity; to 9x9 the corners are near the old corners.
  EXPECT_NEAR(pos.at({0, 1, 3}), old_pos.at({0, 1, 3}), 0.02);
  EXPECT_EQ(imported->student->backbone->blocks[1]->mlp->fc2->weight.ToVector(),
            nets->teacher->backbone->blocks[1]->mlp->fc2->weight.ToVector());
  EXPECT_EQ(imported->teacher->backbone->norm->weight.ToVector(), nets->teacher->backbone->norm->weight.ToVector());
  // A file without timm names is refused with the missing name.
  ASSERT_TRUE(SaveSafetensors(dir_ + "/bad.safetensors", {{"weight", Tensor::Zeros({2})}}).ok());
  const absl::Status bad = ImportSafetensors(dir_ + "/bad.safetensors", SmallConfig(28), 0, dir_ + "/bad_run");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("cls_token"), std::string_view::npos) << bad;
}

TEST_F(ExportTest, ImportRefusesMisshapenTensorsAndRunFoldersWithCheckpoints) {
  auto nets = LoadNetworks(dir_);
  ASSERT_TRUE(nets.ok());
  const std::string path = dir_ + "/export.safetensors";
  ASSERT_TRUE(ExportSafetensors(*nets, path, false, /*with_head=*/true).ok());
  auto file = LoadSafetensors(path);
  ASSERT_TRUE(file.ok());
  // A tensor of the wrong shape is refused naming it (a crash before for these two).
  for (const auto& [name, bad] : {std::pair<std::string, Tensor>{"pos_embed", Tensor::Zeros({5})},
                                  std::pair<std::string, Tensor>{"head.last_layer.weight_g", Tensor::Zeros({3, 1})}}) {
    std::vector<std::pair<std::string, Tensor>> tensors(file->tensors.begin(), file->tensors.end());
    for (auto& [n, t] : tensors)
      if (n == name) t = bad;
    const std::string bad_path = dir_ + "/bad.safetensors";
    ASSERT_TRUE(SaveSafetensors(bad_path, tensors).ok());
    const absl::Status s = ImportSafetensors(bad_path, SmallConfig(28), 0, dir_ + "/bad_run");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find(name), std::string_view::npos) << s;
  }
  // Importing into a run folder with checkpoints would prune them: refused, naming the newest.
  const absl::Status s = ImportSafetensors(path, SmallConfig(28), 0, dir_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("(the newest: ckpt-00000000)"), std::string_view::npos) << s;
  EXPECT_TRUE(fs::exists(dir_ + "/ckpt-00000000/MANIFEST.json"));
}

}  // namespace
}  // namespace vfm
