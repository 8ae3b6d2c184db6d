// vfm export / vfm import: checkpoints <-> safetensors with timm's ViT names (trainer/export.h).
#include <cstdio>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "trainer/cli/command.h"
#include "trainer/export.h"

ABSL_DECLARE_FLAG(std::string, checkpoint);
ABSL_DECLARE_FLAG(std::string, run_dir);
ABSL_DECLARE_FLAG(std::string, arch);
ABSL_DECLARE_FLAG(int, patch);
ABSL_DECLARE_FLAG(int, depth);
ABSL_DECLARE_FLAG(int, global_size);
ABSL_DECLARE_FLAG(double, layerscale);
ABSL_DECLARE_FLAG(double, drop_path);
ABSL_DECLARE_FLAG(int, out_dim);
ABSL_DECLARE_FLAG(int, head_hidden);
ABSL_DECLARE_FLAG(int, head_bottleneck);
ABSL_DECLARE_FLAG(bool, norm_last_layer);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_FLAG(std::string, out, "", "export: the safetensors file to write");
ABSL_FLAG(std::string, which, "teacher", "export: teacher | student");
ABSL_FLAG(bool, with_head, false, "export: include the iBOT head under 'head.'");
ABSL_FLAG(std::string, weights, "", "import: safetensors with timm ViT names");

namespace vfm::cli {
namespace {

int Fail(const char* command, const absl::Status& s) {
  std::fprintf(stderr, "vfm %s: %s\n", command, std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

int RunExport(const std::vector<std::string>&) {
  const std::string which = absl::GetFlag(FLAGS_which), out = absl::GetFlag(FLAGS_out);
  if (which != "teacher" && which != "student")
    return Fail("export", absl::InvalidArgumentError("--which must be teacher or student, not '" + which + "'"));
  if (out.empty()) return Fail("export", absl::InvalidArgumentError("--out is required"));
  auto nets = LoadNetworks(absl::GetFlag(FLAGS_checkpoint));
  if (!nets.ok()) return Fail("export", nets.status());
  if (absl::Status s = ExportSafetensors(*nets, out, which == "student", absl::GetFlag(FLAGS_with_head)); !s.ok())
    return Fail("export", s);
  std::printf("exported the %s of %s (step %lld) to %s\n", which.c_str(), nets->dir.c_str(),
              (long long)nets->state.step, out.c_str());
  return 0;
}

// The model is described by the same flags as `vfm pretrain` (so --flagfile of the recipe works).
int RunImport(const std::vector<std::string>&) {
  const std::string weights = absl::GetFlag(FLAGS_weights), out = absl::GetFlag(FLAGS_run_dir);
  if (weights.empty() || out.empty())
    return Fail("import", absl::InvalidArgumentError("--weights and --run_dir (where the checkpoint goes) are required"));
  auto vit = nn::ViTConfigByName(absl::GetFlag(FLAGS_arch), absl::GetFlag(FLAGS_patch), absl::GetFlag(FLAGS_global_size));
  if (!vit.ok()) return Fail("import", vit.status());
  if (absl::GetFlag(FLAGS_depth) > 0) vit->depth = absl::GetFlag(FLAGS_depth);
  vit->layerscale_init = absl::GetFlag(FLAGS_layerscale);
  vit->drop_path_rate = absl::GetFlag(FLAGS_drop_path);
  ModelConfig config{*vit, {}};
  config.head.out_dim = absl::GetFlag(FLAGS_out_dim);
  config.head.hidden = absl::GetFlag(FLAGS_head_hidden);
  config.head.bottleneck = absl::GetFlag(FLAGS_head_bottleneck);
  config.head.norm_last_layer = absl::GetFlag(FLAGS_norm_last_layer);
  if (absl::Status s = ImportSafetensors(weights, config, absl::GetFlag(FLAGS_seed), out); !s.ok()) return Fail("import", s);
  std::printf("wrote %s/ckpt-00000000: start pretraining with --init=%s\n", out.c_str(), out.c_str());
  return 0;
}

const RegisterCommand kExport("export", {"checkpoint -> safetensors with timm ViT names", RunExport});
const RegisterCommand kImport("import", {"safetensors with timm ViT names -> an initial checkpoint", RunImport});

}  // namespace
}  // namespace vfm::cli
