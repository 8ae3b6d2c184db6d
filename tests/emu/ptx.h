// The PTX instructions kernels issue through inline asm, emulated on the CPU: gen.py replaces each asm
// statement it knows (the PTX table in gen.py: instruction text and operand constraints) by a call to the
// function here of the same instruction, with the asm's operands in order (outputs by reference, then inputs),
// so the C++ around the asm (the kernels' wrappers) runs unmodified. Warp-wide instructions exchange operands
// through per-warp slots between two warp barriers; the fragment layouts are the PTX ISA's (ldmatrix m8n8,
// mma.m16n8k16 bf16), as in the tables of kernels/cuda/fused_attention.cu's header comment.
// Why: the tensor-core attention kernels' indexing, fragment addressing, boundary masking and barriers are
// tested on every CI run, without a GPU.
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "tests/emu/emu.h"
#include "tests/emu/stub/cuda.h"

namespace emu::ptx {

// A warp's operands of one warp-wide instruction: each lane writes its own, reads the others' after a barrier.
struct Lanes {
  uint32_t addr[32];
  uint32_t a[32][4];
  uint32_t b[32][2];
};
inline Lanes g_lanes[kMaxThreads / 32];

inline int WarpOfFullWarp(const char* what) {
  const int w = Tid() / 32;
  if (g_warp_bar[w].n != 32) {
    std::fprintf(stderr, "emu: %s in a warp of %d threads (needs all 32)\n", what, g_warp_bar[w].n);
    std::abort();
  }
  return w;
}

inline uint16_t LoadB16(uint32_t addr) {
  uint16_t v;
  std::memcpy(&v, SharedAt(addr, 2), 2);
  return v;
}
inline float Bf16Half(uint32_t v, int high) { return __bfloat162float(BfRaw(uint16_t(high ? v >> 16 : v & 0xffff))); }

// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: lanes 8m..8m+7 give the addresses of the 8 rows (16
// bytes each, 16-byte aligned) of matrix m; register m of lane l receives row l/4, columns 2(l%4) and +1
// (low half first), or with .trans rows 2(l%4) and +1 of column l/4.
inline void Ldmatrix(uint32_t* r, uint32_t addr, bool trans) {
  const int w = WarpOfFullWarp("ldmatrix"), l = Tid() % 32;
  if (addr % 16 != 0) {
    std::fprintf(stderr, "emu: ldmatrix row address %u of lane %d not 16-byte aligned\n", addr, l);
    std::abort();
  }
  SharedAt(addr, 16);  // in range
  g_lanes[w].addr[l] = addr;
  g_warp_bar[w].Wait();
  const uint32_t* rows = g_lanes[w].addr;
  for (int m = 0; m < 4; ++m) {
    uint16_t lo, hi;
    if (!trans) {
      lo = LoadB16(rows[8 * m + l / 4] + 2 * (2 * (l % 4)));
      hi = LoadB16(rows[8 * m + l / 4] + 2 * (2 * (l % 4) + 1));
    } else {
      lo = LoadB16(rows[8 * m + 2 * (l % 4)] + 2 * (l / 4));
      hi = LoadB16(rows[8 * m + 2 * (l % 4) + 1] + 2 * (l / 4));
    }
    r[m] = uint32_t(lo) | uint32_t(hi) << 16;
  }
  g_warp_bar[w].Wait();  // no lane overwrites its address before every lane has read them all
}
inline void LdmatrixX4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
  uint32_t r[4];
  Ldmatrix(r, addr, false);
  r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];
}
inline void LdmatrixX4Trans(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
  uint32_t r[4];
  Ldmatrix(r, addr, true);
  r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 with D = C (the "+f" operands d0..d3): D = A B + C,
// A 16 x 16, B 16 x 8 bf16, C, D 16 x 8 fp32. Fragments (g = lane / 4, t = lane % 4; a register's low half
// holds the lower column or k): A a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..);
// B b0 = (k 2t..2t+1, n g), b1 = (k 2t+8.., n g); C/D d0, d1 = (g, 2t..2t+1), d2, d3 = (g+8, 2t..2t+1).
// Each lane computes its own four elements: the products of bf16 values are exact in fp32; they are added to
// C in k order with fp32 rounding (the tensor cores' internal order and rounding are not specified by PTX).
inline void MmaM16N8K16Bf16(float& d0, float& d1, float& d2, float& d3, uint32_t a0, uint32_t a1, uint32_t a2,
                            uint32_t a3, uint32_t b0, uint32_t b1) {
  const int w = WarpOfFullWarp("mma.sync"), l = Tid() % 32;
  Lanes& s = g_lanes[w];
  s.a[l][0] = a0, s.a[l][1] = a1, s.a[l][2] = a2, s.a[l][3] = a3;
  s.b[l][0] = b0, s.b[l][1] = b1;
  g_warp_bar[w].Wait();
  const int g = l / 4, t = l % 4;
  // Inverting the tables: A(r, k) is in lane 4(r%8) + (k%8)/2, register r/8 + 2(k/8); B(k, n) in lane
  // 4n + (k%8)/2, register k/8; half k%2 of either.
  float a[2][16], b[2][16];  // A rows g, g+8; B columns 2t, 2t+1
  for (int k = 0; k < 16; ++k) {
    const int lane_k = (k % 8) / 2, high = k % 2;
    for (int i = 0; i < 2; ++i) {
      a[i][k] = Bf16Half(s.a[4 * g + lane_k][i + 2 * (k / 8)], high);
      b[i][k] = Bf16Half(s.b[4 * (2 * t + i) + lane_k][k / 8], high);
    }
  }
  g_warp_bar[w].Wait();  // every lane has read the fragments
  float* d[4] = {&d0, &d1, &d2, &d3};
  for (int e = 0; e < 4; ++e) {
    float acc = *d[e];
    for (int k = 0; k < 16; ++k) acc += a[e / 2][k] * b[e % 2][k];
    *d[e] = acc;
  }
}

// ex2.approx.ftz.f32: exp2f here (correctly rounded or nearly; the GPU's is within 2 ulp), with denormal
// inputs and results flushed to zero as .ftz does.
inline void Ex2ApproxFtz(float& y, float x) {
  if (std::fabs(x) < FLT_MIN) x = 0.f;
  y = exp2f(x);
  if (y < FLT_MIN) y = 0.f;
}

// cp.async.cg.shared.global [dst], [src], 16, src_size: 16 bytes, src_size of them read (0: all zeros).
inline void CpAsyncCg16(uint32_t dst, const void* src, int src_size) {
  if (src_size < 0 || src_size > 16) {
    std::fprintf(stderr, "emu: cp.async src-size %d not in 0..16\n", src_size);
    std::abort();
  }
  AsyncCopyIssue(dst, src, 16, uint32_t(src_size));
}
inline void CpAsyncCommitGroup() { AsyncCopyCommit(); }
inline void CpAsyncWaitGroup(int pending) { AsyncCopyWait(pending); }

// ---- sm_90a: wgmma, mbarrier, TMA (PTX ISA 9.7.15, 9.7.13.15, 9.7.9.25) ----------------------------------

// Swizzling of shared memory (PTX ISA 9.7.15.5.1.2, "Shared Memory Matrix Layout"; TMA's
// CU_TENSOR_MAP_SWIZZLE_*): with a span of T = 32, 64 or 128 bytes, the 16-byte chunk index (address bits
// 4..) is XORed with the 128-byte row index (bits 7..), log2(T / 16) bits of each, so the pattern repeats
// every 8 T bytes. A function of the address, the same for the TMA that writes and the wgmma that reads.
inline uint32_t Swizzle(uint32_t addr, uint32_t span) {
  return span <= 16 ? addr : addr ^ ((addr >> 3) & ((span / 16 - 1) << 4));
}

// A wgmma shared-memory matrix descriptor (PTX ISA 9.7.15.5.1.2.2, "Matrix Descriptor Format"): bits 0-13
// start address >> 4, 16-29 leading dimension byte offset >> 4, 32-45 stride dimension byte offset >> 4,
// 49-51 matrix base offset, 62-63 swizzle mode (0 none, 1 128B, 2 64B, 3 32B); the other bits are 0.
struct MatrixDesc {
  uint32_t start, lbo, sbo, span;  // span: the swizzle's bytes, 16 for none
};
inline MatrixDesc DecodeDesc(uint64_t d, const char* which, bool mn_major) {
  const uint64_t reserved = (uint64_t(3) << 14) | (uint64_t(3) << 30) | (uint64_t(7) << 46) | (uint64_t(0x3ff) << 52);
  const MatrixDesc m{uint32_t(d & 0x3fff) << 4, uint32_t((d >> 16) & 0x3fff) << 4, uint32_t((d >> 32) & 0x3fff) << 4,
                     uint32_t(d >> 62) == 0 ? 16u : 256u >> uint32_t(d >> 62)};
  // The base offset says where in its 8 T-byte pattern a swizzled matrix starts; the kernels here start theirs
  // at a pattern boundary, where it is 0: plus the k offset within a row when K-major, exactly there when
  // MN-major (a k16 step is 16 whole rows).
  const bool bad_start = m.span > 16 && (m.start % (8 * m.span) >= m.span ||
                                         (mn_major ? m.start % m.span != 0 : m.start % m.span + 32 > m.span));
  if ((d & reserved) || ((d >> 49) & 7) || bad_start) {
    std::fprintf(stderr, "emu: wgmma %s descriptor %#llx: reserved bits, a base offset, or a swizzled start "
                 "address %u not at its pattern's first row (%s within the %u-byte row)\n", which,
                 static_cast<unsigned long long>(d), m.start, mn_major ? "MN-major: at its start" :
                 "K-major: a k16 slice of 32 bytes", m.span);
    std::abort();
  }
  return m;
}
// The address of element (r, k) (r the M or N index, k < 16) of a K-major bf16 operand (imm-trans 0), in
// the canonical layouts of PTX ISA 9.7.15.5.1.2: without swizzling, 8 x 16-byte core matrices of 8 rows
// (16 bytes apart) x 8 k, the next 8 k LBO bytes on, the next 8 rows SBO bytes on; swizzled with span T,
// atoms of 8 rows T bytes apart holding T / 2 k each (the k16 slice within one row: LBO unused), the next 8
// rows SBO bytes on, then swizzled.
inline uint32_t KMajorAddr(const MatrixDesc& m, int r, int k) {
  if (m.span == 16) return m.start + (r / 8) * m.sbo + (k / 8) * m.lbo + (r % 8) * 16 + (k % 8) * 2;
  return Swizzle(m.start + (r / 8) * m.sbo + (r % 8) * m.span + k * 2, m.span);
}
// The same for an MN-major operand (imm-trans 1: r contiguous), PTX ISA 9.7.15.5.1.2.1 (canonical layouts
// ((T,1,m),(8,k)):((1,T,SBO),(1T,LBO)) unswizzled, ((T,S/16,m),(8,k)):((1,T,LBO),(S/16 T,SBO)) swizzled with
// span S, T = 8 bf16 in 16 bytes): without swizzling, core matrices of 8 k rows (16 bytes apart) x 8 r, the
// next 8 r SBO bytes on, the next 8 k LBO bytes on; swizzled, atoms of 8 k rows S bytes apart holding S / 2
// r each, the next S / 2 r LBO bytes on, the next 8 k SBO bytes on (the two offsets trade roles), then
// swizzled.
inline uint32_t MNMajorAddr(const MatrixDesc& m, int r, int k) {
  if (m.span == 16) return m.start + (r / 8) * m.sbo + (k / 8) * m.lbo + (k % 8) * 16 + (r % 8) * 2;
  const int row = int(m.span / 2);  // r of one swizzle row
  return Swizzle(m.start + (r / row) * m.lbo + (k / 8) * m.sbo + (k % 8) * m.span + (r % row) * 2, m.span);
}
inline uint32_t OperandAddr(const MatrixDesc& m, bool mn_major, int r, int k) {
  return mn_major ? MNMajorAddr(m, r, k) : KMajorAddr(m, r, k);
}

inline int WarpgroupOfFullWarpgroup(const char* what) {
  const int g = Tid() / 128;
  if (g_warpgroup_bar[g].n != 128) {
    std::fprintf(stderr, "emu: %s in a warpgroup of %d threads (needs 4 full warps)\n", what, g_warpgroup_bar[g].n);
    std::abort();
  }
  return g;
}

// A warpgroup's operands of one wgmma.mma_async: each thread writes its own, reads the others' after a barrier.
struct WarpgroupSlots {
  uint64_t desc_a[128], desc_b[128];
  int n[128], scale_d[128], a_in_registers[128], trans_a[128], trans_b[128];
  uint32_t a[128][4];
};
inline WarpgroupSlots g_warpgroup_slots[kMaxThreads / 128];

// wgmma.fence.sync.aligned: orders the thread's register accesses before the wgmma.mma_async that follow.
// The emulator cannot see register accesses, so it asks for one before the first wgmma.mma_async and again
// after every wgmma.wait_group (after which a kernel reads or rescales its accumulators).
inline void WgmmaFence() { Me().wgmma_fenced = true; }

// wgmma.mma_async.sync.aligned.m64nNk16.f32.bf16.bf16 (PTX ISA 9.7.15.5.2), D = A B + (scale_d ? D : 0),
// A 64 x 16 (from shared memory through desc_a, or from registers), B 16 x N (desc_b), each K-major or, with
// imm-trans 1, MN-major in shared memory: all 128 threads of the warpgroup issue it (a thread missing leaves
// the others waiting: DEADLOCK), with the same descriptors, N, scale_d and transposes. It is queued in the thread's open group and computed at the wgmma.wait_group
// that completes it, reading shared memory then (the latest the hardware may) and writing the accumulators
// then: until that wait they hold their old values, as the registers of an unfinished wgmma may.
inline void WgmmaIssue(std::initializer_list<float*> d, const uint32_t* a_regs, uint64_t desc_a, uint64_t desc_b,
                       int scale_d, int trans_a, int trans_b) {
  Fiber& f = Me();
  if (!f.wgmma_fenced) {
    std::fprintf(stderr, "emu: thread %d: wgmma.mma_async without a wgmma.fence before it (needed before the first "
                 "and after each wgmma.wait_group)\n", f.linear);
    std::abort();
  }
  const int g = WarpgroupOfFullWarpgroup("wgmma.mma_async"), i = Tid() % 128;
  WarpgroupSlots& s = g_warpgroup_slots[g];
  s.desc_a[i] = a_regs ? 0 : desc_a, s.desc_b[i] = desc_b, s.n[i] = int(2 * d.size()), s.scale_d[i] = scale_d != 0;
  s.a_in_registers[i] = a_regs != nullptr, s.trans_a[i] = trans_a != 0, s.trans_b[i] = trans_b != 0;
  if (a_regs) std::memcpy(s.a[i], a_regs, sizeof s.a[i]);
  g_warpgroup_bar[g].Wait();
  for (int j = 0; j < 128; ++j)
    if (s.desc_a[j] != s.desc_a[i] || s.desc_b[j] != s.desc_b[i] || s.n[j] != s.n[i] || s.scale_d[j] != s.scale_d[i] ||
        s.a_in_registers[j] != s.a_in_registers[i] || s.trans_a[j] != s.trans_a[i] || s.trans_b[j] != s.trans_b[i]) {
      std::fprintf(stderr, "emu: threads %d and %d of a warpgroup issued different wgmma.mma_async (N %d / %d, "
                   "transposes %d%d / %d%d, descriptors %#llx %#llx / %#llx %#llx)\n", 128 * g + i, 128 * g + j,
                   s.n[i], s.n[j], s.trans_a[i], s.trans_b[i], s.trans_a[j], s.trans_b[j],
                   static_cast<unsigned long long>(s.desc_a[i]), static_cast<unsigned long long>(s.desc_b[i]),
                   static_cast<unsigned long long>(s.desc_a[j]), static_cast<unsigned long long>(s.desc_b[j]));
      std::abort();
    }
  Wgmma op;
  op.n = s.n[i], op.a_in_registers = a_regs != nullptr, op.desc_a = desc_a, op.desc_b = desc_b;
  op.scale_d = scale_d != 0, op.trans_a = trans_a != 0, op.trans_b = trans_b != 0, op.d.assign(d.begin(), d.end());
  if (a_regs) {
    // A from registers (PTX ISA 9.7.15.5.1.1.1): warp w holds rows 16w..16w+15 as mma.m16n8k16's A fragment,
    // lane 4 (r % 8) + (k % 8) / 2 holding (r, k) in register r / 8 + 2 (k / 8), half k % 2.
    const int w0 = (i / 32) * 32, gr = (i % 32) / 4;
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 16; ++k)
        op.a[h][k] = Bf16Half(s.a[w0 + 4 * gr + (k % 8) / 2][h + 2 * (k / 8)], k % 2);
  }
  g_warpgroup_bar[g].Wait();  // no thread overwrites its slot before every thread has read them all
  f.wgmma_open.push_back(std::move(op));
}
inline void WgmmaSS(std::initializer_list<float*> d, uint64_t desc_a, uint64_t desc_b, int scale_d, int trans_a,
                    int trans_b) {
  WgmmaIssue(d, nullptr, desc_a, desc_b, scale_d, trans_a, trans_b);
}
inline void WgmmaRS(std::initializer_list<float*> d, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                    uint64_t desc_b, int scale_d, int trans_b) {
  const uint32_t a[4] = {a0, a1, a2, a3};
  WgmmaIssue(d, a, 0, desc_b, scale_d, 0, trans_b);
}

// The thread's accumulators of one wgmma (PTX ISA 9.7.15.5.1.1.1, accumulator D of m64nNk16): warp w of the
// warpgroup holds rows 16w..16w+15; register i of lane l (g = l / 4, t = l % 4) is row 16w + g + 8 ((i / 2)
// % 2), column 8 (i / 4) + 2t + i % 2. The bf16 products are exact in fp32, added in k order.
inline void WgmmaLand(const Wgmma& op) {
  const int i = Tid() % 128, w = i / 32, g = (i % 32) / 4, t = i % 4;
  const MatrixDesc b = DecodeDesc(op.desc_b, "B", op.trans_b);
  const MatrixDesc a = op.a_in_registers ? MatrixDesc{} : DecodeDesc(op.desc_a, "A", op.trans_a);
  for (int e = 0; e < op.n / 2; ++e) {
    const int h = (e / 2) % 2, row = 16 * w + g + 8 * h, col = 8 * (e / 4) + 2 * t + e % 2;
    float acc = op.scale_d ? *op.d[e] : 0.f;
    for (int k = 0; k < 16; ++k) {
      const float av = op.a_in_registers ? op.a[h][k] : Bf16Half(LoadB16(OperandAddr(a, op.trans_a, row, k)), 0);
      acc += av * Bf16Half(LoadB16(OperandAddr(b, op.trans_b, col, k)), 0);
    }
    *op.d[e] = acc;
  }
}
inline void WgmmaCommitGroup() {
  Fiber& f = Me();
  f.wgmma_groups.push_back(std::move(f.wgmma_open));
  f.wgmma_open.clear();
}
// wgmma.wait_group N: lands all of the thread's committed groups but the newest N.
inline void WgmmaWaitGroup(int pending) {
  Fiber& f = Me();
  while (int(f.wgmma_groups.size()) > pending) {
    for (const Wgmma& op : f.wgmma_groups.front()) WgmmaLand(op);
    f.wgmma_groups.erase(f.wgmma_groups.begin());
  }
  f.wgmma_fenced = false;
}

// ---- mbarrier (PTX ISA 9.7.13.15) and TMA tensor copies (9.7.9.25.5.1) ----

inline MBarrier& FindMbarrier(uint32_t addr, const char* what) {
  const auto it = g_mbarriers.find(addr);
  if (it == g_mbarriers.end()) {
    std::fprintf(stderr, "emu: %s on shared address %u, where this block initialised no mbarrier\n", what, addr);
    std::abort();
  }
  return it->second;
}

// A copy lands: its box, read from global memory now, into shared memory (zeros outside the tensor).
inline void LandTensorCopy(const TensorCopy& c) {
  for (uint32_t r = 0; r < c.box[1]; ++r)
    for (uint32_t e = 0; e < c.box[0]; ++e) {
      const int64_t x = int64_t(c.c0) + e, y = int64_t(c.c1) + r;
      const uint32_t at = Swizzle(c.dst + (r * c.box[0] + e) * c.elem_bytes, c.swizzle_bytes);
      unsigned char* to = SharedAt(at, c.elem_bytes);
      if (x < 0 || y < 0 || uint64_t(x) >= c.dim[0] || uint64_t(y) >= c.dim[1])
        std::memset(to, 0, c.elem_bytes);
      else
        std::memcpy(to, c.global + uint64_t(y) * c.stride + uint64_t(x) * c.elem_bytes, c.elem_bytes);
    }
}

// Completes the barrier's phase when its arrivals and transaction bytes are all in. Copies in flight land only
// once every arrival is in and a thread waits for the phase (`observed`, or one blocked in try_wait): the
// latest the hardware may. Each lands as a whole, its bytes taken off the count; if the count reaches zero
// with copies left (expect_tx announced too few bytes), the phase completes without them.
inline void MbarrierProgress(MBarrier& mb, bool observed) {
  if (mb.pending > 0) return;
  if (observed || mb.wake.waiters.First() >= 0)
    while (mb.tx > 0 && !mb.in_flight.empty()) {
      LandTensorCopy(mb.in_flight.front());
      mb.tx -= mb.in_flight.front().Bytes();
      mb.in_flight.erase(mb.in_flight.begin());
    }
  if (mb.tx < 0) {
    std::fprintf(stderr, "emu: mbarrier transaction count below zero: TMA copies of more bytes than expect_tx "
                 "announced\n");
    std::abort();
  }
  if (mb.tx == 0) {
    mb.phase ^= 1;
    mb.pending = mb.count;
    mb.wake.Release();
  }
}

// mbarrier.init.shared::cta.b64 [addr], count: phase 0, `count` arrivals expected, no transactions.
inline void MbarrierInit(uint32_t addr, uint32_t count) {
  if (addr % 8 != 0 || count < 1 || count > (1u << 20) - 1) {
    std::fprintf(stderr, "emu: mbarrier.init at %u (8-byte aligned?) with count %u\n", addr, count);
    std::abort();
  }
  std::memset(SharedAt(addr, 8), 0, 8);
  MBarrier& mb = g_mbarriers[addr];
  mb.count = mb.pending = int(count), mb.phase = 0, mb.tx = 0;
  mb.in_flight.clear();
}
inline void MbarrierArriveOn(MBarrier& mb) {
  if (mb.pending == 0) {
    std::fprintf(stderr, "emu: mbarrier arrival beyond its count in the current phase\n");
    std::abort();
  }
  --mb.pending;
  MbarrierProgress(mb, false);
}
// mbarrier.arrive.shared::cta.b64 _, [addr]
inline void MbarrierArrive(uint32_t addr) { MbarrierArriveOn(FindMbarrier(addr, "mbarrier.arrive")); }
// mbarrier.arrive.expect_tx.shared::cta.b64 _, [addr], tx: adds tx bytes to the phase's count, then arrives.
inline void MbarrierArriveExpectTx(uint32_t addr, uint32_t tx) {
  MBarrier& mb = FindMbarrier(addr, "mbarrier.arrive.expect_tx");
  mb.tx += tx;
  MbarrierArriveOn(mb);
}
// mbarrier.try_wait.parity.shared::cta.b64 p, [addr], parity (selp'd into done): true once the phase of that
// parity has completed, i.e. while the current phase's parity differs. Here it blocks until then, so the
// kernel's retry loop runs once.
inline void MbarrierTryWaitParity(uint32_t& done, uint32_t addr, uint32_t parity) {
  MBarrier& mb = FindMbarrier(addr, "mbarrier.try_wait.parity");
  if (uint32_t(mb.phase) == (parity & 1)) {  // waits for the current phase: its copies may land now
    MbarrierProgress(mb, true);
    if (uint32_t(mb.phase) == (parity & 1)) mb.wake.Block();
  }
  done = 1;
}

// fence.proxy.async.shared::cta: orders generic-proxy shared memory accesses (an mbarrier.init, stores) before
// the async proxy's (TMA, wgmma). The emulator has a single proxy: nothing to do.
inline void FenceProxyAsync() {}

// cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [dst], [map, {c0, c1}], [mbar]:
// the box at (c0, c1) of the tensor map's 2-D tensor into shared memory at dst (128-byte aligned), its bytes
// completing transactions on the mbarrier. The destination reads as NaN (0xFF) until the copy lands
// (MbarrierProgress), reading global memory then.
inline void CpAsyncBulkTensor2d(uint32_t dst, const void* map_ptr, int c0, int c1, uint32_t mbar) {
  const CUtensorMap& map = *static_cast<const CUtensorMap*>(map_ptr);
  if (!map.encoded || map.rank != 2 || dst % 128 != 0) {
    std::fprintf(stderr, "emu: cp.async.bulk.tensor.2d with %s, to shared address %u (needs 128-byte alignment)\n",
                 !map.encoded ? "a tensor map never encoded" : map.rank != 2 ? "a tensor map not of rank 2" : "a map",
                 dst);
    std::abort();
  }
  const TensorCopy c{map.global, {map.dim[0], map.dim[1]}, map.stride[1], {map.box[0], map.box[1]},
                     map.elem_bytes, map.swizzle_bytes, dst, c0, c1};
  for (uint32_t at = 0; at < c.Bytes(); at += 16) std::memset(SharedAt(Swizzle(dst + at, c.swizzle_bytes), 16), 0xFF, 16);
  MBarrier& mb = FindMbarrier(mbar, "cp.async.bulk.tensor");
  mb.in_flight.push_back(c);
  MbarrierProgress(mb, false);
}

}  // namespace emu::ptx
