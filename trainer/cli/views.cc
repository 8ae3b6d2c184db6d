// vfm views --flagfile=RECIPE --data=DIR --batches=N --out=FILE.h5: writes the first N batches of the training
// stream that `vfm pretrain` with the same flags draws (seed, batch, crops, augmentation, masks), before
// normalisation, to an HDF5 views file (data/views_file.h): to look at what the augmentation makes, or to
// feed the very same views to another trainer (bench/learning_parity trains its PyTorch reference on them).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "data/loader.h"
#include "data/views_file.h"
#include "trainer/cli/command.h"
#include "trainer/cli/flag_checks.h"
#include "trainer/cli/pretrain_flags.h"

ABSL_DECLARE_FLAG(std::string, out);
ABSL_FLAG(int64_t, batches, 10, "views: batches of the training stream to write");

namespace vfm::cli {
namespace {

// Draws `batches` batches of the training stream of `o` (one rank's view of the whole global batch) and
// writes them to `path`.
absl::Status WriteViews(const PretrainOptions& o, int64_t batches, const std::string& path) {
  auto loader = data::Loader::Create(o.data, TrainingLoaderOptions(o, 0, 1));
  if (!loader.ok()) return loader.status();
  if ((*loader)->steps_per_epoch() < batches)
    return absl::InvalidArgumentError(absl::StrCat("--batches=", batches, " is more than the ",
                                                   (*loader)->steps_per_epoch(), " batches of an epoch of --data"));
  std::vector<std::unique_ptr<data::Batch>> drawn;
  for (int64_t k = 0; k < batches; ++k) {
    auto batch = (*loader)->Next();
    if (!batch.ok()) return batch.status();
    drawn.push_back(std::move(*batch));
  }
  return data::WriteViewsFile(drawn, path);
}

int RunViews(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "vfm views: unexpected argument '%s' (flags are --name=value)\n", args[0].c_str());
    return 2;
  }
  PretrainOptions o;
  absl::Status flags = ReadPretrainFlags(&o);
  FlagChecker checker;
  const int64_t batches = checker.Get(FLAGS_batches, 1, int64_t{1} << 20);
  const std::string out = absl::GetFlag(FLAGS_out);
  checker.Require(!out.empty(), "--out (the HDF5 file to write) is required");
  checker.Require(!o.data.empty(), "--data (the dataset folder) is required");
  if (flags.ok()) flags = checker.status();
  if (!flags.ok()) {
    std::fprintf(stderr, "vfm views: %s\n", std::string(flags.message()).c_str());
    return 2;
  }
  if (absl::Status s = WriteViews(o, batches, out); !s.ok()) {
    std::fprintf(stderr, "vfm views: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("vfm views: wrote %lld batches of %lld samples to %s\n", (long long)batches, (long long)o.global_batch,
              out.c_str());
  return 0;
}

const RegisterCommand kRegister("views", {"write a pretraining run's first batches of views and masks to HDF5",
                                          RunViews, {"pretrain.cc", "model_flags.cc", "eval_size", "eval_resize", "batches", "out"}});

}  // namespace
}  // namespace vfm::cli
