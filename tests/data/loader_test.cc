// The loader's contract (DESIGN.md "Data: order, augmentation, resumption"): identical batches for any
// thread count; ranks 0..R-1 together are the 1-rank global batch; resume from (seed, epoch, consumed)
// continues with exactly the remaining samples, with any rank count; bad samples are skipped the same way
// every time; modality weights and the synthetic ratio shape the sample stream.
#include "data/loader.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "data/convert.h"
#include "gtest/gtest.h"
#include "kernels/cpu/normalize_images.h"
#include "kernels/random.h"
#include "tests/data/fixtures.h"

namespace vfm::data {
namespace {
using testing::EncodeJpeg;
using testing::EncodePng;
using testing::Pattern;
using testing::TempDir;
using testing::WriteFile;

// 40 samples: 30 "fundus" JPEGs (sizes 40..98 px, some synthetic) and 10 "oct" gray PNGs.
struct Fixture {
  TempDir dir;
  std::string folder = dir / "ds";
  std::shared_ptr<const Dataset> dataset;
  Fixture() {
    std::string csv;
    for (int i = 0; i < 30; ++i) {
      const std::string name = "img/f" + std::to_string(i) + ".jpg";
      WriteFile(dir / name, EncodeJpeg(Pattern(40 + 2 * i, 98 - i, 3, i)));
      csv += name + ",fundus," + std::to_string(i % 5) + ",p" + std::to_string(i / 3) + "," + (i % 3 == 0 ? "1" : "0") + "\n";
    }
    for (int i = 0; i < 10; ++i) {
      const std::string name = "img/o" + std::to_string(i) + ".png";
      WriteFile(dir / name, EncodePng(Pattern(50, 45 + i, 1, 100 + i)));
      csv += name + ",oct," + std::to_string(5 + i % 2) + "\n";
    }
    WriteFile(dir / "list.csv", csv);
    ConvertOptions o;
    o.output = folder;
    o.target_shard_bytes = 20000;
    auto report = ConvertCsv(dir / "list.csv", o);
    if (!report.ok() || report->index.samples != 40) throw std::runtime_error("fixture conversion failed");
    dataset = Open();
  }
  std::shared_ptr<const Dataset> Open() const {
    auto ds = Dataset::Open(folder);
    if (!ds.ok()) throw std::runtime_error(std::string(ds.status().message()));
    return std::shared_ptr<const Dataset>(std::move(*ds));
  }
};

LoaderOptions SmallOptions(int threads = 2) {
  LoaderOptions o;
  o.seed = 1234;
  o.global_batch = 8;
  o.threads = threads;
  o.prefetch = 2;
  o.crops.global.size = 32;
  o.crops.local.size = 16;
  o.crops.local_crops = 3;
  o.crops.masking.patch_size = 8;
  return o;
}

// One 16-px global crop and no local ones: for tests of which samples are drawn, not of their views.
LoaderOptions OneCropOptions() {
  LoaderOptions o = SmallOptions();
  o.crops.local_crops = 0;
  o.crops.global.size = 16;
  o.crops.global_crops = 1;
  return o;
}

std::unique_ptr<Loader> Make(const Fixture& f, LoaderOptions o, LoaderState s = {}) {
  auto loader = Loader::Create(f.dataset, o, s);
  if (!loader.ok()) throw std::runtime_error(std::string(loader.status().message()));
  return *std::move(loader);
}

// The next batch of a loader that meets no (or few enough) bad samples.
std::unique_ptr<Batch> NextBatch(Loader& loader) {
  absl::StatusOr<std::unique_ptr<Batch>> batch = loader.Next();
  if (!batch.ok()) throw std::runtime_error(std::string(batch.status().message()));
  return *std::move(batch);
}

void ExpectSameGroup(const CropGroup& a, const CropGroup& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.side, b.side);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.norms, b.norms);
}

// Batches as comparable values.
void ExpectSameBatch(const Batch& a, const Batch& b) {
  ASSERT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.modalities, b.modalities);
  ExpectSameGroup(a.global, b.global);
  ExpectSameGroup(a.local, b.local);
  EXPECT_EQ(a.masks, b.masks);
}

// Appends a crop-major buffer of `crops` blocks to another: each block grows by part's block.
template <typename T>
void AppendCropMajor(const std::vector<T>& part, int64_t crops, std::vector<T>* all) {
  if (crops == 0) return;
  const size_t block = part.size() / size_t(crops), old = all->size() / size_t(crops);
  std::vector<T> joined;
  for (size_t v = 0; v < size_t(crops); ++v) {
    joined.insert(joined.end(), all->begin() + v * old, all->begin() + (v + 1) * old);
    joined.insert(joined.end(), part.begin() + v * block, part.begin() + (v + 1) * block);
  }
  *all = std::move(joined);
}

// Concatenates rank batches along the batch dimension: samples in rank order, and in each crop-major
// buffer every rank's crop v before any crop v + 1.
Batch Concatenate(const std::vector<std::unique_ptr<Batch>>& parts) {
  Batch all = *parts[0];
  const int64_t n_global = all.global.rows / all.size, n_local = all.local.rows / all.size;
  for (size_t r = 1; r < parts.size(); ++r) {
    const Batch& p = *parts[r];
    all.size += p.size;
    all.ids.insert(all.ids.end(), p.ids.begin(), p.ids.end());
    all.labels.insert(all.labels.end(), p.labels.begin(), p.labels.end());
    all.modalities.insert(all.modalities.end(), p.modalities.begin(), p.modalities.end());
    for (auto [group, part, crops] : {std::tuple{&all.global, &p.global, n_global}, {&all.local, &p.local, n_local}}) {
      group->rows += part->rows;
      AppendCropMajor(part->pixels, crops, &group->pixels);
      AppendCropMajor(part->norms, crops, &group->norms);
    }
    AppendCropMajor(p.masks, n_global, &all.masks);
  }
  return all;
}

TEST(Loader, BatchShapesAndOneEpochSeesEverySampleOnce) {
  Fixture f;
  auto created = Loader::Create(f.folder, SmallOptions());  // straight from the folder
  ASSERT_TRUE(created.ok()) << created.status();
  auto& loader = *created;
  EXPECT_EQ(loader->steps_per_epoch(), 5);
  std::multiset<uint64_t> seen;
  for (int step = 0; step < 5; ++step) {
    auto b = NextBatch(*loader);
    ASSERT_EQ(b->size, 8);
    ASSERT_EQ(b->global.rows, 2 * 8);
    ASSERT_EQ(b->local.rows, 3 * 8);
    EXPECT_EQ(b->global.side, 32);
    EXPECT_EQ(b->local.side, 16);
    EXPECT_EQ(b->global.pixels.size(), 16u * 3 * 32 * 32);
    EXPECT_EQ(b->local.pixels.size(), 24u * 3 * 16 * 16);
    EXPECT_EQ(b->global.norms.size(), 16u * 3 * 2);
    EXPECT_EQ(b->local.norms.size(), 24u * 3 * 2);
    EXPECT_EQ(b->masks.size(), 16u * 4 * 4);
    for (size_t i = 0; i < 8; ++i) {
      seen.insert(b->ids[i]);
      EXPECT_EQ(b->labels[i], f.dataset->label(int64_t(b->ids[i])));
    }
  }
  EXPECT_EQ(seen.size(), 40u);
  EXPECT_EQ(std::set<uint64_t>(seen.begin(), seen.end()).size(), 40u);
  EXPECT_EQ(loader->state().epoch, 0);
  EXPECT_EQ(loader->state().consumed, 40);
  auto next = NextBatch(*loader);
  EXPECT_EQ(next->epoch, 1);
  EXPECT_EQ(loader->state().consumed, 8);
}

TEST(Loader, IdenticalBatchesForOneAndFourThreads) {
  Fixture f;
  auto one = Make(f, SmallOptions(1)), four = Make(f, SmallOptions(4));
  for (int step = 0; step < 7; ++step) {  // crosses an epoch
    std::unique_ptr<Batch> a = NextBatch(*one), b = NextBatch(*four);
    ExpectSameBatch(*a, *b);
    four->Recycle(std::move(b));  // reused buffers are fully overwritten
  }
}

TEST(Loader, RanksTogetherSeeTheOneRankGlobalBatch) {
  Fixture f;
  auto single = Make(f, SmallOptions());
  for (int world : {2, 4}) {
    std::vector<std::unique_ptr<Loader>> ranks;
    for (int r = 0; r < world; ++r) {
      LoaderOptions o = SmallOptions();
      o.rank = r;
      o.world_size = world;
      ranks.push_back(Make(f, o));
    }
    auto reference = Make(f, SmallOptions());
    for (int step = 0; step < 6; ++step) {
      std::vector<std::unique_ptr<Batch>> parts;
      for (auto& r : ranks) parts.push_back(NextBatch(*r));
      EXPECT_EQ(parts[0]->size, 8 / world);
      ExpectSameBatch(Concatenate(parts), *NextBatch(*reference));
    }
  }
}

TEST(Loader, ResumeMidEpochContinuesWithTheRemainingSamplesAnyRankCount) {
  Fixture f;
  auto full = Make(f, SmallOptions());
  std::vector<std::unique_ptr<Batch>> expected;
  for (int step = 0; step < 8; ++step) expected.push_back(NextBatch(*full));
  auto first = Make(f, SmallOptions());
  for (int step = 0; step < 3; ++step) NextBatch(*first);
  const LoaderState saved = first->state();
  EXPECT_EQ(saved.consumed, 24);
  first.reset();
  // Same rank count.
  auto resumed = Make(f, SmallOptions(3), saved);
  for (int step = 3; step < 8; ++step) ExpectSameBatch(*NextBatch(*resumed), *expected[size_t(step)]);
  // Two ranks.
  std::vector<std::unique_ptr<Loader>> ranks;
  for (int r = 0; r < 2; ++r) {
    LoaderOptions o = SmallOptions();
    o.rank = r;
    o.world_size = 2;
    ranks.push_back(Make(f, o, saved));
  }
  std::set<uint64_t> rest_of_epoch;
  for (int step = 3; step < 8; ++step) {
    std::vector<std::unique_ptr<Batch>> parts;
    for (auto& r : ranks) parts.push_back(NextBatch(*r));
    Batch all = Concatenate(parts);
    ExpectSameBatch(all, *expected[size_t(step)]);
    if (step < 5) rest_of_epoch.insert(all.ids.begin(), all.ids.end());
  }
  // The remaining 16 samples of epoch 0 are exactly those the first 3 batches did not see.
  std::set<uint64_t> before;
  for (int step = 0; step < 3; ++step) before.insert(expected[size_t(step)]->ids.begin(), expected[size_t(step)]->ids.end());
  EXPECT_EQ(rest_of_epoch.size(), 16u);
  for (uint64_t id : rest_of_epoch) EXPECT_FALSE(before.count(id)) << id;
}

// Damages the bytes of samples `ids` in their shard files and reopens the dataset.
void Corrupt(Fixture& f, const std::vector<int64_t>& ids) {
  std::vector<uint8_t> bytes;
  for (int64_t id : ids) {
    ASSERT_TRUE(f.dataset->Read(id, &bytes).ok());
    testing::CorruptSampleBytes(f.folder, bytes);
  }
  f.dataset = f.Open();
}

TEST(Loader, CorruptSampleIsReportedAndReplacedDeterministically) {
  Fixture f;
  Corrupt(f, {5});
  LoaderOptions o = SmallOptions(1);
  o.max_bad_fraction = 0.05;  // 1 of 40 is 2.5%
  auto a = Make(f, o);
  o.threads = 3;
  auto b = Make(f, o);
  std::set<uint64_t> seen;
  for (int step = 0; step < 5; ++step) {
    auto x = a->Next(), y = b->Next();
    ASSERT_TRUE(x.ok() && y.ok());
    ExpectSameBatch(**x, **y);
    seen.insert((*x)->ids.begin(), (*x)->ids.end());
  }
  EXPECT_EQ(a->bad_samples(), 1);
  EXPECT_FALSE(seen.count(5));
  EXPECT_EQ(seen.size(), 39u);  // its slot went to the next sample in the order
}

TEST(Loader, MoreBadSamplesThanMaxBadFractionStopWithAnErrorNamingTheDataset) {
  Fixture f;
  Corrupt(f, {3, 17, 29});
  // Tolerated: 10% of 40 is 4.
  LoaderOptions o = SmallOptions();
  o.max_bad_fraction = 0.1;
  auto tolerant = Make(f, o);
  for (int step = 0; step < 10; ++step) ASSERT_TRUE(tolerant->Next().ok()) << step;
  EXPECT_EQ(tolerant->bad_samples(), 3);
  // Not tolerated: 5% of 40 is 2. The error comes at the same step for any thread count.
  int failed_at[2] = {-1, -1};
  for (int t : {0, 1}) {
    o = SmallOptions(t == 0 ? 1 : 4);
    o.max_bad_fraction = 0.05;
    auto strict = Make(f, o);
    for (int step = 0; step < 10 && failed_at[t] < 0; ++step) {
      absl::StatusOr<std::unique_ptr<Batch>> b = strict->Next();
      if (b.ok()) continue;
      failed_at[t] = step;
      EXPECT_EQ(b.status().code(), absl::StatusCode::kDataLoss);
      EXPECT_NE(b.status().message().find(f.folder + ": 3 of 40 samples could not be read"), std::string::npos)
          << b.status();
      EXPECT_EQ(strict->Next().status(), b.status());  // and stays stopped
    }
  }
  EXPECT_GE(failed_at[0], 0);
  EXPECT_EQ(failed_at[0], failed_at[1]);
}

TEST(Loader, NoReadableSampleIsAnErrorNotAnAbort) {
  Fixture f;
  std::vector<int64_t> all(40);
  for (int64_t id = 0; id < 40; ++id) all[size_t(id)] = id;
  Corrupt(f, all);
  for (double fraction : {0.01, 1.0}) {  // stopped by the threshold, or by finding nothing at all
    LoaderOptions o = SmallOptions();
    o.max_bad_fraction = fraction;
    auto loader = Make(f, o);
    absl::StatusOr<std::unique_ptr<Batch>> b = loader->Next();
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(b.status().message().find(f.folder + ": "), std::string::npos) << b.status();
  }
  LoaderOptions o = SmallOptions();
  o.max_bad_fraction = 1.5;
  EXPECT_FALSE(Loader::Create(f.dataset, o).ok());
}

TEST(Loader, ModalityWeightsAndSyntheticRatioShapeTheStream) {
  Fixture f;
  LoaderOptions o = OneCropOptions();
  o.epoch_size = 800;
  o.modality_weights = {{"fundus", 1.0f}, {"oct", 1.0f}};
  auto loader = Make(f, o);
  int oct = 0, total = 0;
  for (int step = 0; step < 100; ++step) {
    auto b = NextBatch(*loader);
    for (uint8_t m : b->modalities) oct += m == 1, ++total;
  }
  EXPECT_NEAR(double(oct) / total, 0.5, 0.06);  // naturally 10 of 40

  o.modality_weights = {{"fundus", 1.0f}};
  o.synthetic_ratio = 0.7f;  // naturally 10 of 30 fundus images are synthetic
  loader = Make(f, o);
  int synthetic = 0;
  total = 0;
  for (int step = 0; step < 100; ++step) {
    auto b = NextBatch(*loader);
    for (uint64_t id : b->ids) {
      EXPECT_EQ(f.dataset->modality(int64_t(id)), 0);
      synthetic += f.dataset->synthetic(int64_t(id)), ++total;
    }
  }
  EXPECT_NEAR(double(synthetic) / total, 0.7, 0.06);
  o.modality_weights = {{"slit-lamp", 1.0f}};
  EXPECT_FALSE(Loader::Create(f.dataset, o).ok());
}

// --modalities: only the selected modalities' samples, every one once per epoch in plain mode (the epoch
// is their count), or drawn by weight; weights for a left-out modality and unknown names are refused.
TEST(Loader, SelectedModalitiesOnly) {
  Fixture f;
  LoaderOptions o = OneCropOptions();
  o.global_batch = 5;
  o.modalities = {"oct"};
  auto loader = Make(f, o);
  EXPECT_EQ(loader->steps_per_epoch(), 2);  // the 10 oct samples of 40
  std::set<uint64_t> seen;
  for (int step = 0; step < 2; ++step) {
    auto b = NextBatch(*loader);
    for (uint64_t id : b->ids) {
      EXPECT_EQ(f.dataset->modality(int64_t(id)), 1);
      seen.insert(id);
    }
  }
  EXPECT_EQ(seen.size(), 10u);
  o.modalities = {"oct", "fundus"};  // all of them: the plain order over every id, as without a selection
  loader = Make(f, o);
  LoaderOptions all = o;
  all.modalities.clear();
  auto plain = Make(f, all);
  EXPECT_EQ(loader->steps_per_epoch(), plain->steps_per_epoch());
  EXPECT_EQ(NextBatch(*loader)->ids, NextBatch(*plain)->ids);
  o.modalities = {"fundus"};
  o.epoch_size = 100;
  o.synthetic_ratio = 0.5f;
  loader = Make(f, o);
  const auto drawn = NextBatch(*loader);
  for (uint64_t id : drawn->ids) EXPECT_EQ(f.dataset->modality(int64_t(id)), 0);
  o.modality_weights = {{"oct", 1.0f}};
  EXPECT_FALSE(Loader::Create(f.dataset, o).ok());
  o.modality_weights.clear();
  o.modalities = {"slit-lamp"};
  EXPECT_FALSE(Loader::Create(f.dataset, o).ok());
}

TEST(Loader, MasksFollowTheRatioDistribution) {
  Fixture f;
  LoaderOptions o = SmallOptions();
  o.crops.global.size = 224;
  o.crops.local_crops = 0;
  o.crops.masking.patch_size = 16;
  o.epoch_size = 400;
  o.modality_weights = {{"fundus", 1.0f}};
  auto loader = Make(f, o);
  int unmasked = 0, crops = 0;
  double ratio_sum = 0;
  for (int step = 0; step < 50; ++step) {
    auto b = NextBatch(*loader);
    for (int64_t row = 0; row < b->global.rows; ++row) {
      int n = 0;
      for (int k = 0; k < 196; ++k) n += b->masks[size_t(row) * 196 + k];
      ++crops;
      if (n == 0) {
        ++unmasked;
      } else {
        EXPECT_LE(n, int(0.5 * 196) + 1);
        ratio_sum += n / 196.0;
      }
    }
  }
  EXPECT_NEAR(double(unmasked) / crops, 0.5, 0.07);
  const double mean_ratio = ratio_sum / (crops - unmasked);
  EXPECT_GT(mean_ratio, 0.2);  // U(0.1, 0.5) targets; blocks land slightly under the target
  EXPECT_LT(mean_ratio, 0.32);
}

// Row v * B + i of each group is crop v of sample i as MakeViews renders it (the sample's key from its
// position), and its table row is the sample's modality's mean/std: normalised with it (as the step does,
// kernels/cpu/normalize_images.h) the row is NormalizeToPlanar's float crop bit for bit.
TEST(Loader, CropsAreCropMajorWithTheirSamplesNormalisation) {
  Fixture f;
  LoaderOptions o = SmallOptions();
  o.normalization["oct"] = {{0.1f, 0.2f, 0.3f}, {0.4f, 0.5f, 0.6f}};  // fundus keeps the default
  auto loader = Make(f, o);
  NextBatch(*loader);
  auto b = NextBatch(*loader);
  const int64_t B = b->size;
  std::vector<uint8_t> bytes;
  SampleViews views;
  std::set<uint8_t> modalities(b->modalities.begin(), b->modalities.end());
  EXPECT_EQ(modalities.size(), 2u) << "the batch should mix both modalities";
  for (int64_t i = 0; i < B; ++i) {
    SCOPED_TRACE(i);
    const int64_t id = int64_t(b->ids[size_t(i)]);
    ASSERT_TRUE(f.dataset->Read(id, &bytes).ok());
    const uint64_t key = MixKey({o.seed, uint64_t(b->epoch), uint64_t(b->position + i), uint64_t(id)});
    const ImageHeader shape{int(f.dataset->height(id)), int(f.dataset->width(id)), int(f.dataset->channels(id))};
    ASSERT_TRUE(MakeViews(bytes.data(), bytes.size(), f.dataset->codec(id), shape, key, o.crops, &views).ok());
    const Normalization norm = f.dataset->modality(id) == 1 ? o.normalization["oct"] : Normalization{};
    auto check = [&](const std::vector<Image>& images, const CropGroup& group) {
      const int64_t plane = group.side * group.side;
      for (size_t v = 0; v < images.size(); ++v) {
        const size_t row = v * size_t(B) + size_t(i);
        std::vector<uint8_t> want_u8(size_t(3 * plane));
        CopyToPlanar(images[v], want_u8.data());
        const uint8_t* got_u8 = group.pixels.data() + row * 3 * plane;
        EXPECT_TRUE(std::equal(want_u8.begin(), want_u8.end(), got_u8)) << "crop " << v << " of sample " << i;
        std::vector<float> want(size_t(3 * plane)), got(size_t(3 * plane));
        NormalizeToPlanar(images[v], norm.mean, norm.std, want.data());
        const auto* table = reinterpret_cast<const cpu::PlaneNorm*>(group.norms.data() + row * 6);
        cpu::NormalizeImages(got_u8, table, got.data(), 3, plane);
        EXPECT_EQ(got, want) << "crop " << v << " of sample " << i;
      }
    };
    check(views.global, b->global);
    check(views.local, b->local);
    const size_t cells = views.masks[0].size();
    for (size_t v = 0; v < views.masks.size(); ++v)
      EXPECT_TRUE(std::equal(views.masks[v].begin(), views.masks[v].end(), b->masks.begin() + (v * B + i) * cells))
          << "mask " << v << " of sample " << i;
  }
}

TEST(EvalLoader, SequentialCentreCropsSplitAcrossRanks) {
  Fixture f;
  EvalOptions o;
  o.size = 24;
  o.resize_size = 28;
  o.batch = 16;
  std::vector<uint64_t> all;
  for (int r = 0; r < 2; ++r) {
    o.rank = r;
    o.world_size = 2;
    auto loader = EvalLoader::Create(f.dataset, o);
    ASSERT_TRUE(loader.ok()) << loader.status();
    EvalBatch b;
    int batches = 0;
    while ((*loader)->Next(&b)) {
      ++batches;
      EXPECT_EQ(b.images.size(), size_t(b.size) * 3 * 24 * 24);
      for (int64_t i = 0; i < b.size; ++i) {
        EXPECT_TRUE(b.ok[size_t(i)]);
        EXPECT_EQ(b.ids[size_t(i)] % 2, uint64_t(r));
        EXPECT_EQ(b.labels[size_t(i)], f.dataset->label(int64_t(b.ids[size_t(i)])));
      }
      all.insert(all.end(), b.ids.begin(), b.ids.end());
    }
    EXPECT_EQ(batches, 2);  // 20 samples per rank in batches of 16
  }
  EXPECT_EQ(std::set<uint64_t>(all.begin(), all.end()).size(), 40u);
  o.resize_size = 20;  // smaller than the crop
  EXPECT_FALSE(EvalLoader::Create(f.dataset, o).ok());
}

// `modality`: only that modality's samples, in id order, split across ranks like all of them; a name the
// dataset lacks is refused, naming it.
TEST(EvalLoader, OneModalitysSamples) {
  Fixture f;
  EvalOptions o;
  o.size = 16;
  o.resize_size = 16;
  o.batch = 4;
  o.modality = "oct";
  std::vector<uint64_t> want;
  for (int64_t id = 0; id < f.dataset->size(); ++id)
    if (f.dataset->modality(id) == 1) want.push_back(uint64_t(id));
  ASSERT_EQ(want.size(), 10u);
  std::vector<uint64_t> got;
  for (int r = 0; r < 2; ++r) {
    o.rank = r;
    o.world_size = 2;
    auto loader = EvalLoader::Create(f.dataset, o);
    ASSERT_TRUE(loader.ok()) << loader.status();
    EXPECT_EQ((*loader)->remaining(), 5);
    EvalBatch b;
    std::vector<uint64_t> mine;
    while ((*loader)->Next(&b)) mine.insert(mine.end(), b.ids.begin(), b.ids.end());
    for (size_t i = 0; i < mine.size(); ++i) EXPECT_EQ(mine[i], want[2 * i + size_t(r)]);
    got.insert(got.end(), mine.begin(), mine.end());
  }
  EXPECT_EQ(std::set<uint64_t>(got.begin(), got.end()), std::set<uint64_t>(want.begin(), want.end()));
  o.modality = "slit-lamp";
  const auto bad = EvalLoader::Create(f.dataset, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("slit-lamp"), std::string::npos) << bad.status();
}

TEST(Loader, BadOptionsAreRefusedNamingTheOption) {
  Fixture f;
  auto message = [&](auto change) {
    LoaderOptions o = SmallOptions();
    change(o);
    absl::Status s = Loader::Create(f.dataset, o).status();
    EXPECT_FALSE(s.ok());
    return std::string(s.message());
  };
  EXPECT_NE(message([](LoaderOptions& o) { o.crops.local.scale_min = 0.5f; o.crops.local.scale_max = 0.1f; })
                .find("local.scale_min"), std::string::npos);
  EXPECT_NE(message([](LoaderOptions& o) { o.crops.global.blur_kernel = 4; }).find("global.blur_kernel"),
            std::string::npos);
  EXPECT_NE(message([](LoaderOptions& o) { o.crops.masking.patch_size = 5; }).find("patch_size"), std::string::npos);
  EXPECT_NE(message([](LoaderOptions& o) { o.global_batch = 6, o.world_size = 4; }).find("world size"),
            std::string::npos);
  EXPECT_NE(message([](LoaderOptions& o) { o.global_batch = 64; }).find("smaller than the global batch"),
            std::string::npos);
}

}  // namespace
}  // namespace vfm::data
