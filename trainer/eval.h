// Frozen-feature evaluation: features of labelled shards from an encoder, then
//   - weighted kNN (DINO's): cosine similarity to every training feature, the k nearest vote for their
//     class with weight exp(sim / T); top-1 accuracy;
//   - a linear probe: features standardised with the training mean/std, a softmax classifier trained with
//     AdamW on all but a held-out tenth of the training set, the learning rate picked on that tenth, then
//     top-1 on the test set.
#pragma once
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autograd/nn/vit.h"
#include "data/dataset.h"
#include "data/loader.h"

namespace vfm {

struct Features {
  Tensor values;                // [N, F] f32
  std::vector<int32_t> labels;  // N
  std::vector<uint64_t> ids;    // N, the dataset's sample ids
};

// encoder == nullptr: raw pixels (the normalised eval view, flattened) — the pixel baseline.
absl::StatusOr<Features> ExtractFeatures(const nn::VisionTransformer* encoder, std::shared_ptr<const data::Dataset> dataset,
                                         const data::EvalOptions& options, int n_last_blocks);

double KnnTop1(const Features& train, const Features& test, int k = 20, double temperature = 0.07);

struct LinearProbeResult {
  double test_top1 = 0, val_top1 = 0, lr = 0;
};
LinearProbeResult LinearProbe(const Features& train, const Features& test, int epochs = 100, uint64_t seed = 0);

absl::Status SaveFeatures(const std::string& path, const Features& train, const Features& test);

}  // namespace vfm
