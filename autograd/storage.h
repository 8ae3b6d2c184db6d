// Storage: a refcounted block of device memory, owned apart from the tensor headers that view it
// (so reshape/transpose/slice are free and share memory).
#pragma once
#include <cstddef>
#include <memory>

#include "autograd/dtype.h"

namespace vfm {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* Allocate(size_t nbytes) = 0;
  virtual void Free(void* ptr, size_t nbytes) = 0;
};

// 64-byte aligned host memory (cache lines, AVX-512 loads).
Allocator* CpuAllocator();
Allocator* AllocatorFor(Device device);

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  // Host memory from a given allocator (pinned buffers for asynchronous uploads).
  Storage(size_t nbytes, Device device, Allocator* allocator);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  Allocator* allocator() const { return allocator_; }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Allocator* allocator_;
};

}  // namespace vfm
