// cuBLASLt GEMMs with cpu::Gemm's row-major semantics (kernels/cpu/matmul.h):
//   C = alpha * op(A) op(B) + beta * C   (+ bias[j] on every row for GemmBias).
// cuBLASLt is column-major. A row-major M x N matrix with leading dimension ld, read column-major, is its
// N x M transpose with the same ld; so row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T,
// and we hand cuBLASLt (A', B') = (B, A) with ops (trans_b, trans_a) and sizes (m', n') = (n, m). A row
// bias (length n) is then a bias per column-major row of D, which is what CUBLASLT_EPILOGUE_BIAS adds.
//
// Per device: one cublasLt handle and one 32 MiB workspace (cudaMalloc'd once, never freed), made on first
// use. A "plan" (matmul descriptor, three layouts, the algorithm picked by cublasLtMatmulAlgoGetHeuristic)
// is cached per (types, ops, sizes, leading dimensions, batch strides, epilogue, pointer alignments), so
// the steady-state training step only calls cublasLtMatmul. Alignments are part of the key because the
// heuristic picks kernels that assume them (its default assumes 256-byte aligned buffers).
//
// Fallback: where cuBLASLt offers no algorithm (or refuses the call, or k = 0), a naive kernel computes the
// same result (one thread per element of C, fp32 accumulation) and a one-time warning names the shape.
// It exists so an odd shape is slow rather than wrong; the tests print the warning if it ever fires.
//
// ColumnSum (bias gradient): pass 1 splits the rows into at most 256 chunks of at least 64 rows; a block
// of 32 x 8 threads owns 32 column slots of one chunk (threadIdx.x = slot, so loads are coalesced; the 8
// rows of threads stride through the chunk), reduces its 8 partial sums in shared memory and writes one
// fp32 partial per (chunk, column). A slot is one column, or 8 columns read with one 16-byte load when
// the row length is a multiple of 8 and g is 16-byte aligned (the model's case). Pass 2 adds the chunks
// of a column in a fixed order (32 threads per column, then a tree). The chunk count depends only on the
// shape, so the result is deterministic.
#include "kernels/cuda/matmul.h"

#include <cublasLt.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/cuda/runtime.cuh"
#include "kernels/error.h"

namespace vfm::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

void CheckCublas(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  std::ostringstream msg;
  msg << "cuBLASLt error " << cublasLtGetStatusName(status) << " (" << cublasLtGetStatusString(status) << ") from "
      << what << " at " << file << ":" << line;
  throw Error(msg.str());
}
#define VFM_CUBLAS_CHECK(expr) CheckCublas((expr), #expr, __FILE__, __LINE__)

template <typename T> constexpr cudaDataType_t CudaTypeOf();
template <> constexpr cudaDataType_t CudaTypeOf<float>() { return CUDA_R_32F; }
template <> constexpr cudaDataType_t CudaTypeOf<bf16>() { return CUDA_R_16BF; }

// Largest power of two (<= 256) dividing the address, and the batch stride in bytes when batched.
uint32_t AlignmentOf(const void* p, int64_t stride_elems, size_t elem_size, int64_t batch) {
  uint64_t bits = uint64_t(reinterpret_cast<uintptr_t>(p));
  if (batch > 1) bits |= uint64_t(stride_elems) * elem_size;
  uint32_t a = 256;
  while (a > 1 && (bits & (a - 1))) a >>= 1;
  return a;
}

// Everything that decides a plan, in column-major (post-swap) terms.
struct PlanKey {
  std::array<int64_t, 20> v{};
  bool operator==(const PlanKey& o) const { return v == o.v; }
};
struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    uint64_t h = 1469598103934665603ull;
    for (int64_t x : k.v) h = (h ^ uint64_t(x)) * 1099511628211ull;
    return size_t(h);
  }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool has_algo = false;
  bool warned = false;
};

struct DeviceContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::unordered_map<PlanKey, std::unique_ptr<Plan>, PlanKeyHash> plans;
};

// Guards the contexts, their plan caches, and the bias pointer set on a cached descriptor before a call.
std::mutex gemm_mutex;

DeviceContext& ContextOfCurrentDevice() {
  static std::unordered_map<int, std::unique_ptr<DeviceContext>> contexts;  // kept for the process' life
  const int device = CurrentDevice();
  std::unique_ptr<DeviceContext>& ctx = contexts[device];
  if (!ctx) {
    auto fresh = std::make_unique<DeviceContext>();
    VFM_CUBLAS_CHECK(cublasLtCreate(&fresh->handle));
    fresh->workspace = DeviceMalloc(kWorkspaceBytes);
    if (!fresh->workspace) throw Error("cuBLASLt: out of device memory for the 32 MiB GEMM workspace");
    ctx = std::move(fresh);
  }
  return *ctx;
}

// One GEMM call, row-major, before the swap.
struct GemmCall {
  bool trans_a, trans_b;
  int64_t m, n, k;
  float alpha;
  const void* a;
  int64_t lda, stride_a;
  const void* b;
  int64_t ldb, stride_b;
  float beta;
  void* c;
  int64_t ldc, stride_c;
  int64_t batch;
  const void* bias;  // nullptr: no epilogue
};

std::string Describe(const GemmCall& g, cudaDataType_t ab, cudaDataType_t ct) {
  std::ostringstream s;
  s << "m=" << g.m << " n=" << g.n << " k=" << g.k << " trans_a=" << g.trans_a << " trans_b=" << g.trans_b
    << " lda=" << g.lda << " ldb=" << g.ldb << " ldc=" << g.ldc << " batch=" << g.batch << " ab_type=" << int(ab)
    << " c_type=" << int(ct) << (g.bias ? " +bias" : "");
  return s.str();
}

cublasLtMatrixLayout_t MakeLayout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                  int64_t stride) {
  cublasLtMatrixLayout_t layout = nullptr;
  VFM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    const int32_t count = int32_t(batch);
    VFM_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    VFM_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                      sizeof(stride)));
  }
  return layout;
}

std::unique_ptr<Plan> MakePlan(DeviceContext& ctx, const GemmCall& g, cudaDataType_t ab, cudaDataType_t ct,
                               const std::array<uint32_t, 4>& align) {
  auto plan = std::make_unique<Plan>();
  VFM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  // Column-major operands after the swap: A' = B (op trans_b), B' = A (op trans_a).
  const cublasOperation_t op_a = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  VFM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  VFM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  if (g.bias) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    VFM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    VFM_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias)));
  }
  // m' = n, n' = m. A' stored (before its op) as m' x k (N) or k x m' (T); B' as k x n' (N) or n' x k (T).
  plan->a = op_a == CUBLAS_OP_N ? MakeLayout(ab, g.n, g.k, g.ldb, g.batch, g.stride_b)
                                : MakeLayout(ab, g.k, g.n, g.ldb, g.batch, g.stride_b);
  plan->b = op_b == CUBLAS_OP_N ? MakeLayout(ab, g.k, g.m, g.lda, g.batch, g.stride_a)
                                : MakeLayout(ab, g.m, g.k, g.lda, g.batch, g.stride_a);
  plan->c = MakeLayout(ct, g.n, g.m, g.ldc, g.batch, g.stride_c);

  cublasLtMatmulPreference_t pref = nullptr;
  VFM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t max_ws = kWorkspaceBytes;
  VFM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws,
                                                        sizeof(max_ws)));
  // align[0] is A' (= B), align[1] is B' (= A), align[2] is C = D.
  VFM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align[0],
                                                        sizeof(uint32_t)));
  VFM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align[1],
                                                        sizeof(uint32_t)));
  VFM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align[2],
                                                        sizeof(uint32_t)));
  VFM_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align[2],
                                                        sizeof(uint32_t)));
  cublasLtMatmulHeuristicResult_t results[4] = {};
  int count = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(ctx.handle, plan->desc, plan->a, plan->b, plan->c,
                                                                plan->c, pref, 4, results, &count);
  cublasLtMatmulPreferenceDestroy(pref);
  if (status == CUBLAS_STATUS_SUCCESS) {
    for (int i = 0; i < count; ++i) {
      if (results[i].state == CUBLAS_STATUS_SUCCESS && results[i].workspaceSize <= kWorkspaceBytes) {
        plan->algo = results[i].algo;
        plan->has_algo = true;
        break;
      }
    }
  }
  return plan;
}

// The naive fallback: one thread per element of C (grid-stride), row-major, fp32 accumulation.
template <typename TA, typename TC>
__global__ void NaiveGemmKernel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                                const TA* a, int64_t lda, int64_t stride_a, const TA* b, int64_t ldb,
                                int64_t stride_b, float beta, TC* c, int64_t ldc, int64_t stride_c, int64_t batch,
                                const TC* bias) {
  const int64_t total = batch * m * n;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = idx % n, i = (idx / n) % m, bi = idx / (m * n);
    const TA* pa = a + bi * stride_a;
    const TA* pb = b + bi * stride_b;
    float acc = 0.f;
    for (int64_t p = 0; p < k; ++p)
      acc += ToFloat(trans_a ? pa[p * lda + i] : pa[i * lda + p]) * ToFloat(trans_b ? pb[j * ldb + p] : pb[p * ldb + j]);
    TC* pc = c + bi * stride_c + i * ldc + j;
    float r = alpha * acc;
    if (beta != 0.f) r += beta * ToFloat(*pc);
    if (bias) r += ToFloat(bias[j]);
    *pc = FromFloat<TC>(r);
  }
}

template <typename T, typename TC>
void RunNaive(const GemmCall& g) {
  using DA = DeviceType<T>;
  using DC = DeviceType<TC>;
  const int64_t total = g.batch * g.m * g.n;
  const unsigned grid = unsigned(std::min<int64_t>((total + 255) / 256, int64_t(1) << 20));
  NaiveGemmKernel<DA, DC><<<grid, 256, 0, Compute()>>>(
      g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, static_cast<const DA*>(g.a), g.lda, g.stride_a,
      static_cast<const DA*>(g.b), g.ldb, g.stride_b, g.beta, static_cast<DC*>(g.c), g.ldc, g.stride_c, g.batch,
      static_cast<const DC*>(g.bias));
  VFM_CUDA_LAUNCHED("NaiveGemmKernel");
}

template <typename T, typename TC>
void Run(const GemmCall& g) {
  if (g.m <= 0 || g.n <= 0 || g.batch <= 0) return;
  const cudaDataType_t ab = CudaTypeOf<T>(), ct = CudaTypeOf<TC>();
  if (g.k <= 0) {  // C = beta C (+ bias): nothing for cuBLASLt to multiply
    RunNaive<T, TC>(g);
    return;
  }
  std::lock_guard<std::mutex> lock(gemm_mutex);
  DeviceContext& ctx = ContextOfCurrentDevice();
  const std::array<uint32_t, 4> align{AlignmentOf(g.b, g.stride_b, sizeof(T), g.batch),
                                      AlignmentOf(g.a, g.stride_a, sizeof(T), g.batch),
                                      AlignmentOf(g.c, g.stride_c, sizeof(TC), g.batch),
                                      g.bias ? AlignmentOf(g.bias, 0, sizeof(TC), 1) : 0u};
  PlanKey key;
  key.v = {int64_t(CurrentDevice()), int64_t(ab), int64_t(ct), g.trans_a, g.trans_b, g.m, g.n, g.k, g.lda, g.ldb,
           g.ldc, g.batch, g.batch > 1 ? g.stride_a : 0, g.batch > 1 ? g.stride_b : 0, g.batch > 1 ? g.stride_c : 0,
           g.bias != nullptr, align[0], align[1], align[2], align[3]};
  std::unique_ptr<Plan>& plan = ctx.plans[key];
  if (!plan) plan = MakePlan(ctx, g, ab, ct, align);
  if (plan->has_algo) {
    if (g.bias)
      VFM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                                      sizeof(g.bias)));
    const cublasStatus_t status =
        cublasLtMatmul(ctx.handle, plan->desc, &g.alpha, g.b, plan->a, g.a, plan->b, &g.beta, g.c, plan->c, g.c,
                       plan->c, &plan->algo, ctx.workspace, kWorkspaceBytes, Compute());
    if (status == CUBLAS_STATUS_SUCCESS) return;
    if (status != CUBLAS_STATUS_NOT_SUPPORTED && status != CUBLAS_STATUS_INVALID_VALUE)
      CheckCublas(status, "cublasLtMatmul", __FILE__, __LINE__);
    plan->has_algo = false;  // refused: use the fallback from now on
  }
  if (!plan->warned) {
    plan->warned = true;
    std::fprintf(stderr, "vfm: cuBLASLt has no algorithm for GEMM %s; using the naive fallback kernel\n",
                 Describe(g, ab, ct).c_str());
  }
  RunNaive<T, TC>(g);
}

// ---- ColumnSum

constexpr int kSumMaxChunks = 256;
constexpr int64_t kSumMinRowsPerChunk = 64;

int64_t SumChunks(int64_t rows) {
  return std::max<int64_t>(1, std::min<int64_t>(kSumMaxChunks, (rows + kSumMinRowsPerChunk - 1) / kSumMinRowsPerChunk));
}

template <typename T>
__global__ void ColumnSumPartialKernel(const T* g, float* partial, int64_t rows, int64_t cols,
                                       int64_t rows_per_chunk) {
  __shared__ float tile[8][33];
  const int64_t col = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = min(rows, r0 + rows_per_chunk);
  float acc = 0.f;
  if (col < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) acc += ToFloat(g[r * cols + col]);
  tile[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    float s = 0.f;
    for (int y = 0; y < 8; ++y) s += tile[y][threadIdx.x];
    partial[int64_t(blockIdx.y) * cols + col] = s;
  }
}

// The packed form: slot threadIdx.x holds columns 8 * (blockIdx.x * 32 + threadIdx.x) + 0..7.
template <typename T>
__global__ void ColumnSumPartialPackedKernel(const T* g, float* partial, int64_t rows, int64_t cols,
                                             int64_t rows_per_chunk) {
  __shared__ float tile[8][kPack][32];
  const int64_t col0 = (int64_t(blockIdx.x) * 32 + threadIdx.x) * kPack;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = min(rows, r0 + rows_per_chunk);
  float acc[kPack] = {};
  if (col0 < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) {
      float v[kPack];
      LoadPack(g + r * cols + col0, v);
      for (int j = 0; j < kPack; ++j) acc[j] += v[j];
    }
  for (int j = 0; j < kPack; ++j) tile[threadIdx.y][j][threadIdx.x] = acc[j];
  __syncthreads();
  if (threadIdx.y == 0 && col0 < cols) {
    float s[kPack] = {};
    for (int y = 0; y < 8; ++y)
      for (int j = 0; j < kPack; ++j) s[j] += tile[y][j][threadIdx.x];
    StorePack(partial + int64_t(blockIdx.y) * cols + col0, s);
  }
}

// Block (32, kTableLanes) per 32 columns: out[col] = the sum of the column's chunks (fixed order).
template <typename TO>
__global__ void ColumnSumFinishKernel(const float* partial, TO* out, int64_t chunks, int64_t cols) {
  __shared__ float shared[kTableLanes][33];
  const int64_t col = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const float s = SumTableColumn(partial, chunks, cols, col, shared);
  if (threadIdx.y == 0 && col < cols) out[col] = FromFloat<TO>(s);
}

}  // namespace

template <typename T, typename TC>
void GemmStridedBatched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const T* a,
                        int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b, float beta, TC* c,
                        int64_t ldc, int64_t stride_c, int64_t batch) {
  Run<T, TC>(GemmCall{trans_a, trans_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, stride_c,
                      batch, nullptr});
}

template <typename T, typename TC>
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, float beta, TC* c, int64_t ldc) {
  Run<T, TC>(GemmCall{trans_a, trans_b, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1, nullptr});
}

template <typename T>
void GemmBias(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
              int64_t ldb, const T* bias, T* c, int64_t ldc) {
  Run<T, T>(GemmCall{trans_a, trans_b, m, n, k, 1.f, a, lda, 0, b, ldb, 0, 0.f, c, ldc, 0, 1, bias});
}

size_t ColumnSumScratchBytes(int64_t rows, int64_t cols) {
  return size_t(SumChunks(rows)) * size_t(std::max<int64_t>(cols, 0)) * sizeof(float);
}

template <typename T, typename TO>
void ColumnSum(const T* g, TO* out, int64_t rows, int64_t cols, void* scratch) {
  if (cols <= 0) return;
  const int64_t chunks = SumChunks(rows);
  const int64_t rows_per_chunk = (std::max<int64_t>(rows, 0) + chunks - 1) / chunks;
  float* partial = static_cast<float*>(scratch);
  if (cols % kPack == 0 && Aligned16(g) && Aligned16(partial)) {
    const dim3 grid(unsigned((cols / kPack + 31) / 32), unsigned(chunks));
    ColumnSumPartialPackedKernel<<<grid, dim3(32, 8), 0, Compute()>>>(Dev(g), partial, rows, cols, rows_per_chunk);
  } else {
    const dim3 grid(unsigned((cols + 31) / 32), unsigned(chunks));
    ColumnSumPartialKernel<<<grid, dim3(32, 8), 0, Compute()>>>(Dev(g), partial, rows, cols, rows_per_chunk);
  }
  VFM_CUDA_LAUNCHED("ColumnSumPartialKernel");
  ColumnSumFinishKernel<<<BlocksFor(cols, 32), dim3(32, kTableLanes), 0, Compute()>>>(partial, Dev(out), chunks,
                                                                                      cols);
  VFM_CUDA_LAUNCHED("ColumnSumFinishKernel");
}

template void Gemm<float, float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                 int64_t, float, float*, int64_t);
template void Gemm<bf16, bf16>(bool, bool, int64_t, int64_t, int64_t, float, const bf16*, int64_t, const bf16*,
                               int64_t, float, bf16*, int64_t);
template void Gemm<bf16, float>(bool, bool, int64_t, int64_t, int64_t, float, const bf16*, int64_t, const bf16*,
                                int64_t, float, float*, int64_t);
template void GemmStridedBatched<float, float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                               int64_t, const float*, int64_t, int64_t, float, float*, int64_t,
                                               int64_t, int64_t);
template void GemmStridedBatched<bf16, bf16>(bool, bool, int64_t, int64_t, int64_t, float, const bf16*, int64_t,
                                             int64_t, const bf16*, int64_t, int64_t, float, bf16*, int64_t, int64_t,
                                             int64_t);
template void GemmStridedBatched<bf16, float>(bool, bool, int64_t, int64_t, int64_t, float, const bf16*, int64_t,
                                              int64_t, const bf16*, int64_t, int64_t, float, float*, int64_t,
                                              int64_t, int64_t);
template void GemmBias<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                              const float*, float*, int64_t);
template void GemmBias<bf16>(bool, bool, int64_t, int64_t, int64_t, const bf16*, int64_t, const bf16*, int64_t,
                             const bf16*, bf16*, int64_t);
template void ColumnSum<float, float>(const float*, float*, int64_t, int64_t, void*);
template void ColumnSum<bf16, bf16>(const bf16*, bf16*, int64_t, int64_t, void*);
template void ColumnSum<bf16, float>(const bf16*, float*, int64_t, int64_t, void*);

}  // namespace vfm::cuda
