// vfm stats DATASET: (re)computes the per-modality channel statistics of a dataset (data/modality_stats.h)
// and rewrites its index.json with them (through a temporary file and a rename), for datasets `vfm shard`
// made before it wrote them. The shards are not touched; index.json's crc changes, so a run resumed on
// the dataset afterwards is refused as "another dataset" unless --allow_changed_flags=data (its
// normalisation would change).
#include <omp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "data/dataset.h"
#include "data/modality_stats.h"
#include "trainer/cli/command.h"
#include "trainer/cli/flag_checks.h"

ABSL_DECLARE_FLAG(int, threads);

namespace vfm::cli {
namespace {

int RunStats(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: vfm stats DATASET_FOLDER [--threads=N]\n");
    return 2;
  }
  FlagChecker flags;
  const int threads = flags.Get(FLAGS_threads, 0, kMaxThreads);
  if (!flags.status().ok()) {
    std::fprintf(stderr, "vfm stats: %s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  auto ds = data::Dataset::Open(args[0]);
  if (!ds.ok()) {
    std::fprintf(stderr, "vfm stats: %s\n", std::string(ds.status().message()).c_str());
    return 1;
  }
  auto stats = data::ComputeModalityStats(**ds, threads > 0 ? threads : omp_get_max_threads(),
                                          [](int64_t done, int64_t total) {
                                            std::fprintf(stderr, "\rvfm stats: %lld / %lld samples", (long long)done,
                                                         (long long)total);
                                            if (done == total) std::fprintf(stderr, "\n");
                                          });
  if (!stats.ok()) {
    std::fprintf(stderr, "vfm stats: %s\n", std::string(stats.status().message()).c_str());
    return 1;
  }
  data::DatasetIndex index = (*ds)->index();
  index.modality_stats = *stats;
  if (absl::Status s = data::WriteDatasetIndex(args[0], index); !s.ok()) {
    std::fprintf(stderr, "vfm stats: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  for (const auto& [name, st] : *stats)
    std::printf("  %-16s %10lld images  mean %.4f %.4f %.4f  std %.4f %.4f %.4f\n", name.c_str(),
                (long long)st.images, st.mean[0], st.mean[1], st.mean[2], st.std[0], st.std[1], st.std[2]);
  std::printf("wrote the statistics into %s/index.json\n", args[0].c_str());
  return 0;
}

const RegisterCommand kRegister("stats", {"(re)compute per-modality channel mean/std into a dataset's index.json",
                                          RunStats, {"threads"}});

}  // namespace
}  // namespace vfm::cli
