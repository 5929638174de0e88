#pragma once
// The step of bwd.wgmma's two loops (attention_bwd_wgmma.cu: block-synchronous; attention_bwd_wgmma_ws.cu:
// warp-specialized) between the score products and the gradient products: which (key, query) pairs of
// a step are hidden, P^T and dS^T from S^T and dP^T in wgmma's accumulator layout, and dS^T into
// shared memory for dQ = dS K; and the end of a block, dK and dV stored.
#include <cstdint>

#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/attention_bwd/attention_bwd_dq.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/wgmma_tiles.cuh"

namespace fabench {

// The hidden pairs of a step of KEYS keys (from j0) and BR queries (from i0), in block-relative 32-bit
// terms: key row r (of KEYS) and query column c (of BR) are hidden when r >= keys_left or, causal,
// r - c > diag (both clamped: only their sign near 0 matters); `any` is false when none is.
template <int KEYS, int BR>
struct BwdStepMask {
  bool any;
  int keys_left, diag;
  __device__ __forceinline__ BwdStepMask(const AttentionBwdArgs& a, std::int64_t j0, std::int64_t i0) {
    const std::int64_t key_offset = a.seq_k - a.seq_q;  // causal: query i sees keys j <= i + key_offset
    any = (a.causal && j0 + KEYS - 1 > i0 + key_offset) || j0 + KEYS > a.seq_k;
    keys_left = static_cast<int>(min(a.seq_k - j0, static_cast<std::int64_t>(KEYS)));
    diag = a.causal ? static_cast<int>(max(min(i0 + key_offset - j0, static_cast<std::int64_t>(KEYS)),
                                           static_cast<std::int64_t>(-BR)))
                    : KEYS;
  }
  __device__ __forceinline__ bool hidden(int r, int c) const { return any && (r >= keys_left || r - c > diag); }
};

// P^T = exp(scale S^T - lse), 0 where the pair is hidden (causal, or a key past seq_k, whose zero row
// would give exp(-lse)), into s; dS^T = P^T (dP^T - D) into dp (the scale is applied to dK and dQ at
// the end). A hidden pair's exponent may be +inf (a query that sees no key has lse -inf), so the mask
// selects, never multiplies. s and dp: a 64 x SUB sub-tile (queries col0..) in the accumulator layout,
// this lane's keys key_row and key_row + 8; lse_t, delta_t: the step's rows.
template <int SUB, class Mask>
__device__ __forceinline__ void bwd_probs_and_grads(float (&s)[SUB / 2], float (&dp)[SUB / 2], const float* lse_t,
                                                    const float* delta_t, const Mask& mask, int col0, int key_row,
                                                    int t, float scale_log2) {
#pragma unroll
  for (int nt = 0; nt < SUB / 8; ++nt)
#pragma unroll
    for (int x = 0; x < 4; ++x) {
      const int col = col0 + 8 * nt + 2 * t + (x & 1), r = key_row + 8 * (x >> 1);
      float p = fast_exp2(fmaf(s[4 * nt + x], scale_log2, -lse_t[col] * kBwdLog2e));
      if (mask.hidden(r, col)) p = 0.0f;
      s[4 * nt + x] = p;
      dp[4 * nt + x] = p * (dp[4 * nt + x] - delta_t[col]);
    }
}

// dS^T fragments (pack_accumulator's) of a sub-tile into the swizzled dS^T tile at ds_t (KEYS rows):
// fragment kk's register x holds keys key_row (+8 for x odd) and queries col0 + 16 kk + 8 (x / 2) + 2t,
// + 1.
template <int KEYS, int SUB>
__device__ __forceinline__ void store_ds_t(std::uint32_t ds_t, const std::uint32_t (&frag)[SUB / 16][4], int col0,
                                           int key_row, int t) {
#pragma unroll
  for (int kk = 0; kk < SUB / 16; ++kk)
#pragma unroll
    for (int x = 0; x < 4; ++x) {
      const int r = key_row + 8 * (x & 1), c = col0 + 16 * kk + 8 * (x >> 1) + 2 * t;
      sts32(ds_t + swizzle128_offset<KEYS>(r, c / 8) + (c % 8) * 2, frag[kk][x]);
    }
}

// dQ = dS K for one 64 x 64 block, issued and committed: A is the step's dS^T (KEYS rows) read M-major
// (its queries are the 128-byte rows' elements), query block dq_m; B the K tile N-major, column block
// dq_n; the reduction over DQ_KEYS keys from dq_k0. The first k-step overwrites dq.
template <class T, int KEYS, int DQ_KEYS>
__device__ __forceinline__ void issue_dq_block(float (&dq)[32], std::uint32_t ds_t, std::uint32_t k_tile, int dq_m,
                                               int dq_n, int dq_k0) {
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < DQ_KEYS / 16; ++kk) {
    const std::uint32_t key_rows = (dq_k0 + kk * 16) * 128;
    const std::uint64_t ad = wgmma_desc(ds_t + dq_m * KEYS * 128 + key_rows, KEYS * 128, 1024);
    const std::uint64_t bd = wgmma_desc(k_tile + dq_n * KEYS * 128 + key_rows, KEYS * 128, 1024);
    if (kk == 0) {
      Wgmma<T, 64, 1>::template ss<1>(dq, ad, bd, 0);
    } else {
      Wgmma<T, 64, 1>::template ss<1>(dq, ad, bd, 1);
    }
  }
  wgmma_commit();
}

// dK = scale * dS^T Q and dV = P^T dO of this lane's key rows (key_row and key_row + 8 of the block at
// j0 of KV plane kv_index; rows past seq_k dropped) from their accumulators, in the output type.
template <class T, int D>
__device__ __forceinline__ void store_dk_dv(const AttentionBwdArgs& a,
                                            const float (&dk)[WgOutSplit<D>::kNb][WgOutSplit<D>::kN / 2],
                                            const float (&dv)[WgOutSplit<D>::kNb][WgOutSplit<D>::kN / 2],
                                            std::int64_t kv_index, std::int64_t j0, int key_row, int t) {
  using Out = WgOutSplit<D>;
  T* dk_out = static_cast<T*>(a.dk) + kv_index * a.seq_k * D;
  T* dv_out = static_cast<T*>(a.dv) + kv_index * a.seq_k * D;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const std::int64_t j = j0 + key_row + 8 * h;
    if (j >= a.seq_k) continue;
#pragma unroll
    for (int nb = 0; nb < Out::kNb; ++nb)
#pragma unroll
      for (int nt = 0; nt < Out::kN / 8; ++nt) {
        const std::int64_t at = j * D + nb * Out::kN + 8 * nt + 2 * t;
        *reinterpret_cast<std::uint32_t*>(dk_out + at) =
            pack2<T>(a.scale * dk[nb][4 * nt + 2 * h], a.scale * dk[nb][4 * nt + 2 * h + 1]);
        *reinterpret_cast<std::uint32_t*>(dv_out + at) = pack2<T>(dv[nb][4 * nt + 2 * h], dv[nb][4 * nt + 2 * h + 1]);
      }
  }
}

}  // namespace fabench
