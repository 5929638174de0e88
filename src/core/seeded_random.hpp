#pragma once
// The generator behind every seeded input, shared by the built-in fills and the ops' own fills.
#include <cstdint>

namespace fabench {

// splitmix64 (Steele, Lea, Flood 2014): small, fast, and enough for test inputs.
struct SplitMix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  // Uniform in [0, n), n >= 1, unbiased: draws below 2^64 mod n are rejected, so every residue
  // has the same number of preimages (a plain `% n` favours small values). Its stream is fixed by
  // its definition, so lengths and page tables are the same on every compiler and library.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
    for (;;) {
      const std::uint64_t r = next();
      if (r >= reject_below) return r % n;
    }
  }
};

}  // namespace fabench
