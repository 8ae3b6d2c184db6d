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
    const int lo = std::max(int(center - support + 0.5), 0);
    const int hi = std::min(int(center + support + 0.5), in_size);
    const int n = std::min(hi - lo, t.max_taps);
    auto tap = [&](int k) { return Cubic((k + lo - center + 0.5) / filter_scale); };
    double total = 0;
    for (int k = 0; k < n; ++k) total += tap(k);
    float* w = &t.weights[size_t(x) * t.max_taps];
    for (int k = 0; k < n; ++k) w[k] = float(tap(k) / (total != 0 ? total : 1));
    t.first[x] = lo;
    t.count[x] = std::max(n, 0);
  }
  return t;
}

// Round half up and clip to [0, 255], branch-free so the loops around it vectorise.
inline uint8_t RoundClip(float v) { return uint8_t(int(std::min(std::max(v + 0.5f, 0.0f), 255.0f))); }

// Vertical pass first, over only the box's columns, then the horizontal pass. Both inner loops run along
// contiguous memory and vectorise: the vertical pass stores its rows transposed, as one run of out_h pixels
// per source column, so the horizontal pass sums whole columns too.
template <int C>
void Resample(const Image& src, const Taps& tx, const Taps& ty, int out_h, int out_w, Image* out) {
  const int col0 = tx.first.front(), cols = std::max(tx.first.back() + tx.count.back() - col0, 0);
  const size_t span = size_t(cols) * C, column = size_t(out_h) * C;
  thread_local std::vector<uint8_t> columns_buffer, rounded_buffer;  // columns: [cols][out_h][C]
  thread_local std::vector<float> acc_buffer;
  columns_buffer.resize(size_t(cols) * column);
  rounded_buffer.resize(std::max(span, column));
  acc_buffer.resize(std::max(span, column));
  // Raw pointers: uint8_t stores may alias anything, so vector members would be reloaded in every loop.
  uint8_t* const columns = columns_buffer.data();
  uint8_t* const rounded = rounded_buffer.data();
  float* const acc = acc_buffer.data();
  for (int y = 0; y < out_h; ++y) {
    std::fill(acc, acc + span, 0.0f);
    const float* w = &ty.weights[size_t(y) * ty.max_taps];
    for (int k = 0; k < ty.count[y]; ++k) {
      const uint8_t* in = src.row(ty.first[y] + k) + size_t(col0) * C;
      const float wk = w[k];
      for (size_t i = 0; i < span; ++i) acc[i] += wk * in[i];
    }
    for (size_t i = 0; i < span; ++i) rounded[i] = RoundClip(acc[i]);
    uint8_t* to = columns + size_t(y) * C;
    for (int x = 0; x < cols; ++x, to += column)
      for (int c = 0; c < C; ++c) to[c] = rounded[size_t(x) * C + c];
  }
  out->Resize(out_h, out_w, C);
  uint8_t* const pixels = out->pixels.data();
  const size_t stride = size_t(out_w) * C;
  for (int x = 0; x < out_w; ++x) {
    std::fill(acc, acc + column, 0.0f);
    const float* w = &tx.weights[size_t(x) * tx.max_taps];
    for (int k = 0; k < tx.count[x]; ++k) {
      const uint8_t* in = columns + size_t(tx.first[x] - col0 + k) * column;
      const float wk = w[k];
      for (size_t i = 0; i < column; ++i) acc[i] += wk * in[i];
    }
    for (size_t i = 0; i < column; ++i) rounded[i] = RoundClip(acc[i]);
    uint8_t* to = pixels + size_t(x) * C;
    for (int y = 0; y < out_h; ++y, to += stride)
      for (int c = 0; c < C; ++c) to[c] = rounded[size_t(y) * C + c];
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
