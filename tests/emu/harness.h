// What every emulated kernel test shares: the runtime functions the kernels' host code calls, PASS/FAIL
// reporting (the binary exits non-zero if any check failed), buffers with guard bytes around them (a write
// out of bounds shows), the scheduling order, and the --big flag. Included once per test binary (as emu.h).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/bf16.h"
#include "kernels/cuda/runtime.h"
#include "tests/emu/emu.h"

namespace vfm::cuda {
// The emulator has one device and one stream; kernels run to completion at their launch.
Stream ComputeStream() { return nullptr; }
int CurrentDevice() { return 0; }
// The emulator runs sm_90a's wgmma, mbarrier and TMA too; a test sets another to check the refusals.
int g_compute_capability = 90;
int ComputeCapability() { return g_compute_capability; }
[[noreturn]] void FailCuda(cudaError_t err, const char* what, const char* file, int line) {
  std::fprintf(stderr, "CUDA error %d from %s at %s:%d\n", int(err), what, file, line);
  std::abort();
}
}  // namespace vfm::cuda

namespace h {
using vfm::bf16;
using vfm::FloatToBf16;
using vfm::Bf16ToFloat;

inline int g_fail = 0, g_pass = 0;
// Prints failures (and, with VERBOSE set in the environment, passes too).
inline void Report(bool ok, const std::string& what) {
  if (ok) ++g_pass; else ++g_fail;
  if (!ok || std::getenv("VERBOSE")) std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
  std::fflush(stdout);
}
inline int Summary(const char* name) {
  std::printf("%s: %d passed, %d failed (launches %ld, blocks %ld)\n", name, g_pass, g_fail, emu::g_launches,
              emu::g_blocks_run);
  std::fflush(stdout);
  return g_fail ? 1 : 0;
}

// Buffer of n elements of T starting `offset` elements past a 256-byte aligned address, with `guard`
// elements on each side (filled with a pattern, checked by Guards()).
template <typename T>
struct Buf {
  std::vector<unsigned char> raw;
  T* p = nullptr;
  size_t n = 0, off = 0, guard = 0;
  static constexpr size_t kGuard = 64;
  Buf(size_t n_, size_t offset = 0, size_t guard_ = kGuard) : n(n_), off(offset), guard(guard_) {
    raw.resize((n + 2 * guard + offset) * sizeof(T) + 512);
    uintptr_t base = (reinterpret_cast<uintptr_t>(raw.data()) + 255) & ~uintptr_t(255);
    std::memset(raw.data(), 0xA5, raw.size());
    p = reinterpret_cast<T*>(base) + guard + offset;
  }
  T& operator[](size_t i) { return p[i]; }
  const T& operator[](size_t i) const { return p[i]; }
  bool Guards() const {
    const unsigned char* lo = reinterpret_cast<const unsigned char*>(p - guard - off);
    const unsigned char* a = reinterpret_cast<const unsigned char*>(p);
    const unsigned char* b = reinterpret_cast<const unsigned char*>(p + n);
    const unsigned char* hi = reinterpret_cast<const unsigned char*>(p + n + guard);
    for (const unsigned char* c = lo; c < a; ++c) if (*c != 0xA5) return false;
    for (const unsigned char* c = b; c < hi; ++c) if (*c != 0xA5) return false;
    return true;
  }
};

inline float F(float x) { return x; }
inline float F(bf16 x) { return Bf16ToFloat(x); }
template <typename T> T To(float x);
template <> inline float To<float>(float x) { return x; }
template <> inline bf16 To<bf16>(float x) { return FloatToBf16(x); }
inline uint32_t Bits(float x) { uint32_t u; std::memcpy(&u, &x, 4); return u; }
inline uint32_t Bits(bf16 x) { return x.bits; }
template <typename T> const char* Name();
template <> inline const char* Name<float>() { return "f32"; }
template <> inline const char* Name<bf16>() { return "bf16"; }

// The fiber and block order of the launches that follow: emu::kForward, kReverse or kRandom (seeded, so a
// failure reproduces).
inline void SetOrder(int k) {
  emu::g_thread_order = k;
  emu::g_block_order = k;
  emu::g_rng.seed(1000 + k);
}

inline std::string Fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
inline std::string Fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

// Runs `run` (which checks its output against the reference and returns the output's bits) under the three
// orders and requires the same bits from each.
template <typename Fn>
void AllOrders(const std::string& what, Fn run) {
  std::vector<uint32_t> first;
  for (int order : {emu::kForward, emu::kReverse, emu::kRandom}) {
    SetOrder(order);
    std::vector<uint32_t> bits = run(order);
    if (order == emu::kForward)
      first = bits;
    else
      Report(bits == first, what + Fmt(" order=%d: same bits as forward", order));
  }
}

template <typename T>
std::vector<uint32_t> BitsOf(const Buf<T>& b) {
  std::vector<uint32_t> v(b.n);
  for (size_t i = 0; i < b.n; ++i) v[i] = Bits(b[i]);
  return v;
}

// Whether to add the large shapes (tens of seconds more; ctest leaves them out): `--big`. Any other
// argument is an error.
inline bool BigShapes(int argc, char** argv) {
  if (argc == 1) return false;
  if (argc == 2 && std::strcmp(argv[1], "--big") == 0) return true;
  std::fprintf(stderr, "usage: %s [--big]\n", argv[0]);
  std::exit(2);
}

}  // namespace h
