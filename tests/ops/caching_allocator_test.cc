// The caching allocator's logic with a fake backend (host memory, fake streams and events), so it is
// tested on every machine; tests/gpu/tensor_test.cc checks it on a real GPU.
#include "autograd/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

namespace vfm {
namespace {

struct FakeDevice {
  int64_t mallocs = 0, frees = 0;
  size_t capacity = size_t(1) << 40;  // bytes the fake device can hand out
  size_t used = 0;
  std::map<void*, size_t> sizes;
  void* stream = reinterpret_cast<void*>(0x1);
  std::set<int*> unfinished_events;  // events whose stream work has not completed

  CachingAllocator::Backend Backend() {
    return {[this](size_t n) -> void* {
              if (used + n > capacity) return nullptr;
              used += n;
              ++mallocs;
              void* p = std::malloc(n);
              sizes[p] = n;
              return p;
            },
            [this](void* p) {
              ++frees;
              used -= sizes.at(p);
              sizes.erase(p);
              std::free(p);
            },
            [this] { return stream; },
            [this](void*) -> void* {
              int* e = new int(0);
              unfinished_events.insert(e);
              return e;
            },
            [this](void* e) { return !unfinished_events.count(static_cast<int*>(e)); },
            [](void* e) { delete static_cast<int*>(e); }};
  }
  void FinishAll() { unfinished_events.clear(); }
};

TEST(CachingAllocator, SizeClassesWasteAtMostAnEighth) {
  EXPECT_EQ(CachingAllocator::SizeClass(1), 512u);
  EXPECT_EQ(CachingAllocator::SizeClass(513), 1024u);
  EXPECT_EQ(CachingAllocator::SizeClass(4096), 4096u);
  for (size_t n : {4097ul, 10000ul, 1ul << 20, (1ul << 20) + 1, 123456789ul}) {
    const size_t c = CachingAllocator::SizeClass(n);
    EXPECT_GE(c, n);
    EXPECT_LE(double(c - n), double(n) / 8) << n;
  }
}

TEST(CachingAllocator, SteadyStateReusesBlocks) {
  FakeDevice dev;
  CachingAllocator a("fake", dev.Backend());
  auto step = [&] {
    void* x = a.Allocate(1000);
    void* y = a.Allocate(300000);
    a.Free(x, 1000);
    void* z = a.Allocate(900);  // same class as x: reuses it
    a.Free(y, 300000);
    a.Free(z, 900);
  };
  step();
  const int64_t warm = dev.mallocs;
  for (int i = 0; i < 100; ++i) step();
  EXPECT_EQ(dev.mallocs, warm);
  const auto s = a.stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.reserved, CachingAllocator::SizeClass(1000) + CachingAllocator::SizeClass(300000));
  EXPECT_EQ(s.peak_in_use, s.reserved);
}

TEST(CachingAllocator, StreamsDoNotShareFreeBlocks) {
  FakeDevice dev;
  CachingAllocator a("fake", dev.Backend());
  void* x = a.Allocate(2048);
  a.Free(x, 2048);
  dev.stream = reinterpret_cast<void*>(0x2);
  void* y = a.Allocate(2048);
  EXPECT_NE(x, y);  // a block freed on stream 1 is not handed to stream 2
  a.Free(y, 2048);
}

TEST(CachingAllocator, BlockUsedByAnotherStreamWaitsForItsEvent) {
  FakeDevice dev;
  CachingAllocator a("fake", dev.Backend());
  void* x = a.Allocate(2048);
  a.RecordStream(x, reinterpret_cast<void*>(0x9));  // e.g. NCCL reads it
  a.Free(x, 2048);
  void* y = a.Allocate(2048);
  EXPECT_NE(x, y) << "reused while the other stream may still read it";
  dev.FinishAll();
  a.Free(y, 2048);
  void* z = a.Allocate(2048);
  void* w = a.Allocate(2048);
  EXPECT_TRUE((z == x && w == y) || (z == y && w == x)) << "both blocks are reusable once the event completed";
  a.Free(z, 2048);
  a.Free(w, 2048);
}

TEST(CachingAllocator, OutOfMemoryReleasesTheCacheThenFailsClearly) {
  FakeDevice dev;
  dev.capacity = 3 << 20;
  CachingAllocator a("fake", dev.Backend());
  void* x = a.Allocate(2 << 20);
  a.Free(x, 2 << 20);  // cached, still counted against the device
  void* y = a.Allocate(3 << 20);  // fits only once the cache is released
  EXPECT_NE(y, nullptr);
  EXPECT_EQ(dev.frees, 1);
  try {
    a.Allocate(1 << 20);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("fake: out of memory allocating 1048576 bytes"), std::string::npos)
        << e.what();
  }
  a.Free(y, 3 << 20);
}

}  // namespace
}  // namespace vfm
