#include "data/loader.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/resize.h"
#include "kernels/cpu/normalize_images.h"
#include "kernels/random.h"

namespace vfm::data {
namespace {

const Normalization& NormalizationFor(const std::map<std::string, Normalization>& table, const Dataset& dataset,
                                      uint8_t modality) {
  static const Normalization kDefault;
  auto it = table.find(dataset.index().modalities[modality]);
  return it == table.end() ? kDefault : it->second;
}

ImageHeader ShapeOf(const Dataset& dataset, int64_t id) {
  return {int(dataset.height(id)), int(dataset.width(id)), int(dataset.channels(id))};
}

CropGroup NewCropGroup(int64_t rows, int side) {
  CropGroup g;
  g.rows = rows;
  g.side = side;
  g.pixels.resize(size_t(rows) * 3 * side * side);
  g.norms.resize(size_t(rows) * 3 * 2);
  return g;
}

// Writes `images` (a sample's crops of one size) as rows slot, B + slot, 2B + slot, ... of `group`, each
// with the sample's normalisation.
void WriteCrops(const std::vector<Image>& images, const Normalization& norm, int64_t B, int slot, CropGroup* group) {
  const size_t per_row = size_t(3) * group->side * group->side;
  for (size_t v = 0; v < images.size(); ++v) {
    const size_t row = v * size_t(B) + size_t(slot);
    CopyToPlanar(images[v], group->pixels.data() + row * per_row);
    for (size_t c = 0; c < 3; ++c) {
      const cpu::PlaneNorm plane = cpu::PlaneNormFor(norm.mean[c], norm.std[c]);
      group->norms[(row * 3 + c) * 2] = plane.scale;
      group->norms[(row * 3 + c) * 2 + 1] = plane.shift;
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Loader>> Loader::Create(std::shared_ptr<const Dataset> dataset,
                                                       LoaderOptions options, LoaderState start) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
    return absl::InvalidArgumentError(absl::StrCat("rank ", options.rank, " of ", options.world_size));
  if (options.global_batch < 1 || options.global_batch % options.world_size != 0)
    return absl::InvalidArgumentError(absl::StrCat("global batch ", options.global_batch,
                                                   " is not a positive multiple of world size ", options.world_size));
  if (options.prefetch < 0) return absl::InvalidArgumentError("prefetch depth < 0");
  if (!(options.max_bad_fraction >= 0 && options.max_bad_fraction <= 1))
    return absl::InvalidArgumentError(absl::StrCat("max_bad_fraction ", options.max_bad_fraction, " is not in [0, 1]"));
  if (absl::Status s = ValidateMultiCropOptions(options.crops); !s.ok()) return s;
  SamplerOptions so;
  so.seed = options.seed;
  so.modalities = options.modalities;
  so.modality_weights = options.modality_weights;
  so.synthetic_ratio = options.synthetic_ratio;
  so.epoch_size = options.epoch_size;
  absl::StatusOr<EpochSampler> sampler = EpochSampler::Create(*dataset, so);
  if (!sampler.ok()) return sampler.status();
  if (sampler->epoch_size() < options.global_batch)
    return absl::InvalidArgumentError(absl::StrCat("epoch of ", sampler->epoch_size(), " samples is smaller than the global batch ",
                                                   options.global_batch));
  if (start.seed != options.seed && (start.epoch != 0 || start.consumed != 0))
    return absl::InvalidArgumentError("resume state has a different seed from the options");
  start.seed = options.seed;
  return std::unique_ptr<Loader>(new Loader(std::move(dataset), std::move(options), *std::move(sampler), start));
}

absl::StatusOr<std::unique_ptr<Loader>> Loader::Create(const std::string& folder, LoaderOptions options,
                                                       LoaderState start) {
  absl::StatusOr<std::unique_ptr<Dataset>> dataset = Dataset::Open(folder);
  if (!dataset.ok()) return dataset.status();
  return Create(std::shared_ptr<const Dataset>(*std::move(dataset)), std::move(options), start);
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options, EpochSampler sampler, LoaderState start)
    : dataset_(std::move(dataset)), options_(std::move(options)), sampler_(std::move(sampler)),
      per_rank_(options_.global_batch / options_.world_size),
      max_bad_(int64_t(std::floor(options_.max_bad_fraction * double(dataset_->size())))),
      state_(start),
      next_schedule_(start) {
  std::lock_guard<std::mutex> lock(mutex_);
  ScheduleLocked();
  for (int t = 0; t < std::max(1, options_.threads); ++t) workers_.emplace_back([this] { Work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& t : workers_) t.join();
}

std::unique_ptr<Batch> Loader::NewBatch() const {
  auto b = std::make_unique<Batch>();
  b->size = per_rank_;
  const auto& c = options_.crops;
  b->global = NewCropGroup(c.global_crops * per_rank_, c.global.size);
  b->local = NewCropGroup(c.local_crops * per_rank_, c.local.size);
  const int grid = c.global.size / c.masking.patch_size;
  b->masks.resize(c.mask ? size_t(b->global.rows) * grid * grid : 0);
  b->labels.resize(size_t(per_rank_));
  b->modalities.resize(size_t(per_rank_));
  b->ids.resize(size_t(per_rank_));
  return b;
}

void Loader::Recycle(std::unique_ptr<Batch> batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (batch && batch->size == per_rank_ && spare_.size() < size_t(options_.prefetch + 1))
    spare_.push_back(std::move(batch));
}

// Queues batches until `prefetch` + 1 are in flight (the one being waited for and `prefetch` ahead).
void Loader::ScheduleLocked() {
  while (int(jobs_.size()) < options_.prefetch + 1) {
    if (next_schedule_.consumed + options_.global_batch > sampler_.epoch_size()) {
      ++next_schedule_.epoch;
      next_schedule_.consumed = 0;
    }
    if (order_epoch_ != next_schedule_.epoch) {
      order_ = std::make_shared<const std::vector<int64_t>>(sampler_.Order(next_schedule_.epoch));
      order_epoch_ = next_schedule_.epoch;
    }
    Job job;
    job.order = order_;
    job.bad.resize(size_t(per_rank_));
    job.filled.resize(size_t(per_rank_));
    if (spare_.empty()) {
      job.batch = NewBatch();
    } else {
      job.batch = std::move(spare_.back());
      spare_.pop_back();
    }
    job.batch->epoch = next_schedule_.epoch;
    job.batch->position = next_schedule_.consumed;
    jobs_.push_back(std::move(job));
    next_schedule_.consumed += options_.global_batch;
  }
  work_ready_.notify_all();
}

absl::StatusOr<std::unique_ptr<Batch>> Loader::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!failure_.ok()) return failure_;
  batch_done_.wait(lock, [&] { return jobs_.front().done == per_rank_; });
  Job job = std::move(jobs_.front());
  jobs_.pop_front();
  AccountLocked(job);
  if (!failure_.ok()) return failure_;
  std::unique_ptr<Batch> batch = std::move(job.batch);
  state_ = {options_.seed, batch->epoch, batch->position + options_.global_batch};
  ScheduleLocked();
  return batch;
}

void Loader::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [&] {
      return stop_ || (failure_.ok() && std::any_of(jobs_.begin(), jobs_.end(),
                                                    [&](const Job& j) { return j.next_slot < per_rank_; }));
    });
    if (stop_) return;
    auto job = std::find_if(jobs_.begin(), jobs_.end(), [&](const Job& j) { return j.next_slot < per_rank_; });
    const int slot = job->next_slot++;
    // jobs_ may grow meanwhile, which moves no Job; this one stays until all its slots are done.
    Batch* batch = job->batch.get();
    std::vector<BadSample>* bad = &job->bad[size_t(slot)];
    char* filled = &job->filled[size_t(slot)];
    std::shared_ptr<const std::vector<int64_t>> order = job->order;
    lock.unlock();
    const bool found = Fill(*batch, *order, slot, bad);
    lock.lock();
    *filled = found;
    for (Job& j : jobs_)
      if (j.batch.get() == batch && ++j.done == per_rank_) batch_done_.notify_all();
  }
}

void Loader::AccountLocked(const Job& job) {
  std::string last;
  for (const std::vector<BadSample>& slot : job.bad)
    for (const BadSample& b : slot)
      if (reported_.insert(b.id).second) {
        ++bad_count_;
        last = b.message;
        std::fprintf(stderr, "vfm data: skipping bad sample: %s\n", last.c_str());
      }
  const std::string& folder = dataset_->folder();
  if (bad_count_ > max_bad_) {
    failure_ = absl::DataLossError(absl::StrCat(
        folder, ": ", bad_count_.load(), " of ", dataset_->size(), " samples could not be read or decoded, more than ",
        options_.max_bad_fraction * 100, "% (the last: ", last, ")"));
  } else if (std::count(job.filled.begin(), job.filled.end(), 0) > 0) {
    failure_ = absl::DataLossError(absl::StrCat(folder, ": no sample of the epoch could be read or decoded (",
                                                bad_count_.load(), " bad samples)"));
  }
}

bool Loader::Fill(Batch& b, const std::vector<int64_t>& order, int slot, std::vector<BadSample>* bad) {
  thread_local std::vector<uint8_t> bytes;
  thread_local SampleViews views;
  const int64_t position = b.position + options_.rank * per_rank_ + slot;
  const int64_t n = int64_t(order.size());
  int64_t id = -1;
  std::set<int64_t> failed;  // distinct ids (an order may repeat one)
  for (int64_t k = 0; k < n && int64_t(failed.size()) <= max_bad_; ++k) {  // the sample, else the next good one
    const int64_t candidate = order[size_t((position + k) % n)];
    if (failed.count(candidate)) continue;
    absl::Status s = dataset_->Read(candidate, &bytes);
    if (s.ok()) {
      const uint64_t key = MixKey({options_.seed, uint64_t(b.epoch), uint64_t(position), uint64_t(candidate)});
      s = MakeViews(bytes.data(), bytes.size(), dataset_->codec(candidate), ShapeOf(*dataset_, candidate), key,
                    options_.crops, &views);
      if (!s.ok()) s = absl::DataLossError(absl::StrCat(dataset_->Describe(candidate), ": ", s.message()));
    }
    if (s.ok()) {
      id = candidate;
      break;
    }
    failed.insert(candidate);
    bad->push_back({candidate, std::string(s.message())});
  }
  if (id < 0) return false;
  const uint8_t modality = dataset_->modality(id);
  b.ids[size_t(slot)] = uint64_t(id);
  b.labels[size_t(slot)] = dataset_->label(id);
  b.modalities[size_t(slot)] = modality;
  const Normalization& norm = NormalizationFor(options_.normalization, *dataset_, modality);
  WriteCrops(views.global, norm, per_rank_, slot, &b.global);
  WriteCrops(views.local, norm, per_rank_, slot, &b.local);
  for (size_t v = 0; v < views.masks.size(); ++v) {
    const size_t row = v * size_t(per_rank_) + size_t(slot), n = views.masks[v].size();
    std::memcpy(b.masks.data() + row * n, views.masks[v].data(), n);
  }
  return true;
}

void RenderCenterView(const Image& decoded, int original_height, int original_width, int resize_size, int size,
                      Image* out) {
  // torchvision Resize(resize_size): shorter side -> resize_size, longer -> int(resize_size * long / short).
  const bool tall = original_height > original_width;
  const int short_side = tall ? original_width : original_height, long_side = tall ? original_height : original_width;
  const int new_long = int(double(resize_size) * long_side / short_side);
  const int new_h = tall ? new_long : resize_size, new_w = tall ? resize_size : new_long;
  // CenterCrop(size): offsets int(round((new - size) / 2)), Python's round (half to even, as nearbyint);
  // resampling only that box is the same as resizing the whole image and cropping (each output pixel's
  // source centre and filter are unchanged).
  const int top = int(std::nearbyint((new_h - size) / 2.0)), left = int(std::nearbyint((new_w - size) / 2.0));
  const double sy = double(decoded.height) / new_h, sx = double(decoded.width) / new_w;
  ResizeBox(decoded, float(top * sy), float(left * sx), float(size * sy), float(size * sx), size, size, out);
}

absl::StatusOr<std::unique_ptr<EvalLoader>> EvalLoader::Create(std::shared_ptr<const Dataset> dataset,
                                                               EvalOptions options) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
    return absl::InvalidArgumentError(absl::StrCat("rank ", options.rank, " of ", options.world_size));
  if (options.size < 1 || options.resize_size < options.size)
    return absl::InvalidArgumentError(absl::StrCat("eval size ", options.size, " with resize_size ",
                                                   options.resize_size, " (needs 1 <= size <= resize_size)"));
  if (options.batch < 1) return absl::InvalidArgumentError(absl::StrCat("eval batch ", options.batch, " < 1"));
  const auto& names = dataset->index().modalities;
  if (!options.modality.empty() && std::find(names.begin(), names.end(), options.modality) == names.end())
    return absl::InvalidArgumentError(absl::StrCat("modality '", options.modality, "': the dataset has none (it has ",
                                                   absl::StrJoin(names, ", "), ")"));
  return std::unique_ptr<EvalLoader>(new EvalLoader(std::move(dataset), std::move(options)));
}

EvalLoader::EvalLoader(std::shared_ptr<const Dataset> dataset, EvalOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)), next_(options_.rank) {
  if (options_.modality.empty()) return;
  const auto& names = dataset_->index().modalities;
  const auto code = uint8_t(std::find(names.begin(), names.end(), options_.modality) - names.begin());
  for (int64_t id = 0; id < dataset_->size(); ++id)
    if (dataset_->modality(id) == code) ids_.push_back(id);
}

int64_t EvalLoader::remaining() const {
  const int64_t n = count();
  return next_ >= n ? 0 : (n - next_ + options_.world_size - 1) / options_.world_size;
}

bool EvalLoader::Next(EvalBatch* batch) {
  const int64_t count = std::min<int64_t>(options_.batch, remaining());
  if (count == 0) return false;
  const size_t per_sample = size_t(3) * options_.size * options_.size;
  batch->size = count;
  batch->images.assign(size_t(count) * per_sample, 0.0f);
  batch->labels.resize(size_t(count));
  batch->modalities.resize(size_t(count));
  batch->ids.resize(size_t(count));
  batch->ok.assign(size_t(count), false);
  std::vector<char> ok(size_t(count), 0);
#pragma omp parallel for schedule(dynamic) num_threads(std::max(1, options_.threads))
  for (int64_t i = 0; i < count; ++i) {
    const int64_t id = IdAt(next_ + i * options_.world_size);
    thread_local std::vector<uint8_t> bytes;
    thread_local Image decoded, view;
    batch->ids[size_t(i)] = uint64_t(id);
    batch->labels[size_t(i)] = dataset_->label(id);
    batch->modalities[size_t(i)] = dataset_->modality(id);
    const ImageHeader shape = ShapeOf(*dataset_, id);
    const Codec codec = dataset_->codec(id);
    int denom = 1;  // the coarsest JPEG scale that keeps the shorter side at least resize_size
    for (int d : {8, 4, 2})
      if (codec == Codec::kJpeg && denom == 1 && std::min(shape.height, shape.width) / d >= options_.resize_size)
        denom = d;
    absl::Status s = dataset_->Read(id, &bytes);
    if (s.ok()) s = DecodeImage(bytes.data(), bytes.size(), codec, shape, denom, &decoded);
    if (!s.ok()) {
      std::fprintf(stderr, "vfm data: eval: %s: %s\n", dataset_->Describe(id).c_str(), std::string(s.message()).c_str());
      continue;
    }
    RenderCenterView(decoded, shape.height, shape.width, options_.resize_size, options_.size, &view);
    const Normalization& norm = NormalizationFor(options_.normalization, *dataset_, dataset_->modality(id));
    NormalizeToPlanar(view, norm.mean, norm.std, batch->images.data() + size_t(i) * per_sample);
    ok[size_t(i)] = 1;
  }
  for (int64_t i = 0; i < count; ++i) batch->ok[size_t(i)] = ok[size_t(i)];
  next_ += count * options_.world_size;
  return true;
}

}  // namespace vfm::data
