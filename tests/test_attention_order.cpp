// The launch order of the tiled attention kernels (kernels/attention/attention_order.h), pinned on
// the CPU: every (query tile, slice) pair gets exactly one block, each slice's heaviest tile goes
// first, and the causal tail interleaves only the last slices.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/attention/attention_order.h"

using namespace fabench;

TEST_CASE("attention blocks cover every query tile of every slice once, whatever the tail", "[attention][order]") {
  for (const auto& [tiles, slices, tail] :
       {std::tuple<int, int, int>{32, 128, 9}, {5, 7, 3}, {1, 1, 1}, {7, 3, 1}, {4, 6, 6}, {3, 10, 10}, {16, 2, 1}}) {
    CAPTURE(tiles, slices, tail);
    std::set<std::pair<std::int64_t, std::int64_t>> seen;
    for (std::int64_t linear = 0; linear < std::int64_t{tiles} * slices; ++linear) {
      const BlockSlot s = attention_block_slot(linear, tiles, slices, tail);
      REQUIRE(s.tile_from_last >= 0);
      REQUIRE(s.tile_from_last < tiles);
      REQUIRE(s.slice >= 0);
      REQUIRE(s.slice < slices);
      seen.insert({s.tile_from_last, s.slice});
    }
    CHECK(seen.size() == static_cast<std::size_t>(tiles) * slices);
  }
}

TEST_CASE("a tail of one slice is head by head: a slice's tiles are consecutive blocks, heaviest first",
          "[attention][order]") {
  for (std::int64_t linear = 0; linear < 5 * 4; ++linear) {
    const BlockSlot s = attention_block_slot(linear, 5, 4, 1);
    CHECK(s.slice == linear / 5);
    CHECK(s.tile_from_last == linear % 5);
  }
}

TEST_CASE("the tail's slices run every heaviest tile before any next one", "[attention][order]") {
  // 10 slices of 3 tiles, the last 4 interleaved: slices 0-5 head by head, then 6-9 tile by tile.
  const std::int64_t tiles = 3, slices = 10, tail = 4;
  std::int64_t linear = 0;
  for (std::int64_t slice = 0; slice < slices - tail; ++slice)
    for (std::int64_t t = 0; t < tiles; ++t, ++linear) {
      const BlockSlot s = attention_block_slot(linear, tiles, slices, tail);
      CAPTURE(linear);
      CHECK(s.tile_from_last == t);
      CHECK(s.slice == slice);
    }
  for (std::int64_t t = 0; t < tiles; ++t)
    for (std::int64_t i = 0; i < tail; ++i, ++linear) {
      const BlockSlot s = attention_block_slot(linear, tiles, slices, tail);
      CAPTURE(linear);
      CHECK(s.tile_from_last == t);
      CHECK(s.slice == slices - tail + i);
    }
  CHECK(linear == tiles * slices);
}

TEST_CASE("the causal tail holds one wave of blocks whose K/V fit in half the L2", "[attention][order]") {
  // An H100: 50 MB of L2; two 64-row blocks an SM make 264 resident blocks. bf16 d128: K and V of
  // one head are 1 MiB at seq 2048.
  const std::int64_t l2 = 50 << 20, mib = 1 << 20;
  CHECK(attention_tail_slices(264, 16, 256, l2, mib / 2) == 17);  // seq 1024: 16 tiles a slice
  CHECK(attention_tail_slices(264, 32, 128, l2, mib) == 9);       // seq 2048
  CHECK(attention_tail_slices(264, 128, 32, l2, 4 * mib) == 3);   // seq 8192
  CHECK(attention_tail_slices(264, 256, 16, l2, 8 * mib) == 2);   // seq 16384
  // d256 at seq 16384: 16 MiB a slice, one wave would be 2 slices but only one fits.
  CHECK(attention_tail_slices(132, 128, 8, l2, 16 * mib) == 1);
  // GQA: a slice's share of its group's K/V.
  CHECK(attention_tail_slices(264, 32, 128, l2, mib / 4) == 9);
  CHECK(attention_tail_slices(264, 4, 8, l2, mib) == 8);          // fewer blocks than a wave: all slices
  CHECK(attention_tail_slices(132, 1000, 4, l2, mib) == 1);       // one slice already fills the GPU
  CHECK(attention_tail_slices(0, 16, 4, l2, mib) == 1);           // an occupancy of 0 still leaves a valid tail
  CHECK(attention_tail_slices(264, 16, 256, 0, mib) == 1);        // no L2 reported: head by head
}

namespace {
AttentionArgs attention_shape(std::int64_t batch, std::int64_t heads, std::int64_t kv_heads, std::int64_t seq,
                              std::int64_t d, bool causal, KernelElem elem) {
  AttentionArgs a;
  a.batch = batch, a.heads = heads, a.kv_heads = kv_heads, a.seq_q = a.seq_k = seq, a.head_dim = d;
  a.causal = causal, a.elem = elem;
  return a;
}
}  // namespace

TEST_CASE("a launch's schedule: persistent blocks only past one wave without causal masking, else a causal tail",
          "[attention][order]") {
  const AttentionResidency h100{264, 50 << 20};  // two blocks an SM on 132 SMs
  // Non-causal, 8 tiles x 128 slices = 1024 items > 264: a persistent kernel gets one block a slot.
  const AttentionArgs full = attention_shape(8, 16, 16, 2048, 128, false, KernelElem::bf16);
  const AttentionSchedule p = attention_schedule(full, 256, h100, true);
  CHECK(p.persistent);
  CHECK(p.grid.x == 264);
  CHECK(p.grid.y == 1);
  CHECK(p.tiles == 8);
  CHECK(p.slices == 128);
  CHECK(p.tail == 1);
  // A kernel that cannot loop, or fewer items than slots: a block per item, head by head.
  const AttentionSchedule fixed = attention_schedule(full, 256, h100, false);
  CHECK_FALSE(fixed.persistent);
  CHECK(fixed.grid.x == 8);
  CHECK(fixed.grid.y == 16);
  CHECK(fixed.grid.z == 8);
  CHECK_FALSE(attention_schedule(attention_shape(1, 2, 2, 300, 128, false, KernelElem::f16), 128, h100, true)
                  .persistent);
  // Causal: never persistent; the tail is one wave (264 / 32 tiles -> 9 slices) of 1 MiB K/V slices.
  const AttentionArgs causal = attention_shape(8, 16, 16, 2048, 128, true, KernelElem::bf16);
  const AttentionSchedule c = attention_schedule(causal, 64, h100, true);
  CHECK_FALSE(c.persistent);
  CHECK(c.grid.x == 32);
  CHECK(c.tail == 9);
  // fp32 d256 at seq 16384: 32 MiB of K/V a slice, more than half the L2, so head by head.
  CHECK(attention_schedule(attention_shape(1, 8, 8, 16384, 256, true, KernelElem::f32), 64, h100, false).tail == 1);
  // Queries that failed (no residency): head by head, a block per item.
  const AttentionSchedule unknown = attention_schedule(causal, 64, AttentionResidency{}, true);
  CHECK(unknown.tail == 1);
  CHECK_FALSE(unknown.persistent);
  CHECK(unknown.grid.x == 32);
}

TEST_CASE("split keys (stream-K): past the whole items every key tile is one block's, and each split item has one "
          "head piece, its block's last unit, and one tail piece, the next block's first split unit",
          "[attention][order]") {
  // tiles x slices items over `blocks` resident blocks, seq_k keys in tiles of 64.
  for (const auto& [tiles, slices, blocks, seq_k] :
       {std::tuple<int, int, int, int>{8, 128, 132, 2048}, {3, 128, 132, 520}, {5, 128, 264, 520},
        {17, 8, 132, 4097}, {2, 70, 132, 100}, {8, 128, 128, 2048}, {1, 133, 132, 65}, {4, 100, 132, 64}}) {
    CAPTURE(tiles, slices, blocks, seq_k);
    AttentionArgs a = attention_shape(1, slices, slices, tiles * 256, 128, false, KernelElem::f16);
    a.seq_k = seq_k;
    const AttentionSchedule s = attention_schedule(a, 256, AttentionResidency{blocks, 50 << 20}, true, 64);
    REQUIRE(s.persistent);
    const std::int64_t items = std::int64_t{tiles} * slices, key_tiles = (seq_k + 63) / 64;
    CHECK(s.key_tiles == key_tiles);
    const bool split = items % blocks != 0 && key_tiles >= 2;
    // All but the last full wave and the partial one are whole; without a partial wave, all.
    CHECK(s.whole_items == (split ? (items / blocks - 1) * blocks : items));
    std::vector<int> covered(static_cast<std::size_t>(items * key_tiles), 0);
    std::vector<std::pair<std::int64_t, bool>> head_of(static_cast<std::size_t>(items), {-1, false});
    for (std::int64_t b = 0; b < blocks; ++b) {
      std::vector<AttentionUnit> units;
      for (AttentionUnit u = attention_first_unit(s, b); u.item >= 0; u = attention_next_unit(s, b, u)) {
        REQUIRE(u.item < items);
        REQUIRE(0 <= u.key_begin);
        REQUIRE(u.key_begin < u.key_end);
        REQUIRE((u.key_end <= key_tiles || u.key_end == kAllKeyTiles));
        units.push_back(u);
      }
      REQUIRE_FALSE(units.empty());
      for (std::size_t i = 0; i < units.size(); ++i) {
        const AttentionUnit& u = units[i];
        const int end = std::min<int>(u.key_end, static_cast<int>(key_tiles));
        for (int j = u.key_begin; j < end; ++j) ++covered[static_cast<std::size_t>(u.item * key_tiles + j)];
        if (u.item < s.whole_items) {
          CHECK(u.item % blocks == b);  // whole items go b, b + blocks, ...
          CHECK(u.key_begin == 0);
          CHECK(u.key_end == kAllKeyTiles);
        }
        if (u.key_begin > 0) {  // a tail piece: the first split unit of its block
          CHECK((i == 0 || units[i - 1].item < s.whole_items));
          CHECK(u.key_end == key_tiles);
          REQUIRE(b > 0);
        }
        if (u.key_begin == 0 && u.key_end < key_tiles) {  // a head piece: its block's last unit
          CHECK(i + 1 == units.size());
          head_of[static_cast<std::size_t>(u.item)] = {b, true};
        }
      }
      // The tail piece this block opens with belongs to the previous block's head piece.
      for (const AttentionUnit& u : units)
        if (u.key_begin > 0) CHECK(head_of[static_cast<std::size_t>(u.item)] == std::make_pair(b - 1, true));
    }
    for (int c : covered) REQUIRE(c == 1);
  }
  // Kernels that cannot split (split_block_n 0) keep whole items.
  const AttentionArgs a = attention_shape(8, 16, 16, 2048, 128, false, KernelElem::f16);
  const AttentionSchedule whole = attention_schedule(a, 256, AttentionResidency{132, 50 << 20}, true);
  CHECK(whole.whole_items == 1024);
}

TEST_CASE("the 32-bit slot arithmetic gives the 64-bit one's slot for every block", "[attention][order]") {
  // attention_block_slot32: the warp-specialized loop's consumers (attention_wgmma_ws.cuh's ws_tile).
  for (const auto& [tiles, slices, tail] :
       {std::tuple<int, int, int>{64, 32, 1}, {5, 7, 3}, {1, 1, 1}, {4, 6, 6}, {17, 1000, 132}}) {
    CAPTURE(tiles, slices, tail);
    for (int linear = 0; linear < tiles * slices; ++linear) {
      const BlockSlot wide = attention_block_slot(linear, tiles, slices, tail);
      const BlockSlot narrow = attention_block_slot32(linear, tiles, slices, tail);
      REQUIRE(narrow.tile_from_last == wide.tile_from_last);
      REQUIRE(narrow.slice == wide.slice);
    }
  }
}
