// vfm attn --checkpoint CKPT --images a.jpg,b.png --out DIR: for each image, the last block's [CLS]
// attention per head over the image (DINO's figure) and its patch features' first three principal
// components as RGB (DINOv2's). C++ runs the model (ViT::ForwardWithLastAttention) and writes the arrays to
// DIR/attn.safetensors; trainer/scripts/attn.py (numpy, matplotlib) does the PCA and draws NAME_attn.png and
// NAME_pca.png, since matplotlib's colour maps, overlays and titled panels are what people read such
// figures with (libpng would need all of that written by hand).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <tuple>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autograd/engine.h"
#include "autograd/ops.h"
#include "autograd/safetensors.h"
#include "data/augment.h"
#include "data/decode.h"
#include "data/loader.h"
#include "trainer/checkpoint.h"
#include "trainer/cli/command.h"
#include "trainer/cli/eval_size_flags.h"
#include "trainer/cli/flag_checks.h"
#include "trainer/cli/python_script.h"

ABSL_DECLARE_FLAG(std::string, checkpoint);
ABSL_DECLARE_FLAG(std::string, encoder);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_FLAG(std::vector<std::string>, images, {}, "attn: JPEG or PNG files, comma-separated");

namespace vfm::cli {
namespace {

// The centre view of an image file as eval sees it: normalised planar [3, size, size] into `planar`, and
// the view itself as [size, size, 3] in [0, 1] (what the figures draw the maps over).
absl::StatusOr<Tensor> LoadView(const std::string& path, const data::EvalOptions& eo, std::vector<float>* planar) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("--images: cannot read ", path));
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  data::Image decoded, view;
  absl::StatusOr<data::Codec> codec = data::SniffCodec(bytes.data(), bytes.size());
  absl::StatusOr<data::ImageHeader> header =
      codec.ok() ? data::ProbeImage(bytes.data(), bytes.size(), *codec) : codec.status();
  absl::Status s = header.ok() ? data::DecodeImage(bytes.data(), bytes.size(), *codec, *header, 1, &decoded)
                               : header.status();
  if (!s.ok()) return absl::DataLossError(absl::StrCat("--images: ", path, ": ", s.message()));
  data::RenderCenterView(decoded, header->height, header->width, eo.resize_size, eo.size, &view);
  const data::Normalization imagenet;  // loose files carry no modality: eval's default normalisation
  const size_t offset = planar->size(), pixels = size_t(eo.size) * eo.size;
  planar->resize(offset + 3 * pixels);
  data::NormalizeToPlanar(view, imagenet.mean, imagenet.std, planar->data() + offset);
  std::vector<float> rgb(3 * pixels);
  for (size_t i = 0; i < 3 * pixels; ++i) rgb[i] = view.pixels[view.channels == 3 ? i : i / 3] / 255.0f;
  return Tensor::FromVector(rgb, {eo.size, eo.size, 3});
}

absl::Status Attn(std::vector<std::string>* names) {
  const std::vector<std::string> images = absl::GetFlag(FLAGS_images);
  const std::string out = absl::GetFlag(FLAGS_out), encoder = absl::GetFlag(FLAGS_encoder);
  FlagChecker f;
  data::EvalOptions eo;
  const EvalSizeFlags size_flags = ReadEvalSizeFlags(&f);
  f.Require(!absl::GetFlag(FLAGS_checkpoint).empty(),
            "--checkpoint is required (a checkpoint folder, or a run folder: its newest checkpoint)");
  f.Require(!images.empty(), "--images is required (JPEG or PNG files, comma-separated)");
  f.Require(!out.empty(), "--out is required (the folder for the pictures)");
  f.Require(encoder == "teacher" || encoder == "student", "--encoder must be teacher or student, not '" + encoder + "'");
  std::set<std::string> seen;
  for (const std::string& path : images) {
    names->push_back(std::filesystem::path(path).stem().string());
    f.Require(seen.insert(names->back()).second, "--images: two files are named " + names->back() +
                                                     " (the pictures are named after the file)");
  }
  if (absl::Status s = f.status(); !s.ok()) return s;

  auto nets = LoadNetworks(absl::GetFlag(FLAGS_checkpoint));
  if (!nets.ok()) return nets.status();
  const nn::ViTConfig& vit = nets->config.vit;
  auto size = ResolveEvalSize(size_flags, vit.img_size, vit.patch,
                              absl::StrCat("the patch size ", vit.patch, " of ", nets->dir));
  if (!size.ok()) return size.status();
  std::tie(eo.size, eo.resize_size) = *size;
  std::vector<float> planar;
  std::vector<std::pair<std::string, Tensor>> arrays;
  for (size_t i = 0; i < images.size(); ++i) {
    absl::StatusOr<Tensor> view = LoadView(images[i], eo, &planar);
    if (!view.ok()) return view.status();
    arrays.emplace_back("image." + (*names)[i], *view);
  }
  NoGradGuard no_grad;
  const int64_t B = int64_t(images.size()), grid = eo.size / vit.patch, N = grid * grid;
  const auto [tokens, attention] = ((encoder == "teacher" ? nets->teacher : nets->student)->backbone)
                                       ->ForwardWithLastAttention(Tensor::FromVector(planar, {B, 3, eo.size, eo.size}));
  for (int64_t b = 0; b < B; ++b) {
    const std::string& name = (*names)[size_t(b)];
    // Row 0 of each head without its own column: what [CLS] attends to among the patches.
    arrays.emplace_back("cls_attention." + name,
                        ops::Reshape(ops::Slice(ops::Select(ops::Select(attention, 0, b), 1, 0), 1, 1, 1 + N),
                                     {vit.heads, grid, grid}).Contiguous());
    arrays.emplace_back("patch_features." + name, ops::Slice(ops::Select(tokens, 0, b), 0, 1, 1 + N).Contiguous());
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) return absl::InternalError(absl::StrCat("--out ", out, ": ", ec.message()));
  std::printf("vfm attn: %s of %s, last block (%lld heads), %lld images at %dx%d px -> %s/attn.safetensors\n",
              encoder.c_str(), nets->dir.c_str(), (long long)vit.heads, (long long)B, eo.size, eo.size, out.c_str());
  return SaveSafetensors(out + "/attn.safetensors", arrays, {{"names", absl::StrJoin(*names, ",")}});
}

int RunAttn(const std::vector<std::string>& args) {
  std::vector<std::string> names;
  absl::Status s = args.empty() ? Attn(&names) : absl::InvalidArgumentError("usage: vfm attn --checkpoint CKPT "
                                                                           "--images a.jpg,b.png --out DIR");
  if (!s.ok()) {
    std::fprintf(stderr, "vfm attn: %s\n", std::string(s.message()).c_str());
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return ExecPythonScript("attn", "attn.py", {absl::GetFlag(FLAGS_out) + "/attn.safetensors"});
}

const RegisterCommand kRegister("attn", {"[CLS] attention maps and patch-feature PCA pictures of images", RunAttn,
                                         {"images", "checkpoint", "encoder", "out", "eval_size", "eval_resize"}});

}  // namespace
}  // namespace vfm::cli
