// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the per-sample and per-shard checksum
// of the shard format. SSE4.2's crc32 instruction computes exactly this polynomial; a table is the fallback.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vfm::data {

// Extends `crc` (0 to start) over `size` bytes; Crc32c(Crc32c(0, a), b) == Crc32c(0, a+b).
uint32_t Crc32c(uint32_t crc, const void* data, size_t size);
inline uint32_t Crc32c(const void* data, size_t size) { return Crc32c(0, data, size); }

}  // namespace vfm::data
