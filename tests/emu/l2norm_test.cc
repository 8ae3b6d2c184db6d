// kernels/cuda/l2norm.cu on the CPU emulator: L2NormalizeForward (y and the saved fp32 norms) and
// L2NormalizeBackward against double references computed from the same stored inputs, f32 and bf16, for row
// widths in every block-size class the host code picks (32, 128, 256 and 1024 threads), rows far from 1 in
// scale, and rows whose norm is clamped to eps (dx = dy / eps, no reduction). Outputs bitwise identical under
// the three scheduling orders.
#include "harness.h"
#include "kernels/cuda/l2norm.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

constexpr double kEps = 1e-12;

struct Out {
  std::vector<float> y, norm, dx;  // y and dx as float values
  bool guards = true;
  bool operator==(const Out& o) const {
    auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
    };
    return same(y, o.y) && same(norm, o.norm) && same(dx, o.dx) && guards == o.guards;
  }
};

// The forward on x, and the backward on dy with the saved y and norms given (the reference's, so each output's
// check isolates its own kernel).
template <typename T>
Out Run(const std::vector<float>& x, const std::vector<float>& dy, const std::vector<float>& ys,
        const std::vector<float>& ns, int64_t rows, int64_t C, int order) {
  h::SetOrder(order);
  const int64_t n = rows * C;
  Buf<T> bx(n), by(n), bdy(n), bys(n), bdx(n);
  Buf<float> bn(rows), bns(rows);
  for (int64_t i = 0; i < n; ++i) {
    bx[i] = h::To<T>(x[i]), bdy[i] = h::To<T>(dy[i]), bys[i] = h::To<T>(ys[i]);
    by[i] = h::To<T>(NAN), bdx[i] = h::To<T>(NAN);
  }
  for (int64_t i = 0; i < rows; ++i) bn[i] = NAN, bns[i] = ns[i];
  L2NormalizeForward<T>(bx.p, by.p, bn.p, rows, C, kEps);
  L2NormalizeBackward<T>(bdy.p, bys.p, bns.p, bdx.p, rows, C, kEps);
  Out o;
  for (int64_t i = 0; i < n; ++i) o.y.push_back(F(by[i])), o.dx.push_back(F(bdx[i]));
  o.norm.assign(bn.p, bn.p + rows);
  o.guards = bx.Guards() && by.Guards() && bdy.Guards() && bys.Guards() && bdx.Guards() && bn.Guards() &&
             bns.Guards();
  return o;
}

template <typename T>
void Check(int64_t rows, int64_t C, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t n = rows * C;
  const bool bf = !std::is_same_v<T, float>;
  auto r = [](double v) { return F(h::To<T>(float(v))); };  // as stored in T
  std::vector<float> x(n), dy(n), ys(n), ns(rows);
  for (int64_t i = 0; i < rows; ++i) {
    const float scale = i % 3 == 0 ? 1.f : (i % 3 == 1 ? 300.f : 1e-14f);  // the last: norm below eps, clamped
    for (int64_t c = 0; c < C; ++c) x[i * C + c] = r(scale * nd(rng)), dy[i * C + c] = r(nd(rng));
  }
  std::vector<double> y(n), ty(n), dx(n), tdx(n), norm(rows), tnorm(rows);
  const double ulps = 2e-7 * (4 + double(C) / 32);  // fp32 sums: about C / 32 sequential additions, then a tree
  for (int64_t i = 0; i < rows; ++i) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += double(x[i * C + c]) * x[i * C + c];
    const bool clamped = std::sqrt(s) <= kEps;
    norm[i] = std::max(std::sqrt(s), kEps), tnorm[i] = norm[i] * ulps;
    ns[i] = float(norm[i]);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = i * C + c;
      y[k] = x[k] / norm[i], ty[k] = std::fabs(y[k]) * (ulps + (bf ? 1.0 / 256 : 0));
      ys[k] = r(y[k]);
    }
    double dot = 0, dot_abs = 0;
    for (int64_t c = 0; c < C && !clamped; ++c) {
      dot += double(dy[i * C + c]) * ys[i * C + c];
      dot_abs += std::fabs(double(dy[i * C + c]) * ys[i * C + c]);
    }
    const double inv = 1.0 / ns[i];
    for (int64_t c = 0; c < C; ++c) {
      const int64_t k = i * C + c;
      dx[k] = (dy[k] - ys[k] * dot) * inv;
      tdx[k] = inv * (4e-7 * (std::fabs(dy[k]) + std::fabs(ys[k] * dot)) + std::fabs(ys[k]) * ulps * dot_abs) +
               (bf ? std::fabs(dx[k]) / 256 : 0);
    }
  }
  Out runs[3];
  for (int k = 0; k < 3; ++k) runs[k] = Run<T>(x, dy, ys, ns, rows, C, k);
  const Out& o = runs[0];
  const std::string what = h::Fmt("L2Normalize %s rows=%ld C=%ld", h::Name<T>(), long(rows), long(C));
  auto check = [&](const char* name, const std::vector<float>& got, const std::vector<double>& want,
                   const std::vector<double>& tol) {
    int64_t bad = -1;
    for (size_t i = 0; i < got.size() && bad < 0; ++i)
      if (!(std::fabs(got[i] - want[i]) <= tol[i])) bad = int64_t(i);
    h::Report(bad < 0, what + " " + name +
                           (bad < 0 ? "" : h::Fmt(": elem %ld got %.9g want %.9g", long(bad), got[bad], want[bad])));
  };
  check("forward y", o.y, y, ty);
  check("forward norm", o.norm, norm, tnorm);
  check("backward dx", o.dx, dx, tdx);
  h::Report(o.guards, what + " no writes outside the buffers");
  h::Report(runs[1] == o && runs[2] == o, what + " bitwise identical under forward/reverse/random orders");
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  unsigned seed = 1;
  // 32 threads per row up to C = 256, 128 up to 1024, 256 up to 8192, 1024 beyond.
  for (int64_t C : {1, 3, 37, 256, 257, 768, 1025, 8192})
    for (int64_t rows : {1, 5, 64}) {
      Check<float>(rows, C, seed++);
      Check<bf16>(rows, C, seed++);
    }
  Check<float>(5, 8193, seed++);
  Check<bf16>(5, 8193, seed++);
  Check<float>(3, 0, seed++);  // empty rows: the forward still writes norm = eps
  if (big) {
    Check<float>(64, 65536, seed++);
    Check<bf16>(16, 65536, seed++);
  }
  return h::Summary("l2norm");
}
