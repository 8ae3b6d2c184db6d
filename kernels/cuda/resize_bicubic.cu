// Bicubic resize of a grid of D-vectors on the GPU; the math is in kernels/cpu/resize_bicubic.h:
// output pixel o reads the 4 source taps floor(s) + {-1, 0, 1, 2} (clamped to the border) of
// s = (o + 0.5) * in/out - 0.5 per axis, with Keys' cubic weights (a = -0.75), in [B, h, w, D] layout.
// Taps and weights are computed in double exactly as the CPU does; values are accumulated in fp32.
//
// Work split: one thread per element of the result (d fastest, so a warp reads and writes whole
// D-vectors, coalesced), in a grid-stride loop.
// - Forward: each output element sums its 4 x 4 taps (16 reads).
// - Backward: the CPU scatters dy into dx; here each dx element gathers instead, so no two threads
//   write the same element and the result is deterministic without atomics. Input index i receives
//   from the outputs o whose (unclamped) taps cover it: floor(s(o)) in [i-2, i+1], i.e.
//   o in [(i-1.5) out/in - 0.5, (i+2.5) out/in - 0.5); border cells also receive the clamped taps,
//   which come from outputs inside the same range (i = 0) or up to the last output (i = in-1). The
//   kernel scans the superset [floor((i-2) out/in - 1), ceil((i+3) out/in)] clipped to [0, out), and
//   for each candidate output recomputes its taps and adds the weights of the taps that land on i
//   (several can, where they are clamped), so the candidate range only has to be a superset.
#include "kernels/cuda/resize_bicubic.h"

#include <algorithm>
#include <cmath>

#include "kernels/cuda/runtime.cuh"

namespace vfm::cuda {
namespace {

struct Taps {
  int64_t index[4];
  double weight[4];
};

// As CubicTaps in kernels/cpu/resize_bicubic.cc.
__device__ Taps CubicTaps(int64_t out, int64_t in_size, int64_t out_size) {
  constexpr double a = -0.75;
  const double s = (double(out) + 0.5) * double(in_size) / double(out_size) - 0.5;
  const double f = floor(s), t = s - f;
  auto near = [](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [](double x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };  // 1 < |x| < 2
  Taps taps;
  taps.weight[0] = far(t + 1);
  taps.weight[1] = near(t);
  taps.weight[2] = near(1 - t);
  taps.weight[3] = far(2 - t);
  for (int i = 0; i < 4; ++i) {
    const int64_t k = int64_t(f) - 1 + i;
    taps.index[i] = k < 0 ? 0 : (k > in_size - 1 ? in_size - 1 : k);
  }
  return taps;
}

// Total weight output `o` gives input index `i` along one axis; false when no tap of o lands on i.
__device__ bool WeightOn(int64_t o, int64_t i, int64_t in_size, int64_t out_size, double* weight) {
  const Taps taps = CubicTaps(o, in_size, out_size);
  bool hit = false;
  double w = 0;
  for (int k = 0; k < 4; ++k)
    if (taps.index[k] == i) {
      w += taps.weight[k];
      hit = true;
    }
  *weight = w;
  return hit;
}

// The outputs (a superset, clipped to [0, out_size)) whose taps can land on input index i.
__device__ void CandidateOutputs(int64_t i, int64_t in_size, int64_t out_size, int64_t* lo, int64_t* hi) {
  const double ratio = double(out_size) / double(in_size);
  const int64_t a = int64_t(floor(double(i - 2) * ratio - 1.0));
  const int64_t b = int64_t(ceil(double(i + 3) * ratio));
  *lo = a < 0 ? 0 : a;
  *hi = b > out_size - 1 ? out_size - 1 : b;
}

template <typename T>
__global__ void ForwardKernel(const T* __restrict__ x, T* __restrict__ y, int64_t batch, int64_t in_h, int64_t in_w,
                              int64_t out_h, int64_t out_w, int64_t D) {
  const int64_t n = batch * out_h * out_w * D;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = e % D;
    int64_t rest = e / D;
    const int64_t ox = rest % out_w;
    rest /= out_w;
    const int64_t oy = rest % out_h;
    const int64_t b = rest / out_h;
    const Taps ty = CubicTaps(oy, in_h, out_h), tx = CubicTaps(ox, in_w, out_w);
    float acc = 0;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        const float w = float(ty.weight[i] * tx.weight[j]);
        acc += w * ToFloat(x[((b * in_h + ty.index[i]) * in_w + tx.index[j]) * D + d]);
      }
    y[e] = FromFloat<T>(acc);
  }
}

template <typename T>
__global__ void BackwardKernel(const T* __restrict__ dy, T* __restrict__ dx, int64_t batch, int64_t in_h,
                               int64_t in_w, int64_t out_h, int64_t out_w, int64_t D) {
  const int64_t n = batch * in_h * in_w * D;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = e % D;
    int64_t rest = e / D;
    const int64_t ix = rest % in_w;
    rest /= in_w;
    const int64_t iy = rest % in_h;
    const int64_t b = rest / in_h;
    int64_t oy_lo, oy_hi, ox_lo, ox_hi;
    CandidateOutputs(iy, in_h, out_h, &oy_lo, &oy_hi);
    CandidateOutputs(ix, in_w, out_w, &ox_lo, &ox_hi);
    float acc = 0;
    for (int64_t oy = oy_lo; oy <= oy_hi; ++oy) {
      double wy;
      if (!WeightOn(oy, iy, in_h, out_h, &wy)) continue;
      for (int64_t ox = ox_lo; ox <= ox_hi; ++ox) {
        double wx;
        if (!WeightOn(ox, ix, in_w, out_w, &wx)) continue;
        acc += float(wy * wx) * ToFloat(dy[((b * out_h + oy) * out_w + ox) * D + d]);
      }
    }
    dx[e] = FromFloat<T>(acc);
  }
}

}  // namespace

template <typename T>
void ResizeBicubicForward(const T* x, T* y, int64_t batch, int64_t in_h, int64_t in_w, int64_t out_h,
                          int64_t out_w, int64_t D) {
  const int64_t n = batch * out_h * out_w * D;
  if (n == 0) return;
  ForwardKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(Dev(x), Dev(y), batch, in_h, in_w, out_h,
                                                                           out_w, D);
  VFM_CUDA_LAUNCHED("ResizeBicubicForward");
}

template <typename T>
void ResizeBicubicBackward(const T* dy, T* dx, int64_t batch, int64_t in_h, int64_t in_w, int64_t out_h,
                           int64_t out_w, int64_t D) {
  const int64_t n = batch * in_h * in_w * D;
  if (n == 0) return;
  BackwardKernel<<<GridStrideBlocks(n), kGridStrideThreads, 0, Compute()>>>(Dev(dy), Dev(dx), batch, in_h, in_w, out_h,
                                                                            out_w, D);
  VFM_CUDA_LAUNCHED("ResizeBicubicBackward");
}

template void ResizeBicubicForward<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                          int64_t);
template void ResizeBicubicForward<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
template void ResizeBicubicBackward<float>(const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                           int64_t);
template void ResizeBicubicBackward<bf16>(const bf16*, bf16*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                          int64_t);

}  // namespace vfm::cuda
