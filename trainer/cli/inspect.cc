// vfm inspect PATH: a summary of a shard dataset folder (index.json) or of a checkpoint / run folder.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

#include "data/dataset.h"
#include "trainer/checkpoint.h"
#include "trainer/cli/command.h"
#include "trainer/flops.h"

namespace vfm::cli {
namespace {

// Per modality: samples, synthetic share, channel statistics (or that it has none), and a histogram of
// the images' shorter sides.
void PrintModalities(const data::Dataset& ds) {
  const data::DatasetIndex& index = ds.index();
  std::map<std::string, int64_t> synthetic;
  for (const auto& shard : index.shards)
    if (shard.synthetic)
      for (const auto& [name, count] : shard.modality_counts) synthetic[name] += count;
  const std::vector<int> bins = {64, 128, 256, 512, 1024, 2048};  // upper bounds; the last bin is open
  std::vector<std::vector<int64_t>> sizes(index.modalities.size(), std::vector<int64_t>(bins.size() + 1));
  for (int64_t id = 0; id < ds.size(); ++id) {
    const int side = int(std::min(ds.height(id), ds.width(id)));
    sizes[ds.modality(id)][size_t(std::upper_bound(bins.begin(), bins.end(), side) - bins.begin())]++;
  }
  std::printf("  %-16s %10s %9s  %-40s  %s\n", "modality", "samples", "synthetic", "mean / std (R, G, B; 0..1)",
              "shorter side: <64 <128 <256 <512 <1024 <2048 >=2048");
  for (size_t m = 0; m < index.modalities.size(); ++m) {
    const std::string& name = index.modalities[m];
    const auto count = index.modality_counts.find(name);
    if (count == index.modality_counts.end()) continue;
    const auto stats = index.modality_stats.find(name);
    const std::string figures =
        stats == index.modality_stats.end()
            ? "none (vfm stats adds them)"
            : absl::StrFormat("%.3f %.3f %.3f / %.3f %.3f %.3f", stats->second.mean[0], stats->second.mean[1],
                              stats->second.mean[2], stats->second.std[0], stats->second.std[1], stats->second.std[2]);
    std::printf("  %-16s %10lld %8.1f%%  %-40s  %s\n", name.c_str(), (long long)count->second,
                100.0 * double(synthetic[name]) / double(count->second), figures.c_str(),
                absl::StrJoin(sizes[m], " ").c_str());
  }
}

int InspectDataset(const std::string& path) {
  auto ds = data::Dataset::Open(path, {.verify_shard_checksums = true});  // a full integrity check
  if (!ds.ok()) {
    std::fprintf(stderr, "vfm inspect: %s\n", std::string(ds.status().message()).c_str());
    return 1;
  }
  const data::DatasetIndex& index = (*ds)->index();
  int64_t bytes = 0;
  for (const auto& shard : index.shards) bytes += shard.bytes;
  std::printf("dataset %s (checksums match): format %d, %lld samples in %zu shards (%.1f MB), created by %s\n", path.c_str(),
              index.format_version, (long long)index.samples, index.shards.size(), bytes / 1e6, index.created_by.c_str());
  PrintModalities(**ds);
  if (!index.labels.empty()) std::printf("  %zu class names\n", index.labels.size());
  for (const auto& shard : index.shards)
    std::printf("  %s: %lld samples, %lld bytes%s\n", shard.file.c_str(), (long long)shard.samples, (long long)shard.bytes,
                shard.synthetic ? ", synthetic" : "");
  return 0;
}

// The student's tokens per image of the run's crops (flags.json values are strings); NaN if a flag is not a
// count (a hand-edited state.json), so that the figure printed says it is unknown.
double TokensPerImage(const nn::ViTConfig& vit, const nlohmann::json& flags) {
  bool ok = true;
  const auto flag = [&](const char* name, int64_t otherwise) {
    int64_t value = otherwise;
    if (flags.contains(name))
      ok &= flags[name].is_string() && absl::SimpleAtoi(flags[name].get<std::string>(), &value) && value >= 0;
    return value;
  };
  const IBotStepShape crops{1, flag("global_crops", 2), flag("local_crops", 0), flag("global_size", vit.img_size),
                          flag("local_size", 96), 0};
  return ok ? double(StudentTokens(vit, crops)) : std::nan("");
}

int InspectCheckpoint(const std::string& path) {
  auto nets = LoadNetworks(path);
  if (!nets.ok()) {
    std::fprintf(stderr, "vfm inspect: %s\n", std::string(nets.status().message()).c_str());
    return 1;
  }
  int64_t params = 0, backbone = 0;
  for (const auto& [name, p] : nets->student->NamedParameters()) {
    params += p.numel();
    if (name.rfind("head.", 0) != 0) backbone += p.numel();
  }
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(nets->dir)) bytes += e.file_size();
  const TrainingState& s = nets->state;
  std::printf("checkpoint %s (complete, checksums match): step %lld, world size %d, %.1f MB\n", nets->dir.c_str(),
              (long long)s.step, s.world_size, bytes / 1e6);
  std::printf("  loader: seed %llu, epoch %lld, %lld samples of the epoch consumed\n", (unsigned long long)s.loader.seed,
              (long long)s.loader.epoch, (long long)s.loader.consumed);
  std::printf("  model: %s\n  parameters: %.2fM (backbone %.2fM)\n", s.model.dump().c_str(), params / 1e6, backbone / 1e6);
  const ComputeAccount& c = s.compute;
  std::printf("  compute: %lld images seen, %.4g model FLOPs (forward + backward), %.1f s wall, %.1f device-s, "
              "%.0f tokens/s on average; %.1f s of periodic evals beside\n",
              (long long)c.images_seen, c.flops, c.wall_s, c.device_s,
              double(c.images_seen) * TokensPerImage(nets->config.vit, s.flags) / std::max(c.wall_s, 1e-9), c.eval_s);
  for (const auto& [modality, count] : c.samples_per_modality)
    std::printf("    %-20s %10lld samples\n", modality.c_str(), (long long)count);
  if (s.budget_steps > 0) std::printf("  --budget_minutes fixed the run at %lld steps\n", (long long)s.budget_steps);
  return 0;
}

int RunInspect(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: vfm inspect DATASET_FOLDER | CHECKPOINT_FOLDER | RUN_FOLDER\n");
    return 2;
  }
  if (std::filesystem::exists(args[0] + "/index.json")) return InspectDataset(args[0]);
  return InspectCheckpoint(args[0]);
}

const RegisterCommand kRegister("inspect", {"summary of a shard dataset or a checkpoint", RunInspect, {}});

}  // namespace
}  // namespace vfm::cli
