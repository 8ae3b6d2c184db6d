// kernels/cuda/binary.cu on the CPU emulator: BroadcastBinary (the packed same-shape map, the 32- and
// 64-bit strided kernels after Coalesced), BroadcastWhere, BroadcastMaskValues against plain multi-index
// loops, bit for bit (one fp32 operation rounded once: the GPU's bits too); Scale, AddScalar, Axpy bit for bit
// against the same expressions here. Every output bitwise identical under the three scheduling orders.
#include <array>
#include <type_traits>

#include "harness.h"
#include "kernels/cuda/binary.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

// An operand of a broadcast layout: a buffer covering every offset the strides reach (negative ones too),
// `off` elements past a 256-byte boundary; base points at offset 0.
template <typename T>
struct Operand {
  Buf<T> buf;
  T* base;
  Operand(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, size_t off)
      : buf(Span(shape, strides, false) - Span(shape, strides, true) + 1, off),
        base(buf.p - Span(shape, strides, true)) {}
  static int64_t Span(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, bool low) {
    int64_t s = 0;
    for (size_t d = 0; d < shape.size(); ++d)
      if ((strides[d] < 0) == low) s += (shape[d] - 1) * strides[d];
    return s;
  }
};

// A broadcast case: the output's shape and the strides of slots A, B and the mask.
struct Case {
  std::vector<int64_t> shape;
  std::vector<int64_t> strides[3];
  size_t offs[4];  // element offsets of a, b, mask, out
  int64_t Numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  int64_t Offset(int k, int64_t i) const {  // slot k's offset of output index i
    int64_t o = 0;
    for (int d = int(shape.size()) - 1; d >= 0; --d) o += (i % shape[d]) * strides[k][d], i /= shape[d];
    return o;
  }
  BroadcastLayout Layout() const {
    BroadcastLayout L;
    L.ndim = int(shape.size());
    for (int d = 0; d < L.ndim; ++d) {
      L.shape[d] = shape[d];
      for (int k = 0; k < 3; ++k) L.strides[k][d] = strides[k][d];
    }
    return L;
  }
  std::string Name() const {
    std::string s = "shape=[";
    for (size_t d = 0; d < shape.size(); ++d) s += h::Fmt("%s%ld", d ? "," : "", long(shape[d]));
    for (int k = 0; k < 3; ++k) {
      s += k == 0 ? "] a=[" : k == 1 ? "] b=[" : "] m=[";
      for (size_t d = 0; d < shape.size(); ++d) s += h::Fmt("%s%ld", d ? "," : "", long(strides[k][d]));
    }
    return s + h::Fmt("] offs=%zu/%zu/%zu/%zu", offs[0], offs[1], offs[2], offs[3]);
  }
};

template <typename T>
void Fill(Operand<T>& x, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.f, 2.f);
  for (size_t i = 0; i < x.buf.n; ++i) {
    const float v = nd(rng);
    x.buf[i] = h::To<T>(std::fabs(v) < 1e-3f ? 1.f : v);  // no division by (near) zero
  }
}

template <typename T>
void CheckBinary(const Case& c, BinaryOp op) {
  const char* names[] = {"add", "sub", "mul", "div"};
  const std::string what = h::Fmt("BroadcastBinary %s %s %s", h::Name<T>(), names[int(op)], c.Name().c_str());
  h::AllOrders(what, [&](int order) {
    std::mt19937 rng(c.Numel() * 7 + int(op));
    Operand<T> a(c.shape, c.strides[0], c.offs[0]), b(c.shape, c.strides[1], c.offs[1]);
    Fill(a, rng);
    Fill(b, rng);
    const int64_t n = c.Numel();
    Buf<T> out(n, c.offs[3]);
    for (int64_t i = 0; i < n; ++i) out[i] = h::To<T>(NAN);
    BroadcastBinary<T>(op, a.base, b.base, out.p, c.Layout());
    int64_t bad = -1;
    float want = 0;
    for (int64_t i = 0; i < n && bad < 0; ++i) {
      const float x = F(a.base[c.Offset(0, i)]), y = F(b.base[c.Offset(1, i)]);
      const float r = op == BinaryOp::kAdd   ? x + y
                      : op == BinaryOp::kSub ? x - y
                      : op == BinaryOp::kMul ? x * y
                                             : x / y;
      if (h::Bits(out[i]) != h::Bits(h::To<T>(r))) bad = i, want = F(h::To<T>(r));
    }
    h::Report(bad < 0 && a.buf.Guards() && b.buf.Guards() && out.Guards(),
              what + h::Fmt(" order=%d%s", order,
                            bad < 0 ? ""
                                    : h::Fmt(": elem %ld got %.9g want %.9g", long(bad), F(out[bad]), want).c_str()));
    return h::BitsOf(out);
  });
}

template <typename T>
void CheckWhere(const Case& c) {
  const std::string what = h::Fmt("BroadcastWhere/MaskValues %s %s", h::Name<T>(), c.Name().c_str());
  h::AllOrders(what, [&](int order) {
    std::mt19937 rng(c.Numel() * 13);
    Operand<T> a(c.shape, c.strides[0], c.offs[0]), b(c.shape, c.strides[1], c.offs[1]);
    Operand<uint8_t> m(c.shape, c.strides[2], c.offs[2]);
    Fill(a, rng);
    Fill(b, rng);
    for (size_t i = 0; i < m.buf.n; ++i) m.buf[i] = uint8_t(rng() % 3 == 0 ? 0 : 1 + rng() % 2);  // any non-zero
    const int64_t n = c.Numel();
    Buf<T> out(n, c.offs[3]), vals(n, c.offs[3]);
    for (int64_t i = 0; i < n; ++i) out[i] = vals[i] = h::To<T>(NAN);
    BroadcastWhere<T>(m.base, a.base, b.base, out.p, c.Layout());
    BroadcastMaskValues<T>(m.base, vals.p, c.Layout());
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; ++i) {
      const uint8_t mv = m.base[c.Offset(2, i)];
      const T want = mv ? a.base[c.Offset(0, i)] : b.base[c.Offset(1, i)];
      if (h::Bits(out[i]) != h::Bits(want) || h::Bits(vals[i]) != h::Bits(h::To<T>(float(mv)))) bad = i;
    }
    h::Report(bad < 0 && a.buf.Guards() && b.buf.Guards() && m.buf.Guards() && out.Guards() && vals.Guards(),
              what + h::Fmt(" order=%d%s", order, bad < 0 ? "" : h::Fmt(": elem %ld wrong", long(bad)).c_str()));
    std::vector<uint32_t> bits = h::BitsOf(out), v = h::BitsOf(vals);
    bits.insert(bits.end(), v.begin(), v.end());
    return bits;
  });
}

// Contiguous [shape] with every operand at `off` (a, b, mask, out): the same-shape case.
Case Dense(std::vector<int64_t> shape, size_t oa, size_t ob, size_t oo) {
  Case c{shape, {}, {oa, ob, oa, oo}};
  std::vector<int64_t> s(shape.size());
  int64_t st = 1;
  for (int d = int(shape.size()) - 1; d >= 0; --d) s[d] = st, st *= shape[d];
  c.strides[0] = c.strides[1] = c.strides[2] = s;
  return c;
}

template <typename T>
void BroadcastSuite() {
  std::vector<Case> cases;
  // Same shape: coalesced to 1-d with unit strides, the packed map when a, b and out are 16-byte aligned.
  for (int64_t n : {1, 3, 8, 37, 64, 197, 1576})
    for (auto o : std::vector<std::array<size_t, 3>>{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {3, 3, 3}})
      cases.push_back(Dense({n}, o[0], o[1], o[2]));
  cases.push_back(Dense({1, 37, 1, 8}, 0, 0, 0));  // size-1 dimensions dropped: packed
  cases.push_back(Dense({3, 5, 7}, 1, 1, 1));
  cases.push_back(Dense({}, 0, 0, 0));  // a scalar: 0 dimensions, the strided kernel
  // A bias: [3, 37, 64] + [64] (2-d after coalescing), and its misaligned and odd-sized variants.
  cases.push_back({{3, 37, 64}, {{37 * 64, 64, 1}, {0, 0, 1}, {0, 64, 1}}, {0, 0, 0, 0}});
  cases.push_back({{3, 37, 197}, {{37 * 197, 197, 1}, {0, 0, 1}, {0, 197, 1}}, {1, 3, 1, 1}});
  // An outer product: [37, 1] * [1, 197]; and a column broadcast [37, 8] * [37, 1].
  cases.push_back({{37, 197}, {{1, 0}, {0, 1}, {1, 0}}, {0, 0, 0, 0}});
  cases.push_back({{37, 8}, {{8, 1}, {1, 0}, {0, 1}}, {0, 1, 0, 0}});
  // A transposed operand (not merged with its neighbour) and a scalar operand.
  cases.push_back({{8, 37}, {{1, 8}, {37, 1}, {0, 0}}, {0, 0, 0, 0}});
  cases.push_back({{5, 3, 16}, {{48, 16, 1}, {0, 0, 0}, {0, 1, 0}}, {0, 2, 0, 1}});
  // Broadcast in the middle, size-1 dimensions between: [4, 1, 3, 1, 5] with b over dimension 0.
  cases.push_back({{4, 1, 3, 1, 5}, {{15, 15, 5, 5, 1}, {0, 99, 5, 7, 1}, {1, 0, 4, 0, 0}}, {0, 0, 0, 0}});
  // Negative strides (a flipped view): Fits32 is false, the 64-bit index kernel.
  cases.push_back({{197}, {{-1}, {1}, {-1}}, {0, 0, 0, 0}});
  cases.push_back({{3, 37, 8}, {{-296, 8, 1}, {0, -1, 0}, {8, 0, -1}}, {1, 0, 0, 1}});
  for (const Case& c : cases) {
    for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv}) CheckBinary<T>(c, op);
    CheckWhere<T>(c);
  }
}

template <typename T>
void CheckScalarMaps(int64_t n, size_t xo, size_t yo, bool in_place) {
  const std::string what =
      h::Fmt("Scale/AddScalar/Axpy %s n=%ld offs=%zu/%zu%s", h::Name<T>(), long(n), xo, yo,
             in_place ? " in place" : "");
  h::AllOrders(what, [&](int order) {
    Buf<T> x(n, xo), y(n, yo), z(n, yo), a(n, xo), b(n, yo);
    std::mt19937 rng(n);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (int64_t i = 0; i < n; ++i) {
      x[i] = h::To<T>(nd(rng)), a[i] = h::To<T>(nd(rng)), b[i] = h::To<T>(nd(rng));
      y[i] = z[i] = h::To<T>(NAN);
    }
    std::vector<T> x0(x.p, x.p + n), a0(a.p, a.p + n);
    const double s = 1.0 / 3, t = -0.7, alpha = 0.3;
    T* sy = in_place ? x.p : y.p;
    Scale<T>(x.p, sy, n, s);
    const std::vector<T> scaled(sy, sy + n);
    AddScalar<T>(x0.data(), z.p, n, t);
    Axpy<T>(a.p, b.p, n, alpha);
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; ++i) {
      const float xi = F(x0[i]);
      const bool ok = h::Bits(scaled[i]) == h::Bits(h::To<T>(xi * float(s))) &&
                      h::Bits(z[i]) == h::Bits(h::To<T>(xi + float(t))) &&
                      h::Bits(a[i]) == h::Bits(h::To<T>(F(a0[i]) + float(alpha) * F(b[i])));
      if (!ok) bad = i;
    }
    h::Report(bad < 0 && x.Guards() && y.Guards() && z.Guards() && a.Guards() && b.Guards(),
              what + h::Fmt(" order=%d%s", order, bad < 0 ? "" : h::Fmt(": elem %ld wrong", long(bad)).c_str()));
    std::vector<uint32_t> bits;
    for (int64_t i = 0; i < n; ++i) bits.insert(bits.end(), {h::Bits(scaled[i]), h::Bits(z[i]), h::Bits(a[i])});
    return bits;
  });
}

template <typename T>
void ScalarSuite() {
  for (int64_t n : {1, 3, 8, 37, 197, 1576}) {
    CheckScalarMaps<T>(n, 0, 0, false);
    CheckScalarMaps<T>(n, 0, 0, true);
    CheckScalarMaps<T>(n, 1, 0, false);
    CheckScalarMaps<T>(n, 0, 1, false);
  }
}

int main() {
  BroadcastSuite<float>();
  BroadcastSuite<bf16>();
  ScalarSuite<float>();
  ScalarSuite<bf16>();
  return h::Summary("binary");
}
