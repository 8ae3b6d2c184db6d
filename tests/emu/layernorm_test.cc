// LayerNorm forward and backward (kernels/cuda/layernorm.cu) on the CPU emulator against a double reference:
// rows of every size class the host code dispatches on (packed and per-element kernels, one or many chunks of
// the dw/db partial sums), f32, bf16 and bf16 with f32 dw/db; outputs bitwise identical under every
// scheduling order, and the packed and per-element paths identical where both apply.
#include "harness.h"
#include "kernels/cuda/layernorm.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

template <typename T, typename TW>
struct LnRun {
  std::vector<T> y, dx;
  std::vector<float> mean, rstd, ws;
  std::vector<TW> dw, db;
  bool guards = true;
};

struct LnIn {
  std::vector<float> x, w, b, dy, dw0, db0;  // values as stored (already rounded to T)
};

template <typename T, typename TW>
LnIn MakeInputs(int64_t rows, int64_t C, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  LnIn in;
  auto r = [](float v) { return F(h::To<T>(v)); };
  auto rw = [](float v) { return F(h::To<TW>(v)); };
  in.x.resize(rows * C);
  for (int64_t i = 0; i < rows; ++i) {
    const float mu = i % 3 == 1 ? 50.f : (i % 3 == 2 ? -2.f : 0.3f);
    const float sd = i % 3 == 1 ? 0.5f : 1.5f;
    for (int64_t c = 0; c < C; ++c) in.x[i * C + c] = r(mu + sd * nd(rng));
  }
  for (int64_t c = 0; c < C; ++c) in.w.push_back(r(1.f + 0.2f * nd(rng)));
  for (int64_t c = 0; c < C; ++c) in.b.push_back(r(0.3f * nd(rng)));
  for (int64_t i = 0; i < rows * C; ++i) in.dy.push_back(r(nd(rng)));
  for (int64_t c = 0; c < C; ++c) in.dw0.push_back(rw(nd(rng)));
  for (int64_t c = 0; c < C; ++c) in.db0.push_back(rw(nd(rng)));
  return in;
}

// Runs forward + backward through the host functions. off: element offset of x, w, b, y, dy, dx (1 makes
// them misaligned: per-element kernels); ws_off: float offset of the workspace.
template <typename T, typename TW>
LnRun<T, TW> Run(const LnIn& in, int64_t rows, int64_t C, size_t off, size_t ws_off,
                 const LnRun<T, TW>* stats_from = nullptr) {
  Buf<T> x(rows * C, off), w(C, off), b(C, off), y(rows * C, off), dy(rows * C, off), dx(rows * C, off);
  Buf<TW> dw(C, off), db(C, off);
  Buf<float> mean(rows), rstd(rows);
  const int64_t wsn = LayerNormBackwardWorkspace(rows, C);
  Buf<float> ws(wsn, ws_off);
  for (int64_t i = 0; i < rows * C; ++i) x[i] = h::To<T>(in.x[i]), dy[i] = h::To<T>(in.dy[i]);
  for (int64_t c = 0; c < C; ++c) {
    w[c] = h::To<T>(in.w[c]), b[c] = h::To<T>(in.b[c]);
    dw[c] = h::To<TW>(in.dw0[c]), db[c] = h::To<TW>(in.db0[c]);
  }
  // Poison the outputs (NaN) so anything not written shows.
  for (int64_t i = 0; i < rows * C; ++i) y[i] = h::To<T>(NAN), dx[i] = h::To<T>(NAN);
  for (int64_t i = 0; i < rows; ++i) mean[i] = NAN, rstd[i] = NAN;
  for (int64_t i = 0; i < wsn; ++i) ws[i] = NAN;
  LayerNormForward<T>(x.p, w.p, b.p, y.p, mean.p, rstd.p, rows, C, 1e-5);
  if (stats_from)  // the backward on another run's saved statistics (isolates the backward kernels)
    for (int64_t i = 0; i < rows; ++i) mean[i] = stats_from->mean[i], rstd[i] = stats_from->rstd[i];
  LayerNormBackward<T, TW>(dy.p, x.p, w.p, mean.p, rstd.p, dx.p, dw.p, db.p, rows, C, ws.p);
  LnRun<T, TW> r;
  r.y.assign(y.p, y.p + rows * C);
  r.dx.assign(dx.p, dx.p + rows * C);
  r.mean.assign(mean.p, mean.p + rows);
  r.rstd.assign(rstd.p, rstd.p + rows);
  r.ws.assign(ws.p, ws.p + wsn);
  r.dw.assign(dw.p, dw.p + C);
  r.db.assign(db.p, db.p + C);
  r.guards = x.Guards() && w.Guards() && b.Guards() && y.Guards() && dy.Guards() && dx.Guards() && dw.Guards() &&
             db.Guards() && mean.Guards() && rstd.Guards() && ws.Guards();
  return r;
}

template <typename A>
bool SameBits(const std::vector<A>& a, const std::vector<A>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (h::Bits(a[i]) != h::Bits(b[i])) return false;
  return true;
}

// max over i of |got - want| / (|want| + scale_i) ; NaN -> inf
struct Err {
  double worst = 0;
  int64_t at = -1;
  void Add(double got, double want, double scale, int64_t i) {
    double e = std::fabs(got - want) / (std::fabs(want) + scale + 1e-30);
    if (std::isnan(got)) e = INFINITY;
    if (e > worst || (std::isinf(e) && at < 0)) worst = e, at = i;
  }
};

template <typename T, typename TW>
void Check(int64_t rows, int64_t C, size_t off, unsigned seed) {
  const LnIn in = MakeInputs<T, TW>(rows, C, seed);
  const double eps = 1e-5;
  LnRun<T, TW> runs[3];
  for (int k = 0; k < 3; ++k) {
    h::SetOrder(k);
    runs[k] = Run<T, TW>(in, rows, C, off, 0);
  }
  h::SetOrder(0);
  const auto& r = runs[0];
  // The double reference: mean and rstd from x; y, dx, dw, db from the kernel's saved fp32 mean and rstd
  // (as the backward uses them), so each output's check isolates its own arithmetic.
  std::vector<double> mean(rows), rstd(rows), y(rows * C), dx(rows * C), dw(C), db(C), dwabs(C), dbabs(C);
  for (int64_t c = 0; c < C; ++c) {
    dw[c] = in.dw0[c], db[c] = in.db0[c];
    dwabs[c] = std::fabs(dw[c]), dbabs[c] = std::fabs(db[c]);
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = &in.x[i * C];
    double s = 0, v = 0;
    for (int64_t c = 0; c < C; ++c) s += x[c];
    const double m = s / C;
    for (int64_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    mean[i] = m, rstd[i] = 1.0 / std::sqrt(v / C + eps);
    const double mk = r.mean[i], rk = r.rstd[i];
    double s1 = 0, s2 = 0;
    for (int64_t c = 0; c < C; ++c) {
      const double xh = (x[c] - mk) * rk;
      y[i * C + c] = xh * in.w[c] + in.b[c];
      const double dxh = double(in.dy[i * C + c]) * in.w[c];
      s1 += dxh, s2 += dxh * xh;
      dw[c] += in.dy[i * C + c] * xh, dwabs[c] += std::fabs(in.dy[i * C + c] * xh);
      db[c] += in.dy[i * C + c], dbabs[c] += std::fabs(in.dy[i * C + c]);
    }
    for (int64_t c = 0; c < C; ++c) {
      const double xh = (x[c] - mk) * rk;
      dx[i * C + c] = rk * (double(in.dy[i * C + c]) * in.w[c] - s1 / C - xh * s2 / C);
    }
  }
  auto rms = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s / std::max<size_t>(1, v.size()));
  };
  const double ry = rms(y), rdx = rms(dx);
  const double ulp_t = std::is_same_v<T, float> ? 0 : 1.0 / 256, ulp_w = std::is_same_v<TW, float> ? 0 : 1.0 / 256;

  const std::string tag =
      h::Fmt("LN %s/%s rows=%ld C=%ld off=%zu", h::Name<T>(), h::Name<TW>(), long(rows), long(C), off);
  Err em, er, ey, edx, edw, edb;
  for (int64_t i = 0; i < rows; ++i) {
    em.Add(r.mean[i], mean[i], 1.0 / rstd[i], i);
    er.Add(r.rstd[i], rstd[i], 0, i);
  }
  for (int64_t i = 0; i < rows * C; ++i) {
    ey.Add(F(r.y[i]), y[i], ry, i);
    edx.Add(F(r.dx[i]), dx[i], rdx, i);
  }
  for (int64_t c = 0; c < C; ++c) {
    // fp32 sum error relative to the sum of |terms| (+ the final rounding to TW)
    double e = std::fabs(F(r.dw[c]) - dw[c]);
    double lim = 2e-6 * dwabs[c] + ulp_w * std::fabs(dw[c]);
    if (!(e <= lim)) edw.Add(1e9, 0, 1, c);
    e = std::fabs(F(r.db[c]) - db[c]);
    lim = 2e-6 * dbabs[c] + ulp_w * std::fabs(db[c]);
    if (!(e <= lim)) edb.Add(1e9, 0, 1, c);
  }
  const double ty = 2e-6 + ulp_t, tdx = 2e-5 + ulp_t;
  h::Report(em.worst < 1e-5, tag + h::Fmt(" mean (err %.2e at %ld)", em.worst, long(em.at)));
  h::Report(er.worst < 1e-4, tag + h::Fmt(" rstd (err %.2e at %ld)", er.worst, long(er.at)));
  h::Report(ey.worst < ty, tag + h::Fmt(" y (err %.2e at %ld)", ey.worst, long(ey.at)));
  h::Report(edx.worst < tdx, tag + h::Fmt(" dx (err %.2e at %ld)", edx.worst, long(edx.at)));
  h::Report(edw.at < 0, tag + h::Fmt(" dw (first bad col %ld: got %.9g want %.9g)", long(edw.at),
                                     edw.at < 0 ? 0.0 : F(r.dw[edw.at]), edw.at < 0 ? 0.0 : dw[edw.at]));
  h::Report(edb.at < 0, tag + h::Fmt(" db (first bad col %ld: got %.9g want %.9g)", long(edb.at),
                                     edb.at < 0 ? 0.0 : F(r.db[edb.at]), edb.at < 0 ? 0.0 : db[edb.at]));
  h::Report(r.guards, tag + " no writes outside the buffers");
  bool same = true;
  for (int k = 1; k < 3; ++k)
    same = same && SameBits(r.y, runs[k].y) && SameBits(r.dx, runs[k].dx) && SameBits(r.mean, runs[k].mean) &&
           SameBits(r.rstd, runs[k].rstd) && SameBits(r.dw, runs[k].dw) && SameBits(r.db, runs[k].db);
  h::Report(same, tag + " bitwise identical under forward/reverse/random thread+block orders");
  if (off == 1 && C % 8 == 0) {
    // Misaligned rows ran the per-element kernels everywhere; a packed run on the same values and the same
    // saved mean/rstd must give the same dw/db bits (same summation order in the partial and finish kernels).
    const LnRun<T, TW> pk = Run<T, TW>(in, rows, C, 0, 0, &r);
    h::Report(SameBits(r.dw, pk.dw) && SameBits(r.db, pk.db) && SameBits(r.ws, pk.ws),
              tag + " per-element (misaligned rows) vs packed: identical dw/db/workspace bits");
  }
  if (off == 0 && C % 8 == 0) {
    // The per-element partial kernel (forced by a misaligned workspace) must give the same dw/db bits.
    const LnRun<T, TW> pe = Run<T, TW>(in, rows, C, 0, 1);
    h::Report(SameBits(r.dw, pe.dw) && SameBits(r.db, pe.db) && SameBits(r.ws, pe.ws),
              tag + " packed vs per-element partial: identical dw/db/workspace bits");
  }
}

template <typename T, typename TW>
void Suite() {
  unsigned seed = 1;
  for (int64_t rows : {1, 5, 197})
    for (int64_t C : {8, 192, 256, 384, 768, 1024}) {
      Check<T, TW>(rows, C, 0, seed++);
      if (C == 192 || C == 8) Check<T, TW>(rows, C, 1, seed++);  // misaligned: per-element kernels
    }
  for (int64_t rows : {1, 5, 197})
    for (int64_t C : {3, 37, 100}) Check<T, TW>(rows, C, 0, seed++);
  Check<T, TW>(9, 1040, 0, seed++);   // C % 8 == 0 but > 1024: per-element dx/forward, packed partial
  Check<T, TW>(4100, 8, 0, seed++);   // 65 chunks, last one short
  Check<T, TW>(4100, 37, 0, seed++);
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  Suite<float, float>();
  Suite<bf16, bf16>();
  Suite<bf16, float>();
  if (big) {  // many chunks: 512 (clamped), the last chunks empty
    Check<float, float>(33000, 8, 0, 99);
    Check<bf16, float>(33000, 16, 0, 98);
  }
  return h::Summary("layernorm");
}
