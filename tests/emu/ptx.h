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

#include "tests/emu/emu.h"

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

}  // namespace emu::ptx
