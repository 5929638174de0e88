#pragma once
// The shared-memory side of wgmma (PTX ISA "Matrix Descriptor Format" and "Shared Memory Matrix
// Layout"), host-testable: the 64-bit descriptor and where the 128-byte swizzle puts a 16-byte
// chunk. Plain integer functions, so the CPU tests pin them without a GPU.
#include <cstdint>

#include "kernels/common/host_device.h"

namespace fabench {

// A shared-memory matrix descriptor with the 128-byte swizzle (layout type 1 in bits 62-63).
// Address (bits 0-13), leading (16-29) and stride (32-45) byte offsets in 16-byte units, 14 bits
// each; the base offset (49-51) stays 0, so tiles start 1024-byte aligned.
FA_HOST_DEVICE std::uint64_t wgmma_desc(std::uint32_t smem_addr, std::uint32_t leading_bytes,
                                        std::uint32_t stride_bytes) {
  return static_cast<std::uint64_t>((smem_addr & 0x3FFFFu) >> 4) |
         static_cast<std::uint64_t>((leading_bytes >> 4) & 0x3FFFu) << 16 |
         static_cast<std::uint64_t>((stride_bytes >> 4) & 0x3FFFu) << 32 | std::uint64_t{1} << 62;
}

// Byte offset of 16-byte chunk c of row r in a tile of ROWS rows kept as column blocks of 128
// bytes (64 16-bit elements): block c / 8, row r at 128 r, chunk (c mod 8) XOR (r mod 8). With the
// tile 1024-byte aligned this is what the hardware's 128-byte swizzle reads: address bits 4-6 are
// the chunk XOR address bits 7-9.
template <int ROWS>
FA_HOST_DEVICE std::uint32_t swizzle128_offset(int r, int c) {
  return static_cast<std::uint32_t>((c >> 3) * ROWS * 128 + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}

}  // namespace fabench
