// kernels/cuda/reduce.cu on the CPU emulator: SumMiddleAxis in its three regimes (rows, chunked rows in two
// passes, columns) against a double reference; every output bitwise identical under the three scheduling orders.
#include <type_traits>

#include "harness.h"
#include "kernels/cuda/reduce.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

// SumMiddleAxis's chunked path allocates its partials once; poisoned (NaN) so a partial read before it is
// written shows.
void* vfm::cuda::DeviceMalloc(size_t nbytes) {
  void* p = std::malloc(nbytes);
  std::memset(p, 0xFF, nbytes);
  return p;
}

template <typename T>
void CheckSum(int64_t outer, int64_t n, int64_t inner, size_t off) {
  const std::string what =
      h::Fmt("SumMiddleAxis %s outer=%ld n=%ld inner=%ld off=%zu", h::Name<T>(), long(outer), long(n), long(inner),
             off);
  h::AllOrders(what, [&](int order) {
    Buf<T> x(outer * n * inner, off), out(outer * inner, off);
    std::mt19937 rng(outer * 31 + n * 7 + inner);
    std::normal_distribution<float> nd(0.5f, 1.f);
    for (size_t i = 0; i < x.n; ++i) x[i] = h::To<T>(nd(rng));
    for (size_t i = 0; i < out.n; ++i) out[i] = h::To<T>(NAN);
    SumMiddleAxis<T>(x.p, out.p, outer, n, inner);
    // fp32 sums in a fixed tree: within 1e-5 of the total of magnitudes (and bf16's rounding of the output).
    const double round = std::is_same_v<T, float> ? 0 : 1.0 / 256;
    int64_t bad = -1;
    double got = 0, want = 0;
    for (int64_t o = 0; o < outer && bad < 0; ++o)
      for (int64_t i = 0; i < inner && bad < 0; ++i) {
        double s = 0, mag = 0;
        for (int64_t k = 0; k < n; ++k) {
          const double v = F(x[(o * n + k) * inner + i]);
          s += v, mag += std::fabs(v);
        }
        const double g = F(out[o * inner + i]), tol = 1e-5 * mag + round * (std::fabs(s) + 1e-5 * mag);
        if (!(std::fabs(g - s) <= tol)) bad = o * inner + i, got = g, want = s;
      }
    h::Report(bad < 0 && x.Guards() && out.Guards(),
              what + h::Fmt(" order=%d%s", order,
                            bad < 0 ? "" : h::Fmt(": out %ld got %.9g want %.9g", long(bad), got, want).c_str()));
    return h::BitsOf(out);
  });
}

template <typename T>
void SumSuite() {
  // inner == 1, one block per row: up to 1024 threads for few rows, 256 for many (>= 256 rows).
  for (int64_t outer : {1, 3})
    for (int64_t n : {0, 1, 3, 37, 197, 1000, 5000}) CheckSum<T>(outer, n, 1, outer == 3);
  for (int64_t n : {37, 600}) CheckSum<T>(300, n, 1, 0);
  // Rows longer than 4 chunks of 16384: two passes (partials, then their sums); the last chunk a single element;
  // 41 chunks make the second pass 64 threads wide.
  CheckSum<T>(1, 4 * 16384, 1, 0);  // exactly 4 chunks: still one pass
  CheckSum<T>(3, 4 * 16384 + 1, 1, 1);
  CheckSum<T>(2, 40 * 16384 + 7, 1, 0);
  // inner > 1: tiles of 32 outputs, blockDim.y the power of two >= n (at most 32).
  for (int64_t outer : {1, 3})
    for (int64_t n : {0, 1, 2, 3, 37})
      for (int64_t inner : {2, 33, 64, 197}) CheckSum<T>(outer, n, inner, inner == 33);
}

// More outputs than 65535 blocks: the grid-stride loops over rows and over tiles (--big: about 10 s).
void SumGridStride() {
  CheckSum<float>(65600, 1, 1, 0);
  CheckSum<float>(65600, 3, 2, 0);
}

// outer == 0 or inner == 0: nothing launched, nothing written.
void SumEmpty() {
  Buf<float> x(8), out(8);
  for (int i = 0; i < 8; ++i) x[i] = 1.f, out[i] = 7.f;
  const long before = emu::g_launches;
  SumMiddleAxis<float>(x.p, out.p, 0, 8, 1);
  SumMiddleAxis<float>(x.p, out.p, 8, 1, 0);
  bool same = true;
  for (int i = 0; i < 8; ++i) same = same && out[i] == 7.f;
  h::Report(same && emu::g_launches == before && out.Guards(), "SumMiddleAxis outer=0 / inner=0: no launch, no write");
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  SumSuite<float>();
  SumSuite<bf16>();
  if (big) SumGridStride();
  SumEmpty();
  return h::Summary("reduce");
}
