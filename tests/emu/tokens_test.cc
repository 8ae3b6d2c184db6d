// kernels/cuda/tokens.cu on the CPU emulator: GatherTokensForward and GatherTokensBackward (the scatter-add)
// bit for bit against plain loops, f32 and bf16: out-of-range indices (zeros forward, nothing backward),
// repeated indices (the forward copies; the backward sums, checked with integer values whose sums are exact in
// any order), the grid-stride loop (--big). With unique indices the backward adds once onto each element of
// dx, so tokens.h promises exact, run-to-run identical results: the same bits under the three orders.
#include "harness.h"
#include "kernels/cuda/tokens.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

// One shape: x [B, N, D], index [B, M], y [B, M, D]; dx starts from dx0 (the API adds onto it).
struct Case {
  int64_t B, N, M, D;
  bool repeats = false;  // indices may repeat within a sample (else unique, as the model's)
};

template <typename T>
struct Out {
  std::vector<uint32_t> y, dx;  // bits
  bool guards = true;
};

template <typename T>
Out<T> Run(const Case& s, const std::vector<float>& x, const std::vector<int64_t>& index, const std::vector<float>& dy,
           const std::vector<float>& dx0, int order) {
  h::SetOrder(order);
  Buf<T> bx(s.B * s.N * s.D), by(s.B * s.M * s.D), bdy(s.B * s.M * s.D), bdx(s.B * s.N * s.D);
  Buf<int64_t> bi(s.B * s.M);
  for (size_t i = 0; i < x.size(); ++i) bx[i] = h::To<T>(x[i]), bdx[i] = h::To<T>(dx0[i]);
  for (size_t i = 0; i < dy.size(); ++i) bdy[i] = h::To<T>(dy[i]), by[i] = h::To<T>(NAN);
  for (size_t i = 0; i < index.size(); ++i) bi[i] = index[i];
  GatherTokensForward<T>(bx.p, bi.p, by.p, s.B, s.N, s.M, s.D);
  GatherTokensBackward<T>(bdy.p, bi.p, bdx.p, s.B, s.N, s.M, s.D);
  Out<T> o;
  for (size_t i = 0; i < dy.size(); ++i) o.y.push_back(h::Bits(by[i]));
  for (size_t i = 0; i < x.size(); ++i) o.dx.push_back(h::Bits(bdx[i]));
  o.guards = bx.Guards() && by.Guards() && bdy.Guards() && bdx.Guards() && bi.Guards();
  return o;
}

template <typename T>
void Check(const Case& s, unsigned seed, bool all_orders = true) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_int_distribution<int> small(-8, 8);
  auto r = [](float v) { return F(h::To<T>(v)); };
  // Integer values when indices repeat: their sums are exact in any order of the additions.
  auto value = [&] { return s.repeats ? float(small(rng)) : r(nd(rng)); };
  std::vector<float> x(s.B * s.N * s.D), dx0(x.size()), dy(s.B * s.M * s.D);
  for (float& v : x) v = r(nd(rng));
  for (float& v : dx0) v = value();
  for (float& v : dy) v = value();
  std::vector<int64_t> index(s.B * s.M);
  for (int64_t b = 0; b < s.B; ++b) {
    std::vector<int64_t> perm(s.N);
    for (int64_t i = 0; i < s.N; ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int64_t m = 0; m < s.M; ++m) {
      int64_t& ix = index[b * s.M + m];
      ix = s.repeats ? perm[m % 3 % s.N] : perm[m];  // repeats: the same three tokens over and over
      if (m % 7 == 3) ix = m % 2 ? -1 - m / 14 : s.N + m / 14;  // out of range on either side: -1, N, -2, N+1...
    }
  }
  // The references: plain loops; each addition rounded once to T (exact for the integer values).
  std::vector<float> y(dy.size()), dx(dx0);
  for (int64_t bm = 0; bm < s.B * s.M; ++bm) {
    const int64_t b = bm / s.M, ix = index[bm];
    const bool in = ix >= 0 && ix < s.N;
    for (int64_t d = 0; d < s.D; ++d) {
      y[bm * s.D + d] = in ? x[(b * s.N + ix) * s.D + d] : 0.f;
      if (in) dx[(b * s.N + ix) * s.D + d] = r(dx[(b * s.N + ix) * s.D + d] + dy[bm * s.D + d]);
    }
  }
  const std::string what = h::Fmt("GatherTokens %s B=%ld N=%ld M=%ld D=%ld%s", h::Name<T>(), long(s.B), long(s.N),
                                   long(s.M), long(s.D), s.repeats ? " repeated indices" : "");
  const Out<T> o = Run<T>(s, x, index, dy, dx0, emu::kForward);
  auto first_bad = [](const std::vector<uint32_t>& got, const std::vector<float>& want) {
    for (size_t i = 0; i < got.size(); ++i)
      if (got[i] != h::Bits(h::To<T>(want[i]))) return int64_t(i);
    return int64_t(-1);
  };
  const int64_t by = first_bad(o.y, y), bdx = first_bad(o.dx, dx);
  h::Report(by < 0, what + " forward" + (by < 0 ? "" : h::Fmt(": first wrong element %ld", long(by))));
  h::Report(bdx < 0, what + " backward" + (bdx < 0 ? "" : h::Fmt(": first wrong element %ld", long(bdx))));
  h::Report(o.guards, what + " no writes outside the buffers");
  if (!all_orders) return;
  for (int order : {emu::kReverse, emu::kRandom}) {
    const Out<T> k = Run<T>(s, x, index, dy, dx0, order);
    h::Report(k.y == o.y && k.dx == o.dx && k.guards, what + h::Fmt(" order=%d: same bits", order));
  }
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  unsigned seed = 1;
  for (bool repeats : {false, true})
    for (Case s : {Case{1, 1, 1, 1}, Case{2, 5, 3, 3}, Case{3, 50, 37, 1}, Case{2, 197, 49, 64},
                   Case{2, 20, 13, 768}, Case{4, 9, 9, 37}}) {
      s.repeats = repeats;
      Check<float>(s, seed++);
      Check<bf16>(s, seed++);
    }
  if (big) {  // 16.8M elements: more than the 65535 blocks of 256 threads, the grid-stride loop goes round twice
    Check<float>(Case{2, 4200, 4099, 2048, true}, seed++, false);
    Check<bf16>(Case{2, 4200, 4099, 2048, false}, seed++, false);
  }
  return h::Summary("tokens");
}
