#include "data/sampler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/random.h"

namespace vfm::data {
namespace {

// Stream tags keep the order's random numbers apart from augmentation's (which use view ids).
constexpr uint64_t kOrderTag = 0x6F72646572ull;  // "order"

void Shuffle(std::vector<int64_t>& ids, Rng& rng) {
  for (size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng.Below(i)]);
}

// Whether modality `m` takes part: every one when `selected` is empty.
bool IsSelected(const std::vector<bool>& selected, size_t m) { return selected.empty() || selected[m]; }

}  // namespace

absl::StatusOr<EpochSampler> EpochSampler::Create(const Dataset& dataset, SamplerOptions options) {
  EpochSampler s;
  s.options_ = options;
  s.dataset_size_ = dataset.size();
  if (dataset.size() == 0) return absl::InvalidArgumentError("the dataset is empty");
  const auto& names = dataset.index().modalities;
  std::vector<bool> selected;  // per modality code; empty: all
  for (const std::string& name : options.modalities) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end() || !dataset.index().modality_counts.count(name))
      return absl::InvalidArgumentError(absl::StrCat("modality '", name, "' selected: the dataset has none (it has ",
                                                     absl::StrJoin(names, ", "), ")"));
    selected.resize(names.size());
    selected[size_t(it - names.begin())] = true;
  }
  for (const auto& [name, weight] : options.modality_weights) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end())
      return absl::InvalidArgumentError(absl::StrCat("modality weight for '", name, "': no such modality"));
    if (!(weight >= 0)) return absl::InvalidArgumentError(absl::StrCat("modality weight for '", name, "' < 0"));
    if (!IsSelected(selected, size_t(it - names.begin())))
      return absl::InvalidArgumentError(absl::StrCat("modality weight for '", name, "', which the selected modalities leave out"));
  }
  int64_t selected_count = dataset.size();
  if (!selected.empty()) {
    for (int64_t id = 0; id < dataset.size(); ++id)
      if (selected[dataset.modality(id)]) s.selected_.push_back(id);
    selected_count = int64_t(s.selected_.size());
  }
  s.epoch_size_ = options.epoch_size > 0 ? options.epoch_size : selected_count;
  if (options.modality_weights.empty() && options.synthetic_ratio < 0) {
    if (s.epoch_size_ != selected_count)
      return absl::InvalidArgumentError("epoch_size needs modality weights or a synthetic ratio");
    return s;
  }
  s.selected_.clear();  // the weighted mode selects through the group probabilities
  if (options.synthetic_ratio > 1) return absl::InvalidArgumentError("synthetic ratio above 1");
  // Group g = 2 * modality + synthetic.
  s.groups_.resize(2 * names.size());
  for (int64_t id = 0; id < dataset.size(); ++id)
    s.groups_[2 * dataset.modality(id) + dataset.synthetic(id)].push_back(id);
  std::vector<double> p(s.groups_.size(), 0.0);
  for (size_t m = 0; m < names.size(); ++m) {
    const int64_t count = int64_t(s.groups_[2 * m].size() + s.groups_[2 * m + 1].size());
    const double pm = !IsSelected(selected, m)              ? 0.0
                      : options.modality_weights.empty()    ? double(count)
                      : options.modality_weights.count(names[m]) ? options.modality_weights.at(names[m])
                                                                 : 0.0;
    for (int synthetic = 0; synthetic < 2; ++synthetic) {
      const double kind = options.synthetic_ratio < 0
                              ? double(s.groups_[2 * m + synthetic].size()) / std::max<int64_t>(count, 1)
                              : (synthetic ? options.synthetic_ratio : 1.0 - options.synthetic_ratio);
      if (!s.groups_[2 * m + synthetic].empty()) p[2 * m + synthetic] = pm * kind;
    }
  }
  double total = 0;
  for (double v : p) total += v;
  if (total <= 0) return absl::InvalidArgumentError("modality weights / synthetic ratio select no samples");
  double running = 0;
  for (double v : p) s.cumulative_.push_back(running += v / total);
  // From the last drawable group on, exactly 1, so a uniform draw in [0, 1) always lands on a drawable group.
  size_t last = p.size() - 1;
  while (p[last] == 0) --last;
  std::fill(s.cumulative_.begin() + long(last), s.cumulative_.end(), 1.0);
  return s;
}

std::vector<int64_t> EpochSampler::Order(int64_t epoch) const {
  if (groups_.empty()) {
    std::vector<int64_t> order = selected_;
    if (order.empty()) {
      order.resize(static_cast<size_t>(dataset_size_));
      for (int64_t i = 0; i < dataset_size_; ++i) order[size_t(i)] = i;
    }
    Rng rng(MixKey({options_.seed, uint64_t(epoch), kOrderTag}));
    Shuffle(order, rng);
    return order;
  }
  // Each group walks through its own shuffled cycles; a cycle is keyed by (seed, epoch, group, cycle).
  struct Cursor {
    std::vector<int64_t> cycle;
    size_t next = 0;
    uint64_t cycles = 0;
  };
  std::vector<Cursor> cursors(groups_.size());
  Rng pick(MixKey({options_.seed, uint64_t(epoch), kOrderTag, ~0ull}));
  std::vector<int64_t> order(static_cast<size_t>(epoch_size_));
  for (int64_t& slot : order) {
    const double u = pick.UniformDouble();
    const size_t g = size_t(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin());
    Cursor& c = cursors[g];
    if (c.next == c.cycle.size()) {
      c.cycle = groups_[g];
      Rng rng(MixKey({options_.seed, uint64_t(epoch), kOrderTag, g, c.cycles++}));
      Shuffle(c.cycle, rng);
      c.next = 0;
    }
    slot = c.cycle[c.next++];
  }
  return order;
}

}  // namespace vfm::data
