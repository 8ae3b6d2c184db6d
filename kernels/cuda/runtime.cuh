// What the .cu files share: error checks that name the call, the compute stream as cudaStream_t,
// launch-size arithmetic, and bf16 <-> float load/store so one kernel template serves both types.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/bf16.h"
#include "kernels/cuda/runtime.h"

namespace vfm::cuda {

[[noreturn]] void FailCuda(cudaError_t err, const char* what, const char* file, int line);

#define VFM_CUDA_CHECK(expr)                                                         \
  do {                                                                               \
    const cudaError_t vfm_err_ = (expr);                                             \
    if (vfm_err_ != cudaSuccess) ::vfm::cuda::FailCuda(vfm_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad configuration is reported here, naming the kernel.
#define VFM_CUDA_LAUNCHED(name) VFM_CUDA_CHECK(cudaGetLastError())

inline cudaStream_t Compute() { return static_cast<cudaStream_t>(ComputeStream()); }
inline unsigned BlocksFor(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

// Grid-stride loops: blocks of kGridStrideThreads, enough of them for one work item per thread, at most
// 65535 (far more threads than the GPU holds at once: the loop covers the rest).
constexpr int kGridStrideThreads = 256;
inline unsigned GridStrideBlocks(int64_t items) {
  const int64_t blocks = (items + kGridStrideThreads - 1) / kGridStrideThreads;
  return unsigned(blocks < 1 ? 1 : blocks > 65535 ? 65535 : blocks);
}

// The device-side element type of a host type: vfm::bf16 is stored as __nv_bfloat16 (same bits).
template <typename T> struct DeviceTypeOf { using type = T; };
template <> struct DeviceTypeOf<bf16> { using type = __nv_bfloat16; };
template <typename T> using DeviceType = typename DeviceTypeOf<T>::type;
template <typename T> DeviceType<T>* Dev(T* p) { return reinterpret_cast<DeviceType<T>*>(p); }
template <typename T> const DeviceType<T>* Dev(const T* p) { return reinterpret_cast<const DeviceType<T>*>(p); }

// Arithmetic is fp32 whatever the storage type.
__device__ __forceinline__ float ToFloat(float x) { return x; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T FromFloat(float x);
template <> __device__ __forceinline__ float FromFloat<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

}  // namespace vfm::cuda
