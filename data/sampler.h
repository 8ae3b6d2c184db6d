// The sample order of an epoch: a pure function of (seed, epoch) and the dataset (DESIGN.md, "Data: order,
// augmentation, resumption"). Plain: a Fisher-Yates shuffle of all ids (of the selected modalities' ids, in
// id order, when `modalities` selects some). Weighted: samples are grouped by (modality, real/synthetic);
// each position draws a group with probability
//   P(modality m) * P(kind),  P(m) = w_m / sum w (unlisted or unselected modalities: never),
//   P(synthetic) = ratio,
// renormalised over non-empty groups, and takes the group's next id from its own reshuffled cycles.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"

namespace vfm::data {

struct SamplerOptions {
  uint64_t seed = 0;
  std::vector<std::string> modalities;            // empty: all; else only these (each must be present)
  std::map<std::string, float> modality_weights;  // empty: every modality in its natural proportion
  float synthetic_ratio = -1;                      // fraction of synthetic samples; < 0: natural proportion
  int64_t epoch_size = 0;  // samples per epoch; 0: the selected modalities' samples (all: the dataset's size)
};

class EpochSampler {
 public:
  static absl::StatusOr<EpochSampler> Create(const Dataset& dataset, SamplerOptions options);
  int64_t epoch_size() const { return epoch_size_; }
  std::vector<int64_t> Order(int64_t epoch) const;

 private:
  SamplerOptions options_;
  int64_t epoch_size_ = 0;
  int64_t dataset_size_ = 0;
  std::vector<int64_t> selected_;             // plain mode with a selection: the selected ids, in id order
  std::vector<std::vector<int64_t>> groups_;  // weighted mode: ids per group
  std::vector<double> cumulative_;            // weighted mode: cumulative group probabilities
};

}  // namespace vfm::data
