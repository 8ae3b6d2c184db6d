// CPU emulator runtime for CUDA kernels: each CUDA thread of a block is a fiber (its own stack, switched by
// a few lines of x86-64 assembly); blocks run one at a time; __syncthreads is a barrier over the block's
// fibers; warp shuffles go through per-warp slots and a warp barrier. Static __shared__ arrays (gen.py turns
// them into function statics) are poisoned with 0xFF bytes (NaN floats) when a block first reaches them
// (emu::Shared). The order fibers resume between barriers and the order of a grid's blocks are selectable
// (forward / reverse / random), so results that depend on scheduling show as differences between runs.
// Why: the kernels' logic (indexing, tails, alignment paths, reductions and barriers) is tested on every
// CI run, on machines with no GPU or CUDA toolkit. Include it in exactly one translation unit of a binary
// (it defines emu_switch); the CUDA headers in stub/ forward here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

// ---- CUDA vector / bf16 types ----------------------------------------------------------------------
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 { unsigned x = 0, y = 0, z = 0; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float4 make_float4(float a, float b, float c, float d) { return float4{a, b, c, d}; }
// Raw storage with no arithmetic operators, so a kernel that computes in bf16 instead of going through
// ToFloat / FromFloat does not compile; converting constructors as in cuda_bf16.h (Fill uses them). Raw
// bits are made with BfRaw.
struct __nv_bfloat16 {
  uint16_t bits;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f);
  __nv_bfloat16(double d);
};
inline __nv_bfloat16 BfRaw(uint16_t b) { __nv_bfloat16 r; r.bits = b; return r; }
struct alignas(4) __nv_bfloat162 { __nv_bfloat16 x, y; };

inline float __bfloat162float(__nv_bfloat16 h) {
  uint32_t u = uint32_t(h.bits) << 16; float f; std::memcpy(&f, &u, 4); return f;
}
inline __nv_bfloat16 __float2bfloat16(float f) {  // round to nearest even, as __float2bfloat16 (= _rn)
  uint32_t u; std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return BfRaw(uint16_t((u >> 16) | 0x40));
  u += 0x7fffu + ((u >> 16) & 1u);
  return BfRaw(uint16_t(u >> 16));
}
inline __nv_bfloat16::__nv_bfloat16(float f) : bits(__float2bfloat16(f).bits) {}
// Rounds twice (double -> float -> bf16) where CUDA rounds once: can differ in the last bit.
inline __nv_bfloat16::__nv_bfloat16(double d) : bits(__float2bfloat16(float(d)).bits) {}
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__float2bfloat16(a), __float2bfloat16(b)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return {__bfloat162float(v.x), __bfloat162float(v.y)}; }

// Explicitly rounded fp32 intrinsics: strict IEEE ops (built with -ffp-contract=off, no fast-math).
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __fsqrt_rn(float a) { volatile float r = std::sqrt(a); return r; }

template <typename T> inline T min(T a, T b) { return b < a ? b : a; }
template <typename T> inline T max(T a, T b) { return a < b ? b : a; }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __align__(n) alignas(n)

// ---- runtime stubs ---------------------------------------------------------------------------------
typedef void* cudaStream_t;
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidConfiguration = 9 };

namespace emu {

enum Order { kForward = 0, kReverse = 1, kRandom = 2 };
inline int g_thread_order = kForward;  // order fibers are resumed within each pass
inline int g_block_order = kForward;   // order blocks of a grid run
inline std::mt19937 g_rng(12345);
inline cudaError_t g_last_error = cudaSuccess;
inline long g_launches = 0, g_blocks_run = 0;

// Minimal x86-64 SysV context switch (callee-saved registers + stack pointer): swapcontext makes a
// sigprocmask system call per switch, which dominated the run time.
extern "C" void emu_switch(void** save_sp, void* new_sp);
asm(R"(
.pushsection .text
.globl emu_switch
.type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_switch, .-emu_switch
.popsection
)");

struct Fiber {
  void* sp = nullptr;
  uint3 tid;
  int linear = 0;
  bool done = false;
  char* stack = nullptr;
};

#if EMU_ASAN
constexpr size_t kStackBytes = 512 * 1024;
#else
constexpr size_t kStackBytes = 64 * 1024;
#endif
constexpr int kMaxThreads = 1024;
constexpr size_t kGuardPage = 4096;

inline void* g_sched_sp = nullptr;
inline std::vector<Fiber> g_fibers;
// Fiber stacks, reused by every block: kStackBytes above an inaccessible page, so an overflow faults.
inline char* NewStack() {
  void* p = mmap(nullptr, kGuardPage + kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || mprotect(p, kGuardPage, PROT_NONE) != 0) {
    std::perror("emu: fiber stack");
    std::abort();
  }
  return static_cast<char*>(p) + kGuardPage;
}
inline std::vector<char*> g_stacks;  // kept for the life of the process
inline int g_cur = 0;
inline uint3 g_block;
inline dim3 g_blockdim, g_griddim;
inline const std::function<void()>* g_body = nullptr;
inline long g_progress = 0;
inline long g_block_gen = 0;
inline std::map<void*, long> g_shared_gen;  // the block that last reached each static shared array
inline size_t g_block_shared_bytes = 0;
#if EMU_ASAN
inline const void* g_main_bottom = nullptr;
inline size_t g_main_size = 0;
#endif

inline Fiber& Me() { return g_fibers[g_cur]; }

inline void Yield() {
#if EMU_ASAN
  void* fs = nullptr;
  __sanitizer_start_switch_fiber(&fs, g_main_bottom, g_main_size);
  emu_switch(&g_fibers[g_cur].sp, g_sched_sp);
  __sanitizer_finish_switch_fiber(fs, nullptr, nullptr);
#else
  emu_switch(&g_fibers[g_cur].sp, g_sched_sp);
#endif
}

struct Barrier {
  int n = 0, arrived = 0;
  long gen = 0;
  void Wait() {
    const long g = gen;
    if (++arrived == n) {
      arrived = 0;
      ++gen;
      ++g_progress;
    } else {
      while (gen == g) Yield();
    }
  }
};
inline Barrier g_cta_bar;
inline Barrier g_warp_bar[kMaxThreads / 32];
struct WarpSlots { float v[32]; };
inline WarpSlots g_slots[kMaxThreads / 32];

inline void Entry() {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_main_bottom, &g_main_size);
#endif
  (*g_body)();
  g_fibers[g_cur].done = true;
  ++g_progress;
#if EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, g_main_bottom, g_main_size);
#endif
  emu_switch(&g_fibers[g_cur].sp, g_sched_sp);
  std::abort();
}

// A static shared array reached by the running block: poisoned (0xFF bytes: NaN floats) the first time the
// block reaches it, so a read before any write in the block shows; the block's total is held to the 48 KiB
// of static shared memory a kernel may declare.
inline void Shared(void* p, size_t bytes) {
  long& gen = g_shared_gen[p];
  if (gen == g_block_gen) return;
  gen = g_block_gen;
  std::memset(p, 0xFF, bytes);
  g_block_shared_bytes += bytes;
  if (g_block_shared_bytes > 48 * 1024) {
    std::fprintf(stderr, "emu: static shared memory of one block over 48 KiB (%zu bytes)\n", g_block_shared_bytes);
    std::abort();
  }
}

inline void RunBlock(uint3 block) {
  const dim3 bd = g_blockdim;
  const int n = int(bd.x * bd.y * bd.z);
  ++g_block_gen;
  ++g_blocks_run;
  g_block_shared_bytes = 0;
  g_block = block;
  g_cta_bar = Barrier{n};
  for (int w = 0; w < (n + 31) / 32; ++w) g_warp_bar[w] = Barrier{std::min(32, n - 32 * w)};
  while (int(g_stacks.size()) < n) g_stacks.push_back(NewStack());
  g_fibers.resize(n);
  for (int i = 0; i < n; ++i) {
    Fiber& f = g_fibers[i];
    f.linear = i;
    f.tid.x = i % bd.x;
    f.tid.y = (i / bd.x) % bd.y;
    f.tid.z = i / (bd.x * bd.y);
    f.done = false;
    f.stack = g_stacks[i];
#if EMU_ASAN
    __asan_unpoison_memory_region(f.stack, kStackBytes);
#endif
    // Initial frame: six callee-saved registers (0), then the return address Entry, then a fake return
    // address for Entry (so it starts with rsp % 16 == 8, as after a call).
    uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack) + kStackBytes) & ~uintptr_t(15);
    void** sp = reinterpret_cast<void**>(top);
    *--sp = nullptr;
    *--sp = reinterpret_cast<void*>(&Entry);
    for (int r = 0; r < 6; ++r) *--sp = nullptr;
    f.sp = sp;
  }
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  if (g_thread_order == kReverse) std::reverse(order.begin(), order.end());
  long idle_passes = 0;
  for (;;) {
    if (g_thread_order == kRandom) std::shuffle(order.begin(), order.end(), g_rng);
    bool any = false;
    const long before = g_progress;
    for (int i : order) {
      if (g_fibers[i].done) continue;
      any = true;
      g_cur = i;
#if EMU_ASAN
      void* fs = nullptr;
      __sanitizer_start_switch_fiber(&fs, g_fibers[i].stack, kStackBytes);
      emu_switch(&g_sched_sp, g_fibers[i].sp);
      __sanitizer_finish_switch_fiber(fs, nullptr, nullptr);
#else
      emu_switch(&g_sched_sp, g_fibers[i].sp);
#endif
    }
    if (!any) break;
    if (g_progress == before) {
      if (++idle_passes > 3) {
        int at_cta = g_cta_bar.arrived, done = 0;
        for (auto& f : g_fibers) done += f.done;
        std::fprintf(stderr, "DEADLOCK in block (%u,%u,%u): %d threads at __syncthreads, %d exited, of %d\n",
                     block.x, block.y, block.z, at_cta, done, n);
        std::abort();
      }
    } else {
      idle_passes = 0;
    }
  }
}

// A kernel launch: validates the configuration as the runtime would (an invalid one sets the error that
// VFM_CUDA_LAUNCHED reports), then runs every block.
inline void Launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, const std::function<void()>& body) {
  ++g_launches;
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 ||
      block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      threads > 1024 || smem > 48 * 1024) {
    std::fprintf(stderr, "emu: invalid launch configuration grid (%u,%u,%u) block (%u,%u,%u) smem %zu\n", grid.x,
                 grid.y, grid.z, block.x, block.y, block.z, smem);
    g_last_error = cudaErrorInvalidConfiguration;
    return;
  }
  g_griddim = grid;
  g_blockdim = block;
  g_body = &body;
  std::vector<uint3> blocks;
  blocks.reserve(size_t(grid.x) * grid.y * grid.z);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) blocks.push_back(uint3{x, y, z});
  if (g_block_order == kReverse) std::reverse(blocks.begin(), blocks.end());
  if (g_block_order == kRandom) std::shuffle(blocks.begin(), blocks.end(), g_rng);
  for (const uint3& b : blocks) RunBlock(b);
  g_body = nullptr;
}

inline int Tid() { return Me().linear; }

}  // namespace emu

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::g_last_error;
  emu::g_last_error = cudaSuccess;
  return e;
}

#define threadIdx (::emu::Me().tid)
#define blockIdx (::emu::g_block)
#define blockDim (::emu::g_blockdim)
#define gridDim (::emu::g_griddim)

inline void __syncthreads() { emu::g_cta_bar.Wait(); }
inline float __shfl_xor_sync(unsigned mask, float v, int off) {
  const int w = emu::Tid() / 32, l = emu::Tid() % 32;
  if (mask != 0xffffffffu || emu::g_warp_bar[w].n != 32) {
    std::fprintf(stderr, "__shfl_xor_sync: mask %x with %d lanes\n", mask, emu::g_warp_bar[w].n);
    std::abort();
  }
  emu::g_slots[w].v[l] = v;
  emu::g_warp_bar[w].Wait();
  const float r = emu::g_slots[w].v[(l ^ off) & 31];
  emu::g_warp_bar[w].Wait();
  return r;
}
