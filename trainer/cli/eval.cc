// vfm eval knn|linear: frozen features of labelled shards (trainer/eval.h), top-1 printed and written as JSON;
// with --modalities, one evaluation per modality (its training and test samples only) and a table of them.
#include <cmath>
#include <cstdio>
#include <tuple>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "autograd/safetensors.h"
#include "data/normalization.h"
#include "trainer/checkpoint.h"
#include "trainer/cli/command.h"
#include "trainer/cli/eval_size_flags.h"
#include "trainer/cli/flag_checks.h"
#include "trainer/eval.h"
#include "trainer/export.h"

ABSL_DECLARE_FLAG(std::string, data);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, init);
ABSL_DECLARE_FLAG(std::string, norm);
ABSL_DECLARE_FLAG(std::vector<std::string>, modalities);
ABSL_FLAG(std::string, checkpoint, "", "eval/export: a checkpoint folder, or a run folder (its newest checkpoint)");
ABSL_FLAG(std::string, test_data, "", "eval: labelled test shards (--data: the labelled training shards)");
ABSL_FLAG(std::string, encoder, "teacher", "eval: teacher | student | pixels (raw-pixel baseline)");
ABSL_FLAG(int, eval_size, 0,
          "eval, attn, pretrain's evaluations: centre-crop size (0: the training crop size; 224 for --encoder=pixels)");
ABSL_FLAG(int, eval_resize, 0, "eval, attn, pretrain's evaluations: shorter side before the centre crop (0: "
          "--eval_size x 256/224, torchvision's ratio)");
ABSL_FLAG(int, n_last_blocks, 1, "eval: concatenate the [CLS] of the last n blocks (DINO's linear eval: 4)");
ABSL_FLAG(int, knn_k, 20, "eval knn: neighbours");
ABSL_FLAG(double, knn_temperature, 0.07, "eval knn: temperature of the vote weights");
ABSL_FLAG(int, probe_epochs, 100, "eval linear: epochs");
ABSL_FLAG(int, eval_threads, 4, "eval: loader threads");
ABSL_FLAG(std::string, features_out, "", "eval: write train/test features, labels and sample ids (safetensors)");
ABSL_FLAG(std::string, json_out, "", "eval: write the result as JSON");

namespace vfm::cli {

EvalSizeFlags ReadEvalSizeFlags(FlagChecker* f) {
  return {f->Get(FLAGS_eval_size, 0, 4096), f->Get(FLAGS_eval_resize, 0, 8192)};
}

absl::StatusOr<std::pair<int, int>> ResolveEvalSize(const EvalSizeFlags& flags, int64_t trained_size, int64_t patch,
                                                    const std::string& patch_name) {
  const int size = flags.size > 0 ? flags.size : int(trained_size);
  const int resize = flags.resize > 0 ? flags.resize : int(std::lround(size * 256.0 / 224));
  if (resize < size)
    return absl::InvalidArgumentError(absl::StrCat("--eval_resize ", resize, " is smaller than --eval_size ", size,
                                                   " (the centre crop is cut from the resized image)"));
  if (size % patch != 0)
    return absl::InvalidArgumentError(absl::StrCat("--eval_size ", size, " is not a multiple of ", patch_name));
  return std::pair{size, resize};
}

namespace {

// Prints "vfm eval: <what> done/total" at every tenth of the way, on stderr.
Progress PrintProgress(const std::string& what) {
  return [what, last = int64_t(-1)](int64_t done, int64_t total) mutable {
    if (done * 10 / total == last) return;
    last = done * 10 / total;
    std::fprintf(stderr, "vfm eval: %s %lld/%lld\n", what.c_str(), (long long)done, (long long)total);
  };
}

// --norm for eval: "dataset" normalises as pretraining did (the table the checkpoint recorded; checkpoints
// from before it was recorded used ImageNet's), modalities the checkpoint has no entry for (and the pixel
// baseline) with --data's statistics; "imagenet" and values as in pretraining.
absl::StatusOr<data::NormalizationTable> EvalNormalization(const data::DatasetIndex& train, const LoadedNetworks* nets) {
  const std::string spec = absl::GetFlag(FLAGS_norm);
  std::vector<std::string> notes;
  auto table = data::ResolveNormalization(spec, train, &notes);
  if (!table.ok() || spec != "dataset" || nets == nullptr) {
    for (const std::string& note : notes) std::fprintf(stderr, "vfm eval: note: %s\n", note.c_str());
    return table;
  }
  auto trained = data::NormalizationFromJson(NormalizationOf(nets->state));
  if (!trained.ok()) return trained.status();
  return data::AsTrained(std::move(*table), *trained);
}

// --modalities for eval: the names given ("all": every modality --test_data has samples of), each with samples
// in both datasets; empty: one evaluation over all samples.
absl::StatusOr<std::vector<std::string>> EvalModalities(const data::DatasetIndex& train,
                                                        const data::DatasetIndex& test) {
  std::vector<std::string> names = absl::GetFlag(FLAGS_modalities);
  if (names == std::vector<std::string>{"all"}) {
    names.clear();
    for (const std::string& m : test.modalities)
      if (test.modality_counts.count(m) && test.modality_counts.at(m) > 0) names.push_back(m);
  }
  for (const auto& [flag, index] :
       {std::pair{"--modalities: --data", &train}, std::pair{"--modalities: --test_data", &test}})
    if (absl::Status s = CheckHasModalities(*index, names, flag); !s.ok()) return s;
  return names;
}

absl::Status Evaluate(const std::string& mode) {
  if (mode != "knn" && mode != "linear") return absl::InvalidArgumentError("usage: vfm eval knn|linear --flags");
  const std::string encoder_name = absl::GetFlag(FLAGS_encoder);
  const bool random_init = absl::GetFlag(FLAGS_init) == "random";
  if (encoder_name != "teacher" && encoder_name != "student" && encoder_name != "pixels")
    return absl::InvalidArgumentError("--encoder must be teacher, student or pixels, not '" + encoder_name + "'");
  if (!absl::GetFlag(FLAGS_init).empty() && !random_init)
    return absl::InvalidArgumentError("eval takes --init=random (or no --init), not '" + absl::GetFlag(FLAGS_init) + "'");
  FlagChecker f;
  data::EvalOptions eo;
  const EvalSizeFlags size_flags = ReadEvalSizeFlags(&f);
  eo.threads = f.Get(FLAGS_eval_threads, 1, kMaxThreads);
  const int n_last = f.Get(FLAGS_n_last_blocks, 1, 64);
  const int k = f.Get(FLAGS_knn_k, 1, 100000);
  const std::string json_out = absl::GetFlag(FLAGS_json_out), features_out = absl::GetFlag(FLAGS_features_out);
  for (const auto& [flag, path] : {std::pair{"--json_out", json_out}, std::pair{"--features_out", features_out}})
    f.Require(path.empty() || WritableFilePath(path), absl::StrCat(flag, " ", path, ": not a file in an existing folder"));
  f.Require(encoder_name == "pixels" || !absl::GetFlag(FLAGS_checkpoint).empty(),
            "--checkpoint is required (a checkpoint folder, or a run folder: its newest checkpoint)");
  const double temperature = f.GetAbove(FLAGS_knn_temperature, 0, 100);
  const int probe_epochs = f.Get(FLAGS_probe_epochs, 1, 100000);
  const absl::Status norm_spec = data::CheckNormalizationSpec(absl::GetFlag(FLAGS_norm));
  f.Require(norm_spec.ok(), std::string(norm_spec.message()));
  const std::string train_path = absl::GetFlag(FLAGS_data), test_path = absl::GetFlag(FLAGS_test_data);
  f.Require(!train_path.empty() && !test_path.empty(), "--data and --test_data (labelled datasets) are required");
  if (!f.status().ok()) return f.status();

  auto train_ds = data::Dataset::Open(train_path);
  if (!train_ds.ok()) return absl::Status(train_ds.status().code(), absl::StrCat("--data: ", train_ds.status().message()));
  if (absl::Status s = CheckLabelled(**train_ds, "--data " + train_path); !s.ok()) return s;
  auto test_ds = data::Dataset::Open(test_path);
  if (!test_ds.ok()) return absl::Status(test_ds.status().code(), absl::StrCat("--test_data: ", test_ds.status().message()));
  if (absl::Status s = CheckLabelled(**test_ds, "--test_data " + test_path); !s.ok()) return s;
  if (absl::Status s = CheckSameClasses(**train_ds, **test_ds); !s.ok()) return s;
  if (mode == "knn" && k > (*train_ds)->size())
    return absl::InvalidArgumentError(absl::StrCat("--knn_k ", k, " is more than the ", (*train_ds)->size(),
                                                   " samples of --data ", train_path));
  auto modalities = EvalModalities((*train_ds)->index(), (*test_ds)->index());
  if (!modalities.ok()) return modalities.status();
  if (!modalities->empty() && !features_out.empty())
    return absl::InvalidArgumentError("--features_out saves one evaluation's features: leave out --modalities");
  const std::shared_ptr<const data::Dataset> train_data = std::move(*train_ds), test_data = std::move(*test_ds);

  LoadedNetworks nets;
  std::unique_ptr<nn::IBotNetwork> untrained;
  const nn::VisionTransformer* encoder = nullptr;
  if (encoder_name != "pixels") {
    auto loaded = LoadNetworks(absl::GetFlag(FLAGS_checkpoint));
    if (!loaded.ok()) return loaded.status();
    nets = std::move(*loaded);
    const nn::ViTConfig& vit = nets.config.vit;
    auto size = ResolveEvalSize(size_flags, vit.img_size, vit.patch,
                                absl::StrCat("the patch size ", vit.patch, " of ", nets.dir));
    if (!size.ok()) return size.status();
    std::tie(eo.size, eo.resize_size) = *size;
    if (n_last > vit.depth)
      return absl::InvalidArgumentError(absl::StrCat("--n_last_blocks must be in [1, ", vit.depth, "] (the blocks of ",
                                                     nets.dir, "), got ", n_last));
    if (eo.size != vit.img_size)
      std::fprintf(stderr, "vfm eval: warning: --eval_size %d differs from the training crop size %lld of %s "
                   "(--eval_size=%lld --eval_resize=%ld evaluate at it)\n", eo.size, (long long)vit.img_size,
                   nets.dir.c_str(), (long long)vit.img_size, std::lround(double(vit.img_size) * 256 / 224));
    if (random_init) {  // the very weights pretraining starts from (same seed, same init)
      const uint64_t seed = nets.state.loader.seed;
      untrained = std::make_unique<nn::IBotNetwork>(nets.config.vit, nets.config.head, MixKey({seed, 0x6d6f64656c}));
      encoder = untrained->backbone;
    } else {
      encoder = (encoder_name == "student" ? nets.student : nets.teacher)->backbone;
    }
  }
  if (encoder_name == "pixels") {
    auto size = ResolveEvalSize(size_flags, 224, 1, "1 (no patches)");
    if (!size.ok()) return size.status();
    std::tie(eo.size, eo.resize_size) = *size;
  }
  auto norm = EvalNormalization(train_data->index(), encoder_name == "pixels" ? nullptr : &nets);
  if (!norm.ok()) return norm.status();
  eo.normalization = *norm;
  for (const auto& [name, n] : eo.normalization)
    std::fprintf(stderr, "vfm eval: normalising %s with mean %.4f %.4f %.4f, std %.4f %.4f %.4f\n", name.c_str(),
                 n.mean[0], n.mean[1], n.mean[2], n.std[0], n.std[1], n.std[2]);
  const std::string label = encoder_name == "pixels" ? "pixels" : encoder_name + (random_init ? " (random init)" : "");
  std::fprintf(stderr, "vfm eval: %s of %lld training and %lld test samples at %dx%d px (shorter side resized to %d, "
               "centre crop)\n", label.c_str(), (long long)train_data->size(), (long long)test_data->size(), eo.size,
               eo.size, eo.resize_size);
  // Features of `modality`'s samples ("": all), then kNN or the probe on them.
  auto evaluate = [&](const std::string& modality) -> absl::StatusOr<nlohmann::json> {
    eo.modality = modality;
    const std::string of = modality.empty() ? "" : " (" + modality + ")";
    auto train = ExtractFeatures(encoder, train_data, eo, n_last, PrintProgress("features of --data" + of));
    if (!train.ok()) return train.status();
    auto test = ExtractFeatures(encoder, test_data, eo, n_last, PrintProgress("features of --test_data" + of));
    if (!test.ok()) return test.status();
    nlohmann::json r = {{"train_samples", train->labels.size()}, {"test_samples", test->labels.size()},
                        {"feature_dim", train->values.size(1)}};
    if (mode == "knn") {
      r["top1"] = Knn(*train, *test, k, temperature).top1;
    } else {
      std::fprintf(stderr, "vfm eval: linear probe%s: %d epochs per learning rate tried (fitted on nine tenths of "
                   "--data, compared on the rest), then %d of the refit on all of it\n", of.c_str(), probe_epochs,
                   probe_epochs);
      const LinearProbeResult p = LinearProbe(*train, *test, probe_epochs, absl::GetFlag(FLAGS_seed),
                                              PrintProgress("linear probe epochs"));
      r["top1"] = p.test_top1;
      r["val_top1"] = p.val_top1;
      r["lr"] = p.lr;
    }
    if (!features_out.empty())
      if (absl::Status s = SaveFeatures(features_out, *train, *test); !s.ok()) return s;
    return r;
  };

  nlohmann::json result = {{"mode", mode}, {"encoder", encoder_name}, {"init", random_init ? "random" : "trained"},
                           {"checkpoint", nets.dir}, {"eval_size", eo.size}};
  if (mode == "knn") result["k"] = k;
  const std::string what = mode == "knn" ? absl::StrCat("kNN top-1 (", label, ", k=", k, ")")
                                         : absl::StrCat("linear probe top-1 (", label, ")");
  if (modalities->empty()) {
    auto r = evaluate("");
    if (!r.ok()) return r.status();
    result.update(*r);
    if (mode == "knn")
      std::printf("%s: %.2f%%\n", what.c_str(), double((*r)["top1"]));
    else
      std::printf("%s: %.2f%% (held-out %.2f%% at lr %g)\n", what.c_str(), double((*r)["top1"]),
                  double((*r)["val_top1"]), double((*r)["lr"]));
  } else {
    result["per_modality"] = nlohmann::json::array();
    std::printf("%-12s %7s %7s  %s\n", "modality", "train", "test", what.c_str());
    for (const std::string& m : *modalities) {
      auto r = evaluate(m);
      if (!r.ok()) return r.status();
      (*r)["modality"] = m;
      result["per_modality"].push_back(*r);
      std::printf("%-12s %7lld %7lld  %.2f%%\n", m.c_str(), (long long)(*r)["train_samples"],
                  (long long)(*r)["test_samples"], double((*r)["top1"]));
      std::fflush(stdout);
    }
  }
  if (!json_out.empty())
    if (absl::Status s = WriteFileAtomically(json_out, {result.dump(2) + "\n"}); !s.ok()) return s;
  return absl::OkStatus();
}

int RunEval(const std::vector<std::string>& args) {
  absl::Status s = Evaluate(args.size() == 1 ? args[0] : "");
  if (!s.ok()) {
    std::fprintf(stderr, "vfm eval: %s\n", std::string(s.message()).c_str());
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

const RegisterCommand kRegister("eval", {"knn|linear: evaluate frozen features on labelled shards", RunEval,
                                         {"eval.cc", "data", "seed", "init", "norm", "modalities"}});

}  // namespace
}  // namespace vfm::cli
