// vfm export / vfm import: checkpoints <-> safetensors with timm's ViT names (trainer/export.h).
#include <cstdio>
#include <filesystem>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "trainer/cli/command.h"
#include "trainer/cli/model_flags.h"
#include "trainer/export.h"

ABSL_DECLARE_FLAG(std::string, checkpoint);
ABSL_DECLARE_FLAG(std::string, run_dir);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_FLAG(std::string, out, "",
          "export: the safetensors file to write (not inside a checkpoint folder); report, attn: the output folder");
ABSL_FLAG(bool, overwrite, false, "export: replace --out when it exists");
ABSL_FLAG(std::string, which, "teacher", "export: teacher | student");
ABSL_FLAG(bool, with_head, false, "export: include the iBOT head under 'head.'");
ABSL_FLAG(std::string, weights, "", "import: safetensors with timm ViT names");

namespace vfm::cli {
namespace {

int Fail(const char* command, const absl::Status& s) {
  std::fprintf(stderr, "vfm %s: %s\n", command, std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// --out must not replace a file unless told (--overwrite), nor go into a checkpoint folder, whose
// MANIFEST.json lists what belongs there.
absl::Status CheckOut(const std::string& out) {
  namespace fs = std::filesystem;
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  std::error_code ec;
  const fs::path folder = fs::absolute(out, ec).parent_path();
  if (fs::exists(folder / "MANIFEST.json", ec))
    return absl::InvalidArgumentError(absl::StrCat("--out ", out, " is inside the checkpoint folder ", folder.string(),
                                                   ": write it elsewhere"));
  if (fs::is_directory(out, ec)) return absl::InvalidArgumentError(absl::StrCat("--out ", out, " is a folder"));
  if (fs::exists(out, ec) && !absl::GetFlag(FLAGS_overwrite))
    return absl::InvalidArgumentError(absl::StrCat("--out ", out, " exists: pass --overwrite to replace it"));
  return absl::OkStatus();
}

int RunExport(const std::vector<std::string>&) {
  const std::string which = absl::GetFlag(FLAGS_which), out = absl::GetFlag(FLAGS_out);
  if (which != "teacher" && which != "student")
    return Fail("export", absl::InvalidArgumentError("--which must be teacher or student, not '" + which + "'"));
  if (absl::Status s = CheckOut(out); !s.ok()) return Fail("export", s);
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
  FlagChecker flags;
  const ModelFlags model = ReadModelFlags(&flags);
  if (!flags.status().ok()) return Fail("import", flags.status());
  auto vit = nn::ViTConfigByName(model.arch, model.patch, model.global_size);
  if (!vit.ok()) return Fail("import", vit.status());
  if (absl::Status s = nn::OverrideDepthAndHeads(model.depth, model.heads, &*vit); !s.ok()) return Fail("import", s);
  vit->layerscale_init = model.layerscale;
  vit->drop_path_rate = model.drop_path;
  const ModelConfig config{*vit, model.head};
  if (absl::Status s = ImportSafetensors(weights, config, absl::GetFlag(FLAGS_seed), out); !s.ok()) return Fail("import", s);
  std::printf("wrote %s/ckpt-00000000: start pretraining with --init=%s\n", out.c_str(), out.c_str());
  return 0;
}

const RegisterCommand kExport("export", {"checkpoint -> safetensors with timm ViT names", RunExport,
                                         {"checkpoint", "out", "overwrite", "which", "with_head"}});
const RegisterCommand kImport("import", {"safetensors with timm ViT names -> an initial checkpoint", RunImport,
                                         {"model_flags.cc", "weights", "run_dir", "seed"}});

}  // namespace
}  // namespace vfm::cli
