#pragma once
// The order in which the blocks of a tiled attention kernel take their query tiles, as pure
// functions so the CPU tests can pin them (attention_block.cuh applies them on the GPU).
//
// Without causal masking every block does the same work and blocks go head by head, so the
// blocks in flight share the K/V of few heads. Under causal masking the last query tile of a head
// sees seq_k keys and the first almost none, so each head's heaviest tile goes first; but head by
// head, the last heads' heavy tiles still start when most of the work is done and the kernel ends
// on a few SMs. So the last few (batch, head) slices, the tail, are interleaved: every tail
// slice's heaviest tile runs before any tail slice's next one. The tail is as small as keeps the
// SMs busy (attention_tail_slices below) because interleaving heads costs L2 hits: interleaving
// all slices in sections of half the L2 lost 3-8% in attn.fa2_mma (H100, d128 causal, 16k tokens).
// Measured on an H100 (bf16 d128 causal, 16k tokens, seq 1024-8192), against head by head with a
// tail of 4, 8 and 16 slices: attn.fa2_mma and attn.wgmma +3-5% with a tail of about one wave of
// blocks (17, 9, 5 and 3 slices from seq 1024 to 8192 with 64-row tiles), attn.fa2 fp32 +1-6%; at
// seq 16384 a tail of 2-8 lost 0-5%. The tail's K/V is kept within half the L2 (at d256 seq 16384
// that leaves head by head); the final rule's A/B: attn.wgmma causal +1-11% at seq 1024-8192 and
// -2..+4% at 16384, attn.fa2_mma d64/d256 -2% at 16384 (where its d256 ran head by head too).
#include <algorithm>
#include <cstdint>

#include "kernels/attention/attention.h"
#include "kernels/common/host_device.h"

namespace fabench {

struct BlockSlot {
  std::int64_t tile_from_last;  // 0: the query tile of the last rows (under causal masking the heaviest)
  std::int64_t slice;           // batch * heads + head
};

// Block `linear` of tiles * slices (linear = tile + tiles * slice in launch order): the first
// slices - tail slices head by head, then the last `tail` slices interleaved.
// I: the integer type of the arithmetic.
template <class I>
FA_HOST_DEVICE BlockSlot block_slot_in(I linear, I tiles, I slices, I tail) {
  const I head_major = slices - tail;
  if (linear < head_major * tiles) return {linear % tiles, linear / tiles};
  const I r = linear - head_major * tiles;
  return {r / tail, head_major + r % tail};
}
FA_HOST_DEVICE BlockSlot attention_block_slot(std::int64_t linear, std::int64_t tiles, std::int64_t slices,
                                              std::int64_t tail) {
  return block_slot_in<std::int64_t>(linear, tiles, slices, tail);
}
// The same in 32-bit arithmetic, for a kernel whose items fit (a 64-bit division is a software
// routine of about 70 instructions, a 32-bit one about 20).
FA_HOST_DEVICE BlockSlot attention_block_slot32(int linear, int tiles, int slices, int tail) {
  return block_slot_in<int>(linear, tiles, slices, tail);
}

// The causal tail: enough slices that their blocks make one wave (resident: the blocks the GPU
// holds at once), so the heaviest tiles of the last heads start together, with the wave; but no
// more slices than have their K and V in half the L2 (kv_slice_bytes: the K and V one slice reads,
// shared by the heads of a GQA group), at least one.
inline std::int64_t attention_tail_slices(std::int64_t resident, std::int64_t tiles, std::int64_t slices,
                                          std::int64_t l2_bytes, std::int64_t kv_slice_bytes) {
  const std::int64_t wave = (resident + tiles - 1) / std::max<std::int64_t>(1, tiles);
  const std::int64_t fit = l2_bytes / 2 / std::max<std::int64_t>(1, kv_slice_bytes);
  return std::max<std::int64_t>(1, std::min({wave, fit, slices}));
}

// The grid of a tiled attention kernel and its launch order. A block takes work items: item =
// query tile + tiles * slice in launch order, mapped to a tile and a (batch, head) slice by
// attention_block_slot.
struct AttentionSchedule {
  dim3 grid;                // x: query tiles, y: heads, z: batch; persistent: x resident blocks
  std::int64_t tiles = 1;   // query tiles per slice
  std::int64_t slices = 1;  // batch * heads
  std::int64_t tail = 1;    // causal: the last slices, interleaved (1: head by head throughout)
  bool persistent = false;  // each block loops over work units (attention_first_unit, attention_next_unit)
  // Persistent only: items below whole_items are taken whole, block b's being b, b + grid.x, ...;
  // the key tiles (key_tiles an item, all items alike without causal masking) of the items from
  // whole_items on are split evenly over the blocks (stream-K): split_share each, one more for
  // the first split_extra blocks. Split positions (item * key_tiles + key tile) stay below 2^31,
  // so a kernel finds its units with 32-bit divisions (64-bit ones, in the key loop's kernel,
  // left attn.fa2_mma 7% slower: their registers cost the loop its schedule).
  std::int64_t whole_items = 0;
  std::int64_t key_tiles = 1;
  std::uint32_t split_share = 0, split_extra = 0;
};

// Work a persistent block does at once: key tiles [key_begin, key_end) of one item. A unit that
// starts past key 0 (a tail piece) is always its block's first split unit, and a unit that stops
// short of the last key tile (a head piece) its block's last: each split item has one head piece
// in block b and one tail piece in block b + 1 (attention_schedule makes every block's share at
// least one item long), so the head piece's block, which reaches it last, combines the two.
struct AttentionUnit {
  std::int64_t item = -1;  // -1: no more work
  int key_begin = 0, key_end = 0;
};
// The key_end of a whole item: past its last key tile, whatever the tile size.
constexpr int kAllKeyTiles = 1 << 30;

// The first key-tile position (item * key_tiles + key tile) of block `block`'s split share; block
// grid.x gives the end of the last share.
FA_HOST_DEVICE std::uint32_t attention_split_begin(const AttentionSchedule& s, std::uint32_t block) {
  return static_cast<std::uint32_t>(s.whole_items * s.key_tiles) + block * s.split_share +
         (block < s.split_extra ? block : s.split_extra);
}

// The unit of `item` from key tile `key_begin` (at position `pos`) in a share ending at `end`.
FA_HOST_DEVICE AttentionUnit attention_split_unit(const AttentionSchedule& s, std::int64_t item,
                                                  std::uint32_t key_begin, std::uint32_t pos, std::uint32_t end) {
  const auto key_tiles = static_cast<std::uint32_t>(s.key_tiles);
  const std::uint32_t key_end = key_begin + (end - pos);
  return {item, static_cast<int>(key_begin), static_cast<int>(key_end < key_tiles ? key_end : key_tiles)};
}

// The unit starting at key-tile position `pos` of a share ending at `end`.
FA_HOST_DEVICE AttentionUnit attention_unit_at(const AttentionSchedule& s, std::uint32_t pos, std::uint32_t end) {
  if (pos >= end) return AttentionUnit{};
  const auto key_tiles = static_cast<std::uint32_t>(s.key_tiles);
  return attention_split_unit(s, pos / key_tiles, pos % key_tiles, pos, end);
}

FA_HOST_DEVICE AttentionUnit attention_first_unit(const AttentionSchedule& s, std::uint32_t block) {
  if (block < s.whole_items) return {block, 0, kAllKeyTiles};
  return attention_unit_at(s, attention_split_begin(s, block), attention_split_begin(s, block + 1));
}

FA_HOST_DEVICE AttentionUnit attention_next_unit(const AttentionSchedule& s, std::uint32_t block,
                                                 const AttentionUnit& u) {
  if (u.item < s.whole_items) {
    const std::int64_t next = u.item + s.grid.x;
    if (next < s.whole_items) return {next, 0, kAllKeyTiles};
    return attention_unit_at(s, attention_split_begin(s, block), attention_split_begin(s, block + 1));
  }
  // A split unit that stops short of its item's end is its block's last; one that reaches it is
  // followed by the next item from key tile 0 (no division: the kernel's registers are scarce).
  if (u.key_end < s.key_tiles) return AttentionUnit{};
  const std::uint32_t pos = static_cast<std::uint32_t>((u.item + 1) * s.key_tiles);
  const std::uint32_t end = attention_split_begin(s, block + 1);
  if (pos >= end) return AttentionUnit{};
  return attention_split_unit(s, u.item + 1, 0, pos, end);
}

// What a launch order needs of the GPU for one kernel (attention_residency asks it).
struct AttentionResidency {
  std::int64_t blocks = 0;    // blocks of the kernel resident at once, all SMs together
  std::int64_t l2_bytes = 0;
};

// The schedule of one launch with block_m query rows a block. persistent: the kernel can loop over
// items; it will when the problem is not causal (causal blocks differ in work, and the hardware's
// block scheduler balances them better than a fixed stride) and has more items than the GPU holds
// blocks at once. split_block_n: the kernel can also split items' keys (stream-K) in tiles of that
// many keys (0: it cannot). Then, when the items do not fill whole waves, all but the last full
// wave and the partial one are taken whole and the rest split evenly, so no SM idles at the end
// (with whole items the last wave of 1024 items on 132 SMs leaves a quarter of them idle). Each
// block's share of the split keys is then at least one item's (more than one wave is split).
inline AttentionSchedule attention_schedule(const AttentionArgs& a, int block_m, const AttentionResidency& r,
                                            bool persistent, int split_block_n = 0) {
  AttentionSchedule s;
  s.tiles = (a.seq_q + block_m - 1) / block_m;
  s.slices = a.batch * a.heads;
  s.grid = dim3(static_cast<unsigned>(s.tiles), static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch));
  if (r.blocks <= 0) return s;
  if (!a.causal) {
    const std::int64_t items = s.tiles * s.slices;
    if (persistent && items > r.blocks) {
      s.persistent = true;
      s.grid = dim3(static_cast<unsigned>(r.blocks));
      s.whole_items = items;
      s.key_tiles = split_block_n > 0 ? (a.seq_k + split_block_n - 1) / split_block_n : 1;
      if (split_block_n > 0 && items % r.blocks != 0 && s.key_tiles >= 2 &&
          items * s.key_tiles < (std::int64_t{1} << 31)) {
        s.whole_items = (items / r.blocks - 1) * r.blocks;
        const std::int64_t split = (items - s.whole_items) * s.key_tiles;
        s.split_share = static_cast<std::uint32_t>(split / r.blocks);
        s.split_extra = static_cast<std::uint32_t>(split % r.blocks);
      }
    }
    return s;
  }
  const std::int64_t elem_bytes = a.elem == KernelElem::f32 ? 4 : 2;
  const std::int64_t kv_slice_bytes = 2 * a.seq_k * a.head_dim * elem_bytes / (a.heads / a.kv_heads);
  s.tail = attention_tail_slices(r.blocks, s.tiles, s.slices, r.l2_bytes, kv_slice_bytes);
  return s;
}

}  // namespace fabench
