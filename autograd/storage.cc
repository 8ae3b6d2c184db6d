#include "autograd/storage.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

namespace vfm {

size_t ElementSize(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF64: return 8;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kU8: return 1;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF64: return "f64";
    case DType::kBF16: return "bf16";
    case DType::kI32: return "i32";
    case DType::kI64: return "i64";
    case DType::kU8: return "u8";
  }
  return "?";
}

namespace {
class HostAllocator : public Allocator {
 public:
  void* Allocate(size_t nbytes) override {
    if (nbytes == 0) return nullptr;
    void* p = std::aligned_alloc(64, (nbytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void Free(void* ptr, size_t) override { std::free(ptr); }
};
}  // namespace

Allocator* CpuAllocator() {
  static HostAllocator allocator;
  return &allocator;
}

Allocator* AllocatorFor(Device device) {
  if (device.is_cpu()) return CpuAllocator();
  throw std::runtime_error("no allocator for device " + device.ToString() +
                           " (this build has no CUDA backend)");
}

Storage::Storage(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), allocator_(AllocatorFor(device)) {
  data_ = allocator_->Allocate(nbytes);
}

Storage::~Storage() { allocator_->Free(data_, nbytes_); }

}  // namespace vfm
