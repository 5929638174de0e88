// The shared-memory contract of attn.wgmma, pinned on the CPU: the descriptor's bit fields and the
// 128-byte swizzle the tiles are stored in (a wrong bit here shows on a GPU only as wrong results).
#include <catch2/catch.hpp>

#include <set>

#include "kernels/common/wgmma_layout.h"

using namespace fabench;

TEST_CASE("wgmma descriptors pack address, offsets and the 128-byte swizzle mode", "[wgmma]") {
  const std::uint64_t d = wgmma_desc(0x1400, 16, 1024);
  CHECK((d & 0x3FFF) == 0x1400 >> 4);          // start address, 16-byte units
  CHECK(((d >> 16) & 0x3FFF) == 1);            // leading byte offset 16
  CHECK(((d >> 32) & 0x3FFF) == 1024 >> 4);    // stride byte offset: 8 rows of 128 bytes
  CHECK(((d >> 49) & 0x7) == 0);               // base offset 0: tiles are 1024-byte aligned
  CHECK((d >> 62) == 1);                       // layout type 1: 128-byte swizzle
  // Nothing in the reserved fields: bits 14-15, 30-31, 46-48 and 52-61.
  const std::uint64_t reserved = (std::uint64_t{0x3} << 14) | (std::uint64_t{0x3} << 30) |
                                 (std::uint64_t{0x7} << 46) | (std::uint64_t{0x3FF} << 52);
  CHECK((wgmma_desc(0x3FFF0, 0xFFFF0, 0xFFFF0) & reserved) == 0);
  // Advancing along k inside a row moves only the address field (32 bytes a k16 step of 16-bit data).
  CHECK(wgmma_desc(0x1400 + 32, 16, 1024) - d == 2);
  // The address field holds bits 4-17 of the shared-memory address (228 KB fit in 18 bits).
  CHECK((wgmma_desc(0x3FFF0, 16, 1024) & 0x3FFF) == 0x3FFF);
  // V as an N-major B: column blocks of 64 dims are block_n * 128 bytes apart (the leading offset).
  CHECK(((wgmma_desc(0, 128 * 128, 1024) >> 16) & 0x3FFF) == 128 * 128 / 16);
}

template <int ROWS>
void check_swizzle(int chunks) {
  std::set<std::uint32_t> seen;
  for (int r = 0; r < ROWS; ++r)
    for (int c = 0; c < chunks; ++c) {
      const std::uint32_t off = swizzle128_offset<ROWS>(r, c);
      INFO("rows " << ROWS << " row " << r << " chunk " << c);
      CHECK(off % 16 == 0);
      CHECK(off < static_cast<std::uint32_t>(ROWS * chunks * 16));
      CHECK(seen.insert(off).second);
      // Column block c / 8 holds rows of 128 bytes; within one, the row sits at 128 r and address
      // bits 4-6 are the chunk XOR address bits 7-9 (the row mod 8): the 128-byte swizzle.
      CHECK(off / (ROWS * 128) == static_cast<std::uint32_t>(c / 8));
      CHECK((off % (ROWS * 128)) / 128 == static_cast<std::uint32_t>(r));
      CHECK(((off >> 4) & 7) == ((static_cast<std::uint32_t>(c) & 7) ^ ((off >> 7) & 7)));
    }
}

TEST_CASE("the 128-byte swizzle stores every chunk once, in the pattern the hardware reads", "[wgmma]") {
  for (int chunks : {8, 16, 32}) {  // head dims 64, 128, 256 of 16-bit data
    check_swizzle<64>(chunks);
    check_swizzle<128>(chunks);
    check_swizzle<192>(chunks);
  }
  // Eight consecutive rows read at one logical chunk land in eight different 16-byte slots.
  std::set<std::uint32_t> slots;
  for (int r = 0; r < 8; ++r) slots.insert((swizzle128_offset<64>(r, 3) >> 4) & 7);
  CHECK(slots.size() == 8);
}
