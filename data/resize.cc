#include "data/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace vfm::data {
namespace {

double Cubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

// For each output pixel: the first source pixel it reads and normalised weights (Pillow's precompute_coeffs).
struct Taps {
  std::vector<int> first, count;
  std::vector<float> weights;  // out_size * max_taps
  int max_taps = 0;
};

Taps ComputeTaps(double in0, double in1, int in_size, int out_size) {
  const double scale = (in1 - in0) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  Taps t;
  t.max_taps = int(std::ceil(support)) * 2 + 1;
  t.first.resize(size_t(out_size));
  t.count.resize(size_t(out_size));
  t.weights.assign(size_t(out_size) * t.max_taps, 0.0f);
  for (int x = 0; x < out_size; ++x) {
    const double center = in0 + (x + 0.5) * scale;
    const int lo = std::max(int(center - support + 0.5f), 0);
    const int hi = std::min(int(center + support + 0.5f), in_size);
    float* w = &t.weights[size_t(x) * t.max_taps];
    const int n = std::min(hi - lo, t.max_taps);
    double total = 0;
    for (int k = 0; k < n; ++k) total += Cubic((k + lo - center + 0.5) / filter_scale);
    for (int k = 0; k < n; ++k) w[k] = float(Cubic((k + lo - center + 0.5) / filter_scale) / (total != 0 ? total : 1));
    t.first[x] = lo;
    t.count[x] = std::max(n, 0);
  }
  return t;
}

// Round half up and clip to [0, 255], branch-free so the loops around it vectorise.
inline uint8_t RoundClip(float v) { return uint8_t(int(std::min(std::max(v + 0.5f, 0.0f), 255.0f))); }

// Vertical pass first, over only the box's columns: its inner loop runs along contiguous rows and
// vectorises, and it leaves out_h rows (not the box's height) for the scalar horizontal pass.
template <int C>
void Resample(const Image& src, const Taps& tx, const Taps& ty, int out_h, int out_w, Image* out) {
  const int col0 = tx.first.front(), col1 = tx.first.back() + tx.count.back();
  const size_t span = size_t(std::max(col1 - col0, 0)) * C;
  thread_local std::vector<uint8_t> tmp;
  thread_local std::vector<float> acc, row;
  tmp.resize(size_t(out_h) * span);
  acc.resize(span);
  row.resize(span);
  for (int y = 0; y < out_h; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* w = &ty.weights[size_t(y) * ty.max_taps];
    for (int k = 0; k < ty.count[y]; ++k) {
      const uint8_t* in = src.row(ty.first[y] + k) + size_t(col0) * C;
      const float wk = w[k];
      for (size_t i = 0; i < span; ++i) acc[i] += wk * in[i];
    }
    uint8_t* o = &tmp[size_t(y) * span];
    for (size_t i = 0; i < span; ++i) o[i] = RoundClip(acc[i]);
  }
  out->Resize(out_h, out_w, C);
  for (int y = 0; y < out_h; ++y) {
    const uint8_t* row8 = &tmp[size_t(y) * span];
    for (size_t i = 0; i < span; ++i) row[i] = row8[i];  // to float once, not once per tap
    const float* in = row.data() - size_t(col0) * C;
    uint8_t* o = out->row(y);
    for (int x = 0; x < out_w; ++x) {
      const float* w = &tx.weights[size_t(x) * tx.max_taps];
      const float* p = in + size_t(tx.first[x]) * C;
      float sum[C] = {};
      for (int k = 0; k < tx.count[x]; ++k)
        for (int c = 0; c < C; ++c) sum[c] += w[k] * p[k * C + c];
      for (int c = 0; c < C; ++c) o[x * C + c] = RoundClip(sum[c]);
    }
  }
}

}  // namespace

void ResizeBox(const Image& src, float top, float left, float height, float width, int out_height,
               int out_width, Image* out) {
  const Taps tx = ComputeTaps(left, left + width, src.width, out_width);
  const Taps ty = ComputeTaps(top, top + height, src.height, out_height);
  if (src.channels == 1)
    Resample<1>(src, tx, ty, out_height, out_width, out);
  else
    Resample<3>(src, tx, ty, out_height, out_width, out);
}

}  // namespace vfm::data
