#include "autograd/caching_allocator.h"

#include <algorithm>
#include <sstream>

#include "autograd/check.h"

namespace vfm {

size_t CachingAllocator::SizeClass(size_t nbytes) {
  if (nbytes <= 4096) return std::max<size_t>(512, (nbytes + 511) / 512 * 512);
  // Keep the leading bit and the two below it: 8 classes between consecutive powers of two.
  int top = 63 - __builtin_clzll(nbytes);
  const size_t step = size_t(1) << (top - 3);
  return (nbytes + step - 1) / step * step;
}

CachingAllocator::CachingAllocator(std::string name, Backend backend)
    : name_(std::move(name)), backend_(std::move(backend)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Pending& p : pending_)
    for (void* e : p.events) backend_.destroy_event(e);
  for (auto& [ptr, block] : blocks_) backend_.free(ptr);
}

void CachingAllocator::CollectPendingLocked() {
  auto done = [&](Pending& p) {
    for (void* e : p.events)
      if (!backend_.event_done(e)) return false;
    for (void* e : p.events) backend_.destroy_event(e);
    Block& b = blocks_.at(p.ptr);
    free_[{b.stream, b.size}].push_back(p.ptr);
    return true;
  };
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(), done), pending_.end());
}

void* CachingAllocator::Allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t size = SizeClass(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* stream = backend_.current_stream();
  if (!pending_.empty()) CollectPendingLocked();
  void* ptr = nullptr;
  auto it = free_.find({stream, size});
  if (it != free_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    ++stats_.cache_hits;
  } else {
    ptr = backend_.malloc(size);
    if (!ptr) {  // out of memory: give the cache back and try once more
      EmptyCacheLocked();
      ptr = backend_.malloc(size);
    }
    VFM_CHECK(ptr) << name_ << ": out of memory allocating " << size << " bytes (" << Format(stats_) << ")";
    ++stats_.backend_mallocs;
    stats_.reserved += size;
    blocks_[ptr] = Block{size, stream, {}};
  }
  stats_.in_use += size;
  stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
  return ptr;
}

void CachingAllocator::Free(void* ptr, size_t) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = blocks_.find(ptr);
  VFM_CHECK(it != blocks_.end()) << name_ << ": freeing a pointer it did not allocate";
  Block& b = it->second;
  stats_.in_use -= b.size;
  if (b.used_by.empty()) {
    free_[{b.stream, b.size}].push_back(ptr);
    return;
  }
  Pending p{ptr, {}};
  for (void* s : b.used_by) p.events.push_back(backend_.record_event(s));
  b.used_by.clear();
  pending_.push_back(std::move(p));
}

void CachingAllocator::RecordStream(void* ptr, void* stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = blocks_.find(ptr);
  VFM_CHECK(it != blocks_.end()) << name_ << ": RecordStream on a pointer it did not allocate";
  Block& b = it->second;
  if (stream != b.stream && std::find(b.used_by.begin(), b.used_by.end(), stream) == b.used_by.end())
    b.used_by.push_back(stream);
}

void CachingAllocator::EmptyCacheLocked() {
  for (auto& [key, ptrs] : free_) {
    for (void* ptr : ptrs) {
      backend_.free(ptr);
      ++stats_.backend_frees;
      stats_.reserved -= blocks_.at(ptr).size;
      blocks_.erase(ptr);
    }
  }
  free_.clear();
}

void CachingAllocator::EmptyCache() {
  std::lock_guard<std::mutex> lock(mutex_);
  CollectPendingLocked();
  EmptyCacheLocked();
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::ResetPeak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_in_use = stats_.in_use;
}

std::string CachingAllocator::Format(const Stats& st) {
  std::ostringstream s;
  s << "in use " << st.in_use / (1 << 20) << " MiB, reserved " << st.reserved / (1 << 20) << " MiB, peak "
    << st.peak_in_use / (1 << 20) << " MiB, " << st.backend_mallocs << " backend allocations";
  return s.str();
}

}  // namespace vfm
