// kernels/cuda/unary.cu on the CPU emulator: GeluForward, GeluBackward, Exp, Log (the contiguous maps of
// elementwise.cuh, packed and per-element) against double references. erff, expf and logf here are the host's,
// within a few ulp of the device's, so the tolerances check the formulas, constants and indexing, not the
// GPU's last bits; specials (inf, NaN, log 0, log of a negative) are checked by class. Packed and per-element
// runs agree bit for bit, and every output is identical under the three scheduling orders.
#include "harness.h"
#include "kernels/cuda/unary.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

enum Fn { kGelu, kGeluBackward, kExp, kLog };
const char* kNames[] = {"GeluForward", "GeluBackward", "Exp", "Log"};

double Ref(Fn fn, double x, double dy) {
  const double cdf = 0.5 * (1 + std::erf(x / std::sqrt(2.0)));
  switch (fn) {
    case kGelu: return x * cdf;
    case kGeluBackward: return dy * (cdf + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI));
    case kExp: return std::exp(x);
    default: return std::log(x);
  }
}

// fp32 error of the kernel's expression (a few ulp of its terms; the erf form's 1 + erf cancels for x << 0,
// an absolute error of about |x| ulp(1)), plus half a bf16 ulp when the output is bf16.
double Tol(Fn fn, double x, double dy, double ref, bool bf) {
  double e = 4e-7 * std::fabs(ref);
  if (fn == kGelu) e += 2e-7 * (1 + std::fabs(x));
  if (fn == kGeluBackward) e += 4e-7 * std::fabs(dy) * (1 + x * x);
  if (fn == kExp && std::isfinite(x)) e += 4e-7 * std::fabs(x * ref);  // expf's argument reduction: |x| ulp
  return bf ? e + (std::fabs(ref) + e) / 256 : e;
}

template <typename T>
std::vector<uint32_t> Run(Fn fn, const std::vector<float>& xs, const std::vector<float>& dys, size_t xo, size_t yo,
                          int order) {
  const int64_t n = int64_t(xs.size());
  h::SetOrder(order);
  Buf<T> x(n, xo), dy(n, yo), y(n, yo);
  for (int64_t i = 0; i < n; ++i) x[i] = h::To<T>(xs[i]), dy[i] = h::To<T>(dys[i]), y[i] = h::To<T>(NAN);
  if (fn == kGelu) GeluForward<T>(x.p, y.p, n);
  if (fn == kGeluBackward) GeluBackward<T>(dy.p, x.p, y.p, n);
  if (fn == kExp) Exp<T>(x.p, y.p, n);
  if (fn == kLog) Log<T>(x.p, y.p, n);
  std::vector<uint32_t> bits(n);
  for (int64_t i = 0; i < n; ++i) bits[i] = h::Bits(y[i]);
  if (!(x.Guards() && dy.Guards() && y.Guards())) bits.push_back(0xDEAD);  // fails every comparison below
  return bits;
}

template <typename T>
void Check(Fn fn, int64_t n) {
  std::mt19937 rng(n * 4 + fn);
  std::uniform_real_distribution<float> u(-6.f, 6.f), ul(-7.f, 7.f);
  std::vector<float> xs(n), dys(n);
  for (int64_t i = 0; i < n; ++i) {
    xs[i] = F(h::To<T>(fn == kLog ? std::exp(ul(rng)) : fn == kExp ? 3 * u(rng) : u(rng)));
    dys[i] = F(h::To<T>(u(rng)));
  }
  const float specials[] = {0.f, -0.f, INFINITY, -INFINITY, NAN, -1.f, 1.f};
  for (int64_t i = 0; i < n && i < 7; ++i) xs[i * n / 7] = specials[i];  // spread over packs and the tail
  const std::string what = h::Fmt("%s %s n=%ld", kNames[fn], h::Name<T>(), long(n));
  const std::vector<uint32_t> packed = Run<T>(fn, xs, dys, 0, 0, emu::kForward);
  int64_t bad = packed.size() == size_t(n) ? -1 : n;
  double got = 0, want = 0;
  for (int64_t i = 0; i < n && bad < 0; ++i) {
    float g;
    if (std::is_same_v<T, float>) std::memcpy(&g, &packed[i], 4); else g = h::Bf16ToFloat(h::bf16{uint16_t(packed[i])});
    const double r = Ref(fn, xs[i], dys[i]);
    const bool ok = std::isfinite(r) ? std::fabs(g - r) <= Tol(fn, xs[i], dys[i], r, !std::is_same_v<T, float>)
                                     : (std::isnan(r) ? std::isnan(g) : g == r);
    if (!ok) bad = i, got = g, want = r;
  }
  h::Report(bad < 0, what + (bad < 0 ? "" : h::Fmt(": elem %ld (x=%.9g) got %.9g want %.9g", long(bad),
                                                   bad < n ? xs[bad] : 0.f, got, want)));
  for (int order : {emu::kReverse, emu::kRandom})
    h::Report(Run<T>(fn, xs, dys, 0, 0, order) == packed, what + h::Fmt(" order=%d: same bits", order));
  for (auto [xo, yo] : {std::pair<size_t, size_t>{1, 0}, {0, 1}, {1, 1}})
    h::Report(Run<T>(fn, xs, dys, xo, yo, emu::kRandom) == packed,
              what + h::Fmt(" offs=%zu/%zu (per-element): same bits as packed", xo, yo));
}

int main() {
  for (Fn fn : {kGelu, kGeluBackward, kExp, kLog})
    for (int64_t n : {1, 3, 8, 37, 64, 197, 1576, 4099}) {
      Check<float>(fn, n);
      Check<bf16>(fn, n);
    }
  return h::Summary("unary");
}
