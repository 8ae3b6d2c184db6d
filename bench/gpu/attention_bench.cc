// bench_attention: the fused bf16 attention (kernels/cuda/fused_attention.h) against the unfused one
// (kernels/cuda/attention.h: cuBLASLt GEMMs per head + row kernels), at the ViT-B/16 shapes of issue 7:
// S = 37, 197, 257, 785, 1025 tokens (96 to 512 px), batch 128, 12 heads, head dim 64, on the packed
// qkv [B, S, 3, H, D] layout the model uses (bench/gpu/attention_torch.py times PyTorch's SDPA backends
// on the same shapes).
// For each S it times
//   fwd     the forward (out and lse); on an H100/H200 also FusedAttentionForwardHopper's (hopper_fwd, and
//           hopper_fwd_rel_diff against the fused forward's out),
//   bwd     the backward from a saved out and lse (for the fused one: the D = rowsum(dO * O) pre-kernel,
//           the dK/dV kernel and the dQ kernel; for the unfused one all its GEMMs and row kernels); on an
//           H100/H200 also FusedAttentionBackwardHopper's (hopper_bwd, and hopper_bwd_rel_diff against the
//           fused backward's dqkv),
//   fwdbwd  both,
// as the median of --reps measurements, each a loop of enough calls to last at least --min_ms between
// two device synchronisations (steady_clock). Reported per figure: ms per call, TFLOP/s counting
// 4*B*H*S*S*D for the forward and 2.5x that for the backward (the matmul FLOPs of non-causal attention;
// recomputation not counted), and TB/s of the q, k, v, o tensors, each B*S*H*D bf16 (2 bytes): the
// forward reads q, k, v and writes o (4 of them), the backward reads q, k, v, o, dO and writes dq, dk, dv
// (8); lse, D and any scratch are not counted (the figure that matters at S = 37, where attention is
// memory-bound). fwd_rel_diff / bwd_rel_diff: max |fused - unfused| / RMS(unfused) of out and dqkv over
// the first batch element (a sanity check, not the accuracy test: tests/gpu/fused_attention_test.cc).
// Prints one JSON object on the last line of stdout.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "autograd/tensor.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/fused_attention.h"
#include "kernels/cuda/runtime.h"
#include "kernels/device.h"

ABSL_FLAG(int, batch, 128, "B: images per call");
ABSL_FLAG(int, heads, 12, "H: attention heads");
ABSL_FLAG(int, head_dim, 64, "D: head dim (the fused kernels take 32 or 64)");
ABSL_FLAG(std::vector<std::string>, seqs, std::vector<std::string>({"37", "197", "257", "785", "1025"}),
          "S: token counts, comma-separated");
ABSL_FLAG(double, min_ms, 20, "each measurement loops calls for at least this long");
ABSL_FLAG(int, reps, 3, "measurements per figure (the median is reported)");
ABSL_FLAG(bool, unfused, true, "also time the unfused kernels");

namespace vfm {
namespace {

// Median ms per call of fn over `reps` measurements of n calls each, n chosen so one lasts >= min_ms.
double TimeMs(const std::function<void()>& fn, double min_ms, int reps) {
  auto clock = [&](int n) {
    cuda::Synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) fn();
    cuda::Synchronize();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / n;
  };
  fn();  // warm-up (first-call setup, caches)
  const double once = clock(1);
  const int n = std::max(1, int(std::ceil(min_ms / std::max(once, 1e-4))));
  std::vector<double> t;
  for (int r = 0; r < std::max(1, reps); ++r) t.push_back(clock(n));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// max |a - b| / RMS(b).
double RelDiff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.ToVector(), y = b.ToVector();
  double rms = 0, worst = 0;
  for (float v : y) rms += double(v) * v;
  rms = std::sqrt(rms / std::max<size_t>(1, y.size()));
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    const double e = std::fabs(double(x[i]) - y[i]);
    if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e;
  }
  return worst / (rms + 1e-30);
}

// The first batch element of a [B, S, W] tensor.
Tensor First(const Tensor& t) { return t.View({1, t.size(1), t.size(2)}, {t.size(1) * t.size(2), t.size(2), 1}, t.offset()); }

int Run() {
  const CudaProbe probe = ProbeCuda();
  if (probe.devices == 0) {
    std::fprintf(stderr, "bench_attention: no GPU (%s)\n", probe.detail.c_str());
    return 2;
  }
  cuda::SetDevice(0);
  const int64_t B = absl::GetFlag(FLAGS_batch), H = absl::GetFlag(FLAGS_heads), D = absl::GetFlag(FLAGS_head_dim);
  const int64_t C = H * D;
  const double min_ms = absl::GetFlag(FLAGS_min_ms);
  const int reps = absl::GetFlag(FLAGS_reps);
  const bool unfused = absl::GetFlag(FLAGS_unfused);
  if (!cuda::FusedAttentionSupported(D)) {
    std::fprintf(stderr, "bench_attention: head dim %lld is not supported by the fused kernels\n", (long long)D);
    return 2;
  }
  std::vector<int64_t> seqs;
  for (const std::string& s : absl::GetFlag(FLAGS_seqs)) seqs.push_back(std::stoll(s));
  const int64_t smax = *std::max_element(seqs.begin(), seqs.end());
  const float scale = float(1.0 / std::sqrt(double(D)));
  const Device gpu = Device::CUDA(0);

  // One pool of random bf16 values for the largest shape; qkv and dout are prefixes of it (only read).
  const Tensor pool = Tensor::Uniform({B * smax * 3 * C}, 7, -1.0, 1.0).ToDevice(gpu).To(DType::kBF16);

  std::string json = absl::StrFormat(
      "{\"bench\": \"attention\", \"device\": \"%s\", \"batch\": %d, \"heads\": %d, \"head_dim\": %d, "
      "\"min_ms\": %.1f, \"reps\": %d, \"flops\": \"fwd 4*B*H*S*S*D, bwd 2.5x\", "
      "\"bytes\": \"q,k,v,o of B*S*H*D*2 each: fwd 4, bwd 8 (q,k,v,o,dO read; dq,dk,dv written), fwdbwd 12\", "
      "\"results\": {",
      probe.detail, B, H, D, min_ms, reps);
  for (size_t si = 0; si < seqs.size(); ++si) {
    const int64_t S = seqs[si];
    const Tensor qkv = pool.View({B, S, 3 * C}, {S * 3 * C, 3 * C, 1}, 0);
    const Tensor dout = pool.View({B, S, C}, {S * C, C, 1}, 0);
    const bf16* q = qkv.data<bf16>();
    const bf16* dO = dout.data<bf16>();
    Tensor out = Tensor::Empty({B, S, C}, DType::kBF16, gpu);
    Tensor lse = Tensor::Empty({B, H, S}, DType::kF32, gpu);
    Tensor dqkv = Tensor::Empty({B, S, 3 * C}, DType::kBF16, gpu);
    const Tensor scratch = Tensor::Empty(
        {int64_t(std::max<size_t>(cuda::FusedAttentionBackwardScratchBytes(B, S, H), 1))}, DType::kU8, gpu);

    const double flop_fwd = 4.0 * double(B) * double(H) * double(S) * double(S) * double(D);
    const double unit_bytes = double(B) * double(S) * double(C) * 2.0;  // one of q, k, v, o
    auto figure = [&](double ms, double flop, double bytes) {
      return absl::StrFormat("{\"ms\": %.4f, \"tflop_per_s\": %.1f, \"tb_per_s\": %.3f}", ms, flop / ms / 1e9,
                             bytes / ms / 1e9);
    };
    auto three = [&](const std::function<void()>& fwd, const std::function<void()>& bwd) {
      const double f = TimeMs(fwd, min_ms, reps);
      fwd();  // out and lse for the backward
      const double b = TimeMs(bwd, min_ms, reps);
      const double fb = TimeMs([&] { fwd(); bwd(); }, min_ms, reps);
      return absl::StrFormat("{\"fwd\": %s, \"bwd\": %s, \"fwdbwd\": %s}", figure(f, flop_fwd, 4 * unit_bytes),
                             figure(b, 2.5 * flop_fwd, 8 * unit_bytes), figure(fb, 3.5 * flop_fwd, 12 * unit_bytes));
    };

    const std::string fused = three(
        [&] { cuda::FusedAttentionForward(q, out.data<bf16>(), lse.data<float>(), B, S, H, D, scale); },
        [&] {
          cuda::FusedAttentionBackward(q, out.data<bf16>(), dO, lse.data<float>(), dqkv.data<bf16>(), B, S, H, D, scale,
                                       scratch.raw_data());
        });
    json += absl::StrFormat("%s\"%d\": {\"fused\": %s", si ? ", " : "", S, fused);

    if (cuda::ComputeCapability() == 90 && D == 64) {  // the Hopper kernels (TMA + wgmma), against the fused ones
      Tensor out_h = Tensor::Empty({B, S, C}, DType::kBF16, gpu);
      Tensor dqkv_h = Tensor::Empty({B, S, 3 * C}, DType::kBF16, gpu);
      const double ms = TimeMs(
          [&] { cuda::FusedAttentionForwardHopper(q, out_h.data<bf16>(), lse.data<float>(), B, S, H, D, scale); },
          min_ms, reps);
      cuda::FusedAttentionForward(q, out.data<bf16>(), lse.data<float>(), B, S, H, D, scale);
      // dqkv holds the fused backward of this out and lse (three's last call).
      const double ms_bwd = TimeMs(
          [&] {
            cuda::FusedAttentionBackwardHopper(q, out.data<bf16>(), dO, lse.data<float>(), dqkv_h.data<bf16>(), B, S, H,
                                               D, scale, scratch.raw_data());
          },
          min_ms, reps);
      cuda::Synchronize();
      json += absl::StrFormat(", \"hopper_fwd\": %s, \"hopper_fwd_rel_diff\": %.2e, \"hopper_bwd\": %s, "
                              "\"hopper_bwd_rel_diff\": %.2e",
                              figure(ms, flop_fwd, 4 * unit_bytes), RelDiff(First(out_h), First(out)),
                              figure(ms_bwd, 2.5 * flop_fwd, 8 * unit_bytes), RelDiff(First(dqkv_h), First(dqkv)));
    }

    if (unfused) {
      const cuda::AttentionShape shape{B, S, H, D};
      Tensor out_u = Tensor::Empty({B, S, C}, DType::kBF16, gpu);
      Tensor lse_u = Tensor::Empty({B, H, S}, DType::kF32, gpu);
      Tensor dqkv_u = Tensor::Empty({B, S, 3 * C}, DType::kBF16, gpu);
      const Tensor fscratch = Tensor::Empty(
          {int64_t(std::max<size_t>(cuda::AttentionForwardScratchBytes<bf16>(shape), 1))}, DType::kU8, gpu);
      const Tensor bscratch = Tensor::Empty(
          {int64_t(std::max<size_t>(cuda::AttentionBackwardScratchBytes<bf16>(shape), 1))}, DType::kU8, gpu);
      const std::string plain = three(
          [&] {
            cuda::AttentionForward<bf16>(q, out_u.data<bf16>(), lse_u.data<float>(), shape, scale, fscratch.raw_data());
          },
          [&] {
            cuda::AttentionBackward<bf16>(q, out_u.data<bf16>(), dO, lse_u.data<float>(), dqkv_u.data<bf16>(), shape,
                                          scale, bscratch.raw_data());
          });
      // Both hold the results of their last forward and backward (same inputs): compare them.
      cuda::Synchronize();
      json += absl::StrFormat(", \"unfused\": %s, \"fwd_rel_diff\": %.2e, \"bwd_rel_diff\": %.2e", plain,
                              RelDiff(First(out), First(out_u)), RelDiff(First(dqkv), First(dqkv_u)));
    }
    json += "}";
    std::fprintf(stderr, "S=%lld done\n", (long long)S);
  }
  json += "}}";
  std::printf("%s\n", json.c_str());
  return 0;
}

}  // namespace
}  // namespace vfm

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return vfm::Run();
}
