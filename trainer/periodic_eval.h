// Evaluations during training (--eval_every): the teacher's [CLS] features of a labelled train/test pair
// (trainer/eval.h's extraction, at the global crop size), weighted kNN (k=20, T=0.07) top-1 and top-5,
// and with --eval_linear the linear probe's top-1. A run on some modalities (--modalities) is evaluated on
// their samples only: the figures over all of them, and with more than one each modality's too. Every rank
// extracts the features of its share of both datasets; the lead rank gathers them, computes the figures and
// logs them. Nothing of the training stream changes: the teacher runs forward only, without drop path, and
// the eval loader draws no random numbers, so checkpoints are the same with evals on or off.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autograd/nn/vit.h"
#include "data/dataset.h"
#include "data/normalization.h"
#include "nlohmann/json.hpp"
#include "trainer/eval.h"

namespace vfm {

class DataParallel;

struct PeriodicEvalOptions {
  int64_t every = 0;  // steps between evaluations (0: none)
  std::string train_data, test_data;
  bool linear = false;
  int probe_epochs = 100;
  int size = 224, resize = 256;  // centre-crop size and the shorter side before it (--eval_size, --eval_resize)
  int threads = 4;
  std::vector<std::string> modalities;  // the run's (--modalities); empty: every sample
};

class PeriodicEval {
 public:
  // Opens and checks both datasets (labelled, samples of the run's modalities, at least one sample per rank);
  // the error names the flag. Samples are normalised as `vfm eval --norm=dataset` would: with `trained` (the
  // run's table) for its modalities, the eval data's own statistics for the others.
  static absl::StatusOr<std::unique_ptr<PeriodicEval>> Create(const PeriodicEvalOptions& options,
                                                              const data::NormalizationTable& trained, int world);
  // Whether an evaluation follows step `step` (completed steps) of a run that stops at `stop`.
  bool Due(int64_t step, int64_t stop) const { return step % options_.every == 0 || step == stop; }
  // The figures of `teacher` ({"knn_top1", "knn_top5"[, "linear_top1"][, "per_modality": {name: figures}]},
  // on the lead rank; an empty object on the others). Collective: every rank calls it at the same steps.
  absl::StatusOr<nlohmann::json> Run(const nn::VisionTransformer& teacher, DataParallel& dp) const;

 private:
  // kNN (and the probe's) figures of the gathered features.
  nlohmann::json Figures(const Features& train, const Features& test) const;

  PeriodicEval(const PeriodicEvalOptions& options, data::NormalizationTable normalization,
               std::shared_ptr<const data::Dataset> train, std::shared_ptr<const data::Dataset> test)
      : options_(options),
        normalization_(std::move(normalization)),
        train_(std::move(train)),
        test_(std::move(test)) {}

  PeriodicEvalOptions options_;
  data::NormalizationTable normalization_;
  std::shared_ptr<const data::Dataset> train_, test_;
};

}  // namespace vfm
