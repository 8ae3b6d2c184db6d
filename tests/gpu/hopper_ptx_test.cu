// wgmma, mbarrier and TMA on the GPU (sm_90a): the GEMM tile of tests/emu/wgmma_gemm.cu, which the emulator test
// (tests/emu/hopper_ptx_test.cc) runs on the CPU, here on the device for the same cases (wgmma_gemm_cases.h)
// against the same double reference. It confirms on hardware what the emulator takes from the PTX ISA: the
// swizzles, the canonical K- and MN-major layouts behind the descriptors, the accumulator and A fragments, the
// mbarrier phases and TMA boxes. Built for sm_90a only (tests/gpu/CMakeLists.txt); skips on other devices.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/emu/wgmma_gemm.cu"
#include "tests/emu/wgmma_gemm_cases.h"

namespace {

using wgmma_gemm::Bug;
using wgmma_gemm::Problem;

// The tensor cores' order and internal width of the k16 sums are not the emulator's k-order fp32 sums: their
// error may exceed the fp32 bound by a few ulps of the sum. A layout error is off by the operands' size itself
// (thousands of bounds in the emulator's broken variants), so 16 bounds still tell them apart.
constexpr double kHardwareSlack = 16;

std::string Sm90aDevice() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) return "no GPU here";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "cudaGetDeviceProperties failed";
  if (prop.major != 9 || prop.minor != 0)
    return "device 0 is sm_" + std::to_string(prop.major * 10 + prop.minor) + ", the kernel is built for sm_90a";
  return "";
}

template <typename T>
T* Upload(const std::vector<T>& host) {
  T* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, host.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return d;
}

struct GpuChecker {
  template <int N, int kSpan, bool kARegs, bool kAMN, bool kBMN>
  void Run(int k, unsigned seed) {
    const Problem p = wgmma_gemm::MakeProblem(N, k, seed);
    std::vector<vfm::bf16> a(p.a.size()), b(p.b.size());
    wgmma_gemm::Store(p.a, 64, k, kAMN, a.data());
    wgmma_gemm::Store(p.b, N, k, kBMN, b.data());
    vfm::bf16* da = Upload(a);
    vfm::bf16* db = Upload(b);
    std::vector<float> c(64 * N);
    float* dc = Upload(std::vector<float>(c.size(), NAN));
    wgmma_gemm::GemmTile<N, kSpan, Bug::kNone, kARegs, kAMN, kBMN>(reinterpret_cast<const __nv_bfloat16*>(da),
                                                                   reinterpret_cast<const __nv_bfloat16*>(db), dc, k,
                                                                   wgmma_gemm::MapSwizzle(kSpan));
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess) << cudaGetErrorString(cudaGetLastError());
    EXPECT_EQ(cudaMemcpy(c.data(), dc, c.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(da), cudaFree(db), cudaFree(dc);
    const wgmma_gemm::Worst w = wgmma_gemm::WorstError(p, c.data());
    EXPECT_LE(w.ratio, kHardwareSlack) << "64x" << N << "x" << k << " swizzle " << kSpan << " A from "
                                       << (kARegs ? "registers" : "shared") << ", A " << (kAMN ? "M" : "K")
                                       << "-major, B " << (kBMN ? "N" : "K") << "-major: worst error / bound "
                                       << w.ratio << " at (" << w.at / N << ", " << w.at % N << ")";
  }
};

TEST(HopperPtx, GemmTilesOfTheEmulatorsCasesMatchTheReference) {
  const std::string why = Sm90aDevice();
  if (!why.empty()) GTEST_SKIP() << why << ": runs on an H100/H200";
  GpuChecker checker;
  wgmma_gemm::ForEachCase(checker);
}

}  // namespace
