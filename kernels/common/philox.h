#pragma once
// Philox4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3", SC'11), written
// from the paper's description. Counter-based: element i's random bits depend only on (seed, i),
// so a kernel and the CPU reference make exactly the same dropout decisions in any order.
#include <cstdint>

#include "kernels/common/host_device.h"

namespace fabench {

struct Philox4 {
  std::uint32_t x[4];
};

FA_HOST_DEVICE std::uint32_t philox_mulhi(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(a) * b) >> 32);
}

FA_HOST_DEVICE Philox4 philox4x32_10(std::uint64_t counter, std::uint64_t seed) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  std::uint32_t c0 = static_cast<std::uint32_t>(counter), c1 = static_cast<std::uint32_t>(counter >> 32);
  std::uint32_t c2 = 0, c3 = 0;
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
#ifdef __CUDACC__
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0 = philox_mulhi(kMul0, c0), lo0 = kMul0 * c0;
    std::uint32_t hi1 = philox_mulhi(kMul1, c2), lo1 = kMul1 * c2;
    std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Dropout decides with 16 random bits per element: element i reads Philox(counter = i / 8), word
// (i % 8) / 2, low half for even i and high half for odd i, and is dropped when those bits fall
// under round(p * 65536). One Philox call serves 8 elements, so p resolves to 1/65536; a kernel
// holding 8 consecutive elements calls it once (the design's "several thresholds per random").
FA_HOST_DEVICE std::uint32_t dropout_threshold(double p) {
  if (p <= 0.0) return 0u;
  double t = p * 65536.0 + 0.5;
  return t >= 65536.0 ? 65536u : static_cast<std::uint32_t>(t);
}

// The 16 decision bits of element i out of the Philox block of its group of 8.
FA_HOST_DEVICE std::uint32_t dropout_bits(const Philox4& block, std::uint64_t element) {
  const std::uint32_t word = block.x[(element >> 1) & 3u];
  return (element & 1u) ? (word >> 16) : (word & 0xFFFFu);
}

FA_HOST_DEVICE bool dropout_keep(std::uint64_t seed, std::uint64_t element, std::uint32_t threshold) {
  return dropout_bits(philox4x32_10(element >> 3, seed), element) >= threshold;
}

}  // namespace fabench
