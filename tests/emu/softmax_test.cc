// kernels/cuda/softmax.cu on the CPU emulator: SoftmaxForward, LogSoftmaxForward and their backwards against
// double references computed from the same stored inputs, f32 and bf16, for row widths in every block-size
// class the host code picks (32, 128, 256 and 1024 threads) and rows that exercise the online (max, sum): an
// offset far from 0 (needs the max subtracted), an ascending ramp (the running sum rescaled at every element),
// -inf entries (masked logits, skipped). Outputs bitwise identical under the three scheduling orders.
#include "harness.h"
#include "kernels/cuda/softmax.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

enum Op { kSoftmax, kLogSoftmax, kSoftmaxBackward, kLogSoftmaxBackward };
const char* kNames[] = {"SoftmaxForward", "LogSoftmaxForward", "SoftmaxBackward", "LogSoftmaxBackward"};

// One op on a (rows, C) problem: `a` is x (forward) or dy (backward), `b` the saved y (backward only).
// Returns the output's values and a last element: 0, or NaN if a guard was overwritten.
template <typename T>
std::vector<float> Run(Op op, const std::vector<float>& a, const std::vector<float>& b, int64_t rows, int64_t C,
                       int order) {
  h::SetOrder(order);
  const int64_t n = rows * C;
  Buf<T> in(n), saved(n), out(n);
  for (int64_t i = 0; i < n; ++i) in[i] = h::To<T>(a[i]), saved[i] = h::To<T>(b[i]), out[i] = h::To<T>(NAN);
  if (op == kSoftmax) SoftmaxForward<T>(in.p, out.p, rows, C);
  if (op == kLogSoftmax) LogSoftmaxForward<T>(in.p, out.p, rows, C);
  if (op == kSoftmaxBackward) SoftmaxBackward<T>(in.p, saved.p, out.p, rows, C);
  if (op == kLogSoftmaxBackward) LogSoftmaxBackward<T>(in.p, saved.p, out.p, rows, C);
  std::vector<float> r(n);
  for (int64_t i = 0; i < n; ++i) r[i] = F(out[i]);
  r.push_back(in.Guards() && saved.Guards() && out.Guards() ? 0.f : NAN);
  return r;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Checks `op` against want[i] within tol[i] (the fp32 error of the kernel's arithmetic plus, for bf16, the
// output's rounding; a masked entry's 0 or -inf exactly), the guards, and the same bits under the three orders.
template <typename T>
void CheckOp(Op op, const std::vector<float>& a, const std::vector<float>& b, const std::vector<double>& want,
             const std::vector<double>& tol, int64_t rows, int64_t C) {
  const int64_t n = rows * C;
  const std::string what = h::Fmt("%s %s rows=%ld C=%ld", kNames[op], h::Name<T>(), long(rows), long(C));
  const std::vector<float> got = Run<T>(op, a, b, rows, C, emu::kForward);
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; ++i) {
    const double bf = std::is_same_v<T, float> ? 0 : std::fabs(want[i]) / 256;
    const bool ok = std::isfinite(want[i]) ? std::fabs(got[i] - want[i]) <= tol[i] + bf : got[i] == want[i];
    if (!ok) bad = i;
  }
  h::Report(bad < 0, what + (bad < 0 ? "" : h::Fmt(": row %ld col %ld got %.9g want %.9g", long(bad / C),
                                                   long(bad % C), got[bad], want[bad])));
  h::Report(!std::isnan(got[n]), what + " no writes outside the buffers");
  for (int order : {emu::kReverse, emu::kRandom})
    h::Report(SameBits(Run<T>(op, a, b, rows, C, order), got), what + h::Fmt(" order=%d: same bits", order));
}

template <typename T>
void Check(int64_t rows, int64_t C, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t n = rows * C;
  auto r = [](double v) { return F(h::To<T>(float(v))); };  // as stored in T
  std::vector<float> x(n), dy(n), y(n), l(n);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < C; ++c) {
      float v = 3 * nd(rng);
      if (i % 4 == 1) v = 100 + 2 * nd(rng);                    // far from 0: exp(x) alone would overflow
      if (i % 4 == 2) v = -5 + 10.f * c / C;                    // ascending: a new max at every element
      if (i % 4 == 3 && c % 5 == 2) v = -INFINITY;              // masked entries (never the whole row)
      x[i * C + c] = r(v), dy[i * C + c] = r(nd(rng));
    }
  // Forward references in double; the backward references take the (rounded) reference outputs as saved y.
  std::vector<double> sm(n), lsm(n), dsm(n), dlsm(n), tsm(n), tlsm(n), tdsm(n), tdlsm(n);
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = &x[i * C];
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max<double>(m, xr[c]);
    for (int64_t c = 0; c < C; ++c) s += std::exp(xr[c] - m);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = i * C + c;
      sm[k] = std::exp(xr[c] - m) / s;
      lsm[k] = xr[c] - m - std::log(s);
      // expf and the fp32 sum (about C / 32 sequential additions, then a tree): relative errors; x - max
      // rounds to ulp(|x - max|), an absolute error of the exponent.
      tsm[k] = sm[k] > 0 ? sm[k] * (4e-7 * (4 + double(C) / 32) + 6e-8 * std::fabs(xr[c] - m)) : 0;
      tlsm[k] = 4e-7 * (4 + double(C) / 32) + 2e-7 * (std::fabs(xr[c] - m) + std::fabs(lsm[k]));
      y[k] = r(sm[k]), l[k] = r(lsm[k]);
    }
    double dot = 0, dot_abs = 0, sum = 0, sum_abs = 0;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = i * C + c;
      dot += double(dy[k]) * y[k], dot_abs += std::fabs(double(dy[k]) * y[k]);
      sum += dy[k], sum_abs += std::fabs(dy[k]);
    }
    const double ulps = 2e-7 * (4 + double(C) / 32);  // fp32 sum error relative to the sum of |terms|
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = i * C + c;
      dsm[k] = y[k] * (dy[k] - dot);
      tdsm[k] = y[k] * (2e-7 * (std::fabs(dy[k]) + std::fabs(dot)) + ulps * dot_abs) + 1e-30;
      const double p = std::exp(double(l[k]));
      dlsm[k] = dy[k] - p * sum;
      tdlsm[k] = 2e-7 * (std::fabs(dy[k]) + p * std::fabs(sum)) + p * (ulps * sum_abs + 4e-7 * std::fabs(sum)) +
                 1e-30;
    }
  }
  CheckOp<T>(kSoftmax, x, x, sm, tsm, rows, C);
  CheckOp<T>(kLogSoftmax, x, x, lsm, tlsm, rows, C);
  CheckOp<T>(kSoftmaxBackward, dy, y, dsm, tdsm, rows, C);
  CheckOp<T>(kLogSoftmaxBackward, dy, l, dlsm, tdlsm, rows, C);
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  unsigned seed = 1;
  for (int64_t C : {1, 3, 37, 197, 768, 8192})  // 32, 32, 32, 32, 128, 256 threads per row
    for (int64_t rows : {1, 5, 64}) {
      Check<float>(rows, C, seed++);
      Check<bf16>(rows, C, seed++);
    }
  Check<float>(5, 8193, seed++);  // 1024 threads per row
  Check<bf16>(5, 8193, seed++);
  if (big) {  // the widest rows the iBOT head's prototypes reach
    Check<float>(64, 65536, seed++);
    Check<bf16>(16, 65536, seed++);
  }
  return h::Summary("softmax");
}
