#pragma once
// The walk of a key block in the tensor-core backward versions (bwd.fa2_mma, bwd.wgmma): a block
// owns keys j0.. of one KV head and streams the query tiles of every query head of its group that
// see any of those keys (under causal masking, bottom-right aligned, from the first tile with a
// query that sees key j0), one tile a step; and the per-row scalars (lse, D) of a step's tile.
#include <cstdint>

#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/common/mma.cuh"

namespace fabench {

template <int BR>
struct BwdQuerySteps {
  std::int64_t first_bh = 0;  // the group's first query head, as b * heads + h
  int first_tile = 0, tiles_per_head = 0, steps = 0;

  __device__ BwdQuerySteps(const AttentionBwdArgs& a, std::int64_t kv_index, std::int64_t j0) {
    const std::int64_t b = kv_index / a.kv_heads, kv_head = kv_index % a.kv_heads;
    const int group = static_cast<int>(a.heads / a.kv_heads);
    first_bh = b * a.heads + kv_head * group;
    const int query_tiles = static_cast<int>((a.seq_q + BR - 1) / BR);
    if (a.causal) {
      const std::int64_t first_row = j0 - (a.seq_k - a.seq_q);  // the first query that sees key j0
      first_tile = first_row <= 0 ? 0 : static_cast<int>(min(first_row / BR, static_cast<std::int64_t>(query_tiles)));
    }
    tiles_per_head = query_tiles - first_tile;
    steps = group * tiles_per_head;
  }
  // The query head (b * heads + h) and first query row of a step.
  __device__ void rows(int step, std::int64_t& bh, std::int64_t& i0) const {
    bh = first_bh + step / tiles_per_head;
    i0 = static_cast<std::int64_t>(first_tile + step % tiles_per_head) * BR;
  }
};

// The lse then D of query rows i0..i0 + BR - 1 of head bh into shared memory at `dst` (2 * BR
// floats) by the block's first 2 * BR threads; rows past seq_q are zeros.
template <int BR>
__device__ __forceinline__ void load_bwd_row_scalars(std::uint32_t dst, const AttentionBwdArgs& a, const float* delta,
                                                     std::int64_t bh, std::int64_t i0) {
  if (threadIdx.x < 2 * BR) {
    const int r = static_cast<int>(threadIdx.x) % BR;
    const bool valid = i0 + r < a.seq_q;
    const float* src = threadIdx.x < BR ? a.lse : delta;
    cp_async_4(dst + threadIdx.x * 4, src + (valid ? bh * a.seq_q + i0 + r : 0), valid);
  }
}

}  // namespace fabench
