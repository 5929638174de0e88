#pragma once
// A block mask's CSR row as a tiled attention kernel walks it (attention_keys.cuh's MaskedKeys and
// SparseKeys): host and device code, so the CPU tests walk the same indexing the kernels do.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/attention/attention_sparse.h"
#include "kernels/common/host_device.h"

namespace fabench {

// A value the kernel only reads: through the read-only data cache on the device.
template <class T>
FA_HOST_DEVICE T read_only(const T* p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// log2(block / bn) for the ratios a kernel runs (1, 2, 4: blocks of 64 and 128 over key tiles of
// 32, 64 or 128).
FA_HOST_DEVICE int block_shift(int block, int bn) { return block >= 4 * bn ? 2 : block >= 2 * bn ? 1 : 0; }

// What a block mask asks of one key tile: kKeysEmpty (MaskedKeys only: drop every score),
// kKeysFull (keep every score that exists), or a partial tile's index (keep its bytes' ones).
constexpr int kKeysEmpty = -2, kKeysFull = -1;

// The CSR row of one query tile, read through the read-only cache. Step s of the tile's key loop
// (SparseKeys) is key tile (s mod 2^shift) of entry s >> shift, shift = log2(block / BN).
template <int BN>
struct MaskRow {
  const std::int32_t* cols;     // the row's first entry
  const std::int32_t* tiles;
  const std::uint8_t* partial;  // partial tile 0 at the query tile's first row (rows `block` bytes apart)
  int entries, shift, block;

  // The query tile's row of the CSR offsets: offsets[r] and offsets[r + 1] bound its entries.
  FA_HOST_DEVICE static std::int64_t offsets_row(const SparseBlockArgs& m, std::int64_t bh, std::int64_t i0) {
    return (m.per_head ? bh : 0) * m.q_blocks + i0 / m.block;
  }
  FA_HOST_DEVICE MaskRow(const SparseBlockArgs& m, std::int64_t bh, std::int64_t i0) {
    const std::int64_t r = offsets_row(m, bh, i0);
    const int begin = read_only(m.offsets + r);
    entries = read_only(m.offsets + r + 1) - begin;
    cols = m.cols + begin;
    tiles = m.tiles + begin;
    block = m.block;
    shift = block_shift(m.block, BN);
    partial = m.partial ? m.partial + static_cast<std::size_t>(i0 % m.block) * m.block : nullptr;  // none: no partial block
  }
  FA_HOST_DEVICE int steps() const { return entries << shift; }
  // The key tile (of BN keys) of step `step` < steps().
  FA_HOST_DEVICE int key_tile(int step) const {
    return (read_only(cols + (step >> shift)) << shift) | (step & ((1 << shift) - 1));
  }
  // kKeysFull or the partial tile of step `step` < steps().
  FA_HOST_DEVICE int kind(int step) const { return read_only(tiles + (step >> shift)); }
  // MaskedKeys: the kind of key tile kt, the entries walked in ascending order from `cursor`
  // (key tiles come in ascending order, so each entry is passed once).
  FA_HOST_DEVICE int kind_of_tile(int kt, int& cursor) const {
    const int kb = kt >> shift;
    while (cursor < entries && read_only(cols + cursor) < kb) ++cursor;
    return cursor < entries && read_only(cols + cursor) == kb ? read_only(tiles + cursor) : kKeysEmpty;
  }
  // The bytes of key tile kt in partial tile `tile`, at the query tile's first row.
  FA_HOST_DEVICE const std::uint8_t* bytes(int tile, int kt) const {
    return partial + static_cast<std::size_t>(tile) * block * block + (kt & ((1 << shift) - 1)) * BN;
  }
};

// sparse.wgmma v3's draw order (attention_wgmma_ws.cuh): the `drawn`-th item of a launch (items in
// launch order, a slice's tiles one after another: attention_block_slot with tail 1) mapped to an
// item whose query tile is its slice's rank-th heaviest by m.order (BlockLayout::order: per mask,
// query blocks by descending entries). The launch's slices but the last m.tail_slices go one after
// another, each slice's heaviest tiles first; the last m.tail_slices go rank by rank (every one's
// heaviest, then every one's next), so that the tiles drawn last are the lightest of all those
// slices and the SMs finish together. The launcher sets m.tail_slices by tail_window_slices: the
// fewest slices that hold kTailWindowBlocks draws for each of the launch's blocks. Taking each
// slice lightest last on its own (tail_slices 1) left the heaviest tiles of the last slices to
// start among the last draws; what that cost, and why two draws a block, attention_sparse_wgmma.cu
// says (b6d929c). The same item where there is no order, a causal tail (tail != 1), or a tile count
// other than q_blocks x (block / block_m) (a block of several query tiles whose last block is cut
// short by seq_q; v3's tiles are 128 rows and its blocks 128, so it always takes the order). In
// 64-bit arithmetic: the same in 32 bits made ptxas (CUDA 13.0) spill 12 bytes in the sparse
// instances.
constexpr std::int64_t kTailWindowBlocks = 2;
inline std::int32_t tail_window_slices(std::int64_t tiles, std::int64_t slices, std::int64_t blocks) {
  const std::int64_t want = (kTailWindowBlocks * blocks + tiles - 1) / tiles;
  return static_cast<std::int32_t>(std::max<std::int64_t>(1, std::min(want, slices)));
}
FA_HOST_DEVICE std::int64_t heaviest_first_item(const SparseBlockArgs& m, std::int64_t drawn, std::int64_t tiles,
                                                std::int64_t slices, std::int64_t tail, int block_m) {
  const std::int64_t sub = m.block / block_m;  // query tiles a block
  if (m.order == nullptr || tail != 1 || tiles != m.q_blocks * sub) return drawn;
  const std::int64_t window = m.tail_slices, first = (slices - window) * tiles;
  std::int64_t rank = drawn % tiles, slice = drawn / tiles;
  if (drawn >= first) rank = (drawn - first) / window, slice = slices - window + (drawn - first) % window;
  const std::int64_t tile = read_only(m.order + (m.per_head ? slice : 0) * m.q_blocks + rank / sub) * sub + rank % sub;
  return slice * tiles + (tiles - 1 - tile);  // attention_block_slot counts a slice's tiles from its last
}

// Whether sparse.wgmma v3's consumers take turns at the tensor cores (attention_wgmma_ws.cuh): where
// a query block lists at most kTurnsAtMostEntries key blocks on average, one step each at v3's
// blocks of 128. On an H200 (c170935, turns at every density) they gained 0.4-4.5% at 6-33 entries
// and lost 0.5-0.7% at 64 (seq 8k density 1) and 128 (16k), results/h200/pingpong_sparse_c170935315b4;
// so gated at e214e79: 1.000 / 0.998x at density 1, 1.002-1.045x below 48 (results/h200/
// pingpong_gated_e214e79a35f7).
constexpr std::int64_t kTurnsAtMostEntries = 48;
FA_HOST_DEVICE bool sparse_ws_turns(const SparseBlockArgs& m, std::int64_t masks) {
  return m.entries <= kTurnsAtMostEntries * masks * m.q_blocks;
}

}  // namespace fabench
