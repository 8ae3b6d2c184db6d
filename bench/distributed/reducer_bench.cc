// bench_reducer: what overlapping the gradient reduction with backward buys. Run it under mpirun (2 ranks
// on CPU: launch/README.md). Two identical data-parallel iBOT trainings take turns step by step, one
// whose buckets start during backward (the gradient-ready hooks) and one whose buckets all start after
// backward; it prints their median step times, the time each waits for communication after backward,
// and the time the same reduction takes with nothing else running (communication alone). The share of
// communication hidden is 1 - (overlapped wait) / (communication alone). Prints a markdown table.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "distributed/reducer.h"
#include "trainer/ibot_step.h"

ABSL_FLAG(std::string, arch, "vit_small", "vit_tiny | vit_small | vit_base | vit_large");
ABSL_FLAG(int, patch, 16, "patch size");
ABSL_FLAG(int, img, 96, "global crop size");
ABSL_FLAG(int, batch, 4, "images per rank");
ABSL_FLAG(int, out_dim, 8192, "prototypes K");
ABSL_FLAG(int, steps, 5, "timed steps of each kind (the median is reported)");
ABSL_FLAG(double, bucket_mb, 25, "size of a gradient all-reduce bucket in MiB (as vfm pretrain's)");
ABSL_FLAG(double, comm_timeout_s, 300, "seconds a collective may take before the bench ends with an error");

namespace vfm::dist {
namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::time_point since) { return std::chrono::duration<double, std::milli>(Clock::now() - since).count(); }
double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
void CheckOk(const absl::Status& s) {
  if (!s.ok()) AbortProcess(s);
}

// One rank's share of a data-parallel training: the models, the student's gradient buckets and a reducer
// on them (all-reduce: the bench measures the overlap).
struct Replica {
  Replica(const nn::ViTConfig& vit, const nn::IBotHeadConfig& head, Communicator& comm, int64_t bucket_bytes,
          bool overlap)
      : student(vit, head, 1),
        teacher(vit, head, 1),
        loss(head.out_dim, 2, 0),
        grads(student.NamedParameters(), bucket_bytes),
        optimizer(grads),
        reducer(grads, comm, ReducerOptions{false, overlap}) {
    for (auto [name, p] : teacher.NamedParameters()) p.set_requires_grad(false);
    hooks.after_backward = [this] { CheckOk(reducer.Finish()); };
    hooks.all_reduce_sum = [&comm](Tensor& t) { CheckOk(comm.AllReduce(t, ReduceOp::kSum)->Wait()); };
    hooks.world = comm.world();
  }
  nn::IBotNetwork student, teacher;
  IBotLoss loss;
  GradBuckets grads;
  AdamW optimizer;
  GradientReducer reducer;
  IBotStepHooks hooks;
  std::vector<double> step_ms, wait_ms;
};

int Run() {
  absl::StatusOr<ProcessInfo> process = InitProcess(nullptr, nullptr);
  if (!process.ok()) AbortProcess(process.status());
  const int64_t bucket_bytes = int64_t(absl::GetFlag(FLAGS_bucket_mb) * (1 << 20));
  absl::StatusOr<std::unique_ptr<Communicator>> comm =
      CreateCommunicator(*process, Device::CPU(), CommOptions{absl::GetFlag(FLAGS_comm_timeout_s)});
  if (!comm.ok()) AbortProcess(comm.status());
  absl::StatusOr<nn::ViTConfig> vit =
      nn::ViTConfigByName(absl::GetFlag(FLAGS_arch), absl::GetFlag(FLAGS_patch), absl::GetFlag(FLAGS_img));
  if (!vit.ok()) AbortProcess(vit.status());
  nn::IBotHeadConfig head;
  head.out_dim = absl::GetFlag(FLAGS_out_dim);

  Replica a(*vit, head, **comm, bucket_bytes, /*overlap=*/false);
  Replica b(*vit, head, **comm, bucket_bytes, /*overlap=*/true);

  const int B = absl::GetFlag(FLAGS_batch);
  const int64_t grid = vit->grid();
  IBotCrops crops;
  Rng mask_rng(MixKey({7, uint64_t(process->rank)}));
  crops.global = Tensor::Randn({2 * B, 3, vit->img_size, vit->img_size}, MixKey({100, uint64_t(process->rank)}));
  crops.masks = Tensor::Empty({2 * B, grid * grid}, DType::kU8);
  for (int64_t k = 0; k < crops.masks.numel(); ++k) crops.masks.data<uint8_t>()[k] = mask_rng.Uniform() < 0.3f;
  const IBotStepSettings settings{1e-4, 0.04, 0.996, 0.04, 0.07};
  const int steps = absl::GetFlag(FLAGS_steps);
  for (int i = 0; i <= steps; ++i) {  // the first round warms up
    for (Replica* r : {&a, &b}) {
      CheckOk((*comm)->Barrier());
      const Clock::time_point t0 = Clock::now();
      IBotTrainStep(r->student, r->teacher, r->loss, r->optimizer, crops, settings, nullptr, r->hooks);
      if (i == 0) continue;
      r->step_ms.push_back(Ms(t0));
      r->wait_ms.push_back(1e3 * r->reducer.last_step().finish_wait_s);
    }
  }

  // The same buckets reduced with nothing else running.
  std::vector<double> alone_ms;
  for (int i = 0; i < steps; ++i) {
    CheckOk((*comm)->Barrier());
    const Clock::time_point t0 = Clock::now();
    std::vector<std::unique_ptr<Work>> works;
    for (const GradBuckets::Bucket& bucket : a.grads.buckets())
      works.push_back((*comm)->AllReduce(bucket.flat, ReduceOp::kAvg));
    for (auto& w : works) CheckOk(w->Wait());
    alone_ms.push_back(Ms(t0));
  }

  if (process->rank == 0) {
    int64_t floats = 0;
    for (const GradBuckets::Bucket& bucket : a.grads.buckets()) floats += bucket.flat.numel();
    std::printf("config: %s/%d img %d, 2 global crops of batch %d per rank, K=%d, %d ranks x %d OpenMP threads\n",
                absl::GetFlag(FLAGS_arch).c_str(), int(vit->patch), int(vit->img_size), B, int(head.out_dim),
                (*comm)->world(), omp_get_max_threads());
    std::printf("gradients: %.1f MiB in %zu buckets of <= %.1f MiB\n", floats * 4.0 / (1 << 20),
                a.grads.buckets().size(), double(bucket_bytes) / (1 << 20));
    // Under load from other jobs the minimum is the steadiest estimate of a step's own time.
    const double comm_ms = Median(alone_ms), wait_overlap = Median(b.wait_ms);
    std::printf("communication alone: median %.1f ms, min %.1f ms\n", comm_ms, Min(alone_ms));
    std::printf(
        "| reduction | step min (ms) | step median (ms) | wait after backward, median (ms) |\n|---|---|---|---|\n");
    for (const Replica* r : {&a, &b})
      std::printf("| %s | %.1f | %.1f | %.1f |\n", r == &a ? "after backward" : "overlapped (hooks)", Min(r->step_ms),
                  Median(r->step_ms), Median(r->wait_ms));
    std::printf("step time saved (min): %.1f ms (%.1f%%); communication hidden: %.0f%%\n",
                Min(a.step_ms) - Min(b.step_ms), 100 * (1 - Min(b.step_ms) / Min(a.step_ms)),
                100 * std::max(0.0, 1 - wait_overlap / comm_ms));
    // For scripts (bench/distributed/multihost_overlap.sh): the overlapped step and its exposed wait.
    std::printf("figures: grad_bytes=%lld step_s=%.4f comm_exposed_s=%.4f comm_alone_s=%.4f\n",
                static_cast<long long>(floats * 4), Median(b.step_ms) / 1e3, wait_overlap / 1e3, comm_ms / 1e3);
  }
  comm->reset();
  FinalizeProcess();
  return 0;
}

}  // namespace
}  // namespace vfm::dist

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vfm::dist::Run();
}
