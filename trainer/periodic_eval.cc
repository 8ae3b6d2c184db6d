#include "trainer/periodic_eval.h"

#include "absl/strings/str_cat.h"
#include "trainer/data_parallel.h"
#include "trainer/eval.h"

namespace vfm {

namespace {

absl::StatusOr<std::shared_ptr<const data::Dataset>> OpenLabelled(const std::string& flag, const std::string& path,
                                                                  const std::vector<std::string>& modalities,
                                                                  int world) {
  auto ds = data::Dataset::Open(path);
  if (!ds.ok()) return absl::Status(ds.status().code(), absl::StrCat(flag, " ", path, ": ", ds.status().message()));
  if (absl::Status s = CheckLabelled(**ds, flag + " " + path); !s.ok()) return s;
  if (absl::Status s = CheckHasModalities((*ds)->index(), modalities, flag + " " + path); !s.ok()) return s;
  if ((*ds)->size() < world)
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " has ", (*ds)->size(), " samples, fewer than the ", world, " ranks"));
  return std::shared_ptr<const data::Dataset>(std::move(*ds));
}

// This rank's features of `dataset`, gathered from every rank (collective); on the lead rank the whole
// dataset's readable samples in id order, elsewhere nothing.
absl::StatusOr<Features> GatheredFeatures(const nn::VisionTransformer& encoder,
                                          std::shared_ptr<const data::Dataset> dataset, const data::EvalOptions& options,
                                          DataParallel& dp) {
  auto own = ExtractFeatures(&encoder, dataset, options, 1);
  if (!own.ok()) return own.status();
  // Row `id` holds the sample's features and, in its last column, 1 when the sample was readable.
  const int64_t n = dataset->size(), width = own->values.size(1);
  Tensor all = Tensor::Zeros({n, width + 1}, DType::kF32);
  for (size_t i = 0; i < own->ids.size(); ++i) {
    float* row = all.data<float>() + int64_t(own->ids[i]) * (width + 1);
    std::copy_n(own->values.data<float>() + int64_t(i) * width, width, row);
    row[width] = 1;
  }
  dp.SumOverRanks(&all);
  Features out;
  if (dp.rank() != 0) return out;
  std::vector<float> kept;
  for (int64_t id = 0; id < n; ++id) {
    const float* row = all.data<float>() + id * (width + 1);
    if (row[width] == 0) continue;
    kept.insert(kept.end(), row, row + width);
    out.labels.push_back(dataset->label(id));
    out.ids.push_back(uint64_t(id));
  }
  out.values = Tensor::FromVector(kept, {int64_t(out.labels.size()), width});
  return out;
}

// `from`'s samples added after `to`'s (features of the same width).
void Append(const Features& from, Features* to) {
  if (to->labels.empty()) {
    *to = from;
    return;
  }
  const int64_t width = from.values.size(1), rows = int64_t(to->labels.size()) + int64_t(from.labels.size());
  std::vector<float> values(to->values.data<float>(), to->values.data<float>() + to->values.numel());
  values.insert(values.end(), from.values.data<float>(), from.values.data<float>() + from.values.numel());
  to->values = Tensor::FromVector(values, {rows, width});
  to->labels.insert(to->labels.end(), from.labels.begin(), from.labels.end());
  to->ids.insert(to->ids.end(), from.ids.begin(), from.ids.end());
}

}  // namespace

absl::StatusOr<std::unique_ptr<PeriodicEval>> PeriodicEval::Create(const PeriodicEvalOptions& options,
                                                                   const data::NormalizationTable& trained, int world) {
  auto train = OpenLabelled("--eval_data", options.train_data, options.modalities, world);
  if (!train.ok()) return train.status();
  auto test = OpenLabelled("--eval_test_data", options.test_data, options.modalities, world);
  if (!test.ok()) return test.status();
  auto own = data::ResolveNormalization("dataset", (*train)->index(), nullptr);
  if (!own.ok()) return own.status();
  return std::unique_ptr<PeriodicEval>(
      new PeriodicEval(options, data::AsTrained(std::move(*own), trained), std::move(*train), std::move(*test)));
}

absl::StatusOr<nlohmann::json> PeriodicEval::Run(const nn::VisionTransformer& teacher, DataParallel& dp) const {
  data::EvalOptions eo;
  eo.size = options_.size;
  eo.resize_size = options_.resize;
  eo.rank = dp.rank();
  eo.world_size = dp.world();
  eo.threads = options_.threads;
  eo.normalization = normalization_;
  // The run's modalities one by one ("": every sample); their features together give the figures over all.
  const std::vector<std::string> names =
      options_.modalities.empty() ? std::vector<std::string>{""} : options_.modalities;
  Features train_all, test_all;
  nlohmann::json per_modality = nlohmann::json::object();
  for (const std::string& m : names) {
    eo.modality = m;
    auto train = GatheredFeatures(teacher, train_, eo, dp);
    if (!train.ok()) return train.status();
    auto test = GatheredFeatures(teacher, test_, eo, dp);
    if (!test.ok()) return test.status();
    if (dp.rank() != 0) continue;
    if (names.size() > 1) per_modality[m] = Figures(*train, *test);
    Append(*train, &train_all);
    Append(*test, &test_all);
  }
  if (dp.rank() != 0) return nlohmann::json::object();
  nlohmann::json result = Figures(train_all, test_all);
  if (names.size() > 1) result["per_modality"] = per_modality;
  return result;
}

nlohmann::json PeriodicEval::Figures(const Features& train, const Features& test) const {
  const KnnResult knn = Knn(train, test, 20, 0.07);
  nlohmann::json result = {{"knn_top1", knn.top1}, {"knn_top5", knn.top5}};
  if (options_.linear) result["linear_top1"] = LinearProbe(train, test, options_.probe_epochs).test_top1;
  return result;
}

}  // namespace vfm
