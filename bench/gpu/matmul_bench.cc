// bench_matmul: cuBLASLt bf16 GEMMs (fp32 accumulation) at the shapes of a ViT-B/16 iBOT step on one GPU
// (batch 64, two 224 px global crops: M = 64*2*197 token rows), forward (y = x W^T), input gradient
// (dx = dy W) and weight gradient (dW = dy^T x, fp32 output), in TFLOP/s and as a fraction of the dense
// bf16 peak. Prints one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "autograd/tensor.h"
#include "kernels/cuda/matmul.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device.h"

ABSL_FLAG(int, tokens, 64 * 2 * 197, "M: token rows of the step (batch x crops x tokens)");
ABSL_FLAG(int, reps, 20, "timed repetitions per shape");
ABSL_FLAG(double, peak_tflops, 989.4, "dense bf16 peak (H100/H200 SXM: 989.4)");

namespace vfm {
namespace {

struct Shape3 {
  const char* name;
  bool trans_a, trans_b;
  int64_t m, n, k;
  bool fp32_out;
};

int Run() {
  if (ProbeCuda().devices == 0) {
    std::fprintf(stderr, "bench_matmul: no GPU\n");
    return 2;
  }
  cuda::SetDevice(0);
  const int64_t M = absl::GetFlag(FLAGS_tokens), D = 768, H = 3072;
  // Row-major: x [M, in], W [out, in], dy [M, out].
  const std::vector<Shape3> shapes = {
      {"qkv_fwd", false, true, M, 3 * D, D, false},   {"proj_fwd", false, true, M, D, D, false},
      {"fc1_fwd", false, true, M, H, D, false},       {"fc2_fwd", false, true, M, D, H, false},
      {"qkv_dx", false, false, M, D, 3 * D, false},   {"fc1_dx", false, false, M, D, H, false},
      {"fc2_dx", false, false, M, H, D, false},       {"qkv_dw", true, false, 3 * D, D, M, true},
      {"fc1_dw", true, false, H, D, M, true},         {"fc2_dw", true, false, D, H, M, true},
  };
  const int reps = absl::GetFlag(FLAGS_reps);
  // One pool of random bf16 values, big enough for the largest operand; every operand is a prefix of it
  // (operands only read it). Random data, not zeros: a GEMM on zeros runs faster than on real data.
  int64_t largest = 0;
  for (const Shape3& s : shapes) largest = std::max({largest, s.m * s.k, s.k * s.n});
  const Tensor pool = Tensor::Uniform({largest}, 1, -1.0, 1.0).ToDevice(Device::CUDA(0)).To(DType::kBF16);
  std::string json = "{";
  double total_flop = 0, total_s = 0;
  for (const Shape3& s : shapes) {
    const int64_t a_rows = s.trans_a ? s.k : s.m, a_cols = s.trans_a ? s.m : s.k;
    const int64_t b_rows = s.trans_b ? s.n : s.k, b_cols = s.trans_b ? s.k : s.n;
    const Tensor a = pool.View({a_rows, a_cols}, {a_cols, 1}, 0);
    const Tensor b = pool.View({b_rows, b_cols}, {b_cols, 1}, 0);
    Tensor c = Tensor::Empty({s.m, s.n}, s.fp32_out ? DType::kF32 : DType::kBF16, Device::CUDA(0));
    auto once = [&] {
      if (s.fp32_out)
        cuda::Gemm<bf16, float>(s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a.data<bf16>(), a_cols, b.data<bf16>(),
                                b_cols, 0.0f, c.data<float>(), s.n);
      else
        cuda::Gemm<bf16, bf16>(s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a.data<bf16>(), a_cols, b.data<bf16>(),
                               b_cols, 0.0f, c.data<bf16>(), s.n);
    };
    for (int i = 0; i < 3; ++i) once();
    cuda::Synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) once();
    cuda::Synchronize();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    const double flop = 2.0 * double(s.m) * double(s.n) * double(s.k);
    total_flop += flop;
    total_s += sec;
    json += absl::StrFormat("\"%s\": {\"m\": %d, \"n\": %d, \"k\": %d, \"tflop_per_s\": %.1f, \"of_peak\": %.3f}, ",
                            s.name, s.m, s.n, s.k, flop / sec / 1e12, flop / sec / 1e12 / absl::GetFlag(FLAGS_peak_tflops));
  }
  json += absl::StrFormat("\"all_shapes_tflop_per_s\": %.1f, \"all_shapes_of_peak\": %.3f}", total_flop / total_s / 1e12,
                          total_flop / total_s / 1e12 / absl::GetFlag(FLAGS_peak_tflops));
  std::printf("%s\n", json.c_str());
  return 0;
}

}  // namespace
}  // namespace vfm

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vfm::Run();
}
