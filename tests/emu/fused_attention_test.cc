// Fused attention (kernels/cuda/fused_attention.cu: the forward, the D = rowsum(dO * O) kernel, dK/dV and dQ,
// head dims 32 and 64; the Hopper forward and backward, head dim 64) on the CPU emulator, through the host functions of fused_attention.h, against a double
// reference of softmax(scale Q K^T) V, its logsumexp and the gradients dQ, dK, dV. Token counts cover one
// row, partial, exact and one-past tiles and several tiles (1, 37, 64, 65, 197), with ordinary, large and
// very negative scores; each result is bitwise identical under every scheduling order (the backward is
// deterministic by design), nothing is written outside the outputs, and every output element is written
// (they start as NaN). The host functions' argument checks are tested too.
#include "harness.h"
#include "kernels/cuda/fused_attention.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

struct Shape {
  int64_t B, N, H, D;
  float scale;
  float bias = 0;  // subtracted from Q's and added to K's first column: every score about -scale bias^2
};

struct Inputs {
  std::vector<bf16> qkv, dout;  // [B, N, 3, H, D], [B, N, H, D]
};

struct Outputs {
  std::vector<bf16> out, dqkv;
  std::vector<float> lse, dvec;  // dvec: the backward's scratch, D_i = rowsum(dO * O) as [B, H, N]
  std::vector<bf16> out_hopper;  // FusedAttentionForwardHopper's (head dim 64)
  std::vector<float> lse_hopper;
  std::vector<bf16> dqkv_hopper;  // FusedAttentionBackwardHopper's, from the mma.sync forward's out and lse
  bool guards = true;
};

Inputs MakeInputs(const Shape& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  Inputs in;
  for (int64_t i = 0; i < s.B * s.N * 3 * s.H * s.D; ++i) {
    const int64_t part = i / (s.H * s.D) % 3, d = i % s.D;
    in.qkv.push_back(FloatToBf16(nd(rng) + (d == 0 && part < 2 ? (part == 0 ? -s.bias : s.bias) : 0.f)));
  }
  for (int64_t i = 0; i < s.B * s.N * s.H * s.D; ++i) in.dout.push_back(FloatToBf16(nd(rng)));
  return in;
}

// Forward, then backward on its results, through the host functions. Outputs and scratch start as NaN, so an
// element not written shows, and their guards span a tile of rows (a store to row N of the last tile lands in
// them). Past the end of each input lie a tile's worth of NaN rows: a row >= N read instead of zero-filled
// shows, though the masking multiplies it by P = 0.
Outputs Run(const Shape& s, const Inputs& in) {
  const int64_t nq = int64_t(in.qkv.size()), no = int64_t(in.dout.size()), rows = s.B * s.H * s.N;
  const int64_t tail = 64 * s.H * s.D;
  const bf16 nan = FloatToBf16(NAN);
  Buf<bf16> qkv(nq + 3 * tail), dout(no + tail), out(no, 0, tail), dqkv(nq, 0, 3 * tail);
  Buf<float> lse(rows), scratch(FusedAttentionBackwardScratchBytes(s.B, s.N, s.H) / sizeof(float));
  std::copy(in.qkv.begin(), in.qkv.end(), qkv.p);
  std::copy(in.dout.begin(), in.dout.end(), dout.p);
  std::fill(qkv.p + nq, qkv.p + nq + 3 * tail, nan);
  std::fill(dout.p + no, dout.p + no + tail, nan);
  std::fill(out.p, out.p + no, nan);
  std::fill(dqkv.p, dqkv.p + nq, nan);
  std::fill(lse.p, lse.p + rows, NAN);
  std::fill(scratch.p, scratch.p + scratch.n, NAN);
  Outputs r;
  if (s.D == 64) {  // the Hopper forward first, into the same (NaN) outputs
    FusedAttentionForwardHopper(qkv.p, out.p, lse.p, s.B, s.N, s.H, s.D, s.scale);
    r.out_hopper.assign(out.p, out.p + no);
    r.lse_hopper.assign(lse.p, lse.p + rows);
    std::fill(out.p, out.p + no, nan);
    std::fill(lse.p, lse.p + rows, NAN);
  }
  FusedAttentionForward(qkv.p, out.p, lse.p, s.B, s.N, s.H, s.D, s.scale);
  FusedAttentionBackward(qkv.p, out.p, dout.p, lse.p, dqkv.p, s.B, s.N, s.H, s.D, s.scale, scratch.p);
  r.out.assign(out.p, out.p + no);
  r.dqkv.assign(dqkv.p, dqkv.p + nq);
  r.lse.assign(lse.p, lse.p + rows);
  r.dvec.assign(scratch.p, scratch.p + rows);
  if (s.D == 64) {  // the Hopper backward on the same out and lse, into NaN dqkv and scratch again
    std::fill(dqkv.p, dqkv.p + nq, nan);
    std::fill(scratch.p, scratch.p + scratch.n, NAN);
    FusedAttentionBackwardHopper(qkv.p, out.p, dout.p, lse.p, dqkv.p, s.B, s.N, s.H, s.D, s.scale, scratch.p);
    r.dqkv_hopper.assign(dqkv.p, dqkv.p + nq);
  }
  r.guards = qkv.Guards() && dout.Guards() && out.Guards() && dqkv.Guards() && lse.Guards() && scratch.Guards();
  return r;
}

// The double reference and, per element, a bound on the kernels' error: first order in the roundings the
// kernels do, each bounded by its unit roundoff times the sum of the |terms| it applies to. bf16 (u = 2^-8):
// P and dS are rounded before their mma, every output on its store, and the backward's D is computed from
// the stored O. fp32 (f = 2^-24): the scores (D-term sums), the exp sums (<= N terms), lse's log, and the
// mma sums over the N keys or queries. A worst case, not an estimate: the errors seen are 3% to 90% of it,
// the most where one term dominates its sum (a peaked softmax).
struct Reference {
  std::vector<double> out, out_tol, lse, lse_tol, dqkv, dqkv_tol;
};

Reference Compute(const Shape& s, const Inputs& in) {
  const int64_t B = s.B, N = s.N, H = s.H, D = s.D, C = H * D;
  const double sc = s.scale, u = 1.0 / 256, f = 1.0 / (1 << 24);
  Reference r;
  r.out.assign(B * N * C, 0), r.out_tol.assign(B * N * C, 0);
  r.lse.assign(B * H * N, 0), r.lse_tol.assign(B * H * N, 0);
  r.dqkv.assign(B * N * 3 * C, 0), r.dqkv_tol.assign(B * N * 3 * C, 0);
  std::vector<double> P(N * N), dS(N * N), EdS(N * N), eP(N), ED(N);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto gi = [&](int64_t i, int part, int64_t d) { return ((b * N + i) * 3 + part) * C + h * D + d; };
      auto oi = [&](int64_t i, int64_t d) { return (b * N + i) * C + h * D + d; };
      auto qkv = [&](int64_t i, int part, int64_t d) { return double(F(in.qkv[gi(i, part, d)])); };
      auto dO = [&](int64_t i, int64_t d) { return double(F(in.dout[oi(i, d)])); };
      for (int64_t i = 0; i < N; ++i) {
        double m = -INFINITY, qk_abs = 0;
        for (int64_t j = 0; j < N; ++j) {
          double sij = 0, a = 0;
          for (int64_t d = 0; d < D; ++d)
            sij += qkv(i, 0, d) * qkv(j, 1, d), a += std::fabs(qkv(i, 0, d) * qkv(j, 1, d));
          P[i * N + j] = sc * sij;
          m = std::max(m, sc * sij), qk_abs = std::max(qk_abs, sc * a);
        }
        double l = 0;
        for (int64_t j = 0; j < N; ++j) l += std::exp(P[i * N + j] - m);
        const double lse = m + std::log(l);
        const int64_t li = (b * H + h) * N + i;
        r.lse[li] = lse;
        r.lse_tol[li] = f * (D * qk_abs + N + 16 * (1 + std::fabs(lse)));
        eP[i] = 2 * r.lse_tol[li] + 16 * f;  // relative error of an fp32 P (its lse and its own score)
        for (int64_t j = 0; j < N; ++j) P[i * N + j] = std::exp(P[i * N + j] - lse);
        for (int64_t d = 0; d < D; ++d) {
          double o = 0, mag = 0;
          for (int64_t j = 0; j < N; ++j)
            o += P[i * N + j] * qkv(j, 2, d), mag += P[i * N + j] * std::fabs(qkv(j, 2, d));
          r.out[oi(i, d)] = o;
          r.out_tol[oi(i, d)] = (2 * u + eP[i]) * mag;
        }
      }
      for (int64_t i = 0; i < N; ++i) {
        double Di = 0, dabs = 0;
        ED[i] = 0;
        for (int64_t d = 0; d < D; ++d) {
          Di += dO(i, d) * r.out[oi(i, d)], dabs += std::fabs(dO(i, d) * r.out[oi(i, d)]);
          ED[i] += std::fabs(dO(i, d)) * r.out_tol[oi(i, d)];
        }
        ED[i] += 2 * D * f * dabs;
        for (int64_t j = 0; j < N; ++j) {
          double dP = 0, a = 0;
          for (int64_t d = 0; d < D; ++d) dP += dO(i, d) * qkv(j, 2, d), a += std::fabs(dO(i, d) * qkv(j, 2, d));
          const double p = P[i * N + j];
          dS[i * N + j] = p * (dP - Di);
          EdS[i * N + j] = (u + eP[i] + N * f) * std::fabs(dS[i * N + j]) + p * (ED[i] + 2 * D * f * a);
        }
      }
      for (int64_t i = 0; i < N; ++i)
        for (int64_t d = 0; d < D; ++d) {
          double dq = 0, dk = 0, dv = 0, tq = 0, tk = 0, tv = 0;
          for (int64_t j = 0; j < N; ++j) {
            dq += dS[i * N + j] * qkv(j, 1, d), tq += EdS[i * N + j] * std::fabs(qkv(j, 1, d));
            dk += dS[j * N + i] * qkv(j, 0, d), tk += EdS[j * N + i] * std::fabs(qkv(j, 0, d));
            dv += P[j * N + i] * dO(j, d), tv += (2 * u + eP[j] + N * f) * P[j * N + i] * std::fabs(dO(j, d));
          }
          r.dqkv[gi(i, 0, d)] = sc * dq, r.dqkv_tol[gi(i, 0, d)] = sc * tq + (u + 2 * f) * std::fabs(sc * dq);
          r.dqkv[gi(i, 1, d)] = sc * dk, r.dqkv_tol[gi(i, 1, d)] = sc * tk + (u + 2 * f) * std::fabs(sc * dk);
          r.dqkv[gi(i, 2, d)] = dv, r.dqkv_tol[gi(i, 2, d)] = tv;
        }
    }
  return r;
}

// The worst |got - want| / tol over a set of elements (NaN: infinite).
struct Worst {
  double ratio = 0;
  int64_t at = -1;
  void Add(double got, double want, double tol, int64_t i) {
    const double e = std::isnan(got) ? INFINITY : std::fabs(got - want) / tol;
    if (e > ratio || (std::isinf(e) && at < 0)) ratio = e, at = i;
  }
  bool Ok() const { return ratio <= 1; }
};

template <typename T>
bool SameBits(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (h::Bits(a[i]) != h::Bits(b[i])) return false;
  return true;
}

void Check(const Shape& s, unsigned seed) {
  const Inputs in = MakeInputs(s, seed);
  Outputs runs[3];
  for (int k = 0; k < 3; ++k) {
    h::SetOrder(k);
    runs[k] = Run(s, in);
  }
  h::SetOrder(0);
  const Outputs& r = runs[0];
  const Reference ref = Compute(s, in);
  const std::string tag = h::Fmt("attention D=%ld B=%ld N=%ld H=%ld scale=%.3f bias=%g", long(s.D), long(s.B),
                                 long(s.N), long(s.H), s.scale, s.bias);
  const int64_t C = s.H * s.D;
  Worst out, lse, dvec, grad[3];
  for (size_t i = 0; i < r.out.size(); ++i) out.Add(F(r.out[i]), ref.out[i], ref.out_tol[i], i);
  for (size_t i = 0; i < r.lse.size(); ++i) lse.Add(r.lse[i], ref.lse[i], ref.lse_tol[i], i);
  for (size_t i = 0; i < r.dqkv.size(); ++i)
    grad[(i / C) % 3].Add(F(r.dqkv[i]), ref.dqkv[i], ref.dqkv_tol[i], i);
  // D from the stored output, as the kernel computes it: fp32 products are exact, and each passes through at
  // most 8 fp32 additions (2^-20: twice that).
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t i = 0; i < s.N; ++i)
      for (int64_t hh = 0; hh < s.H; ++hh) {
        double want = 0, mag = 0;
        for (int64_t d = 0; d < s.D; ++d) {
          const size_t k = (b * s.N + i) * C + hh * s.D + d;
          want += double(F(in.dout[k])) * F(r.out[k]), mag += std::fabs(double(F(in.dout[k])) * F(r.out[k]));
        }
        const int64_t at = (b * s.H + hh) * s.N + i;
        dvec.Add(r.dvec[at], want, std::ldexp(mag, -20) + 1e-30, at);
      }
  auto line = [&](const char* what, const Worst& w) {
    h::Report(w.Ok(), tag + h::Fmt(" %s (worst error / bound %.3f at %ld)", what, w.ratio, long(w.at)));
  };
  line("out", out);
  line("lse", lse);
  if (s.D == 64) {
    Worst hout, hlse;
    for (size_t i = 0; i < r.out_hopper.size(); ++i) hout.Add(F(r.out_hopper[i]), ref.out[i], ref.out_tol[i], i);
    for (size_t i = 0; i < r.lse_hopper.size(); ++i) hlse.Add(r.lse_hopper[i], ref.lse[i], ref.lse_tol[i], i);
    line("out (Hopper forward: TMA + wgmma)", hout);
    line("lse (Hopper forward)", hlse);
  }
  line("D = rowsum(dO * O)", dvec);
  line("dQ", grad[0]);
  line("dK", grad[1]);
  line("dV", grad[2]);
  if (s.D == 64) {
    Worst hgrad[3];
    for (size_t i = 0; i < r.dqkv_hopper.size(); ++i)
      hgrad[(i / C) % 3].Add(F(r.dqkv_hopper[i]), ref.dqkv[i], ref.dqkv_tol[i], i);
    line("dQ (Hopper backward: TMA + wgmma)", hgrad[0]);
    line("dK (Hopper backward)", hgrad[1]);
    line("dV (Hopper backward)", hgrad[2]);
  }
  h::Report(r.guards, tag + " no writes outside the buffers");
  bool same = true;
  for (int k = 1; k < 3; ++k)
    same = same && SameBits(r.out, runs[k].out) && SameBits(r.lse, runs[k].lse) &&
           SameBits(r.out_hopper, runs[k].out_hopper) && SameBits(r.lse_hopper, runs[k].lse_hopper) &&
           SameBits(r.dvec, runs[k].dvec) && SameBits(r.dqkv, runs[k].dqkv) &&
           SameBits(r.dqkv_hopper, runs[k].dqkv_hopper);
  h::Report(same, tag + " bitwise identical under forward/reverse/random thread+block orders");
}

// The host functions' argument checks, which launch nothing: head dims not compiled, misaligned pointers,
// empty shapes.
void HostChecks() {
  h::Report(FusedAttentionSupported(32) && FusedAttentionSupported(64) && !FusedAttentionSupported(48) &&
                !FusedAttentionSupported(128),
            "FusedAttentionSupported: head dims 32 and 64 only");
  Buf<bf16> qkv(3 * 64), out(64 + 8), dqkv(3 * 64);
  Buf<float> lse(1), scratch(64);
  auto throws = [](auto call) {
    try {
      call();
    } catch (const std::runtime_error&) {
      return true;
    }
    return false;
  };
  const long launches = emu::g_launches;
  h::Report(throws([&] { FusedAttentionForward(qkv.p, out.p, lse.p, 1, 1, 1, 48, 1.f); }), "head dim 48 throws");
  h::Report(throws([&] { FusedAttentionForwardHopper(qkv.p, out.p, lse.p, 1, 1, 1, 32, 1.f); }),
            "Hopper forward: head dim 32 throws");
  h::Report(throws([&] { FusedAttentionForwardHopper(qkv.p, out.p + 1, lse.p, 1, 1, 1, 64, 1.f); }),
            "Hopper forward: a misaligned bf16 pointer throws");
  h::Report(throws([&] {
              FusedAttentionBackwardHopper(qkv.p, out.p, out.p, lse.p, dqkv.p, 1, 1, 1, 32, 1.f, scratch.p);
            }),
            "Hopper backward: head dim 32 throws");
  h::Report(throws([&] {
              FusedAttentionBackwardHopper(qkv.p, out.p, out.p, lse.p, dqkv.p + 4, 1, 1, 1, 64, 1.f, scratch.p);
            }),
            "Hopper backward: a misaligned bf16 pointer throws");
  for (const int cc : {80, 89, 100}) {  // wgmma and TMA as compiled are sm_90a's only
    cuda::g_compute_capability = cc;
    h::Report(throws([&] { FusedAttentionForwardHopper(qkv.p, out.p, lse.p, 1, 1, 1, 64, 1.f); }),
              "Hopper forward: an sm_" + std::to_string(cc) + " device throws");
    h::Report(throws([&] {
                FusedAttentionBackwardHopper(qkv.p, out.p, out.p, lse.p, dqkv.p, 1, 1, 1, 64, 1.f, scratch.p);
              }),
              "Hopper backward: an sm_" + std::to_string(cc) + " device throws");
  }
  cuda::g_compute_capability = 90;
  h::Report(throws([&] { FusedAttentionForward(qkv.p, out.p + 1, lse.p, 1, 1, 1, 64, 1.f); }),
            "forward: a misaligned bf16 pointer throws");
  h::Report(throws([&] {
              FusedAttentionBackward(qkv.p, out.p, out.p, lse.p, dqkv.p + 4, 1, 1, 1, 64, 1.f, scratch.p);
            }),
            "backward: a misaligned bf16 pointer throws");
  FusedAttentionForward(qkv.p, out.p, lse.p, 0, 1, 1, 64, 1.f);
  FusedAttentionBackward(qkv.p, out.p, out.p, lse.p, dqkv.p, 1, 0, 1, 64, 1.f, scratch.p);
  FusedAttentionBackwardHopper(qkv.p, out.p, out.p, lse.p, dqkv.p, 1, 1, 0, 64, 1.f, scratch.p);
  h::Report(emu::g_launches == launches, "no launch for a rejected or empty call");
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  HostChecks();
  unsigned seed = 1;
  for (int64_t D : {64, 32}) {
    const float s = float(1 / std::sqrt(double(D)));
    Check({2, 1, 2, D, s}, seed++);      // one row: a tile of 63 masked keys
    Check({2, 37, 3, D, s}, seed++);     // one partial tile, several heads and batches
    Check({1, 64, 1, D, s}, seed++);     // one full tile: no masking
    Check({1, 65, 2, D, s}, seed++);     // a full tile and a one-row tile
    Check({2, 197, 2, D, s}, seed++);    // four tiles (double-buffered), the last partial
    Check({1, 197, 1, D, 0.5f}, seed++); // large scores: the running max grows over the tiles (online softmax)
    // Every score below -88: 2^-(lse log2 e) overflows fp32, so only the mask (not a zero K row) keeps a
    // padded key out of P.
    Check({1, 37, 2, D, s, 32.f}, seed++);
  }
  if (big) {
    Check({1, 257, 2, 64, 0.125f}, seed++);
    Check({1, 785, 1, 64, 0.125f}, seed++);
    Check({2, 257, 1, 32, float(1 / std::sqrt(32.0))}, seed++);
  }
  return h::Summary("fused_attention");
}
