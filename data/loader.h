// The training loader: reads, decodes and augments samples in a thread pool ahead of the trainer and hands
// out batches in the step's layout (one crop-major uint8 buffer per crop size, with a per-row normalisation
// table; see CropGroup). What a batch holds is a pure function of (seed, epoch, position):
//   - epoch order from EpochSampler; global batch k of an epoch is positions [k*G, (k+1)*G), G = global batch;
//   - rank r of R gets positions [k*G + r*G/R, k*G + (r+1)*G/R), so ranks 0..R-1 together are the 1-rank batch;
//   - the sample at position p with id i draws its views from key MixKey({seed, epoch, p, i});
//   - an unreadable or undecodable sample is reported (once, named) and replaced by the next good one in the
//     order; the count is bad_samples(). Once more than max_bad_fraction of the dataset's samples have
//     failed (or a slot finds no readable sample at all), Next() returns an error naming the dataset
//     instead of a batch, and keeps returning it. Reports, count and error come in batch order;
// so output is identical for any thread count, and state = (seed, epoch, consumed) resumes exactly, with
// any rank count. An epoch ends when fewer than G of its samples are left (they are dropped).
#pragma once
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "data/multicrop.h"
#include "data/sampler.h"

namespace vfm::data {

struct Normalization {
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  // ImageNet's, the default for every modality
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

struct LoaderOptions {
  uint64_t seed = 0;
  int64_t global_batch = 64;
  int rank = 0, world_size = 1;
  int threads = 4;
  int prefetch = 2;  // batches prepared ahead of the one being consumed
  MultiCropOptions crops;
  std::map<std::string, Normalization> normalization;  // per modality name; others use the default
  std::vector<std::string> modalities;            // see sampler.h: empty = all
  std::map<std::string, float> modality_weights;  // see sampler.h
  float synthetic_ratio = -1;
  int64_t epoch_size = 0;
  // Training stops with an error once more than this fraction of the dataset's samples cannot be read or
  // decoded (each is skipped, counted and named until then).
  double max_bad_fraction = 0.01;
};

struct LoaderState {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t consumed = 0;  // samples of this epoch already handed out, across all ranks
};

// One resolution's crops of a batch in the layout the step consumes: crop-major, row v * B + i is crop v
// of sample i (B = samples on this rank), so the rows go to the patch embedding as they are.
struct CropGroup {
  int64_t rows = 0, side = 0;  // crops per sample x B; height = width in pixels
  std::vector<uint8_t> pixels;  // [rows, 3, side, side], planar RGB
  // [rows, 3, 2]: each row's (scale, shift) per channel from its sample's modality's mean/std
  // (cpu::PlaneNormFor), the table ops::NormalizeImages turns the pixels into the step's input with.
  std::vector<float> norms;
};

struct Batch {
  int64_t size = 0;  // samples on this rank (B)
  int64_t epoch = 0, position = 0;  // the global batch starts at this position of the epoch's order
  CropGroup global, local;  // local.rows = 0 without local crops
  std::vector<uint8_t> masks;  // [global.rows, (S/p)^2], rows as global's, 1 = masked; empty without masks
  std::vector<int32_t> labels;
  std::vector<uint8_t> modalities;
  std::vector<uint64_t> ids;
};

class Loader {
 public:
  static absl::StatusOr<std::unique_ptr<Loader>> Create(std::shared_ptr<const Dataset> dataset,
                                                        LoaderOptions options, LoaderState start = {});
  // Opens the dataset folder too.
  static absl::StatusOr<std::unique_ptr<Loader>> Create(const std::string& folder, LoaderOptions options,
                                                        LoaderState start = {});
  ~Loader();

  // The next batch (blocks until it is ready), or DataLoss naming the dataset once too many samples failed.
  absl::StatusOr<std::unique_ptr<Batch>> Next();
  // Optionally hands a batch this loader returned back, so its buffers are reused instead of allocated anew.
  void Recycle(std::unique_ptr<Batch> batch);
  // The state after the last batch Next returned: a loader created from it continues right after it.
  LoaderState state() const { return state_; }
  int64_t steps_per_epoch() const { return sampler_.epoch_size() / options_.global_batch; }
  int64_t bad_samples() const { return bad_count_.load(); }

 private:
  // A sample that failed while filling a slot: its id and why.
  struct BadSample {
    int64_t id;
    std::string message;
  };
  struct Job {
    std::unique_ptr<Batch> batch;
    std::shared_ptr<const std::vector<int64_t>> order;
    int next_slot = 0, done = 0;
    std::vector<std::vector<BadSample>> bad;  // per slot, in the order tried
    std::vector<char> filled;                 // per slot: a readable sample was found
  };
  Loader(std::shared_ptr<const Dataset> dataset, LoaderOptions options, EpochSampler sampler, LoaderState start);
  std::unique_ptr<Batch> NewBatch() const;
  void ScheduleLocked();
  void Work();
  // Fills `slot` of `batch` with the sample at its position, else the next readable one; false if none
  // was found within max_bad_ + 1 failures. Failures go to `bad`.
  bool Fill(Batch& batch, const std::vector<int64_t>& order, int slot, std::vector<BadSample>* bad);
  // Reports `job`'s new bad samples and decides whether loading must stop (sets failure_). Under mutex_.
  void AccountLocked(const Job& job);

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  EpochSampler sampler_;
  int64_t per_rank_ = 0;
  int64_t max_bad_ = 0;  // distinct bad samples tolerated
  LoaderState state_;          // after the last batch handed out
  LoaderState next_schedule_;  // where the next scheduled batch starts
  std::shared_ptr<const std::vector<int64_t>> order_;  // of next_schedule_.epoch
  int64_t order_epoch_ = -1;

  std::mutex mutex_;
  std::condition_variable work_ready_, batch_done_;
  std::deque<Job> jobs_;
  std::vector<std::unique_ptr<Batch>> spare_;  // recycled batches, buffers already sized
  bool stop_ = false;
  std::vector<std::thread> workers_;
  std::atomic<int64_t> bad_count_{0};
  std::set<int64_t> reported_;  // bad sample ids, under mutex_
  absl::Status failure_;        // once set, Next() returns it; under mutex_
};

// Plain sequential iteration for feature extraction (kNN / linear evaluation): every sample (of `modality`)
// once, in id order, rank r of R taking the r-th, (r + R)-th, ... of them; each image resized (bicubic) so
// its shorter side is resize_size, centre-cropped to size x size, normalised. No randomness; the last batch
// may be short.
struct EvalOptions {
  int size = 224, resize_size = 256;
  int64_t batch = 64;
  int rank = 0, world_size = 1;
  int threads = 4;
  std::map<std::string, Normalization> normalization;
  std::string modality;  // "": every sample; else only this modality's (a name the dataset has)
};

struct EvalBatch {
  int64_t size = 0;
  std::vector<float> images;  // [size, 3, S, S]
  std::vector<int32_t> labels;
  std::vector<uint8_t> modalities;
  std::vector<uint64_t> ids;
  std::vector<bool> ok;  // false: the sample could not be read or decoded (its image is zeros)
};

class EvalLoader {
 public:
  // Checks the options (the error names the one at fault), then constructs.
  static absl::StatusOr<std::unique_ptr<EvalLoader>> Create(std::shared_ptr<const Dataset> dataset,
                                                            EvalOptions options);
  // Options must be valid (see Create).
  EvalLoader(std::shared_ptr<const Dataset> dataset, EvalOptions options);
  // Fills `batch` with the next batch; false when the rank's share is done.
  bool Next(EvalBatch* batch);
  int64_t remaining() const;

 private:
  int64_t IdAt(int64_t position) const { return ids_.empty() ? position : ids_[size_t(position)]; }
  int64_t count() const { return ids_.empty() ? dataset_->size() : int64_t(ids_.size()); }

  std::shared_ptr<const Dataset> dataset_;
  EvalOptions options_;
  std::vector<int64_t> ids_;  // the selected modality's ids; empty: all ids
  int64_t next_;              // position in the iteration (of ids_, or of all ids)
};

// Centre view used by EvalLoader: resize shorter side to resize_size, centre crop size (torchvision's
// Resize + CenterCrop), from an original_height x original_width image decoded (maybe scaled) as `decoded`.
void RenderCenterView(const Image& decoded, int original_height, int original_width, int resize_size, int size,
                      Image* out);

}  // namespace vfm::data
