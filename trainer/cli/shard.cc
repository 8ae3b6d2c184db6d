// `vfm shard`: converts images into a dataset folder of HDF5 shards + index.json (data/convert.h).
//   vfm shard --input=DIR  --output=OUT [--modality=NAME] [--folder_labels]     a folder tree
//   vfm shard --csv=LIST.csv --output=OUT                                      a CSV list
//   vfm shard --idx_images=X-images-idx3-ubyte.gz --idx_labels=X-labels-idx1-ubyte.gz --output=OUT --modality=NAME
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "data/convert.h"
#include "trainer/cli/command.h"
#include "trainer/cli/flag_checks.h"

ABSL_FLAG(std::string, input, "", "vfm shard: folder tree of .jpg/.jpeg/.png/.tif/.tiff images (modality = first folder level unless --modality)");
ABSL_FLAG(std::string, csv, "", "vfm shard: CSV list of path,modality,label,subject[,synthetic]");
ABSL_FLAG(std::string, idx_images, "", "vfm shard: IDX image file (MNIST-style, may be .gz)");
ABSL_FLAG(std::string, idx_labels, "", "vfm shard: IDX label file matching --idx_images");
ABSL_FLAG(std::string, output, "", "vfm shard: dataset folder to create");
ABSL_FLAG(std::string, modality, "", "vfm shard: modality of every input (folder and IDX inputs)");
ABSL_FLAG(bool, folder_labels, false, "vfm shard: the folder level below the modality names the class");
ABSL_FLAG(bool, synthetic, false, "vfm shard: tag every input as synthetic");
ABSL_FLAG(double, shard_size_mb, 1024, "vfm shard: target shard size in MB");
ABSL_FLAG(int, threads, 0, "vfm shard: test-decode threads (0 = all cores)");

namespace {

int RunShard(const std::vector<std::string>& args) {
  vfm::cli::FlagChecker flags;
  vfm::data::ConvertOptions options;
  options.output = absl::GetFlag(FLAGS_output);
  options.modality = absl::GetFlag(FLAGS_modality);
  options.folder_labels = absl::GetFlag(FLAGS_folder_labels);
  options.synthetic = absl::GetFlag(FLAGS_synthetic);
  options.target_shard_bytes = int64_t(flags.Get(FLAGS_shard_size_mb, 0.001, 1e6) * 1e6);
  options.threads = flags.Get(FLAGS_threads, 0, vfm::cli::kMaxThreads);
  if (!flags.status().ok()) {
    std::fprintf(stderr, "vfm shard: %s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  options.progress = [](int64_t done, int64_t total, int64_t bytes) {
    std::fprintf(stderr, "\rvfm shard: %lld / %lld inputs, %.1f MB", (long long)done, (long long)total, bytes / 1e6);
    if (done == total) std::fprintf(stderr, "\n");
  };
  const std::string input = absl::GetFlag(FLAGS_input), csv = absl::GetFlag(FLAGS_csv),
                    idx = absl::GetFlag(FLAGS_idx_images);
  if (options.output.empty() || int(!input.empty()) + int(!csv.empty()) + int(!idx.empty()) != 1 ||
      idx.empty() != absl::GetFlag(FLAGS_idx_labels).empty() || !args.empty()) {
    std::fprintf(stderr, "vfm shard: give --output and exactly one of --input, --csv, --idx_images "
                         "(with --idx_labels)\n");
    return 2;
  }
  absl::StatusOr<vfm::data::ConvertReport> report =
      !input.empty() ? vfm::data::ConvertFolder(input, options)
      : !csv.empty() ? vfm::data::ConvertCsv(csv, options)
                     : vfm::data::ConvertIdx(idx, absl::GetFlag(FLAGS_idx_labels), options);
  if (!report.ok()) {
    std::fprintf(stderr, "vfm shard: %s\n", std::string(report.status().message()).c_str());
    return 1;
  }
  std::printf("vfm shard: %lld samples, %.1f MB of images, %zu shards in %s\n", (long long)report->index.samples,
              report->bytes / 1e6, report->index.shards.size(), options.output.c_str());
  for (const auto& [name, count] : report->index.modality_counts)
    std::printf("  %-16s %10lld samples %10.1f MB\n", name.c_str(), (long long)count,
                report->bytes_per_modality[name] / 1e6);
  if (!report->rejected.empty()) {
    std::printf("rejected %zu inputs:\n", report->rejected.size());
    for (const auto& r : report->rejected) std::printf("  %s: %s\n", r.input.c_str(), r.reason.c_str());
  }
  for (const auto& s : report->skipped) std::printf("skipped: %s (%s)\n", s.input.c_str(), s.reason.c_str());
  return 0;
}

vfm::cli::RegisterCommand reg("shard", {"convert images (folder, CSV, IDX) into HDF5 shards", RunShard,
                                          {"shard.cc"}});

}  // namespace
