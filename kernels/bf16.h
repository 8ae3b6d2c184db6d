// bfloat16 storage type: the upper 16 bits of an IEEE float, rounded to nearest even.
#pragma once
#include <cstdint>
#include <cstring>

namespace vfm {

struct bf16 {
  uint16_t bits = 0;
};

inline bf16 FloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t(u >> 16)};
}

inline float Bf16ToFloat(bf16 h) {
  uint32_t u = uint32_t(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace vfm
