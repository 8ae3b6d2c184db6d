// kernels/cuda/elementwise.cuh on the CPU emulator: LoadPack/StorePack, Map1Kernel/Map2Kernel and the host
// logic of LaunchMap1/LaunchMap2, bit for bit against the same functor on the CPU: aligned (packed) and
// misaligned pointers, tails, in-place (aliased) outputs, grids too small for n (grid-stride loops).
#include "harness.h"
#include "kernels/cuda/elementwise.cuh"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;
using h::F;

struct Gelu {
  __device__ float operator()(float x) const {
    return 0.5f * x * (1.f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
  }
};
struct Add {
  __device__ float operator()(float x, float y) const { return x + y; }
};

template <typename T> using D = DeviceType<T>;

// grid == 0: the host launcher; else Map*Kernel directly on (grid, threads) with the host's `packs` rule.
template <typename A, typename O>
void CheckMap1(int64_t n, size_t a_off, size_t o_off, bool alias, unsigned grid, unsigned threads, int order) {
  h::SetOrder(order);
  std::mt19937 rng(n * 31 + a_off * 7 + o_off + alias);
  std::normal_distribution<float> nd(0.f, 2.f);
  Buf<A> a(n, a_off);
  Buf<O> o(n, o_off);
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = h::To<A>(nd(rng));
    want[i] = F(h::To<O>(Gelu{}(F(a[i]))));
  }
  O* out = o.p;
  if (alias) out = reinterpret_cast<O*>(a.p);  // only with A == O
  for (int64_t i = 0; i < n && !alias; ++i) o[i] = h::To<O>(NAN);
  if (grid == 0) {
    LaunchMap1(reinterpret_cast<const D<A>*>(a.p), reinterpret_cast<D<O>*>(out), n, Gelu{});
  } else {
    const int64_t packs = Aligned16(a.p) && Aligned16(out) ? n / kPack : 0;
    emu::Launch(grid, threads, 0, nullptr, [&] {
      Map1Kernel(reinterpret_cast<const D<A>*>(a.p), reinterpret_cast<D<O>*>(out), n, packs, Gelu{});
    });
  }
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; ++i)
    if (h::Bits(h::To<O>(want[i])) != h::Bits(out[i])) bad = i;
  const bool guards = a.Guards() && o.Guards();
  h::Report(bad < 0 && guards,
            h::Fmt("Map1 %s->%s n=%ld a_off=%zu out_off=%zu alias=%d grid=%u threads=%u order=%d%s", h::Name<A>(),
                   h::Name<O>(), long(n), a_off, o_off, int(alias), grid, threads, order,
                   bad < 0 ? (guards ? "" : " GUARD") : h::Fmt(": elem %ld got %.9g want %.9g", long(bad),
                                                              F(out[bad]), want[bad]).c_str()));
}

template <typename A, typename B, typename O>
void CheckMap2(int64_t n, size_t a_off, size_t b_off, size_t o_off, int alias, unsigned grid, unsigned threads,
               int order) {
  h::SetOrder(order);
  std::mt19937 rng(n * 17 + a_off * 5 + b_off * 3 + o_off + alias);
  std::normal_distribution<float> nd(0.f, 2.f);
  Buf<A> a(n, a_off);
  Buf<B> b(n, b_off);
  Buf<O> o(n, o_off);
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = h::To<A>(nd(rng));
    b[i] = h::To<B>(nd(rng));
    want[i] = F(h::To<O>(Add{}(F(a[i]), F(b[i]))));
  }
  O* out = alias == 1 ? reinterpret_cast<O*>(a.p) : alias == 2 ? reinterpret_cast<O*>(b.p) : o.p;
  if (!alias) for (int64_t i = 0; i < n; ++i) o[i] = h::To<O>(NAN);
  if (grid == 0) {
    LaunchMap2(reinterpret_cast<const D<A>*>(a.p), reinterpret_cast<const D<B>*>(b.p), reinterpret_cast<D<O>*>(out), n,
               Add{});
  } else {
    const int64_t packs = Aligned16(a.p) && Aligned16(b.p) && Aligned16(out) ? n / kPack : 0;
    emu::Launch(grid, threads, 0, nullptr, [&] {
      Map2Kernel(reinterpret_cast<const D<A>*>(a.p), reinterpret_cast<const D<B>*>(b.p), reinterpret_cast<D<O>*>(out),
                 n, packs, Add{});
    });
  }
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; ++i)
    if (h::Bits(h::To<O>(want[i])) != h::Bits(out[i])) bad = i;
  const bool guards = a.Guards() && b.Guards() && o.Guards();
  h::Report(bad < 0 && guards,
            h::Fmt("Map2 %s+%s->%s n=%ld offs=%zu/%zu/%zu alias=%d grid=%u threads=%u order=%d%s", h::Name<A>(),
                   h::Name<B>(), h::Name<O>(), long(n), a_off, b_off, o_off, alias, grid, threads, order,
                   bad < 0 ? (guards ? "" : " GUARD") : h::Fmt(": elem %ld got %.9g want %.9g", long(bad),
                                                              F(out[bad]), want[bad]).c_str()));
}

template <typename T>
void Suite() {
  const unsigned cfgs[][2] = {{0, 0}, {2, 256}, {3, 256}, {1, 32}, {3, 64}};
  for (int64_t n : {1, 7, 8, 9, 1003, 4099})
    for (const auto& cfg : cfgs)
      for (int order = 0; order < (cfg[0] == 0 ? 2 : 1); ++order) {
        for (size_t a_off : {0, 1})
          for (size_t o_off : {0, 1}) CheckMap1<T, T>(n, a_off, o_off, false, cfg[0], cfg[1], order);
        CheckMap1<T, T>(n, 0, 0, true, cfg[0], cfg[1], order);
        CheckMap1<T, T>(n, 1, 0, true, cfg[0], cfg[1], order);
        for (int mask = 0; mask < 8; ++mask)
          CheckMap2<T, T, T>(n, mask & 1, (mask >> 1) & 1, (mask >> 2) & 1, 0, cfg[0], cfg[1], order);
        CheckMap2<T, T, T>(n, 0, 0, 0, 1, cfg[0], cfg[1], order);
        CheckMap2<T, T, T>(n, 0, 0, 0, 2, cfg[0], cfg[1], order);
        CheckMap2<T, T, T>(n, 1, 0, 0, 1, cfg[0], cfg[1], order);
      }
}

int main() {
  Suite<float>();
  Suite<bf16>();
  // mixed storage types (Convert-like and bf16 + f32)
  for (int64_t n : {1, 9, 1003, 4099})
    for (size_t off : {0, 1}) {
      CheckMap1<float, bf16>(n, off, 0, false, 0, 0, 0);
      CheckMap1<bf16, float>(n, 0, off, false, 0, 0, 0);
      CheckMap1<float, bf16>(n, 0, 0, false, 2, 256, 0);
      CheckMap2<bf16, float, float>(n, off, 0, 0, 0, 0, 0, 0);
      CheckMap2<float, bf16, bf16>(n, 0, 0, off, 0, 3, 64, 0);
    }
  return h::Summary("elementwise");
}
