// vfm eval knn|linear: frozen features of labelled shards (trainer/eval.h), top-1 printed and written as JSON.
#include <cstdio>
#include <fstream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "trainer/checkpoint.h"
#include "trainer/cli/command.h"
#include "trainer/eval.h"

ABSL_DECLARE_FLAG(std::string, data);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, init);
ABSL_FLAG(std::string, checkpoint, "", "eval/export: a checkpoint folder, or a run folder (its newest checkpoint)");
ABSL_FLAG(std::string, test_data, "", "eval: labelled test shards (--data: the labelled training shards)");
ABSL_FLAG(std::string, encoder, "teacher", "eval: teacher | student | pixels (raw-pixel baseline)");
ABSL_FLAG(int, eval_size, 224, "eval: centre-crop size");
ABSL_FLAG(int, eval_resize, 256, "eval: shorter side before the centre crop");
ABSL_FLAG(int, n_last_blocks, 1, "eval: concatenate the [CLS] of the last n blocks (DINO's linear eval: 4)");
ABSL_FLAG(int, knn_k, 20, "eval knn: neighbours");
ABSL_FLAG(double, knn_temperature, 0.07, "eval knn: temperature of the vote weights");
ABSL_FLAG(int, probe_epochs, 100, "eval linear: epochs");
ABSL_FLAG(int, eval_threads, 4, "eval: loader threads");
ABSL_FLAG(std::string, features_out, "", "eval: write train/test features, labels and sample ids (safetensors)");
ABSL_FLAG(std::string, json_out, "", "eval: write the result as JSON");

namespace vfm::cli {
namespace {

absl::Status Evaluate(const std::string& mode) {
  if (mode != "knn" && mode != "linear") return absl::InvalidArgumentError("usage: vfm eval knn|linear --flags");
  const std::string encoder_name = absl::GetFlag(FLAGS_encoder);
  const bool random_init = absl::GetFlag(FLAGS_init) == "random";
  if (encoder_name != "teacher" && encoder_name != "student" && encoder_name != "pixels")
    return absl::InvalidArgumentError("--encoder must be teacher, student or pixels, not '" + encoder_name + "'");
  if (!absl::GetFlag(FLAGS_init).empty() && !random_init)
    return absl::InvalidArgumentError("eval takes --init=random (or no --init), not '" + absl::GetFlag(FLAGS_init) + "'");
  auto train_ds = data::Dataset::Open(absl::GetFlag(FLAGS_data));
  if (!train_ds.ok()) return train_ds.status();
  auto test_ds = data::Dataset::Open(absl::GetFlag(FLAGS_test_data));
  if (!test_ds.ok()) return test_ds.status();

  LoadedNetworks nets;
  std::unique_ptr<nn::IBotNetwork> untrained;
  const nn::VisionTransformer* encoder = nullptr;
  if (encoder_name != "pixels") {
    auto loaded = LoadNetworks(absl::GetFlag(FLAGS_checkpoint));
    if (!loaded.ok()) return loaded.status();
    nets = std::move(*loaded);
    if (random_init) {  // the very weights pretraining starts from (same seed, same init)
      const uint64_t seed = nets.state.loader.seed;
      untrained = std::make_unique<nn::IBotNetwork>(nets.config.vit, nets.config.head, MixKey({seed, 0x6d6f64656c}));
      encoder = untrained->backbone;
    } else {
      encoder = (encoder_name == "student" ? nets.student : nets.teacher)->backbone;
    }
  }
  data::EvalOptions eo;
  eo.size = absl::GetFlag(FLAGS_eval_size);
  eo.resize_size = absl::GetFlag(FLAGS_eval_resize);
  eo.threads = absl::GetFlag(FLAGS_eval_threads);
  const int n_last = absl::GetFlag(FLAGS_n_last_blocks);
  auto train = ExtractFeatures(encoder, std::move(*train_ds), eo, n_last);
  if (!train.ok()) return train.status();
  auto test = ExtractFeatures(encoder, std::move(*test_ds), eo, n_last);
  if (!test.ok()) return test.status();

  const std::string label = encoder_name == "pixels" ? "pixels" : encoder_name + (random_init ? " (random init)" : "");
  nlohmann::json result = {{"mode", mode}, {"encoder", encoder_name}, {"init", random_init ? "random" : "trained"},
                           {"checkpoint", nets.dir}, {"train_samples", train->labels.size()},
                           {"test_samples", test->labels.size()}, {"feature_dim", train->values.size(1)}};
  if (mode == "knn") {
    const double top1 = KnnTop1(*train, *test, absl::GetFlag(FLAGS_knn_k), absl::GetFlag(FLAGS_knn_temperature));
    result["top1"] = top1;
    result["k"] = absl::GetFlag(FLAGS_knn_k);
    std::printf("kNN top-1 (%s, k=%d): %.2f%%\n", label.c_str(), absl::GetFlag(FLAGS_knn_k), top1);
  } else {
    const LinearProbeResult r = LinearProbe(*train, *test, absl::GetFlag(FLAGS_probe_epochs), absl::GetFlag(FLAGS_seed));
    result["top1"] = r.test_top1;
    result["val_top1"] = r.val_top1;
    result["lr"] = r.lr;
    std::printf("linear probe top-1 (%s): %.2f%% (held-out %.2f%% at lr %g)\n", label.c_str(), r.test_top1, r.val_top1, r.lr);
  }
  if (const std::string path = absl::GetFlag(FLAGS_features_out); !path.empty())
    if (absl::Status s = SaveFeatures(path, *train, *test); !s.ok()) return s;
  if (const std::string path = absl::GetFlag(FLAGS_json_out); !path.empty()) {
    std::ofstream f(path);
    f << result.dump(2) << "\n";
    if (!f) return absl::InternalError("cannot write --json_out " + path);
  }
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

const RegisterCommand kRegister("eval", {"knn|linear: evaluate frozen features on labelled shards", RunEval});

}  // namespace
}  // namespace vfm::cli
