// How samples are normalised (`vfm pretrain/eval --norm`): a table of per-modality mean/std, resolved from
// a spec against a dataset's index.json, and its JSON form (checkpoints' state.json, exported safetensors'
// metadata), so that downstream code normalises as pretraining did.
//   "dataset":  each modality its own statistics from index.json (modality_stats.h); a modality without
//               them gets ImageNet's, with a note saying so (`vfm stats` adds them);
//   "imagenet": ImageNet's for every modality (vfm's only choice before the statistics existed);
//   "M,S" or "M1,M2,M3,S1,S2,S3": the given mean/std (in [0, 1] units) for every modality.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset_index.h"
#include "data/loader.h"
#include "nlohmann/json.hpp"

namespace vfm::data {

using NormalizationTable = std::map<std::string, Normalization>;  // by modality name

// A table with an entry for every modality present in `index`. Errors (InvalidArgument) name the spec or
// the modality at fault (a std below 1e-3 would blow pixels up a thousandfold). `notes` (may be null) gets
// one line per modality that falls back to ImageNet's.
absl::StatusOr<NormalizationTable> ResolveNormalization(const std::string& spec, const DatasetIndex& index,
                                                        std::vector<std::string>* notes);

// Whether `spec` is one of the forms above (InvalidArgument naming it if not), without a dataset.
absl::Status CheckNormalizationSpec(const std::string& spec);

// The table an evaluation of a pretrained encoder normalises with: `trained` (what pretraining recorded) for
// the modalities it has an entry for, its "*" entry (checkpoints from before the table) for the others, else
// `own` (the evaluated data's statistics) as it is.
NormalizationTable AsTrained(NormalizationTable own, const NormalizationTable& trained);

// {"fundus": {"mean": [r, g, b], "std": [r, g, b]}, ...}
nlohmann::json NormalizationToJson(const NormalizationTable& table);
// The inverse; an error names what is malformed.
absl::StatusOr<NormalizationTable> NormalizationFromJson(const nlohmann::json& j);

}  // namespace vfm::data
