// Export and import in timm's ViT names (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.*`,
// `norm.*`), the names vfm's backbone parameters already carry, so a file loads into
// timm.models.vision_transformer.VisionTransformer (strict) and plain PyTorch.
//   export: a checkpoint's teacher (or student) backbone -> safetensors; the iBOT head optionally under
//           "head." (weight_g as [K, 1], torch weight_norm's shape); metadata: vfm's model config, the
//           timm constructor arguments and "normalization": the per-modality mean/std pretraining normalised
//           with, {"fundus": {"mean": [r, g, b], "std": [r, g, b]}, ...} in [0, 1] units (normalise inputs
//           the same way); "*" (any modality) for checkpoints from before it was recorded (ImageNet's).
//   import: timm-named safetensors (vfm's export, or DINO/iBOT/VisionFM weights converted to safetensors)
//           -> an initial checkpoint (student = teacher = the weights), pos_embed resized bicubically when
//           the patch grid differs; the head is taken from the file when present, else freshly initialised.
#pragma once
#include <string>

#include "absl/status/status.h"
#include "trainer/checkpoint.h"

namespace vfm {

absl::Status ExportSafetensors(const LoadedNetworks& nets, const std::string& path, bool student, bool with_head);

// `config` gives the target shapes (its grid decides the pos_embed size); writes out_dir/ckpt-00000000.
// Refuses (FailedPrecondition) an out_dir that already holds checkpoints.
absl::Status ImportSafetensors(const std::string& path, const ModelConfig& config, uint64_t seed,
                               const std::string& out_dir);

// The per-modality normalisation a checkpoint's networks were trained with (see above), as JSON.
nlohmann::json NormalizationOf(const TrainingState& state);

// timm VisionTransformer(**kwargs) for a config, as JSON.
nlohmann::json TimmKwargs(const nn::ViTConfig& vit);

}  // namespace vfm
