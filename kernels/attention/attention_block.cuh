#pragma once
// Where a block of a tiled attention kernel works: the query tile it owns and the keys it visits,
// in the launch order of attention_order.h (causal: heaviest tiles first).
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/attention/attention.h"
#include "kernels/attention/attention_order.h"

namespace fabench {

// The blocks of `kernel` the GPU holds at once (launched with `threads` threads and `smem` bytes of
// dynamic shared memory, its shared-memory attribute already set) and the L2 size. A launcher asks
// once per kernel and keeps the answer (fa-bench runs one device per process); all zeros when a
// query fails, which attention_schedule takes as head by head, one block per item.
template <class Kernel>
AttentionResidency attention_residency(Kernel kernel, int threads, std::size_t smem) {
  int device = 0, sms = 0, per_sm = 0, l2_bytes = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem) != cudaSuccess)
    return {};
  return {static_cast<std::int64_t>(sms) * per_sm, l2_bytes};
}

// This block's first item; a persistent block's next ones follow gridDim.x apart.
__device__ __forceinline__ std::int64_t attention_first_item(const AttentionSchedule& s) {
  return s.persistent ? static_cast<std::int64_t>(blockIdx.x)
                      : blockIdx.x + s.tiles * (blockIdx.y + static_cast<std::int64_t>(gridDim.y) * blockIdx.z);
}

// Keys at or past the value returned are never visible to the query tile of block_m rows from
// i0 (causal: query i sees keys j <= i + seq_k - seq_q, the diagonal bottom-right aligned).
__device__ __forceinline__ std::int64_t attention_key_end(const AttentionArgs& a, std::int64_t i0, int block_m) {
  const std::int64_t diag = a.seq_k - a.seq_q;
  return a.causal ? std::min<std::int64_t>(a.seq_k, std::max<std::int64_t>(0, i0 + block_m + diag)) : a.seq_k;
}
// Whether the key tile of block_n keys from j0 has keys some row of the query tile from i0 may not
// see (past the sequence end, or past the diagonal diag = seq_k - seq_q).
__device__ __forceinline__ bool attention_tile_needs_mask(const AttentionArgs& a, std::int64_t i0, std::int64_t diag,
                                                          std::int64_t j0, int block_n) {
  return j0 + block_n > a.seq_k || (a.causal && j0 + block_n - 1 > i0 + diag);
}

template <class T, int D>
struct AttentionBlock {
  std::int64_t bh;       // batch * heads + head: the Q, O and lse slice
  std::int64_t i0;       // first query row of the tile
  std::int64_t diag;     // query i sees keys j <= i + diag (causal, bottom-right aligned)
  std::int64_t key_end;  // keys at or past it are never visible to this tile
  const T* q;            // row i0 of this head's Q
  const T* k;            // key 0 of the KV head this head reads (GQA: heads / kv_heads share one)
  const T* v;

  __device__ __forceinline__ AttentionBlock(const AttentionArgs& a, const AttentionSchedule& s, int block_m)
      : AttentionBlock(a, s, block_m, attention_first_item(s)) {}
  __device__ __forceinline__ AttentionBlock(const AttentionArgs& a, const AttentionSchedule& s, int block_m,
                                            std::int64_t item) {
    const BlockSlot slot = attention_block_slot(item, s.tiles, s.slices, s.tail);
    bh = slot.slice;
    const std::int64_t b = bh / a.heads, h = bh % a.heads;
    const std::int64_t kv = b * a.kv_heads + h / (a.heads / a.kv_heads);
    i0 = (s.tiles - 1 - slot.tile_from_last) * block_m;
    diag = a.seq_k - a.seq_q;
    key_end = attention_key_end(a, i0, block_m);
    q = static_cast<const T*>(a.q) + (bh * a.seq_q + i0) * D;
    k = static_cast<const T*>(a.k) + kv * a.seq_k * D;
    v = static_cast<const T*>(a.v) + kv * a.seq_k * D;
  }
  __device__ __forceinline__ int tiles(int block_n) const {
    return static_cast<int>((key_end + block_n - 1) / block_n);
  }
  // Whether the tile of block_n keys from j0 has keys some row of this block may not see.
  __device__ __forceinline__ bool needs_mask(const AttentionArgs& a, std::int64_t j0, int block_n) const {
    return attention_tile_needs_mask(a, i0, diag, j0, block_n);
  }
};

// The mask of a tile crossing the diagonal or the sequence end, for a thread whose keys of a row
// are j0 + first + c (first: its first column in the tile; mma.sync's m16n8 and wgmma's
// accumulators hold columns 2t + 8 nt + e): key j0 + first + c is kept when c <= the value
// returned. One 64-bit bound per row, then a 32-bit compare per element; the per-element 64-bit
// compares it replaced cost causal tiles 5-8% in attn.wgmma at seq 2048 (H100).
__device__ __forceinline__ int lane_key_limit(std::int64_t row, std::int64_t j0, std::int64_t seq_k, bool causal,
                                              std::int64_t diag, int block_n, int first) {
  std::int64_t last = seq_k - 1 - j0;
  if (causal) last = std::min<std::int64_t>(last, row + diag - j0);
  return static_cast<int>(std::max<std::int64_t>(std::min<std::int64_t>(last, block_n), -1)) - first;
}

}  // namespace fabench
