// Stands in for the CUDA toolkit's cuda.h (the driver API) when the kernels are built for the CPU emulator:
// only what TMA needs. CUtensorMap holds the fields the emulator's cp.async.bulk.tensor reads (the driver's
// is opaque), and cuTensorMapEncodeTiled checks its arguments as the CUDA driver API documents them.
#pragma once
#include <cstdint>
#include <string>

#include "tests/emu/emu.h"

typedef uint32_t cuuint32_t;
typedef uint64_t cuuint64_t;
enum CUresult { CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1 };
enum CUtensorMapDataType { CU_TENSOR_MAP_DATA_TYPE_FLOAT32 = 7, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9 };
enum CUtensorMapInterleave { CU_TENSOR_MAP_INTERLEAVE_NONE = 0 };
enum CUtensorMapSwizzle {
  CU_TENSOR_MAP_SWIZZLE_NONE = 0,
  CU_TENSOR_MAP_SWIZZLE_32B = 1,
  CU_TENSOR_MAP_SWIZZLE_64B = 2,
  CU_TENSOR_MAP_SWIZZLE_128B = 3
};
enum CUtensorMapL2promotion { CU_TENSOR_MAP_L2_PROMOTION_NONE = 0, CU_TENSOR_MAP_L2_PROMOTION_L2_128B = 2 };
enum CUtensorMapFloatOOBfill { CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0 };

struct alignas(64) CUtensorMap {
  bool encoded = false;
  uint32_t rank = 0, elem_bytes = 0, swizzle_bytes = 0;  // swizzle_bytes: 0 (none), 32, 64 or 128
  const unsigned char* global = nullptr;
  uint64_t dim[5] = {}, stride[5] = {};                  // stride[i]: bytes between steps of dimension i
  uint32_t box[5] = {};
};

// Tiled tensor map, 1 to 5 dimensions, innermost first: the global address 16-byte aligned, the strides of the
// outer dimensions multiples of 16 bytes, boxes of 1 to 256 elements a dimension with the inner one a multiple
// of 16 bytes and, swizzled, at most the swizzle's span. The emulator takes element strides of 1, no
// interleave, zero fill.
inline CUresult cuTensorMapEncodeTiled(CUtensorMap* map, CUtensorMapDataType type, cuuint32_t rank, void* global,
                                       const cuuint64_t* dim, const cuuint64_t* strides, const cuuint32_t* box,
                                       const cuuint32_t* element_strides, CUtensorMapInterleave interleave,
                                       CUtensorMapSwizzle swizzle, CUtensorMapL2promotion,
                                       CUtensorMapFloatOOBfill fill) {
  const uint32_t elem = type == CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 ? 2 : type == CU_TENSOR_MAP_DATA_TYPE_FLOAT32 ? 4 : 0;
  const uint32_t span = swizzle == CU_TENSOR_MAP_SWIZZLE_NONE ? 0 : 16u << swizzle;
  bool ok = map && elem && rank >= 1 && rank <= 5 && reinterpret_cast<uintptr_t>(global) % 16 == 0 &&
            interleave == CU_TENSOR_MAP_INTERLEAVE_NONE && fill == CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE &&
            box[0] * elem % 16 == 0 && (span == 0 || box[0] * elem <= span);
  for (uint32_t i = 0; ok && i < rank; ++i)
    ok = dim[i] >= 1 && dim[i] <= (uint64_t(1) << 32) && box[i] >= 1 && box[i] <= 256 && element_strides[i] == 1 &&
         (i == 0 || (strides[i - 1] % 16 == 0 && strides[i - 1] < (uint64_t(1) << 40)));
  if (!ok) return CUDA_ERROR_INVALID_VALUE;
  *map = CUtensorMap{};
  map->encoded = true;
  map->rank = rank, map->elem_bytes = elem, map->swizzle_bytes = span;
  map->global = static_cast<const unsigned char*>(global);
  for (uint32_t i = 0; i < rank; ++i) {
    map->dim[i] = dim[i], map->box[i] = box[i];
    map->stride[i] = i == 0 ? elem : strides[i - 1];
  }
  return CUDA_SUCCESS;
}

// The runtime's way to the driver API (cuda_runtime_api.h), which the kernels' host code takes so that nothing
// links libcuda: here it finds the emulated cuTensorMapEncodeTiled above.
enum cudaDriverEntryPointQueryResult { cudaDriverEntryPointSuccess = 0, cudaDriverEntryPointSymbolNotFound = 1 };
constexpr unsigned long long cudaEnableDefault = 0;
inline cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** fn, unsigned int /*cuda_version*/,
                                                    unsigned long long /*flags*/,
                                                    cudaDriverEntryPointQueryResult* found) {
  const bool known = std::string(symbol) == "cuTensorMapEncodeTiled";
  *fn = known ? reinterpret_cast<void*>(&cuTensorMapEncodeTiled) : nullptr;
  *found = known ? cudaDriverEntryPointSuccess : cudaDriverEntryPointSymbolNotFound;
  return cudaSuccess;
}
