#include "trainer/compute_account.h"

#include "absl/strings/str_cat.h"
#include "trainer/data_parallel.h"

namespace vfm {

nlohmann::json ComputeAccount::ToJson() const {
  return {{"images_seen", images_seen}, {"samples_per_modality", samples_per_modality},
          {"flops", flops},             {"wall_s", wall_s},
          {"device_s", device_s},       {"eval_s", eval_s}};
}

absl::StatusOr<ComputeAccount> ComputeAccount::FromJson(const nlohmann::json& j) {
  ComputeAccount a;
  try {
    a.images_seen = j.at("images_seen");
    a.samples_per_modality = j.at("samples_per_modality").get<std::map<std::string, int64_t>>();
    a.flops = j.at("flops");
    a.wall_s = j.at("wall_s");
    a.device_s = j.at("device_s");
    a.eval_s = j.value("eval_s", 0.0);  // checkpoints before it had none
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("compute account ", j.dump(), ": ", e.what()));
  }
  if (a.images_seen < 0 || !(a.flops >= 0) || !(a.wall_s >= 0) || !(a.device_s >= 0) || !(a.eval_s >= 0))
    return absl::DataLossError(absl::StrCat("compute account ", j.dump(), " has a negative count"));
  return a;
}

ComputeMeter::ComputeMeter(ComputeAccount start, std::vector<std::string> modalities, int world)
    : start_(start), account_(std::move(start)), modalities_(std::move(modalities)), world_(world),
      pending_(modalities_.size() + 1, 0.0) {}

void ComputeMeter::AddStep(const std::vector<uint8_t>& modalities, double flops) {
  for (uint8_t m : modalities) pending_[m] += 1;
  pending_.back() += flops;
}

double ComputeMeter::WallSeconds() const {
  return start_.wall_s + std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count() - eval_s_;
}

const ComputeAccount& ComputeMeter::Fold(DataParallel& dp) {
  const std::vector<double> sums = dp.SumOverRanks(pending_);
  for (size_t m = 0; m < modalities_.size(); ++m) {
    if (sums[m] == 0) continue;
    account_.samples_per_modality[modalities_[m]] += int64_t(sums[m]);
    account_.images_seen += int64_t(sums[m]);
  }
  account_.flops += sums.back();
  account_.wall_s = WallSeconds();
  account_.eval_s = start_.eval_s + eval_s_;
  account_.device_s = start_.device_s + (account_.wall_s - start_.wall_s) * world_;
  std::fill(pending_.begin(), pending_.end(), 0.0);
  return account_;
}

}  // namespace vfm
