#include "trainer/export.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "autograd/safetensors.h"

namespace vfm {

nlohmann::json TimmKwargs(const nn::ViTConfig& v) {
  nlohmann::json j = {{"img_size", v.img_size}, {"patch_size", v.patch}, {"in_chans", v.in_chans},
                      {"num_classes", 0},       {"embed_dim", v.dim},     {"depth", v.depth},
                      {"num_heads", v.heads},   {"mlp_ratio", v.mlp_ratio}, {"qkv_bias", true},
                      {"global_pool", "token"}};
  if (v.layerscale_init > 0) j["init_values"] = v.layerscale_init;
  return j;
}

nlohmann::json NormalizationOf(const TrainingState& state) {
  if (!state.normalization.empty()) return state.normalization;
  const data::Normalization imagenet;  // what every checkpoint written before the table was kept used
  return {{"*", {{"mean", imagenet.mean}, {"std", imagenet.std}}}};
}

absl::Status ExportSafetensors(const LoadedNetworks& nets, const std::string& path, bool student, bool with_head) {
  const nn::IBotNetwork& net = student ? *nets.student : *nets.teacher;
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [name, p] : net.NamedParameters()) {
    if (name == "masked_embed") continue;  // pretraining-only (timm has no mask token)
    const bool is_head = name.rfind("head.", 0) == 0;
    if (is_head && !with_head) continue;
    if (name == "head.last_layer.weight_g") {
      tensors.emplace_back(name, ops::Reshape(p, {p.numel(), 1}));
      continue;
    }
    tensors.emplace_back(name, p);
  }
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"vfm_model", ModelConfigToJson(nets.config).dump()},
      {"timm_kwargs", TimmKwargs(nets.config.vit).dump()},
      {"weights", student ? "student" : "teacher"},
      {"step", std::to_string(nets.state.step)},
      {"checkpoint", nets.dir},
      {"normalization", NormalizationOf(nets.state).dump()}};
  return SaveSafetensors(path, tensors, metadata);
}

namespace {
// The newest ckpt-* folder in run_dir (complete or not), or "".
std::string NewestCheckpointFolder(const std::string& run_dir) {
  std::string newest;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(run_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0 && e.is_directory(ec)) newest = std::max(newest, name);
  }
  return newest;
}
}  // namespace

absl::Status ImportSafetensors(const std::string& path, const ModelConfig& config, uint64_t seed,
                               const std::string& out_dir) {
  // The new checkpoint would be the only one kept: every older one would be deleted.
  if (const std::string newest = NewestCheckpointFolder(out_dir); !newest.empty())
    return absl::FailedPreconditionError(absl::StrCat(out_dir, " already holds checkpoints (the newest: ", newest,
                                                      "), which importing would delete: import into a new folder"));
  auto file = LoadSafetensors(path);
  if (!file.ok()) return file.status();
  nn::IBotNetwork student(config.vit, config.head, MixKey({seed, 0x6d6f64656c}));
  nn::IBotNetwork teacher(config.vit, config.head, 0);
  int imported = 0;
  for (auto [name, p] : student.NamedParameters()) {
    auto it = file->tensors.find(name);
    if (it == file->tensors.end()) {
      if (name == "masked_embed" || name.rfind("head.", 0) == 0) continue;  // keep the fresh initialisation
      return absl::InvalidArgumentError(absl::StrCat(path, " has no tensor ", name, " (timm ViT names expected)"));
    }
    Tensor value = it->second.To(DType::kF32);
    if (name == "head.last_layer.weight_g" && value.numel() == p.numel())  // [K, 1] in torch
      value = ops::Reshape(value, p.shape());
    if (name == "pos_embed" && value.shape() != p.shape()) {
      // [1, 1 + g*g, D] -> the model's grid, bicubic on the patch part; [CLS]'s entry as it is.
      const int64_t D = p.size(2), n = value.dim() == 3 ? value.size(1) - 1 : 0;
      const int64_t g = int64_t(std::lround(std::sqrt(double(n))));
      if (value.dim() != 3 || value.size(0) != 1 || value.size(2) != D || n < 1 || g * g != n)
        return absl::InvalidArgumentError(absl::StrCat(path, ": pos_embed ", ShapeToString(value.shape()),
                                                       " is not a square grid of width ", D));
      const int64_t G = config.vit.grid();
      Tensor grid = ops::Reshape(ops::Slice(value, 1, 1, 1 + n), {1, g, g, D});
      value = ops::Concat({ops::Slice(value, 1, 0, 1), ops::Reshape(ops::ResizeBicubic(grid, G, G), {1, G * G, D})}, 1);
      std::printf("import: pos_embed resized from a %lldx%lld to a %lldx%lld grid\n", (long long)g, (long long)g,
                  (long long)G, (long long)G);
    }
    if (value.shape() != p.shape())
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, " is ", ShapeToString(value.shape()),
                                                     ", the model expects ", ShapeToString(p.shape())));
    p.CopyFrom(value);
    ++imported;
  }
  teacher.LoadFrom(student.NamedParameters());
  std::printf("import: %d tensors from %s\n", imported, path.c_str());
  TrainingState state;
  state.loader.seed = seed;
  state.model = ModelConfigToJson(config);
  return SaveCheckpoint(out_dir, {&student, &teacher, nullptr, nullptr}, state, 1);
}

}  // namespace vfm
