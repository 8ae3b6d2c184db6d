#include "trainer/eval.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "autograd/check.h"
#include "autograd/safetensors.h"
#include "kernels/random.h"
#include "trainer/adamw.h"

namespace vfm {

absl::Status CheckLabelled(const data::Dataset& dataset, const std::string& name) {
  int64_t unlabelled = 0, first = -1;
  for (int64_t id = 0; id < dataset.size(); ++id)
    if (dataset.label(id) < 0 && unlabelled++ == 0) first = id;
  if (unlabelled == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", unlabelled, " of ", dataset.size(),
                                                 " samples have no label (the first: ", dataset.Describe(first),
                                                 "); kNN and linear evaluation need labelled data"));
}

absl::Status CheckSameClasses(const data::Dataset& train, const data::Dataset& test) {
  const std::vector<std::string>&a = train.index().labels, &b = test.index().labels;
  if (!a.empty() && !b.empty() && a != b)
    return absl::InvalidArgumentError(absl::StrCat(
        "--data and --test_data name their classes differently (", absl::StrJoin(a, ","), " against ",
        absl::StrJoin(b, ","), "): their labels do not mean the same classes"));
  std::set<int32_t> known;
  for (int64_t id = 0; id < train.size(); ++id) known.insert(train.label(id));
  for (int64_t id = 0; id < test.size(); ++id)
    if (known.count(test.label(id))) return absl::OkStatus();
  return absl::InvalidArgumentError("no --test_data sample has a label that a --data sample has");
}

absl::Status CheckHasModalities(const data::DatasetIndex& index, const std::vector<std::string>& modalities,
                                const std::string& name) {
  for (const std::string& m : modalities)
    if (!index.modality_counts.count(m) || index.modality_counts.at(m) == 0)
      return absl::InvalidArgumentError(absl::StrCat(name, " has no samples of '", m, "' (it has ",
                                                     absl::StrJoin(index.modalities, ", "), ")"));
  return absl::OkStatus();
}

absl::StatusOr<Features> ExtractFeatures(const nn::VisionTransformer* encoder, std::shared_ptr<const data::Dataset> dataset,
                                         const data::EvalOptions& options, int n_last_blocks, const Progress& progress) {
  auto loader = data::EvalLoader::Create(dataset, options);
  if (!loader.ok()) return loader.status();
  std::vector<float> values;
  Features out;
  const int64_t total = (*loader)->remaining();
  int64_t width = 0, bad = 0, done = 0;
  data::EvalBatch batch;
  NoGradGuard no_grad;
  while ((*loader)->Next(&batch)) {
    const int64_t B = batch.size, S = options.size;
    Tensor images = Tensor::FromVector(batch.images, {B, 3, S, S});
    if (encoder && !encoder->cls_token.device().is_cpu()) images = images.ToDevice(encoder->cls_token.device());
    Tensor f = encoder ? encoder->ClsFeatures(images, n_last_blocks) : ops::Reshape(images, {B, 3 * S * S});
    width = f.size(1);
    const std::vector<float> v = f.ToVector();
    for (int64_t i = 0; i < B; ++i) {
      if (!batch.ok[i]) {  // unreadable sample: reported by the loader, left out here
        ++bad;
        continue;
      }
      values.insert(values.end(), v.begin() + i * width, v.begin() + (i + 1) * width);
      out.labels.push_back(batch.labels[i]);
      out.ids.push_back(batch.ids[i]);
    }
    if (progress) progress(done += B, total);
  }
  if (out.labels.empty()) return absl::InvalidArgumentError("no readable samples to extract features from");
  if (bad) std::fprintf(stderr, "eval: %lld unreadable samples left out\n", (long long)bad);
  out.values = Tensor::FromVector(values, {int64_t(out.labels.size()), width});
  return out;
}

KnnResult Knn(const Features& train, const Features& test, int k, double temperature) {
  VFM_CHECK(k >= 1 && temperature > 0) << "kNN with k " << k << " and temperature " << temperature;
  const Tensor a = ops::L2Normalize(train.values), b = ops::L2Normalize(test.values);
  const int64_t n = train.values.size(0), m = test.values.size(0);
  k = int(std::min<int64_t>(k, n));
  int64_t correct = 0, correct5 = 0;
  const int64_t chunk = 256;
  for (int64_t start = 0; start < m; start += chunk) {
    const int64_t rows = std::min(chunk, m - start);
    // Cosine similarities [rows, n]: the test rows times the training rows transposed, i.e. a bias-free
    // Linear whose weight is the training features.
    const Tensor sim = ops::Linear(ops::Slice(b, 0, start, start + rows), a);
#pragma omp parallel for reduction(+ : correct, correct5) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* s = sim.data<float>() + r * n;
      std::vector<int64_t> idx(static_cast<size_t>(n));
      std::iota(idx.begin(), idx.end(), 0);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t x, int64_t y) {
        return s[x] > s[y] || (s[x] == s[y] && x < y);
      });
      std::map<int32_t, double> votes;
      for (int j = 0; j < k; ++j) votes[train.labels[idx[j]]] += std::exp(double(s[idx[j]]) / temperature);
      // Classes by vote weight, ties to the smaller label (the map's order, kept by the stable sort).
      std::vector<std::pair<int32_t, double>> ranked(votes.begin(), votes.end());
      std::stable_sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
      const int32_t truth = test.labels[start + r];
      correct += ranked[0].first == truth;
      for (size_t j = 0; j < std::min<size_t>(5, ranked.size()); ++j) correct5 += ranked[j].first == truth;
    }
  }
  return {100.0 * double(correct) / double(m), 100.0 * double(correct5) / double(m)};
}

namespace {
// Rows `rows` of x [N, D], as a [rows, D] tensor.
Tensor Rows(const Tensor& x, const std::vector<int64_t>& rows) {
  Tensor index = Tensor::Empty({1, int64_t(rows.size())}, DType::kI64);
  std::copy(rows.begin(), rows.end(), index.data<int64_t>());
  const Tensor picked = ops::GatherTokens(ops::Reshape(x, {1, x.size(0), x.size(1)}), index);
  return ops::Reshape(picked, {int64_t(rows.size()), x.size(1)});
}

// The one-hot targets [rows, classes] of the class indices y at `rows`.
Tensor OneHot(const std::vector<int32_t>& y, const std::vector<int64_t>& rows, int64_t classes) {
  Tensor t = Tensor::Zeros({int64_t(rows.size()), classes});
  for (size_t i = 0; i < rows.size(); ++i) t.data<float>()[int64_t(i) * classes + y[rows[i]]] = 1.0f;
  return t;
}

// A softmax classifier on standardised features: vfm's Linear module trained from zero weights on the
// mean cross-entropy of its log-softmax, backward through the engine, the trainer's AdamW (weight decay on
// the weight only) over mini-batches of 256 reshuffled every epoch; evaluated as top-1 on `rows`.
class Probe {
 public:
  Probe(int64_t d, int64_t classes) : linear_(d, classes, /*bias=*/true, /*seed=*/0), classes_(classes) {}

  // y: class indices in [0, classes).
  void Train(const Tensor& x, const std::vector<int32_t>& y, std::vector<int64_t> order, int epochs, double lr,
             double wd, uint64_t seed, const std::function<void()>& epoch_done) {
    linear_.weight.Fill(0);
    linear_.bias.Fill(0);
    const GradBuckets grads(linear_.NamedParameters());
    AdamW optimizer(grads);
    const int64_t n = int64_t(order.size()), kBatch = 256;
    for (int e = 0; e < epochs; ++e) {
      Rng rng(MixKey({seed, uint64_t(e)}));
      for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.Below(uint64_t(i + 1))]);
      for (int64_t s = 0; s < n; s += kBatch) {
        const std::vector<int64_t> batch(order.begin() + s, order.begin() + std::min(s + kBatch, n));
        const Tensor log_p = ops::LogSoftmax(linear_.Forward(Rows(x, batch)));
        const Tensor loss = ops::Scale(ops::Sum(ops::Mul(log_p, OneHot(y, batch, classes_))), -1.0 / double(batch.size()));
        linear_.ZeroGrad();
        loss.Backward();
        optimizer.Step(lr, wd);
      }
      epoch_done();
    }
  }

  // y: class indices, -1 for a class the probe was not trained on (never right).
  double Top1(const Tensor& x, const std::vector<int32_t>& y, const std::vector<int64_t>& rows) const {
    NoGradGuard no_grad;
    const Tensor logits = linear_.Forward(Rows(x, rows));
    int64_t correct = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const float* l = logits.data<float>() + int64_t(i) * classes_;
      correct += std::max_element(l, l + classes_) - l == y[rows[i]];
    }
    return 100.0 * double(correct) / double(rows.size());
  }

 private:
  nn::Linear linear_;
  int64_t classes_;
};

// The index of each label in `classes` (sorted), or -1.
std::vector<int32_t> ClassIndices(const std::vector<int32_t>& labels, const std::vector<int32_t>& classes) {
  std::vector<int32_t> out;
  out.reserve(labels.size());
  for (int32_t l : labels) {
    const auto it = std::lower_bound(classes.begin(), classes.end(), l);
    out.push_back(it != classes.end() && *it == l ? int32_t(it - classes.begin()) : -1);
  }
  return out;
}
}  // namespace

LinearProbeResult LinearProbe(const Features& train, const Features& test, int epochs, uint64_t seed,
                              const Progress& progress) {
  VFM_CHECK(epochs >= 1) << "linear probe with " << epochs << " epochs";
  const int64_t n = train.values.size(0), d = train.values.size(1);
  std::vector<float> xtr = train.values.ToVector(), xte = test.values.ToVector();
  // Standardise with the training statistics.
  for (int64_t j = 0; j < d; ++j) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += xtr[i * d + j];
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i) var += (xtr[i * d + j] - mean) * (xtr[i * d + j] - mean);
    const double inv = 1.0 / std::sqrt(var / double(n) + 1e-6);
    for (int64_t i = 0; i < n; ++i) xtr[i * d + j] = float((xtr[i * d + j] - mean) * inv);
    for (int64_t i = 0; i < test.values.size(0); ++i) xte[i * d + j] = float((xte[i * d + j] - mean) * inv);
  }
  // The classes are the distinct training labels: sparse labels (even 2^31 - 1) cost no extra outputs.
  std::vector<int32_t> classes = train.labels;
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  const std::vector<int32_t> ytr = ClassIndices(train.labels, classes), yte = ClassIndices(test.labels, classes);
  const Tensor train_x = Tensor::FromVector(xtr, train.values.shape());
  Probe probe(d, int64_t(classes.size()));
  const double kLearningRates[] = {1e-3, 3e-3, 1e-2};
  int64_t epochs_done = 0;
  const auto epoch_done = [&] {  // one fit per learning rate, then the refit
    if (progress) progress(++epochs_done, int64_t(std::size(kLearningRates) + 1) * epochs);
  };
  // Held-out tenth: a fixed shuffle of the training rows.
  std::vector<int64_t> rows(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), 0);
  Rng rng(MixKey({seed, 0x76616c}));
  for (int64_t i = n - 1; i > 0; --i) std::swap(rows[i], rows[rng.Below(uint64_t(i + 1))]);
  const int64_t n_val = std::max<int64_t>(1, n / 10);
  const std::vector<int64_t> val(rows.begin(), rows.begin() + n_val), fit(rows.begin() + n_val, rows.end());
  LinearProbeResult best;
  best.val_top1 = -1;
  for (double lr : kLearningRates) {
    probe.Train(train_x, ytr, fit, epochs, lr, 1e-4, seed, epoch_done);
    const double v = probe.Top1(train_x, ytr, val);
    if (v > best.val_top1) best = {0, v, lr};
  }
  // Refit on all training rows at the chosen learning rate, then test.
  probe.Train(train_x, ytr, rows, epochs, best.lr, 1e-4, seed, epoch_done);
  std::vector<int64_t> test_rows(static_cast<size_t>(test.values.size(0)));
  std::iota(test_rows.begin(), test_rows.end(), 0);
  best.test_top1 = probe.Top1(Tensor::FromVector(xte, test.values.shape()), yte, test_rows);
  return best;
}

absl::Status SaveFeatures(const std::string& path, const Features& train, const Features& test) {
  auto ids = [](const std::vector<uint64_t>& v) {
    Tensor t = Tensor::Empty({int64_t(v.size())}, DType::kI64);
    std::copy(v.begin(), v.end(), t.data<int64_t>());
    return t;
  };
  auto labels = [](const std::vector<int32_t>& v) {
    Tensor t = Tensor::Empty({int64_t(v.size())}, DType::kI32);
    std::copy(v.begin(), v.end(), t.data<int32_t>());
    return t;
  };
  return SaveSafetensors(path, {{"train.features", train.values}, {"train.labels", labels(train.labels)},
                                {"train.ids", ids(train.ids)}, {"test.features", test.values},
                                {"test.labels", labels(test.labels)}, {"test.ids", ids(test.ids)}});
}

}  // namespace vfm
