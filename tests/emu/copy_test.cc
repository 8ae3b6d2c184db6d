// kernels/cuda/copy.cu on the CPU emulator: CopyStrided (Coalesced + Widen + CopyStridedKernel<Word>) against
// a direct strided copy for windows, transposes, broadcasts, size-1 and empty dimensions at every alignment,
// and ConvertMany / Convert against FloatToBf16, bit for bit.
#include "harness.h"
#include "kernels/cuda/copy.cu.inc"

using namespace vfm;
using namespace vfm::cuda;
using h::Buf;

static int g_word_used[17];

// Copies a view of `shape` between strided src and dst (element strides, element offsets from 256-byte
// aligned bases), elements of E bytes, and compares the whole dst buffer with a direct strided copy.
template <typename E>
void CheckCopy(const std::string& what, std::vector<int64_t> shape, std::vector<int64_t> ss, std::vector<int64_t> ds,
               int64_t src_off, int64_t dst_off, int order) {
  h::SetOrder(order);
  const int nd = int(shape.size());
  int64_t n = 1, src_span = 1, dst_span = 1;
  for (int k = 0; k < nd; ++k) {
    n *= shape[k];
    if (shape[k] > 0) src_span += (shape[k] - 1) * ss[k], dst_span += (shape[k] - 1) * ds[k];
  }
  Buf<E> src(src_off + src_span), dst(dst_off + dst_span), want(dst_off + dst_span);
  std::mt19937_64 rng(src_span * 131 + dst_span);
  for (size_t i = 0; i < src.n; ++i) src[i] = E(rng());
  for (size_t i = 0; i < dst.n; ++i) dst[i] = want[i] = E(0x5a5a5a5a5a5a5a5aull + i);
  // reference
  std::vector<int64_t> idx(nd, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t s = src_off, d = dst_off, rest = i;
    for (int k = nd - 1; k >= 0; --k) {
      const int64_t c = rest % shape[k];
      rest /= shape[k];
      s += c * ss[k], d += c * ds[k];
    }
    want[d] = src[s];
  }
  StridedCopyLayout L;
  L.ndim = nd;
  for (int k = 0; k < nd; ++k) L.shape[k] = shape[k], L.src_strides[k] = ss[k], L.dst_strides[k] = ds[k];
  // The word the host logic picks (for coverage reporting).
  StridedCopyLayout C = Coalesced(L);
  const int word = Widen(src.p + src_off, dst.p + dst_off, C, int(sizeof(E)));
  ++g_word_used[word];
  CopyStrided(src.p + src_off, dst.p + dst_off, L, int(sizeof(E)));
  int64_t bad = -1;
  for (size_t i = 0; i < dst.n && bad < 0; ++i)
    if (dst[i] != want[i]) bad = int64_t(i);
  std::string sh;
  for (int k = 0; k < nd; ++k) sh += h::Fmt("%s%ld:%ld/%ld", k ? "," : "", long(shape[k]), long(ss[k]), long(ds[k]));
  h::Report(bad < 0 && src.Guards() && dst.Guards(),
            h::Fmt("CopyStrided e%zu %s [%s] src_off=%ld dst_off=%ld word=%d order=%d%s", sizeof(E), what.c_str(),
                   sh.c_str(), long(src_off), long(dst_off), word, order,
                   bad < 0 ? "" : h::Fmt(": dst elem %ld differs", long(bad)).c_str()));
}

template <typename E>
void CopySuite() {
  for (int order : {0, 1}) {
    // A window of a wider row (e.g. a slice of a concatenation) into a contiguous tensor, and back.
    for (int64_t o = 0; o <= 8; ++o)
      for (int64_t w : {8, 16, 24, 7, 768, 96}) {
        const int64_t W = 2 * w + 9;
        CheckCopy<E>("window->contig", {5, w}, {W, 1}, {w, 1}, o, 0, order);
        CheckCopy<E>("contig->window", {5, w}, {w, 1}, {W, 1}, 0, o, order);
        CheckCopy<E>("window->window", {3, w}, {W, 1}, {W + 8, 1}, o, o, order);
        CheckCopy<E>("window(W=2w)->contig", {4, w}, {2 * w, 1}, {w, 1}, o, 0, order);
      }
    // Transposes.
    CheckCopy<E>("transpose", {37, 24}, {24, 1}, {1, 37}, 0, 0, order);
    CheckCopy<E>("transpose", {16, 8}, {1, 16}, {8, 1}, 0, 0, order);
    CheckCopy<E>("BNHD->BHND", {2, 5, 3, 16}, {5 * 48, 48, 16, 1}, {3 * 80, 16, 80, 1}, 0, 0, order);
    CheckCopy<E>("BNHD->BHND off", {2, 5, 3, 16}, {5 * 48, 48, 16, 1}, {3 * 80, 16, 80, 1}, 3, 8, order);
    // Stride-0 broadcast sources.
    CheckCopy<E>("bcast rows", {6, 24}, {0, 1}, {24, 1}, 0, 0, order);
    CheckCopy<E>("bcast rows off", {6, 24}, {0, 1}, {24, 1}, 8, 0, order);
    CheckCopy<E>("bcast cols", {6, 24}, {1, 0}, {24, 1}, 0, 0, order);
    CheckCopy<E>("bcast all", {3, 4, 8}, {0, 0, 0}, {32, 8, 1}, 5, 0, order);
    CheckCopy<E>("bcast mid", {3, 4, 8}, {8, 0, 1}, {32, 8, 1}, 0, 0, order);
    // Size-1 dimensions with odd strides.
    CheckCopy<E>("size1 dims", {1, 7, 1, 16, 1}, {999, 16, 5, 1, 3}, {1, 16, 77, 1, 0}, 0, 0, order);
    CheckCopy<E>("size1 dims window", {1, 4, 1, 32}, {7, 40, 3, 1}, {0, 32, 9, 1}, 2, 0, order);
    CheckCopy<E>("all size1", {1, 1, 1}, {5, 3, 2}, {4, 4, 4}, 3, 1, order);
    CheckCopy<E>("0-d", {}, {}, {}, 2, 5, order);
    CheckCopy<E>("empty", {3, 0, 4}, {4, 4, 1}, {4, 4, 1}, 0, 0, order);
    // Contiguous (1-d after merging), aligned and not.
    for (int64_t o : {0, 1, 2, 4, 8})
      CheckCopy<E>("contig", {3, 5, 64}, {320, 64, 1}, {320, 64, 1}, o, o, order);
    CheckCopy<E>("contig mismatched offs", {3, 5, 64}, {320, 64, 1}, {320, 64, 1}, 1, 2, order);
    for (int64_t o : {1, 2, 4, 8}) {  // one side aligned: a word the other side's alignment allows
      CheckCopy<E>("contig, src offset", {3, 5, 64}, {320, 64, 1}, {320, 64, 1}, o, 0, order);
      CheckCopy<E>("contig, dst offset", {3, 5, 64}, {320, 64, 1}, {320, 64, 1}, 0, o, order);
    }
    // Inner stride != 1.
    CheckCopy<E>("strided inner", {4, 16}, {32, 2}, {16, 1}, 0, 0, order);
    // Many elements: more than one grid-stride step is not reachable (blocks cover n), but many blocks.
    CheckCopy<E>("big window", {50, 768}, {2304, 1}, {768, 1}, 768, 0, order);
  }
}

static void ConvertTests() {
  for (int count : {0, 1, 5, 64, 70}) {
    std::vector<std::unique_ptr<Buf<float>>> S;
    std::vector<std::unique_ptr<Buf<bf16>>> Dd;
    std::vector<const float*> sp;
    std::vector<bf16*> dp;
    std::vector<int64_t> n;
    std::mt19937 rng(count);
    std::normal_distribution<float> nd(0.f, 3.f);
    for (int k = 0; k < count; ++k) {
      const int64_t sizes[] = {0, 1, 7, 8, 9, 1003, 4099, 37 * k + 1};
      const int64_t m = k == 69 ? 100003 : sizes[k % 8];
      S.emplace_back(new Buf<float>(m, k % 3 == 1 ? 1 : 0));
      Dd.emplace_back(new Buf<bf16>(m, k % 5 == 2 ? 1 : 0));
      for (int64_t i = 0; i < m; ++i) {
        float v = nd(rng);
        if (i % 97 == 5) v = 1.0f + 0x1p-8f;       // a tie: rounds to even
        if (i % 101 == 7) v = 1.0f + 3 * 0x1p-8f;  // tie rounds up
        (*S[k])[i] = v;
        (*Dd[k])[i] = bf16{0x7fc1};
      }
      sp.push_back(S[k]->p), dp.push_back(Dd[k]->p), n.push_back(m);
    }
    ConvertMany(sp.data(), dp.data(), n.data(), count);
    int bad = 0;
    std::string first;
    for (int k = 0; k < count; ++k) {
      for (int64_t i = 0; i < n[k]; ++i)
        if ((*Dd[k])[i].bits != FloatToBf16((*S[k])[i]).bits) {
          if (!bad++) first = h::Fmt(": tensor %d elem %ld", k, long(i));
          break;
        }
      if (!Dd[k]->Guards() || !S[k]->Guards()) if (!bad++) first = h::Fmt(": guard of tensor %d", k);
    }
    h::Report(bad == 0, h::Fmt("ConvertMany count=%d%s", count, first.c_str()));
  }
  for (int64_t m : {1, 9, 1003, 4099})
    for (size_t off : {0, 1}) {
      Buf<float> s(m, off), back(m);
      Buf<bf16> d(m);
      for (int64_t i = 0; i < m; ++i) s[i] = 0.37f * float(i) - 11.f;
      Convert<float, bf16>(s.p, d.p, m);
      Convert<bf16, float>(d.p, back.p, m);
      bool ok = true;
      for (int64_t i = 0; i < m; ++i)
        ok = ok && d[i].bits == FloatToBf16(s[i]).bits && h::Bits(back[i]) == h::Bits(Bf16ToFloat(d[i]));
      h::Report(ok && s.Guards() && d.Guards() && back.Guards(),
                h::Fmt("Convert f32<->bf16 n=%ld off=%zu", long(m), off));
    }
}

int main() {
  CopySuite<uint16_t>();
  CopySuite<uint32_t>();
  CopySuite<uint8_t>();
  CopySuite<uint64_t>();
  ConvertTests();
  std::printf("words used: 1:%d 2:%d 4:%d 8:%d 16:%d\n", g_word_used[1], g_word_used[2], g_word_used[4],
              g_word_used[8], g_word_used[16]);
  return h::Summary("copy");
}
