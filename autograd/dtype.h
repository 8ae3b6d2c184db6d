// Element types and devices of tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/bf16.h"

namespace vfm {

// kF64 exists for gradient checks in tests (finite differences need double precision).
enum class DType : uint8_t { kF32, kF64, kBF16, kI32, kI64, kU8 };

size_t ElementSize(DType dtype);
const char* DTypeName(DType dtype);

template <typename T> constexpr DType DTypeOf();
template <> constexpr DType DTypeOf<float>() { return DType::kF32; }
template <> constexpr DType DTypeOf<double>() { return DType::kF64; }
template <> constexpr DType DTypeOf<bf16>() { return DType::kBF16; }
template <> constexpr DType DTypeOf<int32_t>() { return DType::kI32; }
template <> constexpr DType DTypeOf<int64_t>() { return DType::kI64; }
template <> constexpr DType DTypeOf<uint8_t>() { return DType::kU8; }

struct Device {
  enum class Kind : uint8_t { kCPU, kCUDA };
  Kind kind = Kind::kCPU;
  int index = 0;

  static Device CPU() { return {}; }
  static Device CUDA(int index) { return {Kind::kCUDA, index}; }
  bool is_cpu() const { return kind == Kind::kCPU; }
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string ToString() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

}  // namespace vfm
