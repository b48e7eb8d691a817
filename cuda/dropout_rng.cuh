// The counter-based dropout RNG, bit-identical to the CPU backend's (native/cpu/activation.cc,
// which states the formula), so a run's dropout masks do not depend on the device it ran on.
#pragma once

#include <cstdint>

// splitmix64's finaliser over seed + (i + 1) * golden ratio; the top 24 bits are the draw.
__host__ __device__ inline uint32_t cgk_dropout_bits(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z = z ^ (z >> 31);
  return static_cast<uint32_t>(z >> 40);
}

// threshold = p * 2^24 (exact in float32); keep when the 24-bit draw is >= it.
__host__ __device__ inline bool cgk_dropout_keep(uint64_t seed, uint64_t i, float threshold) {
  return static_cast<float>(cgk_dropout_bits(seed, i)) >= threshold;
}
