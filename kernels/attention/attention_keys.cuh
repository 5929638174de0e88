#pragma once
// The key loop's policy in the tiled attention kernels (attn.fa2, attn.fa2_mma, attn.wgmma): which
// key tiles a query tile visits and what mask each tile's scores take.
//   DenseKeys:  every key tile up to the causal limit; attention's bounds and causal masks on the
//               tiles that cross them. The kernels test the policy's flags at compile time only,
//               so the dense loop is the code it was before the policies existed.
//   MaskedKeys: every key tile too, and every score of every tile masked from the block mask
//               (sparse.masked: empty blocks are computed, then dropped).
//   SparseKeys: only the query tile's listed key blocks (sparse.block_skip, sparse.wgmma): full
//               blocks take the seq_k bound alone where they cross it, partial blocks their bytes.
// A block mask's query tile lies inside one block row (block % block_m == 0), and an entry is
// block / block_n key tiles (attention_sparse.h).
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/attention/attention_sparse.h"

namespace fabench {

struct DenseKeys {
  static constexpr bool kBlockMask = false;  // no block mask
  static constexpr bool kSkip = false;       // every key tile
  struct Args {};
};
struct MaskedKeys {
  static constexpr bool kBlockMask = true;
  static constexpr bool kSkip = false;
  using Args = SparseBlockArgs;
};
struct SparseKeys {
  static constexpr bool kBlockMask = true;
  static constexpr bool kSkip = true;
  using Args = SparseBlockArgs;
};

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

  __device__ __forceinline__ MaskRow(const SparseBlockArgs& m, std::int64_t bh, std::int64_t i0) {
    const std::int64_t r = (m.per_head ? bh : 0) * m.q_blocks + i0 / m.block;
    const int begin = __ldg(m.offsets + r);
    entries = __ldg(m.offsets + r + 1) - begin;
    cols = m.cols + begin;
    tiles = m.tiles + begin;
    block = m.block;
    shift = __ffs(m.block / BN) - 1;
    partial = m.partial + static_cast<std::size_t>(i0 % m.block) * m.block;
  }
  __device__ __forceinline__ int steps() const { return entries << shift; }
  // The key tile (of BN keys) of step `step` < steps().
  __device__ __forceinline__ int key_tile(int step) const {
    return (__ldg(cols + (step >> shift)) << shift) | (step & ((1 << shift) - 1));
  }
  // kKeysFull or the partial tile of step `step` < steps().
  __device__ __forceinline__ int kind(int step) const { return __ldg(tiles + (step >> shift)); }
  // MaskedKeys: the kind of key tile kt, the entries walked in ascending order from `cursor`
  // (key tiles come in ascending order, so each entry is passed once).
  __device__ __forceinline__ int kind_of_tile(int kt, int& cursor) const {
    const int kb = kt >> shift;
    while (cursor < entries && __ldg(cols + cursor) < kb) ++cursor;
    return cursor < entries && __ldg(cols + cursor) == kb ? __ldg(tiles + cursor) : kKeysEmpty;
  }
  // The bytes of key tile kt in partial tile `tile`, at the query tile's first row.
  __device__ __forceinline__ const std::uint8_t* bytes(int tile, int kt) const {
    return partial + static_cast<std::size_t>(tile) * block * block + (kt & ((1 << shift) - 1)) * BN;
  }
};

// DenseKeys has no mask row: the same calls, never made at run time (the kernels test the
// policy's flags first), so the dense loop compiles as it did.
template <int BN>
struct NoMaskRow {
  __device__ __forceinline__ NoMaskRow(DenseKeys::Args, std::int64_t, std::int64_t) {}
  __device__ __forceinline__ int steps() const { return 0; }
  __device__ __forceinline__ int key_tile(int) const { return 0; }
  __device__ __forceinline__ int kind(int) const { return kKeysFull; }
  __device__ __forceinline__ int kind_of_tile(int, int&) const { return kKeysFull; }
  __device__ __forceinline__ const std::uint8_t* bytes(int, int) const { return nullptr; }
  static constexpr int block = 0;
};
template <class Keys, int BN>
using MaskRowOf = std::conditional_t<Keys::kBlockMask, MaskRow<BN>, NoMaskRow<BN>>;

// Mask bytes of keys c and c + 1 of a row (c even): bits 0-7 and 8-15.
__device__ __forceinline__ unsigned mask_pair(const std::uint8_t* p) {
  return __ldg(reinterpret_cast<const unsigned short*>(p));
}
// Mask bytes of keys c .. c + 3 (c a multiple of 4): one byte each, lowest first.
__device__ __forceinline__ unsigned mask_quad(const std::uint8_t* p) {
  return __ldg(reinterpret_cast<const unsigned*>(p));
}

}  // namespace fabench
