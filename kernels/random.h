// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based
// generator. Output is a pure function of (key, counter), so any random draw can be recomputed from its
// coordinates (seed, epoch, sample, view, ...) regardless of which thread or rank asks for it.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

namespace vfm {

inline std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(kM0) * ctr[0], p1 = uint64_t(kM1) * ctr[2];
    ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
           uint32_t(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return ctr;
}

// A stream of random numbers keyed by a 64-bit key and a 64-bit stream id; draws advance a counter.
// Copyable, and its whole state is (key, stream, counter) so it can be checkpointed.
class Rng {
 public:
  Rng(uint64_t key, uint64_t stream = 0) : key_(key), stream_(stream) {}

  uint32_t NextU32() {
    if (buffered_ == 0) Refill();
    return block_[4 - buffered_--];
  }
  uint64_t NextU64() { return (uint64_t(NextU32()) << 32) | NextU32(); }
  // Uniform in [0, 1) with 24 random bits.
  float Uniform() { return float(NextU32() >> 8) * (1.0f / 16777216.0f); }
  double UniformDouble() { return double(NextU64() >> 11) * (1.0 / 9007199254740992.0); }
  float Uniform(float lo, float hi) { return lo + (hi - lo) * Uniform(); }
  // Standard normal by Box-Muller (one value per two uniforms; simple and exactly reproducible).
  float Normal() {
    double u1 = 1.0 - UniformDouble(), u2 = UniformDouble();
    return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  // Uniform integer in [0, n).
  uint64_t Below(uint64_t n) { return n <= 1 ? 0 : NextU64() % n; }

  uint64_t key() const { return key_; }
  uint64_t stream() const { return stream_; }
  uint64_t counter() const { return counter_; }
  // Position the stream at a block counter (drops buffered values): used when restoring a checkpoint.
  void Seek(uint64_t counter) { counter_ = counter; buffered_ = 0; }

 private:
  void Refill() {
    block_ = Philox4x32({uint32_t(counter_), uint32_t(counter_ >> 32), uint32_t(stream_),
                         uint32_t(stream_ >> 32)},
                        {uint32_t(key_), uint32_t(key_ >> 32)});
    ++counter_;
    buffered_ = 4;
  }
  uint64_t key_, stream_, counter_ = 0;
  std::array<uint32_t, 4> block_{};
  int buffered_ = 0;
};

// Mixes several ids (seed, epoch, sample, view, ...) into one 64-bit key (splitmix64 steps).
inline uint64_t MixKey(std::initializer_list<uint64_t> ids) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (uint64_t id : ids) {
    h ^= id + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    h ^= h >> 31;
  }
  return h;
}

}  // namespace vfm
