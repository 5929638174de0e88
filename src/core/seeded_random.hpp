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
};

}  // namespace fabench
