// ColumnSum, the bias gradient (kernels/cuda/matmul.cu: ColumnSumPartialPackedKernel, ColumnSumPartialKernel,
// ColumnSumFinishKernel through ColumnSum's host logic), on the CPU emulator against double column sums:
// empty, short and multi-chunk row counts, packed and per-element partial kernels (which must agree bit for
// bit), bitwise identical results under every scheduling order.
#include "harness.h"
#include "kernels/cuda/matmul_column_sum.cu.inc"

using namespace vfm;
using h::Buf;
using h::F;

template <typename T, typename TO>
std::vector<TO> Run(const Buf<T>& g, int64_t rows, int64_t cols, size_t scratch_off, bool* guards,
                    std::vector<float>* partial_out) {
  const size_t bytes = cuda::ColumnSumScratchBytes(rows, cols);
  Buf<float> scratch(bytes / 4, scratch_off);
  for (size_t i = 0; i < scratch.n; ++i) scratch[i] = NAN;
  Buf<TO> out(cols);
  for (int64_t c = 0; c < cols; ++c) out[c] = h::To<TO>(NAN);
  cuda::ColumnSum<T, TO>(g.p, out.p, rows, cols, scratch.p);
  *guards = scratch.Guards() && out.Guards() && g.Guards();
  if (partial_out) partial_out->assign(scratch.p, scratch.p + scratch.n);
  return std::vector<TO>(out.p, out.p + cols);
}

template <typename T, typename TO>
void Check(int64_t rows, int64_t cols, size_t g_off, int orders, unsigned seed) {
  Buf<T> g(rows * cols, g_off);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<double> want(cols, 0), absum(cols, 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const T v = h::To<T>(nd(rng) + (c % 3 == 0 ? 0.5f : 0.f));
      g[r * cols + c] = v;
      want[c] += F(v), absum[c] += std::fabs(F(v));
    }
  const std::string tag = h::Fmt("ColumnSum<%s,%s> rows=%ld cols=%ld g_off=%zu", h::Name<T>(), h::Name<TO>(),
                                 long(rows), long(cols), g_off);
  const double ulp = std::is_same_v<TO, float> ? 0 : 1.0 / 256;
  std::vector<TO> first;
  std::vector<float> part0;
  bool same = true, all_guards = true;
  for (int k = 0; k < orders; ++k) {
    h::SetOrder(k);
    bool guards;
    std::vector<float> part;
    std::vector<TO> got = Run<T, TO>(g, rows, cols, 0, &guards, &part);
    all_guards = all_guards && guards;
    if (k == 0) {
      first = got, part0 = part;
      int64_t bad = -1;
      for (int64_t c = 0; c < cols && bad < 0; ++c)
        if (!(std::fabs(F(got[c]) - want[c]) <= 2e-6 * absum[c] + ulp * std::fabs(want[c]))) bad = c;
      h::Report(bad < 0, tag + (bad < 0 ? std::string(" vs double") :
                                h::Fmt(" vs double: col %ld got %.9g want %.9g", long(bad), F(got[bad]), want[bad])));
    } else {
      for (int64_t c = 0; c < cols; ++c) same = same && h::Bits(got[c]) == h::Bits(first[c]);
    }
  }
  h::SetOrder(0);
  h::Report(all_guards, tag + " no writes outside out/scratch");
  if (orders > 1) h::Report(same, tag + " bitwise identical under thread/block orders");
  if (cols % 8 == 0 && g_off == 0) {  // misaligned scratch forces the per-element partial kernel
    bool guards;
    std::vector<float> part;
    std::vector<TO> pe = Run<T, TO>(g, rows, cols, 1, &guards, &part);
    bool eq = guards && part.size() == part0.size();
    for (size_t i = 0; i < part.size() && eq; ++i) eq = h::Bits(part[i]) == h::Bits(part0[i]);
    for (int64_t c = 0; c < cols && eq; ++c) eq = h::Bits(pe[c]) == h::Bits(first[c]);
    h::Report(eq, tag + " packed vs per-element partial kernel: identical partial table and sums");
  }
}

template <typename T, typename TO>
void Suite(bool big) {
  unsigned seed = 1;
  // Chunks of 64 rows: 1000 rows fill 16 of the finish kernel's 32 lanes, 2500 rows (40 chunks) all of them
  // and some twice; 39400 rows (256 chunks, --big only) the most there are.
  for (int64_t rows : {0, 1, 64, 1000, 2500, 39400}) {
    if (rows == 39400 && !big) continue;
    const int orders = rows >= 39400 ? 1 : 3;
    for (int64_t cols : {8, 16, 96, 768, 2056}) {
      if (rows == 39400 && cols == 2056 && !std::is_same_v<TO, float>) continue;  // once per T is enough
      Check<T, TO>(rows, cols, 0, orders, seed++);
    }
    for (int64_t cols : {3, 37, 100}) Check<T, TO>(rows, cols, 0, orders, seed++);
    if (rows <= 1000) Check<T, TO>(rows, 96, 1, orders, seed++);  // misaligned g: per-element kernel
  }
}

int main(int argc, char** argv) {
  const bool big = h::BigShapes(argc, argv);
  Suite<float, float>(big);
  Suite<bf16, bf16>(big);
  Suite<bf16, float>(big);
  return h::Summary("matmul (ColumnSum)");
}
