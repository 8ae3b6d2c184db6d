#include "trainer/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "autograd/safetensors.h"
#include "data/crc32c.h"
#include "data/normalization.h"

namespace vfm {

namespace fs = std::filesystem;

namespace {
constexpr const char* kPrefix = "ckpt-";

absl::Status Fsync(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, " for fsync: ", std::strerror(errno)));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

absl::Status WriteFile(const std::string& path, const std::string& text) { return WriteFileAtomically(path, {text}); }

// JSON as text; bytes that are not UTF-8 (in a flag's value) are replaced rather than thrown on.
std::string JsonText(const nlohmann::json& j) { return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace); }

// Step number of a "ckpt-<step>" folder name, or -1.
int64_t StepOf(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  const std::string digits = name.substr(std::string(kPrefix).size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

absl::Status CheckFinite(const std::string& what, const Tensor& t) {
  for (float v : t.ToVector())
    if (!std::isfinite(v))
      return absl::FailedPreconditionError(absl::StrCat("refusing to checkpoint: ", what, " has non-finite values"));
  return absl::OkStatus();
}


// Copies tensor `name` of `file` (read from `path`) into `dst`, which has the shape expected.
absl::Status CopyTensor(const std::string& path, const SafetensorsFile& file, const std::string& name, Tensor dst) {
  auto it = file.tensors.find(name);
  if (it == file.tensors.end()) return absl::DataLossError(absl::StrCat(path, " lacks ", name));
  if (it->second.shape() != dst.shape())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, " is ", ShapeToString(it->second.shape()),
                                                   ", the model has ", ShapeToString(dst.shape())));
  dst.CopyFrom(it->second);
  return absl::OkStatus();
}

absl::Status LoadInto(const std::string& path, nn::Module* module) {
  auto file = LoadSafetensors(path);
  if (!file.ok()) return file.status();
  for (auto [name, p] : module->NamedParameters())
    if (absl::Status s = CopyTensor(path, *file, name, p); !s.ok()) return s;
  return absl::OkStatus();
}

using CheckpointFiles = std::vector<std::pair<std::string, nn::NamedTensors>>;

// Writes every file of a checkpoint into `dir` (each fsynced by WriteFileAtomically), MANIFEST.json last.
absl::Status WriteCheckpointFiles(const std::string& dir, const CheckpointFiles& files,
                                  const nlohmann::json& optimizer_steps, const TrainingState& state) {
  nlohmann::json manifest = {{"format_version", kCheckpointFormatVersion}, {"files", nlohmann::json::object()}};
  auto add_to_manifest = [&](const std::string& file) -> absl::Status {
    auto bytes = ReadFile(dir + "/" + file);
    if (!bytes.ok()) return bytes.status();
    manifest["files"][file] = {{"bytes", bytes->size()}, {"crc32c", data::Crc32c(bytes->data(), bytes->size())}};
    return absl::OkStatus();
  };
  for (const auto& [file, tensors] : files) {
    std::map<std::string, std::string> meta;
    if (file == "optimizer.safetensors") meta["steps"] = optimizer_steps.dump();
    if (absl::Status s = SaveSafetensors(dir + "/" + file, tensors, meta); !s.ok()) return s;
    if (absl::Status s = add_to_manifest(file); !s.ok()) return s;
  }
  const nlohmann::json st = {{"format_version", kCheckpointFormatVersion},
                             {"step", state.step},
                             {"world_size", state.world_size},
                             {"loader", {{"seed", state.loader.seed}, {"epoch", state.loader.epoch},
                                         {"consumed", state.loader.consumed}}},
                             {"model", state.model},
                             {"dataset", state.dataset},
                             {"normalization", state.normalization},
                             {"flags", state.flags},
                             {"compute", state.compute.ToJson()},
                             {"budget_steps", state.budget_steps}};
  if (absl::Status s = WriteFile(dir + "/state.json", JsonText(st)); !s.ok()) return s;
  if (absl::Status s = add_to_manifest("state.json"); !s.ok()) return s;
  if (absl::Status s = WriteFile(dir + "/MANIFEST.json", JsonText(manifest)); !s.ok()) return s;
  return Fsync(dir);
}
}  // namespace

absl::Status SaveCheckpoint(const std::string& run_dir, const CheckpointParts& parts, const TrainingState& state,
                            int keep) {
  CheckpointFiles files = {{"student.safetensors", parts.student->NamedParameters()},
                           {"teacher.safetensors", parts.teacher->NamedParameters()}};
  nlohmann::json optimizer_steps = nlohmann::json::object();
  if (parts.optimizer) {
    nn::NamedTensors opt;
    for (const auto& [name, s] : *parts.optimizer) {
      opt.emplace_back("exp_avg." + name, s.m);
      opt.emplace_back("exp_avg_sq." + name, s.v);
      optimizer_steps[name] = s.step;
    }
    files.emplace_back("optimizer.safetensors", opt);
  }
  if (parts.loss) files.push_back({"loss.safetensors", {{"center", parts.loss->center}, {"center2", parts.loss->center2}}});
  for (const auto& [file, tensors] : files)
    for (const auto& [name, t] : tensors)
      if (absl::Status s = CheckFinite(file + ":" + name, t); !s.ok()) return s;

  const std::string final_dir = absl::StrFormat("%s/%s%08d", run_dir, kPrefix, state.step);
  const std::string tmp_dir = absl::StrFormat("%s/.tmp-%s%08d-%d", run_dir, kPrefix, state.step, getpid());
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
  if (!fs::create_directories(tmp_dir, ec))
    return absl::InternalError(absl::StrCat("cannot create ", tmp_dir, ": ", ec.message()));
  absl::Status written = WriteCheckpointFiles(tmp_dir, files, optimizer_steps, state);
  if (written.ok()) {
    fs::remove_all(final_dir, ec);  // a same-step leftover (e.g. a rerun of that step) is replaced whole
    fs::rename(tmp_dir, final_dir, ec);
    if (ec) written = absl::InternalError(absl::StrCat("rename ", tmp_dir, " -> ", final_dir, ": ", ec.message()));
  }
  if (!written.ok()) {  // a full disk: nothing half-written stays behind
    fs::remove_all(tmp_dir, ec);
    return written;
  }
  if (absl::Status s = Fsync(run_dir); !s.ok()) return s;

  // Keep the newest `keep`.
  std::vector<std::pair<int64_t, fs::path>> all;
  for (const auto& e : fs::directory_iterator(run_dir))
    if (int64_t step = StepOf(e.path().filename().string()); step >= 0 && e.is_directory()) all.push_back({step, e.path()});
  std::sort(all.rbegin(), all.rend());
  for (size_t i = size_t(std::max(keep, 1)); i < all.size(); ++i) fs::remove_all(all[i].second, ec);
  return absl::OkStatus();
}

absl::Status VerifyCheckpoint(const std::string& dir) {
  const std::string where = dir + "/MANIFEST.json";
  auto text = ReadFile(where);
  if (!text.ok()) return absl::DataLossError(absl::StrCat(dir, ": no MANIFEST.json (incomplete checkpoint)"));
  const nlohmann::json manifest = nlohmann::json::parse(*text, nullptr, false);
  if (!manifest.is_object() || !manifest.contains("files") || !manifest["files"].is_object())
    return absl::DataLossError(absl::StrCat(where, " is not valid"));
  const auto version = manifest.find("format_version");
  if (version == manifest.end() || *version != kCheckpointFormatVersion)
    return absl::FailedPreconditionError(absl::StrCat(dir, ": checkpoint format version ",
                                                      version == manifest.end() ? "none" : version->dump(),
                                                      ", this vfm reads ", kCheckpointFormatVersion));
  const nlohmann::json& files = manifest["files"];
  for (const char* required : {"student.safetensors", "teacher.safetensors", "state.json"})
    if (!files.contains(required)) return absl::DataLossError(absl::StrCat(where, " does not list ", required));
  for (const auto& [file, entry] : files.items()) {
    if (file.empty() || file.find('/') != std::string::npos)
      return absl::DataLossError(absl::StrCat(where, " names a file outside the checkpoint: ", nlohmann::json(file).dump()));
    if (!entry.is_object() || !entry.contains("bytes") || !entry.contains("crc32c") ||
        !entry["bytes"].is_number_unsigned() || !entry["crc32c"].is_number_unsigned())
      return absl::DataLossError(absl::StrCat(where, " is not valid (its entry ", nlohmann::json(file).dump(), ")"));
    // The size first: a file of the wrong size is not read at all.
    std::error_code ec;
    const uintmax_t size = fs::file_size(dir + "/" + file, ec);
    if (ec) return absl::DataLossError(absl::StrCat(dir, ": missing ", file));
    auto bytes = size == entry["bytes"].get<uint64_t>() ? ReadFile(dir + "/" + file) : absl::DataLossError("");
    if (!bytes.ok() || data::Crc32c(bytes->data(), bytes->size()) != entry["crc32c"].get<uint64_t>())
      return absl::DataLossError(absl::StrCat(dir, "/", file, " does not match its checksum"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LatestCheckpoint(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> all;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec))
    if (int64_t step = StepOf(e.path().filename().string()); step >= 0 && e.is_directory())
      all.push_back({step, e.path().string()});
  std::sort(all.rbegin(), all.rend());
  absl::Status newest_error;
  for (const auto& [step, dir] : all) {
    absl::Status s = VerifyCheckpoint(dir);
    if (s.ok()) return dir;
    std::fprintf(stderr, "warning: skipping checkpoint %s: %s\n", dir.c_str(), std::string(s.message()).c_str());
    if (newest_error.ok()) newest_error = s;
  }
  if (all.empty()) return absl::NotFoundError(absl::StrCat("no checkpoint in ", run_dir));
  // Starting over here would overwrite them: refuse.
  return absl::DataLossError(absl::StrCat(all.size(), " checkpoint(s) in ", run_dir, " and none verifies (newest: ",
                                          newest_error.message(), "): move them away or use another folder"));
}

absl::StatusOr<TrainingState> ReadTrainingState(const std::string& dir) {
  auto text = ReadFile(dir + "/state.json");
  if (!text.ok()) return text.status();
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return absl::DataLossError(absl::StrCat(dir, "/state.json is not valid JSON"));
  TrainingState state;
  try {
    state.step = j.at("step");
    state.world_size = j.value("world_size", 1);
    state.loader.seed = j.at("loader").at("seed");
    state.loader.epoch = j.at("loader").at("epoch");
    state.loader.consumed = j.at("loader").at("consumed");
    state.flags = j.value("flags", nlohmann::json::object());
    state.model = j.value("model", nlohmann::json::object());
    state.dataset = j.value("dataset", std::string());
    state.normalization = j.value("normalization", nlohmann::json::object());
    state.budget_steps = j.value("budget_steps", int64_t(0));
    if (j.contains("compute")) {
      auto compute = ComputeAccount::FromJson(j["compute"]);
      if (!compute.ok()) return absl::DataLossError(absl::StrCat(dir, "/state.json: ", compute.status().message()));
      state.compute = *compute;
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(dir, "/state.json: ", e.what()));
  }
  if (state.step < 0 || state.world_size < 1 || state.loader.epoch < 0 || state.loader.consumed < 0 ||
      state.budget_steps < 0 || !state.flags.is_object() || !state.model.is_object() ||
      !data::NormalizationFromJson(state.normalization).ok())
    return absl::DataLossError(absl::StrCat(dir, "/state.json: step ", state.step, ", world_size ", state.world_size,
                                            ", epoch ", state.loader.epoch, ", consumed ", state.loader.consumed,
                                            " (or its flags/model/normalization) out of range"));
  return state;
}

nlohmann::json ModelConfigToJson(const ModelConfig& c) {
  return {{"img_size", c.vit.img_size}, {"patch", c.vit.patch},       {"in_chans", c.vit.in_chans},
          {"dim", c.vit.dim},           {"depth", c.vit.depth},       {"heads", c.vit.heads},
          {"mlp_ratio", c.vit.mlp_ratio}, {"layerscale_init", c.vit.layerscale_init},
          {"drop_path_rate", c.vit.drop_path_rate}, {"ln_eps", c.vit.ln_eps},
          {"head_hidden", c.head.hidden}, {"head_bottleneck", c.head.bottleneck}, {"out_dim", c.head.out_dim},
          {"norm_last_layer", c.head.norm_last_layer}};
}

absl::StatusOr<ModelConfig> ModelConfigFromJson(const nlohmann::json& j) {
  ModelConfig c;
  try {
    c.vit.img_size = j.at("img_size"), c.vit.patch = j.at("patch"), c.vit.in_chans = j.at("in_chans");
    c.vit.dim = j.at("dim"), c.vit.depth = j.at("depth"), c.vit.heads = j.at("heads");
    c.vit.mlp_ratio = j.at("mlp_ratio"), c.vit.layerscale_init = j.at("layerscale_init");
    c.vit.drop_path_rate = j.at("drop_path_rate"), c.vit.ln_eps = j.at("ln_eps");
    c.head.hidden = j.at("head_hidden"), c.head.bottleneck = j.at("head_bottleneck");
    c.head.out_dim = j.at("out_dim"), c.head.norm_last_layer = j.at("norm_last_layer");
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad model config: ", e.what()));
  }
  // A config no model has (state.json's checksum covers accidents, not a hand edit): refused before it sizes
  // tensors or divides.
  const nn::ViTConfig& v = c.vit;
  const int64_t kMax = int64_t{1} << 20;
  const bool ok = v.patch >= 1 && v.img_size >= v.patch && v.img_size <= kMax && v.img_size % v.patch == 0 &&
                  v.in_chans >= 1 && v.in_chans <= 4 && v.dim >= 1 && v.dim <= kMax && v.depth >= 1 && v.depth <= 1024 &&
                  v.heads >= 1 && v.dim % v.heads == 0 && v.mlp_ratio > 0 && v.mlp_ratio <= 64 && v.ln_eps > 0 &&
                  v.layerscale_init >= 0 && v.drop_path_rate >= 0 && v.drop_path_rate < 1 && c.head.hidden >= 1 &&
                  c.head.hidden <= kMax && c.head.bottleneck >= 1 && c.head.bottleneck <= kMax && c.head.out_dim >= 1 &&
                  c.head.out_dim <= kMax;
  if (!ok)
    return absl::InvalidArgumentError(absl::StrCat("bad model config: no ViT has ", j.dump()));
  return c;
}

namespace {
// LoadCheckpoint of a checkpoint already verified.
absl::Status LoadVerified(const std::string& dir, const CheckpointParts& parts, TrainingState* state) {
  if (absl::Status s = LoadInto(dir + "/student.safetensors", parts.student); !s.ok()) return s;
  if (absl::Status s = LoadInto(dir + "/teacher.safetensors", parts.teacher); !s.ok()) return s;
  if (parts.optimizer) {
    const std::string path = dir + "/optimizer.safetensors";
    auto opt = LoadSafetensors(path);
    if (!opt.ok()) return opt.status();
    const nlohmann::json steps = nlohmann::json::parse(opt->metadata["steps"], nullptr, false);
    if (steps.is_discarded() || !steps.is_object())
      return absl::DataLossError(absl::StrCat(path, " has no step counts"));
    parts.optimizer->clear();
    for (const auto& [name, step] : steps.items()) {
      auto m = opt->tensors.find("exp_avg." + name), v = opt->tensors.find("exp_avg_sq." + name);
      if (m == opt->tensors.end() || v == opt->tensors.end() || !step.is_number_integer())
        return absl::DataLossError(absl::StrCat(path, " lacks the state of ", name));
      (*parts.optimizer)[name] = AdamW::State{m->second, v->second, step.get<int64_t>()};
    }
  }
  if (parts.loss) {
    const std::string path = dir + "/loss.safetensors";
    auto centres = LoadSafetensors(path);
    if (!centres.ok()) return centres.status();
    if (absl::Status s = CopyTensor(path, *centres, "center", parts.loss->center); !s.ok()) return s;
    if (absl::Status s = CopyTensor(path, *centres, "center2", parts.loss->center2); !s.ok()) return s;
  }
  if (state) {
    auto st = ReadTrainingState(dir);
    if (!st.ok()) return st.status();
    *state = *st;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadCheckpoint(const std::string& dir, const CheckpointParts& parts, TrainingState* state) {
  if (absl::Status s = VerifyCheckpoint(dir); !s.ok()) return s;
  return LoadVerified(dir, parts, state);
}

absl::StatusOr<LoadedNetworks> LoadNetworks(const std::string& path) {
  LoadedNetworks out;
  out.dir = path;
  if (!fs::exists(path + "/MANIFEST.json")) {
    auto latest = LatestCheckpoint(path);
    if (!latest.ok()) return latest.status();
    out.dir = *latest;
  } else if (absl::Status s = VerifyCheckpoint(path); !s.ok()) {  // before its model config is trusted
    return s;
  }
  auto state = ReadTrainingState(out.dir);
  if (!state.ok()) return state.status();
  auto config = ModelConfigFromJson(state->model);
  if (!config.ok()) return config.status();
  out.config = *config;
  out.student = std::make_unique<nn::IBotNetwork>(config->vit, config->head, 0);
  out.teacher = std::make_unique<nn::IBotNetwork>(config->vit, config->head, 0);
  if (absl::Status s = LoadVerified(out.dir, {out.student.get(), out.teacher.get(), nullptr, nullptr}, &out.state);
      !s.ok())
    return s;
  return out;
}

}  // namespace vfm
