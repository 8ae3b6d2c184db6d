// The op set: every function here computes its forward with a kernel from kernels/cpu (kernels/cuda on a
// GPU) and, when an input requires a gradient, records the backward (autograd/engine.h). Op X lives in
// autograd/ops/X.cc, its kernels in kernels/{cpu,cuda}/X.*, its tests in tests/{ops,gpu,emu}/X_test.cc:
// the table in autograd/README.md lists every op's files.
// Floating-point ops take f32 (training) or f64 (gradient checks). Shapes are checked, with messages.
#pragma once
#include <vector>

#include "autograd/engine.h"
#include "autograd/tensor.h"

namespace vfm::ops {

// --- views (ops/view.cc): share storage; backward maps the gradient back.
Tensor Reshape(const Tensor& x, Shape shape);  // copies if x is not contiguous; one -1 allowed
Tensor Transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor Slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);  // [start, end)
Tensor Select(const Tensor& x, int64_t dim, int64_t index);  // removes dim
Tensor Contiguous(const Tensor& x);
Tensor Expand(const Tensor& x, const Shape& shape);  // broadcast to shape (a copy), backward sums

// --- element type (ops/cast.cc): a copy in another dtype whose backward casts the gradient back
// (the identity when x already has that dtype). The bf16 forward of the GPU path starts here.
Tensor Cast(const Tensor& x, DType dtype);
// Cast(x, converted.dtype()) with the values already at hand: `converted` holds x's values in that dtype
// (from ConvertedCopies). The result shares converted's storage; its gradient reaches x as Cast's does.
Tensor CastFrom(const Tensor& x, const Tensor& converted);
// Each tensor's values in `dtype` (contiguous copies, no autograd). On a GPU the f32 -> bf16
// conversions of all of them run in a few batched launches (cuda::ConvertMany), not one per tensor.
std::vector<Tensor> ConvertedCopies(const std::vector<Tensor>& xs, DType dtype);

// --- elementwise with numpy broadcasting (ops/binary.cc, kernels/cpu/binary.h)
Tensor Add(const Tensor& a, const Tensor& b);
Tensor Sub(const Tensor& a, const Tensor& b);
Tensor Mul(const Tensor& a, const Tensor& b);
Tensor Div(const Tensor& a, const Tensor& b);
Tensor Scale(const Tensor& x, double s);       // x * s
Tensor AddScalar(const Tensor& x, double s);   // x + s
Tensor Where(const Tensor& mask, const Tensor& a, const Tensor& b);  // mask (u8) ? a : b, broadcast
// a += b without autograd (same shape; for optimizers and accumulation).
void AddInPlace(Tensor& a, const Tensor& b, double alpha = 1.0);

// --- unary (ops/unary.cc, kernels/cpu/unary.h)
Tensor Gelu(const Tensor& x);  // exact erf form: x * Phi(x)
Tensor Exp(const Tensor& x);
Tensor Log(const Tensor& x);

// --- reductions (ops/reduce.cc, kernels/cpu/reduce.h)
Tensor Sum(const Tensor& x);                               // all elements -> [1]
Tensor Sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor Mean(const Tensor& x);
Tensor Mean(const Tensor& x, int64_t dim, bool keepdim = false);

// --- matrix products (ops/matmul.cc, kernels/cpu/matmul.h)
// y = x W^T + b over the last dim of x: x [..., in], w [out, in], b [out] (optional).
Tensor Linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());
// Linear of master parameters w, b (f32) for an input of another dtype (bf16 on a GPU): the product reads
// their values in x's dtype from w_values, b_values (a CastScope's copies), the gradients reach w and b in
// their own dtype, on a GPU straight from the fp32 accumulators (no bf16 rounding, no cast kernels).
Tensor LinearMixed(const Tensor& x, const Tensor& w, const Tensor& w_values, const Tensor& b, const Tensor& b_values);
// Batched a @ b: a [..., M, K], b [..., K, N] with equal batch dims (or b 2-D, shared).
Tensor Matmul(const Tensor& a, const Tensor& b);

// --- normalisation and softmax
Tensor LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps);  // last dim
// LayerNorm of master parameters w, b (f32) for an input of another dtype, as LinearMixed: it reads their
// values in x's dtype from w_values, b_values; the gradients reach w and b in their own dtype.
Tensor LayerNormMixed(const Tensor& x, const Tensor& w, const Tensor& w_values, const Tensor& b,
                      const Tensor& b_values, double eps);
Tensor Softmax(const Tensor& x);     // last dim
Tensor LogSoftmax(const Tensor& x);  // last dim
Tensor L2Normalize(const Tensor& x, double eps = 1e-12);  // last dim: x / max(||x||, eps)
// Weight-normalised linear without bias: W = g * v / ||v|| row-wise; v [out, in], g [out].
Tensor WeightNormLinear(const Tensor& x, const Tensor& v, const Tensor& g);

// --- attention (ops/attention.cc, kernels/cpu/attention.h)
// Multi-head self-attention as one op on the packed qkv projection, the layout the model produces:
// qkv [B, N, 3, H, Dh] (i.e. [B, N, 3*H*Dh]) -> out [B, N, H*Dh], softmax(q k^T * scale) v per head.
// Saves only the logsumexp per row for backward (no N x N matrix is kept).
Tensor Attention(const Tensor& qkv, int64_t num_heads, double scale);

// --- tokens and images
// Patch embedding, a conv with kernel = stride = p as a GEMM: img [B, C, H, W], w [D, C, p, p],
// b [D] -> [B, (H/p)*(W/p), D] (row-major patch order).
Tensor PatchEmbed(const Tensor& img, const Tensor& w, const Tensor& b, int64_t patch);
Tensor Concat(const std::vector<Tensor>& xs, int64_t dim);
// Rows of x [B, N, D] picked per batch: index (i64) [B, M] -> [B, M, D].
Tensor GatherTokens(const Tensor& x, const Tensor& index);
// Bicubic resize (a = -0.75, align_corners=False, like torch's interpolate) of a grid of vectors:
// x [B, h, w, D] -> [B, H, W, D].
Tensor ResizeBicubic(const Tensor& x, int64_t out_h, int64_t out_w);
// The augmentation tail: planar uint8 crops [B, 3, H, W] -> (v / 255 - mean) / std in `dtype` (f32 on
// the host; f32 or bf16 on a GPU), with per-sample, per-channel mean and std: norms f32 [B, 3, 2] holding
// (scale, shift) = (1 / (255 std), -mean / std) (kernels/cpu/normalize_images.h). Data, not a graph node.
Tensor NormalizeImages(const Tensor& images_u8, const Tensor& norms, DType dtype);
// Stochastic depth on a residual branch x [B, ...]: samples with keep[b] = 0 give 0, others x / keep_prob.
Tensor DropPath(const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob);
// residual + DropPath(x, keep, keep_prob): a residual connection with stochastic depth (one kernel on a GPU).
Tensor DropPathAdd(const Tensor& residual, const Tensor& x, const std::vector<uint8_t>& keep, double keep_prob);

}  // namespace vfm::ops
