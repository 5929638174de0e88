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
FA_HOST_DEVICE BlockSlot attention_block_slot(std::int64_t linear, std::int64_t tiles, std::int64_t slices,
                                              std::int64_t tail) {
  const std::int64_t head_major = slices - tail;
  if (linear < head_major * tiles) return {linear % tiles, linear / tiles};
  const std::int64_t r = linear - head_major * tiles;
  return {r / tail, head_major + r % tail};
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
  bool persistent = false;  // each block loops over items blockIdx.x, + gridDim.x, ...
};

// What a launch order needs of the GPU for one kernel (attention_residency asks it).
struct AttentionResidency {
  std::int64_t blocks = 0;    // blocks of the kernel resident at once, all SMs together
  std::int64_t l2_bytes = 0;
};

// The schedule of one launch with block_m query rows a block. persistent: the kernel can loop over
// items; it will when the problem is not causal (causal blocks differ in work, and the hardware's
// block scheduler balances them better than a fixed stride) and has more items than the GPU holds
// blocks at once.
inline AttentionSchedule attention_schedule(const AttentionArgs& a, int block_m, const AttentionResidency& r,
                                            bool persistent) {
  AttentionSchedule s;
  s.tiles = (a.seq_q + block_m - 1) / block_m;
  s.slices = a.batch * a.heads;
  s.grid = dim3(static_cast<unsigned>(s.tiles), static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch));
  if (r.blocks <= 0) return s;
  if (!a.causal) {
    if (persistent && s.tiles * s.slices > r.blocks) {
      s.persistent = true;
      s.grid = dim3(static_cast<unsigned>(r.blocks));
    }
    return s;
  }
  const std::int64_t elem_bytes = a.elem == KernelElem::f32 ? 4 : 2;
  const std::int64_t kv_slice_bytes = 2 * a.seq_k * a.head_dim * elem_bytes / (a.heads / a.kv_heads);
  s.tail = attention_tail_slices(r.blocks, s.tiles, s.slices, r.l2_bytes, kv_slice_bytes);
  return s;
}

}  // namespace fabench
