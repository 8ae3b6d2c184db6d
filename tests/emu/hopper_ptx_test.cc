// The sm_90a instructions of tests/emu/ptx.h (wgmma, mbarrier, TMA tensor copies) through kernels/cuda/hopper.cuh's
// wrappers, in tests/emu/wgmma_gemm.cu's GEMM tile: 64 x N x K for N = 64, 128, 256 and every swizzle mode
// (none, 32, 64, 128 bytes), A from shared memory or from registers, each operand K-major or MN-major
// (imm-trans), K over several pipeline rounds (each stage's mbarriers go through several phases), against a
// double reference and bitwise the same under every scheduling order. Then each deliberately broken variant runs in a child process and must be caught: by
// wrong results, or by the emulator stopping the run (a DEADLOCK, a missing fence or wait, ...).
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tests/emu/wgmma_gemm.cu.inc"
#include "tests/emu/wgmma_gemm_cases.h"

using h::Buf;
using wgmma_gemm::Bug;
using wgmma_gemm::GemmTile;
using wgmma_gemm::Problem;

// Runs one variant on p; true if every element is within its bound.
template <int N, int kSpan, Bug kBug = Bug::kNone, bool kARegs = false, bool kAMN = false, bool kBMN = false>
bool RunOnce(const Problem& p, CUtensorMapSwizzle swizzle, std::vector<uint32_t>* bits, std::string* worst) {
  Buf<vfm::bf16> a(p.a.size()), b(p.b.size());
  Buf<float> c(64 * N);
  wgmma_gemm::Store(p.a, 64, p.k, kAMN, a.p);
  wgmma_gemm::Store(p.b, N, p.k, kBMN, b.p);
  std::fill(c.p, c.p + c.n, NAN);
  GemmTile<N, kSpan, kBug, kARegs, kAMN, kBMN>(reinterpret_cast<const __nv_bfloat16*>(a.p),
                                               reinterpret_cast<const __nv_bfloat16*>(b.p), c.p, p.k, swizzle);
  const wgmma_gemm::Worst w = wgmma_gemm::WorstError(p, c.p);
  if (bits) *bits = h::BitsOf(c);
  if (worst) *worst = h::Fmt("worst error / bound %.3g at (%d, %d)", w.ratio, std::max(w.at, 0) / N, std::max(w.at, 0) % N);
  return w.ratio <= 1 && c.Guards() && a.Guards() && b.Guards();
}

using wgmma_gemm::MapSwizzle;

// A correct case (wgmma_gemm_cases.h): within its bound, and the same bits under every scheduling order.
struct Checker {
  template <int N, int kSpan, bool kARegs, bool kAMN, bool kBMN>
  void Run(int k, unsigned seed) {
    const Problem p = wgmma_gemm::MakeProblem(N, k, seed);
    const std::string tag = h::Fmt("wgmma gemm 64x%dx%d swizzle %s A from %s, A %s-major, B %s-major", N, k,
                                   kSpan == 16 ? "none" : h::Fmt("%dB", kSpan).c_str(),
                                   kARegs ? "registers" : "shared", kAMN ? "M" : "K", kBMN ? "N" : "K");
    h::AllOrders(tag, [&](int order) {
      std::vector<uint32_t> bits;
      std::string worst;
      const bool ok = RunOnce<N, kSpan, Bug::kNone, kARegs, kAMN, kBMN>(p, MapSwizzle(kSpan), &bits, &worst);
      h::Report(ok, tag + h::Fmt(" order=%d: ", order) + worst);
      return bits;
    });
  }
};

// Runs a broken variant in a child process (the emulator may stop it): caught if the child stops or its
// results are wrong. Reports how.
template <int N, int kSpan, Bug kBug, bool kBMN = false>
void CheckCaught(const char* what, int tma_span = kSpan, bool expect_caught = true) {
  const Problem p = wgmma_gemm::MakeProblem(N, 256, 99);  // four chunks: each stage refilled once
  int err[2];
  if (pipe(err) != 0) std::abort();
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], 2);
    close(err[0]);
    std::string worst;
    const bool ok = RunOnce<N, kSpan, kBug, false, false, kBMN>(p, MapSwizzle(tma_span), nullptr, &worst);
    std::fprintf(stderr, "%s\n", ok ? "results correct" : ("wrong results, " + worst).c_str());
    std::fflush(stderr);
    _exit(ok ? 0 : 1);
  }
  close(err[1]);
  std::string msg;
  char buf[512];
  for (ssize_t r; (r = read(err[0], buf, sizeof buf)) > 0;) msg.append(buf, size_t(r));
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const bool caught = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string how = WIFSIGNALED(status) ? "emulator stopped the run: " : "";
  msg = msg.substr(0, msg.find('\n'));
  h::Report(caught == expect_caught, h::Fmt("%s: %s -> %s%s", expect_caught ? "broken variant caught" : "control not caught",
                                            what, how.c_str(), msg.c_str()));
}

int main(int argc, char** argv) {
  h::BigShapes(argc, argv);
  Checker checker;
  wgmma_gemm::ForEachCase(checker);

  CheckCaught<64, 128, Bug::kNone>("the correct kernel in a child process", 128, false);
  CheckCaught<64, 128, Bug::kNone>("TMA unswizzled, descriptors 128B swizzled", 16);
  CheckCaught<64, 64, Bug::kNone>("TMA swizzled 128B, descriptors 64B", 128);
  CheckCaught<64, 128, Bug::kNoFence>("no wgmma.fence");
  CheckCaught<64, 128, Bug::kNoWaitBeforeRelease>("stage released before wgmma.wait_group");
  CheckCaught<64, 128, Bug::kNoWait>("no wgmma.wait_group");
  CheckCaught<64, 128, Bug::kExpectTxShort>("expect_tx of half the bytes");
  CheckCaught<64, 128, Bug::kExpectTxLong>("expect_tx of 16 bytes too many");
  CheckCaught<64, 128, Bug::kWrongParity>("consumer waits on the wrong phase parity");
  CheckCaught<64, 128, Bug::kWarpSkipsWgmma>("warp 3 of the warpgroup skips the wgmma");
  CheckCaught<64, 128, Bug::kNone, true>("the correct N-major kernel in a child process", 128, false);
  CheckCaught<64, 128, Bug::kTransBMissing, true>("B N-major in shared memory, imm-trans-b 0");
  CheckCaught<64, 16, Bug::kTransBMissing, true>("B N-major unswizzled, imm-trans-b 0");
  CheckCaught<128, 64, Bug::kOffsetsUnswapped, true>("N-major 64B swizzled B with LBO and SBO in the unswizzled roles");
  return h::Summary("hopper_ptx");
}
