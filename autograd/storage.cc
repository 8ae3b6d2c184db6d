#include "autograd/storage.h"

#include "autograd/caching_allocator.h"
#include "autograd/check.h"
#if VFM_WITH_CUDA
#include "kernels/cuda/runtime.h"
#endif

#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

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

#if VFM_WITH_CUDA
namespace {
CachingAllocator::Backend CudaBackend(void* (*malloc)(size_t), void (*free)(void*), cuda::Stream (*stream)()) {
  return {malloc, free, stream, cuda::RecordEvent, cuda::EventDone, cuda::DestroyEvent};
}
}  // namespace

CachingAllocator& CudaAllocator(int device) {
  static std::mutex mutex;
  // Never destroyed: their teardown would call CUDA after the runtime has shut down (or after a sticky
  // error), where a failure can only abort; the driver reclaims the memory at exit.
  static std::vector<CachingAllocator*> allocators;
  std::lock_guard<std::mutex> lock(mutex);
  if (int(allocators.size()) <= device) allocators.resize(size_t(device) + 1);
  CachingAllocator*& a = allocators[size_t(device)];
  if (!a) a = new CachingAllocator("cuda:" + std::to_string(device),
                                   CudaBackend(cuda::DeviceMalloc, cuda::DeviceFree, cuda::ComputeStream));
  return *a;
}

// Pinned buffers are filled by the host (their "stream" is none) and read by uploads on the compute
// stream: a block freed after an upload was queued waits for it (RecordStream in Tensor::CopyFrom).
// Never destroyed, as above.
CachingAllocator& PinnedAllocator() {
  static CachingAllocator* allocator = new CachingAllocator(
      "pinned host", CudaBackend(cuda::PinnedMalloc, cuda::PinnedFree, []() -> cuda::Stream { return nullptr; }));
  return *allocator;
}
#endif

Allocator* AllocatorFor(Device device) {
  if (device.is_cpu()) return CpuAllocator();
#if VFM_WITH_CUDA
  VFM_CHECK(device.index == cuda::CurrentDevice())
      << "tensor on " << device.ToString() << " but this process uses cuda:" << cuda::CurrentDevice();
  return &CudaAllocator(device.index);
#else
  throw Error("no allocator for device " + device.ToString() + " (this build has no CUDA backend)");
#endif
}

Storage::Storage(size_t nbytes, Device device) : Storage(nbytes, device, AllocatorFor(device)) {}

Storage::Storage(size_t nbytes, Device device, Allocator* allocator)
    : nbytes_(nbytes), device_(device), allocator_(allocator) {
  data_ = allocator_->Allocate(nbytes);
}

Storage::~Storage() { allocator_->Free(data_, nbytes_); }

}  // namespace vfm
