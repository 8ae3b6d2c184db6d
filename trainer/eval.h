// Frozen-feature evaluation: features of labelled shards from an encoder, then
//   - weighted kNN (DINO's): cosine similarity to every training feature, the k nearest vote for their
//     class with weight exp(sim / T); top-1 accuracy;
//   - a linear probe: features standardised with the training mean/std, a softmax classifier (nn::Linear,
//     cross-entropy of ops::LogSoftmax, the trainer's AdamW) trained on all but a held-out tenth of the
//     training set, the learning rate picked on that tenth, then top-1 on the test set; the classes are
//     the distinct training labels (any int32 >= 0).
// Both need labelled data: CheckLabelled refuses a dataset with unlabelled samples before features are
// extracted.
#pragma once
#include <functional>
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

// Reports `done` of `total` units of a long computation (samples, probe epochs).
using Progress = std::function<void(int64_t done, int64_t total)>;

// InvalidArgument naming `name` (e.g. "--data /x") and its first unlabelled sample (label < 0), if any.
absl::Status CheckLabelled(const data::Dataset& dataset, const std::string& name);

// InvalidArgument if the two datasets' labels cannot mean the same classes: both name their classes, and
// differently; or no test sample has a label that a training sample has.
absl::Status CheckSameClasses(const data::Dataset& train, const data::Dataset& test);

// InvalidArgument naming `name` (e.g. "--data") and the first of `modalities` it has no samples of, if any.
absl::Status CheckHasModalities(const data::DatasetIndex& index, const std::vector<std::string>& modalities,
                                const std::string& name);

// encoder == nullptr: raw pixels (the normalised eval view, flattened) — the pixel baseline.
// `progress` (may be null) is called after every batch, in samples.
absl::StatusOr<Features> ExtractFeatures(const nn::VisionTransformer* encoder, std::shared_ptr<const data::Dataset> dataset,
                                         const data::EvalOptions& options, int n_last_blocks,
                                         const Progress& progress = nullptr);

// Labels >= 0, k >= 1 (at most the training set is used), temperature > 0. Top-5: the test label is among
// the five classes with the most vote weight (ties to the smaller label, as for top-1).
struct KnnResult {
  double top1 = 0, top5 = 0;
};
KnnResult Knn(const Features& train, const Features& test, int k = 20, double temperature = 0.07);

struct LinearProbeResult {
  double test_top1 = 0, val_top1 = 0, lr = 0;
};
// Labels >= 0, epochs >= 1. `progress` (may be null) is called after every epoch, counting the epochs of
// all four fits (three learning rates, then the refit).
LinearProbeResult LinearProbe(const Features& train, const Features& test, int epochs = 100, uint64_t seed = 0,
                              const Progress& progress = nullptr);

absl::Status SaveFeatures(const std::string& path, const Features& train, const Features& test);

}  // namespace vfm
