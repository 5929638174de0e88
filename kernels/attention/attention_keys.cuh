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

#include "kernels/attention/attention_mask_row.h"
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
