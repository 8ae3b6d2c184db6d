// bench_nccl: NCCL all-reduce (fp32, average, as the gradient reducer issues it) of the bucket sizes
// data parallel training uses, timed on this machine's GPUs with the ranks mpirun gives (one rank on the
// one-GPU check machine). Prints one JSON object: per size the time, the algorithm bandwidth
// (bytes / time) and the bus bandwidth nccl-tests reports (algbw * 2 (n - 1) / n: 0 on one rank, where
// NCCL only copies locally; the figure that matters across GPUs).
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "distributed/bootstrap.h"
#include "distributed/communicator.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device.h"

int main(int argc, char** argv) {
  using namespace vfm;
  auto process = dist::InitProcess(&argc, &argv);
  if (!process.ok() || ProbeCuda().devices == 0) {
    std::fprintf(stderr, "bench_nccl: %s\n", process.ok() ? "no GPU" : std::string(process.status().message()).c_str());
    return 2;
  }
  auto comm = dist::CreateCommunicator(*process, Device::CUDA(0), dist::CommOptions{});
  if (!comm.ok()) {
    std::fprintf(stderr, "bench_nccl: %s\n", std::string(comm.status().message()).c_str());
    return 1;
  }
  const int n = process->world;
  std::string json = absl::StrFormat("{\"ranks\": %d", n);
  for (int64_t mb : {1, 4, 25, 100}) {
    Tensor t = Tensor::Zeros({mb << 18}, DType::kF32, Device::CUDA(cuda::CurrentDevice()));  // mb MiB of fp32
    auto once = [&] {
      if (!(*comm)->AllReduce(t, dist::ReduceOp::kAvg)->Wait().ok()) std::exit(1);
    };
    for (int i = 0; i < 5; ++i) once();
    cuda::Synchronize();
    const int reps = 50;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) once();
    cuda::Synchronize();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    const double algbw = double(t.nbytes()) / sec / 1e9;
    json += absl::StrFormat(", \"%dMiB\": {\"us\": %.1f, \"algbw_gb_s\": %.1f, \"busbw_gb_s\": %.1f}", mb, sec * 1e6,
                            algbw, algbw * 2.0 * (n - 1) / n);
  }
  if (process->rank == 0) std::printf("%s}\n", json.c_str());
  dist::FinalizeProcess();
  return 0;
}
