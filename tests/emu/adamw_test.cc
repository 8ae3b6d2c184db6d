// AdamW, EMA, GradSquaredNorms and ClipBySquaredNorms (kernels/cuda/adamw.cu) on the CPU emulator: AdamW
// and EMA bit for bit against kernels/cpu/adamw.h compiled here without FMA contraction (as the kernels'
// _rn intrinsics promise), squared gradient norms against double, clipping bit for bit; tensor lists over
// one and two launches.
#include "harness.h"
#include "kernels/cuda/adamw.cu.inc"

using namespace vfm;
using h::Buf;

// 70 tensors (two launches of at most 64), sizes 0, 1, 75, ... and one of 100003 elements: more than the
// 256 blocks of 256 threads a tensor gets, so its threads loop.
static std::vector<int64_t> Sizes(int variant) {
  std::vector<int64_t> n(70);
  n[0] = 0, n[1] = 1;
  for (int i = 2; i < 70; ++i) n[i] = 37 * i + 1;
  if (variant == 0) n[69] = 100003;  // in the second launch
  else n[3] = 100003;                // in the first launch
  return n;
}

static bool SameBits(const float* a, const float* b, int64_t n, int64_t* at) {
  for (int64_t i = 0; i < n; ++i)
    if (h::Bits(a[i]) != h::Bits(b[i])) { *at = i; return false; }
  return true;
}

static void TestAdamWEma(int variant, int count, int order) {
  h::SetOrder(order);
  const std::vector<int64_t> sizes = Sizes(variant);
  std::mt19937 rng(7 + variant);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<std::unique_ptr<Buf<float>>> P, G, M, V, Tt, S;
  std::vector<std::vector<float>> rp, rm, rv, rt;
  std::vector<cuda::AdamWTensor> list;
  std::vector<cuda::EmaTensor> elist;
  for (int k = 0; k < count; ++k) {
    const int64_t n = sizes[k];
    P.emplace_back(new Buf<float>(n)), G.emplace_back(new Buf<float>(n)), M.emplace_back(new Buf<float>(n));
    V.emplace_back(new Buf<float>(n)), Tt.emplace_back(new Buf<float>(n)), S.emplace_back(new Buf<float>(n));
    const bool fresh = k % 4 == 0;  // m = v = 0 (first step)
    for (int64_t i = 0; i < n; ++i) {
      (*P[k])[i] = nd(rng);
      (*G[k])[i] = (i % 17 == 3) ? 0.f : 1e-2f * nd(rng);
      (*M[k])[i] = fresh ? 0.f : 1e-3f * nd(rng);
      (*V[k])[i] = fresh ? 0.f : 1e-5f * std::fabs(nd(rng));
      (*Tt[k])[i] = nd(rng);
      (*S[k])[i] = nd(rng);
    }
    rp.emplace_back(P[k]->p, P[k]->p + n), rm.emplace_back(M[k]->p, M[k]->p + n);
    rv.emplace_back(V[k]->p, V[k]->p + n), rt.emplace_back(Tt[k]->p, Tt[k]->p + n);
    cuda::AdamWStep st{1e-3 * (1 + k % 5), k % 3 == 0 ? 0.0 : 0.05, 0.9, 0.999, 1e-8, fresh ? 1 : 1 + 37 * k};
    list.push_back({P[k]->p, G[k]->p, M[k]->p, V[k]->p, n, st});
    elist.push_back({Tt[k]->p, S[k]->p, n});
  }
  const double momentum = 0.9960123;
  for (int rep = 0; rep < 2; ++rep) {  // two steps
    cuda::AdamWUpdate(list.data(), count);
    cuda::EmaUpdate(elist.data(), count, momentum);
    for (int k = 0; k < count; ++k) {
      cpu::AdamWStep st = list[k].step;
      cpu::AdamWUpdate(rp[k].data(), G[k]->p, rm[k].data(), rv[k].data(), sizes[k], st);
      cpu::EmaUpdate(rt[k].data(), S[k]->p, sizes[k], momentum);
    }
    for (auto& t : list) t.step.step += 1;
  }
  int bad = 0;
  std::string first;
  for (int k = 0; k < count; ++k) {
    int64_t at = -1;
    const char* what = nullptr;
    if (!SameBits(P[k]->p, rp[k].data(), sizes[k], &at)) what = "p";
    else if (!SameBits(M[k]->p, rm[k].data(), sizes[k], &at)) what = "m";
    else if (!SameBits(V[k]->p, rv[k].data(), sizes[k], &at)) what = "v";
    else if (!SameBits(Tt[k]->p, rt[k].data(), sizes[k], &at)) what = "teacher";
    else if (!(P[k]->Guards() && M[k]->Guards() && V[k]->Guards() && Tt[k]->Guards() && G[k]->Guards())) what = "guard";
    if (what) {
      if (!bad++) first = h::Fmt(" first: tensor %d (n=%ld) %s at %ld", k, long(sizes[k]), what, long(at));
    }
  }
  h::Report(bad == 0, h::Fmt("AdamW+EMA variant=%d count=%d order=%d: bit-identical to cpu::AdamWUpdate/EmaUpdate "
                             "(2 steps)%s", variant, count, order, first.c_str()));
}

static void TestMixedBetasThrows() {
  float p[1] = {1}, g[1] = {1}, m[1] = {0}, v[1] = {0};
  cuda::AdamWTensor t[2] = {{p, g, m, v, 1, {1e-3, 0, 0.9, 0.999, 1e-8, 1}},
                            {p, g, m, v, 1, {1e-3, 0, 0.9, 0.99, 1e-8, 1}}};
  bool threw = false;
  try { cuda::AdamWUpdate(t, 2); } catch (const std::runtime_error&) { threw = true; }
  h::Report(threw, "AdamWUpdate: different betas in one call throw");
}

static void TestNormsClip(int variant, int count, int order) {
  h::SetOrder(order);
  const std::vector<int64_t> sizes = Sizes(variant);
  std::mt19937 rng(99 + variant);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<std::unique_ptr<Buf<float>>> G;
  std::vector<float*> gp;
  std::vector<std::vector<float>> g0;
  for (int k = 0; k < count; ++k) {
    G.emplace_back(new Buf<float>(sizes[k]));
    const float scale = 0.01f * float(1 + k % 7);
    for (int64_t i = 0; i < sizes[k]; ++i) (*G[k])[i] = scale * nd(rng) + (k % 5 == 1 ? 0.03f : 0.f);
    gp.push_back(G[k]->p);
    g0.emplace_back(G[k]->p, G[k]->p + sizes[k]);
  }
  Buf<float> partials(size_t(std::max(count, 1)) * cuda::kGradNormPartials), squares(std::max(count, 1));
  for (size_t i = 0; i < partials.n; ++i) partials[i] = NAN;
  for (size_t i = 0; i < squares.n; ++i) squares[i] = NAN;
  cuda::GradSquaredNorms(gp.data(), sizes.data(), count, partials.p, squares.p);
  double worst = 0;
  int at = -1;
  std::vector<double> want(count);
  for (int k = 0; k < count; ++k) {
    double s = 0;
    for (int64_t i = 0; i < sizes[k]; ++i) s += double(g0[k][i]) * g0[k][i];
    want[k] = std::sqrt(s);
    const double e = sizes[k] == 0 ? (squares[k] == 0.f ? 0 : INFINITY) : std::fabs(squares[k] - s) / s;
    if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e, at = k;
  }
  h::Report(worst <= 1e-5 && partials.Guards() && squares.Guards(),
            h::Fmt("GradSquaredNorms variant=%d count=%d order=%d: worst rel err %.2e (tensor %d)", variant, count,
                   order, worst, at));
  // The partials' layout: tensor k's pass-1 sums at (k) * kGradNormPartials + [0, NormBlocks(n)), adding up
  // to its squared norm; the rest of its slot untouched (NaN).
  int layout_bad = -1;
  for (int k = 0; k < count && layout_bad < 0; ++k) {
    const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(1024, (sizes[k] + 1023) / 1024));
    double s = 0;
    for (int64_t b = 0; b < cuda::kGradNormPartials; ++b) {
      const float v = partials[k * cuda::kGradNormPartials + b];
      if (b < blocks) { if (std::isnan(v)) layout_bad = k; s += v; }
      else if (!std::isnan(v)) layout_bad = k;
    }
    if (std::fabs(s - want[k] * want[k]) > 1e-5 * want[k] * want[k]) layout_bad = k;
  }
  const std::string where = layout_bad < 0 ? "" : h::Fmt(", bad at tensor %d", layout_bad);
  h::Report(layout_bad < 0,
            h::Fmt("GradSquaredNorms variant=%d count=%d: partials layout (first + k) * kGradNormPartials%s", variant,
                   count, where.c_str()));
  // Clip at about the median norm: some tensors scaled, some not.
  std::vector<double> sorted(want.begin(), want.end());
  std::sort(sorted.begin(), sorted.end());
  const double max_norm = count ? sorted[count / 2] : 1.0;
  std::vector<float> ks(squares.p, squares.p + count);
  cuda::ClipBySquaredNorms(gp.data(), sizes.data(), count, max_norm, squares.p);
  int bad = 0, clipped = 0;
  std::string first;
  for (int k = 0; k < count; ++k) {
    const double coef = max_norm / (double(std::sqrt(ks[k])) + 1e-6);
    if (coef < 1.0) ++clipped;
    for (int64_t i = 0; i < sizes[k]; ++i) {
      const float w = coef < 1.0 ? g0[k][i] * float(coef) : g0[k][i];
      if (h::Bits(w) != h::Bits((*G[k])[i])) {
        if (!bad++) first = h::Fmt(" first: tensor %d elem %ld got %.9g want %.9g", k, long(i), (*G[k])[i], w);
        break;
      }
    }
    if (!G[k]->Guards()) { if (!bad++) first = h::Fmt(" guard of tensor %d", k); }
  }
  h::Report(bad == 0, h::Fmt("ClipBySquaredNorms variant=%d count=%d order=%d (%d of %d clipped): bit-exact%s", variant,
                             count, order, clipped, count, first.c_str()));
}

int main() {
  TestMixedBetasThrows();
  for (int variant : {0, 1})
    for (int order : {0, 1, 2}) {
      TestAdamWEma(variant, 70, order);
      TestNormsClip(variant, 70, order);
    }
  // Around the launch boundary (kMaxTensorsPerLaunch = 64); variant 0 leaves out the large tensor, which
  // the runs above cover, and with it most of the run time.
  for (int count : {0, 1, 63, 64, 65}) {
    TestAdamWEma(0, count, 0);
    TestNormsClip(0, count, 0);
  }
  return h::Summary("adamw");
}
