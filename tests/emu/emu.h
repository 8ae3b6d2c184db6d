// CPU emulator runtime for CUDA kernels: each CUDA thread of a block is a fiber (its own stack, switched by
// a few lines of x86-64 assembly); blocks run one at a time; __syncthreads is a barrier over the block's
// fibers; warp shuffles go through per-warp slots and a warp barrier. Static __shared__ arrays (gen.py turns
// them into function statics) are poisoned with 0xFF bytes (NaN floats) when a block first reaches them
// (emu::Shared); a launch's dynamic shared memory (`extern __shared__`, which gen.py turns into
// emu::DynamicShared()) likewise per block. cp.async copies and wgmma are queued per thread and land at the
// wait that completes their group; mbarriers (by shared address) count arrivals and TMA bytes per phase. One fiber runs at a time, until it waits at a barrier; the next is the first that
// can run in a forward / reverse / random order (so warps run ahead of each other as far as the barriers
// allow), and a grid's blocks run in the same order, so results that depend on scheduling show as differences.
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
#include <string>
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
inline float __fmaf_rn(float a, float b, float c) { volatile float r = std::fma(a, b, c); return r; }  // one rounding

using std::isfinite;  // a device function in the global namespace, as in CUDA

// atomicAdd: fibers switch only at barriers and shuffles, so a plain read-modify-write is atomic here; the
// additions land in the order the scheduler runs the threads (which the three orders vary). bf16: the sum
// in fp32, rounded once to bf16, as the hardware's.
inline float atomicAdd(float* p, float v) { const float old = *p; *p = __fadd_rn(old, v); return old; }
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* p, __nv_bfloat16 v) {
  const __nv_bfloat16 old = *p;
  *p = __float2bfloat16(__fadd_rn(__bfloat162float(old), __bfloat162float(v)));
  return old;
}

template <typename T> inline T min(T a, T b) { return b < a ? b : a; }
template <typename T> inline T max(T a, T b) { return a < b ? b : a; }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __align__(n) alignas(n)
#define __grid_constant__

// ---- runtime stubs ---------------------------------------------------------------------------------
typedef void* cudaStream_t;
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

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

// A cp.async copy: `bytes` into shared memory at window address dst, the first src_bytes of them from src,
// the rest zeros.
struct AsyncCopy {
  uint32_t dst;
  const void* src;
  uint32_t bytes, src_bytes;
};

// A wgmma.mma_async (ptx.h) of one thread, from its issue to the wgmma.wait_group that lands it.
struct Wgmma {
  int n = 0;                 // N of m64nNk16
  bool a_in_registers = false;
  uint64_t desc_a = 0, desc_b = 0;
  float a[2][16];            // A from registers: rows g and g + 8 of the thread's warp (g = lane / 4)
  bool scale_d = true;       // false: D = A B, the accumulators' old values ignored
  bool trans_a = false, trans_b = false;  // imm-trans: the operand MN-major in shared memory
  std::vector<float*> d;     // the thread's accumulator registers, written when the group lands
};

// A TMA tensor copy (cp.async.bulk.tensor.2d, ptx.h): a box of box[1] rows of box[0] elements at element
// (c0, c1) of a row-major global tensor (rows `stride` bytes apart; elements outside dim read as zero) into
// shared memory at window address dst, rows packed, 16-byte chunks swizzled as swizzle_bytes says.
struct TensorCopy {
  const unsigned char* global;
  uint64_t dim[2], stride;
  uint32_t box[2], elem_bytes, swizzle_bytes;
  uint32_t dst;
  int c0, c1;
  uint32_t Bytes() const { return box[0] * box[1] * elem_bytes; }
};

struct Barrier;

struct Fiber {
  void* sp = nullptr;
  uint3 tid;
  int linear = 0;
  bool done = false;
  char* stack = nullptr;
  int rank = 0;                // position in the block's scheduling order
  Barrier* waiting = nullptr;  // the barrier this thread waits at, and its generation then
  long waiting_gen = 0;
  std::vector<std::vector<AsyncCopy>> async_groups;  // committed cp.async groups not yet waited for
  std::vector<AsyncCopy> async_open;                 // issued since the last commit
  std::vector<std::vector<Wgmma>> wgmma_groups;      // committed wgmma groups not yet waited for
  std::vector<Wgmma> wgmma_open;                     // issued since the last commit
  bool wgmma_fenced = false;                         // a wgmma.fence since the last wgmma.wait_group
};

#if EMU_ASAN
constexpr size_t kStackBytes = 512 * 1024;
#else
constexpr size_t kStackBytes = 64 * 1024;
#endif
constexpr int kMaxThreads = 1024;
constexpr size_t kGuardPage = 4096;
// Shared memory per block: static arrays and, without cudaFuncSetAttribute, dynamic memory are held to
// 48 KiB; a kernel opted in may use up to sm_90's 227 KiB in all (sm_80 allows 163 KiB).
constexpr size_t kSharedDefault = 48 * 1024;
constexpr size_t kSharedOptIn = 227 * 1024;

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
inline long g_block_gen = 0;
inline std::map<void*, long> g_shared_gen;  // the block that last reached each static shared array
inline size_t g_block_shared_bytes = 0;
inline std::map<const void*, size_t> g_max_dynamic_shared;  // per kernel, as set by cudaFuncSetAttribute
// The running launch's dynamic shared memory: its last byte is followed by an inaccessible page (so a
// store past the end faults), its start 16-byte aligned. Window addresses (cvta.shared, ldmatrix,
// cp.async) are offsets from its start.
inline unsigned char* g_dyn_shared = nullptr;
inline size_t g_dyn_shared_bytes = 0;
inline unsigned char* DynamicSharedEnd() {
  static unsigned char* end = [] {
    const size_t bytes = (kSharedOptIn + kGuardPage - 1) / kGuardPage * kGuardPage;
    void* p = mmap(nullptr, bytes + kGuardPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(static_cast<char*>(p) + bytes, kGuardPage, PROT_NONE) != 0) {
      std::perror("emu: dynamic shared memory");
      std::abort();
    }
    return static_cast<unsigned char*>(p) + bytes;
  }();
  return end;
}
#if EMU_ASAN
inline const void* g_main_bottom = nullptr;
inline size_t g_main_size = 0;
#endif

inline Fiber& Me() { return g_fibers[g_cur]; }

// A set of ranks (positions in the block's scheduling order).
struct RankSet {
  uint64_t bits[kMaxThreads / 64] = {};
  void Add(int r) { bits[r / 64] |= uint64_t(1) << (r % 64); }
  void Remove(int r) { bits[r / 64] &= ~(uint64_t(1) << (r % 64)); }
  int First() const {  // -1 when empty
    for (int i = 0; i < kMaxThreads / 64; ++i)
      if (bits[i]) return 64 * i + __builtin_ctzll(bits[i]);
    return -1;
  }
  void MoveTo(RankSet& to) {
    for (int i = 0; i < kMaxThreads / 64; ++i) to.bits[i] |= bits[i], bits[i] = 0;
  }
};
inline RankSet g_ready;  // the threads that can run: not exited, not waiting at a barrier

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

// Threads waiting for an event: Wait() releases them all when the n-th arrives; Block() / Release() wait for
// and signal any other event (an mbarrier phase). `what` names it in the DEADLOCK report.
struct Barrier {
  int n = 0, arrived = 0;
  long gen = 0;
  RankSet waiters;
  const char* what = "__syncthreads";
  explicit Barrier(int threads = 0, const char* name = "__syncthreads") : n(threads), what(name) {}
  void Wait() {
    if (++arrived == n) {
      arrived = 0;
      Release();
    } else {
      Block();
    }
  }
  void Block() {
    const long g = gen;
    Fiber& f = Me();
    f.waiting = this, f.waiting_gen = g;
    waiters.Add(f.rank);
    g_ready.Remove(f.rank);
    while (gen == g) Yield();
    f.waiting = nullptr;
  }
  void Release() {
    ++gen;
    waiters.MoveTo(g_ready);
  }
  bool Released(long g) const { return gen != g; }
};
inline Barrier g_cta_bar;
inline Barrier g_warp_bar[kMaxThreads / 32];
// Warpgroups (4 warps, 128 threads): their instructions (wgmma) exchange operands between two barriers.
inline Barrier g_warpgroup_bar[kMaxThreads / 128];

// An mbarrier (sm_90) in the dynamic shared memory, by window address: an arrival count and a transaction
// (byte) count per phase; a phase completes when both reach zero, which flips the phase bit and releases the
// threads blocked in try_wait. The TMA copies it tracks land lazily (ptx.h: the latest the hardware may).
struct MBarrier {
  int count = 0, pending = 0, phase = 0;
  long tx = 0;
  std::vector<TensorCopy> in_flight;
  Barrier wake{0, "mbarrier try_wait"};
};
inline std::map<uint32_t, MBarrier> g_mbarriers;  // of the running block
struct WarpSlots { float v[32]; };
inline WarpSlots g_slots[kMaxThreads / 32];

inline void Entry() {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_main_bottom, &g_main_size);
#endif
  (*g_body)();
  // Copies never waited for land at no defined time: their data was never used, or used unsafely.
  if (!g_fibers[g_cur].async_groups.empty() || !g_fibers[g_cur].async_open.empty()) {
    std::fprintf(stderr, "emu: thread %d of block (%u,%u,%u) exited with cp.async copies not waited for\n",
                 g_fibers[g_cur].linear, g_block.x, g_block.y, g_block.z);
    std::abort();
  }
  // Likewise wgmma: its accumulators were never (or wrongly) read.
  if (!g_fibers[g_cur].wgmma_groups.empty() || !g_fibers[g_cur].wgmma_open.empty()) {
    std::fprintf(stderr, "emu: thread %d of block (%u,%u,%u) exited with wgmma.mma_async not waited for "
                 "(wgmma.wait_group)\n", g_fibers[g_cur].linear, g_block.x, g_block.y, g_block.z);
    std::abort();
  }
  g_fibers[g_cur].done = true;
  g_ready.Remove(g_fibers[g_cur].rank);
#if EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, g_main_bottom, g_main_size);
#endif
  emu_switch(&g_fibers[g_cur].sp, g_sched_sp);
  std::abort();
}

// A static shared array reached by the running block: poisoned (0xFF bytes: NaN floats) the first time the
// block reaches it, so a read before any write in the block shows; the block's total is held to the 48 KiB
// of static shared memory a kernel may declare, and with the dynamic memory to the opt-in maximum.
inline void Shared(void* p, size_t bytes) {
  long& gen = g_shared_gen[p];
  if (gen == g_block_gen) return;
  gen = g_block_gen;
  std::memset(p, 0xFF, bytes);
  g_block_shared_bytes += bytes;
  if (g_block_shared_bytes > kSharedDefault || g_block_shared_bytes + g_dyn_shared_bytes > kSharedOptIn) {
    std::fprintf(stderr, "emu: shared memory of one block over the limit (%zu bytes static, %zu dynamic)\n",
                 g_block_shared_bytes, g_dyn_shared_bytes);
    std::abort();
  }
}

// `extern __shared__ T name[];` (gen.py): the launch's dynamic shared memory, poisoned per block.
inline void* DynamicShared() { return g_dyn_shared; }

// The bytes at window address addr .. addr + bytes of the dynamic shared memory (stops the run if outside).
inline unsigned char* SharedAt(uint64_t addr, size_t bytes) {
  if (addr + bytes > g_dyn_shared_bytes) {
    std::fprintf(stderr, "emu: shared address %llu + %zu outside the block's %zu bytes of dynamic shared memory\n",
                 static_cast<unsigned long long>(addr), bytes, g_dyn_shared_bytes);
    std::abort();
  }
  return g_dyn_shared + addr;
}

inline void RunBlock(uint3 block) {
  const dim3 bd = g_blockdim;
  const int n = int(bd.x * bd.y * bd.z);
  ++g_block_gen;
  ++g_blocks_run;
  g_block_shared_bytes = 0;
  std::memset(g_dyn_shared, 0xFF, g_dyn_shared_bytes);
  g_block = block;
  g_cta_bar = Barrier{n};
  for (int w = 0; w < (n + 31) / 32; ++w) g_warp_bar[w] = Barrier{std::min(32, n - 32 * w), "a warp instruction"};
  for (int w = 0; w < (n + 127) / 128; ++w)
    g_warpgroup_bar[w] = Barrier{std::min(128, n - 128 * w), "a warpgroup instruction"};
  g_mbarriers.clear();
  while (int(g_stacks.size()) < n) g_stacks.push_back(NewStack());
  g_fibers.resize(n);
  for (int i = 0; i < n; ++i) {
    Fiber& f = g_fibers[i];
    f.linear = i;
    f.tid.x = i % bd.x;
    f.tid.y = (i / bd.x) % bd.y;
    f.tid.z = i / (bd.x * bd.y);
    f.done = false;
    f.rank = g_thread_order == kReverse ? n - 1 - i : i;
    f.waiting = nullptr;
    f.stack = g_stacks[i];
    f.async_groups.clear();
    f.async_open.clear();
    f.wgmma_groups.clear();
    f.wgmma_open.clear();
    f.wgmma_fenced = false;
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
  // One thread runs at a time, until it waits at a barrier or exits; the next is always the first in `order`
  // that can run. So a warp runs as far ahead of the others as the barriers let it (forward: the first warp
  // first; reverse: the last), which is what shows a missing __syncthreads; random draws a new order for
  // every interval between __syncthreads, which interleaves the warps at their barriers.
  std::vector<int> order(n);  // thread of each rank
  for (int i = 0; i < n; ++i) order[i] = i;
  if (g_thread_order == kReverse) std::reverse(order.begin(), order.end());
  g_ready = RankSet{};
  for (int r = 0; r < n; ++r) g_ready.Add(r);
  long cta_gen = -1;
  for (;;) {
    if (g_thread_order == kRandom && g_cta_bar.gen != cta_gen) {
      cta_gen = g_cta_bar.gen;
      std::shuffle(order.begin(), order.end(), g_rng);
      // New ranks: the sets are rebuilt (the thread that released the __syncthreads ran on, and may already
      // wait at another barrier).
      g_ready = RankSet{};
      g_cta_bar.waiters = RankSet{};
      for (int w = 0; w < (n + 31) / 32; ++w) g_warp_bar[w].waiters = RankSet{};
      for (int w = 0; w < (n + 127) / 128; ++w) g_warpgroup_bar[w].waiters = RankSet{};
      for (auto& [addr, mb] : g_mbarriers) mb.wake.waiters = RankSet{};
      for (int r = 0; r < n; ++r) {
        Fiber& f = g_fibers[order[r]];
        f.rank = r;
        if (f.waiting && !f.waiting->Released(f.waiting_gen))
          f.waiting->waiters.Add(r);
        else if (!f.done)
          g_ready.Add(r);
      }
    }
    const int r = g_ready.First();
    if (r < 0) break;
    g_cur = order[r];
#if EMU_ASAN
    void* fs = nullptr;
    __sanitizer_start_switch_fiber(&fs, g_fibers[g_cur].stack, kStackBytes);
    emu_switch(&g_sched_sp, g_fibers[g_cur].sp);
    __sanitizer_finish_switch_fiber(fs, nullptr, nullptr);
#else
    emu_switch(&g_sched_sp, g_fibers[g_cur].sp);
#endif
  }
  int done = 0;
  for (const Fiber& f : g_fibers) done += f.done;
  if (done != n) {  // every thread left waits at a barrier that can no longer be released
    std::map<std::string, int> at;
    for (const Fiber& f : g_fibers)
      if (!f.done) ++at[f.waiting ? f.waiting->what : "?"];
    std::string waits;
    for (const auto& [what, count] : at) waits += " " + std::to_string(count) + " at " + what + ";";
    std::fprintf(stderr, "DEADLOCK in block (%u,%u,%u): %d of %d threads exited;%s\n", block.x, block.y, block.z,
                 done, n, waits.c_str());
    std::abort();
  }
  for (const auto& [addr, mb] : g_mbarriers)
    if (!mb.in_flight.empty()) {
      std::fprintf(stderr, "emu: block (%u,%u,%u) ended with %zu TMA copies to the mbarrier at %u never landed "
                   "(no try_wait saw their phase complete)\n", block.x, block.y, block.z, mb.in_flight.size(), addr);
      std::abort();
    }
}

// A kernel launch: validates the configuration as the runtime would (an invalid one sets the error that
// VFM_CUDA_LAUNCHED reports), then runs every block. `kernel` (gen.py passes it for launches with dynamic
// shared memory) is the key of cudaFuncSetAttribute: past 48 KiB of dynamic memory the kernel must be opted in.
inline void Launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, const std::function<void()>& body,
                   const void* kernel = nullptr) {
  ++g_launches;
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  const auto opt_in = g_max_dynamic_shared.find(kernel);
  const size_t smem_limit = kernel && opt_in != g_max_dynamic_shared.end() ? opt_in->second : kSharedDefault;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 ||
      block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      threads > 1024 || smem > smem_limit) {
    std::fprintf(stderr, "emu: invalid launch configuration grid (%u,%u,%u) block (%u,%u,%u) smem %zu (limit %zu)\n",
                 grid.x, grid.y, grid.z, block.x, block.y, block.z, smem, smem_limit);
    g_last_error = cudaErrorInvalidConfiguration;
    return;
  }
  g_griddim = grid;
  g_blockdim = block;
  g_body = &body;
  g_dyn_shared = DynamicSharedEnd() - (smem + 15) / 16 * 16;
  g_dyn_shared_bytes = smem;
  std::vector<uint3> blocks;
  blocks.reserve(size_t(grid.x) * grid.y * grid.z);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) blocks.push_back(uint3{x, y, z});
  if (g_block_order == kReverse) std::reverse(blocks.begin(), blocks.end());
  if (g_block_order == kRandom) std::shuffle(blocks.begin(), blocks.end(), g_rng);
  for (const uint3& b : blocks) RunBlock(b);
  g_body = nullptr;
  g_dyn_shared_bytes = 0;
}

inline int Tid() { return Me().linear; }

// cp.async: queued in the thread's open group, the destination NaN (0xFF) until the copy lands (the hardware
// may write it any time before the wait), so a read that does not wait, or a buffer refilled while another
// warp still reads it, shows. Addresses must be aligned to the copy's size, as the hardware requires.
inline void AsyncCopyIssue(uint32_t dst, const void* src, uint32_t bytes, uint32_t src_bytes) {
  if (dst % bytes != 0 || reinterpret_cast<uintptr_t>(src) % bytes != 0 || src_bytes > bytes) {
    std::fprintf(stderr, "emu: cp.async of %u bytes (%u from the source) misaligned: shared %u, global %p\n", bytes,
                 src_bytes, dst, src);
    std::abort();
  }
  std::memset(SharedAt(dst, bytes), 0xFF, bytes);
  Me().async_open.push_back({dst, src, bytes, src_bytes});
}
inline void AsyncCopyCommit() {
  Fiber& f = Me();
  f.async_groups.push_back(std::move(f.async_open));
  f.async_open.clear();
}
// Lands this thread's committed groups but the newest `pending` (the data is read from global memory now: the
// latest the hardware may read it). Other threads see it after a barrier, as on the GPU.
inline void AsyncCopyWait(int pending) {
  Fiber& f = Me();
  while (int(f.async_groups.size()) > pending) {
    for (const AsyncCopy& c : f.async_groups.front()) {
      unsigned char* d = SharedAt(c.dst, c.bytes);
      std::memcpy(d, c.src, c.src_bytes);
      std::memset(d + c.src_bytes, 0, c.bytes - c.src_bytes);
    }
    f.async_groups.erase(f.async_groups.begin());
  }
}

}  // namespace emu

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::g_last_error;
  emu::g_last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || size_t(value) > emu::kSharedOptIn)
    return cudaErrorInvalidValue;
  emu::g_max_dynamic_shared[func] = size_t(value);
  return cudaSuccess;
}
// Generic -> shared window address: defined here only for the dynamic shared memory (static __shared__ arrays
// are function statics, outside the window).
inline size_t __cvta_generic_to_shared(const void* p) {
  const auto* c = static_cast<const unsigned char*>(p);
  if (c < emu::g_dyn_shared || c > emu::g_dyn_shared + emu::g_dyn_shared_bytes) {
    std::fprintf(stderr, "emu: __cvta_generic_to_shared of %p, not in the block's dynamic shared memory\n", p);
    std::abort();
  }
  return size_t(c - emu::g_dyn_shared);
}

#define threadIdx (::emu::Me().tid)
#define blockIdx (::emu::g_block)
#define blockDim (::emu::g_blockdim)
#define gridDim (::emu::g_griddim)

inline void __syncthreads() { emu::g_cta_bar.Wait(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  const int w = emu::Tid() / 32;
  if (mask != 0xffffffffu || emu::g_warp_bar[w].n != 32) {
    std::fprintf(stderr, "__syncwarp: mask %x with %d lanes\n", mask, emu::g_warp_bar[w].n);
    std::abort();
  }
  emu::g_warp_bar[w].Wait();
}
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
