// A caching allocator for device (and pinned host) memory, so the steady-state training step never
// calls cudaMalloc/cudaFree (each of which synchronises the device).
//
// Freed blocks go to free lists keyed by (stream, size class) and are handed out again to requests of
// the same class on the same stream: work on one stream runs in order, so a block freed there can be
// reused there at once. A block that another stream also used (RecordStream: a pinned host buffer, whose
// "stream" is the host, read by an upload on the compute stream) waits after its free until events
// recorded on those streams have completed. (Collectives on NCCL's stream need no RecordStream: every
// Work is waited on, which orders the compute stream after it, before its tensors are freed.) Size classes: multiples of 512 bytes up to 4 KiB, then 8 classes per power
// of two (at most 12.5% rounding waste). When the backend runs out of memory, the cache is released
// and the request retried once; a second failure throws with the statistics.
//
// The backend is a set of functions, so the logic is tested on the CPU with a fake one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/storage.h"

namespace vfm {

class CachingAllocator : public Allocator {
 public:
  struct Backend {
    std::function<void*(size_t)> malloc;  // nullptr when out of memory
    std::function<void(void*)> free;
    std::function<void*()> current_stream;
    std::function<void*(void* stream)> record_event;
    std::function<bool(void* event)> event_done;
    std::function<void(void* event)> destroy_event;
  };
  struct Stats {
    size_t in_use = 0;       // bytes (rounded) held by live tensors
    size_t reserved = 0;     // bytes obtained from the backend (in use + cached)
    size_t peak_in_use = 0;  // since the last ResetPeak
    int64_t backend_mallocs = 0, backend_frees = 0;
    int64_t cache_hits = 0;  // requests served from the free lists
  };

  CachingAllocator(std::string name, Backend backend);
  ~CachingAllocator() override;

  void* Allocate(size_t nbytes) override;
  void Free(void* ptr, size_t nbytes) override;
  // The block holding ptr is also used by `stream`: reuse after free waits for that stream's work.
  void RecordStream(void* ptr, void* stream);
  // Returns every cached (free) block to the backend.
  void EmptyCache();
  Stats stats() const;
  void ResetPeak();
  std::string StatsString() const { return Format(stats()); }
  static std::string Format(const Stats& stats);

  static size_t SizeClass(size_t nbytes);

 private:
  struct Block {
    size_t size;  // the size class
    void* stream;  // where it was allocated
    std::vector<void*> used_by;  // other streams (RecordStream)
  };
  struct Pending {
    void* ptr;
    std::vector<void*> events;
  };
  using FreeKey = std::pair<void*, size_t>;
  struct FreeKeyHash {
    size_t operator()(const FreeKey& k) const { return std::hash<void*>()(k.first) ^ (k.second * 0x9e3779b97f4a7c15ull); }
  };

  void CollectPendingLocked();
  void EmptyCacheLocked();

  const std::string name_;
  const Backend backend_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, Block> blocks_;  // every block obtained from the backend
  std::unordered_map<FreeKey, std::vector<void*>, FreeKeyHash> free_;
  std::vector<Pending> pending_;
  Stats stats_;
};

#if VFM_WITH_CUDA
// The process-wide allocators of the CUDA backend (one per device, and one for pinned host buffers).
CachingAllocator& CudaAllocator(int device);
CachingAllocator& PinnedAllocator();
#endif

}  // namespace vfm
