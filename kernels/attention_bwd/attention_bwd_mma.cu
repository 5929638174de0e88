// bwd.fa2_mma: FlashAttention-2's backward on tensor cores (mma.sync m16n8k16), fp16 and bf16.
//
// What changes against bwd.fa2 (fp32 on CUDA cores): every product is an mma over ldmatrix
// fragments of swizzled shared-memory tiles, and the block is wider. A block owns 16 x WARPS keys
// of one KV head (a warp 16 of them) with their K and V tiles resident, and streams the query
// tiles (BR rows) of every query head of its group through a double-buffered cp.async stage (Q,
// dO, lse, D). Per query tile each warp computes its keys' rows of the transposed products,
// S^T = K Q^T and dP^T = V dO^T, so that P^T = exp(scale S^T - lse) and dS^T = P^T (dP^T - D) sit
// in registers in the accumulator layout, which is the A-operand layout of the next products:
// dV += P^T dO and dK += dS^T Q run from registers (dO and Q as B by ldmatrix.trans), and dK, dV
// stay in registers over the whole loop (GQA's sum over the group is the block's own loop). dQ
// needs dS with queries as rows: dS^T goes to shared memory once, every warp takes a 16 x (D /
// warps-per-row-tile) piece of dS K (A by ldmatrix.trans of dS^T, B by ldmatrix.trans of K) and
// adds it into an fp32 dQ accumulator with vector atomics (float2); a last pass scales and
// converts it. P and dS never reach device memory.
//
// deterministic: the same kernel without the dQ step, then a second pass over query tiles that
// recomputes S, P, dP and dS and owns its dQ rows (attention_bwd_dq_kernel): no atomics, every run
// the same bits; its cost against the atomic dQ is the `deterministic` parameter's figure.
//
// Measured on an H200 at 391aa3b (bf16, FlashAttention's convention of 16k tokens, seq 2k-8k;
// results/h200/backward_391aa3bf3d86): 190-212 TFLOP/s without causal masking, 163-195 with it:
// 0.70-0.82x PyTorch's flash backward (250-304, 200-256) and 0.35-0.49x its cuDNN backward. Every
// warp reads the whole Q and dO tile twice a step (as B of S^T and dP^T, then of dK and dV) while
// computing 16 keys: the block is bound by those shared-memory reads as much as by the MMAs; the
// next version splits the warps over queries as well. deterministic=1 costs 12-19% (0.81-0.88x).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/attention_bwd/attention_bwd_delta.cuh"
#include "kernels/attention_bwd/attention_bwd_dq.cuh"
#include "kernels/attention_bwd/attention_bwd_steps.cuh"
#include "kernels/attention_bwd/attention_bwd_mma.h"
#include "kernels/common/element.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/common/smem_grant.cuh"

namespace fabench {

namespace {

template <int D, int WARPS, int BR>
struct BwdMmaTraits {
  static constexpr int kThreads = WARPS * 32;
  static constexpr int kKeys = WARPS * 16;                 // keys a block owns, 16 a warp
  static constexpr int kChunks = D / 8;                    // 16-byte chunks a row
  static constexpr int kKvBytes = kKeys * D * 2;           // one of K, V
  static constexpr int kQBytes = BR * D * 2;               // one of Q, dO in a stage
  static constexpr int kStageBytes = 2 * kQBytes + 2 * BR * 4;  // Q, dO, lse, D
  static constexpr int kDsStride = BR + 8;                 // elements a dS^T row: 16-byte aligned rows
  static constexpr int kDsBytes = kKeys * kDsStride * 2;   // whose 8-row ldmatrix reads hit 8 bank groups
  static constexpr int kSmemBytes = 2 * kKvBytes + 2 * kStageBytes + kDsBytes;
  static constexpr int kMTiles = BR / 16;                  // dQ: 16-row tiles of the query tile
  static constexpr int kWarpsPerMTile = WARPS / kMTiles;
  static constexpr int kDqN8 = D / 8 / kWarpsPerMTile;     // dQ: 8-column blocks a warp
  static_assert(kChunks % 8 == 0, "swizzled rows need a multiple of 8 chunks");
  static_assert(BR % 16 == 0 && WARPS % kMTiles == 0 && kDqN8 % 2 == 0, "dQ tiles spread evenly over the warps");
};

// Compiled (head dim, warps, query rows a step): register budgets, not preferences. d128 keeps
// dK and dV (128 fp32 a lane) in registers, so its query tile is 32 rows (S^T and dP^T: 32 more).
#define FA_BWD_MMA_CONFIGS(X) \
  X(64, 8, 64)                \
  X(128, 8, 32)

// ATOMIC_DQ: this kernel adds dQ by atomics; without it, dQ is left to attention_bwd_dq_kernel.
template <class T, int D, int WARPS, int BR, bool ATOMIC_DQ>
__global__ void __launch_bounds__(WARPS * 32, 1)
    attention_bwd_mma_kernel(AttentionBwdArgs a, const float* delta, float* dq_acc) {
  using Tr = BwdMmaTraits<D, WARPS, BR>;
  constexpr int kChunks = Tr::kChunks;
  extern __shared__ __align__(128) unsigned char smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const std::uint32_t base = smem_address(smem);
  const std::uint32_t k_s = base, v_s = base + Tr::kKvBytes, stages = base + 2 * Tr::kKvBytes;
  const std::uint32_t ds_s = stages + 2 * Tr::kStageBytes;

  const std::int64_t kv_index = blockIdx.y;  // b * kv_heads + kv head
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * Tr::kKeys;
  const std::int64_t key_offset = a.seq_k - a.seq_q;  // causal: query i sees keys j <= i + key_offset
  const T* k = static_cast<const T*>(a.k) + kv_index * a.seq_k * D;
  const T* v = static_cast<const T*>(a.v) + kv_index * a.seq_k * D;

  for (int e = threadIdx.x; e < Tr::kKeys * kChunks; e += Tr::kThreads) {
    const int r = e / kChunks, c = e % kChunks;
    const bool valid = j0 + r < a.seq_k;  // keys past the end: zero rows (their dK, dV are not stored)
    const std::int64_t off = valid ? (j0 + r) * D + c * 8 : 0;
    cp_async_16(k_s + swizzle<kChunks>(r, c), k + off, valid);
    cp_async_16(v_s + swizzle<kChunks>(r, c), v + off, valid);
  }
  cp_async_commit();

  const BwdQuerySteps<BR> walk(a, kv_index, j0);
  const int steps = walk.steps;
  // Q and dO rows of a step (zero past seq_q: they add nothing to dK and dV, and their dQ is not
  // stored), and its lse and D, into stage `stage`.
  auto load_step = [&](int step, int stage) {
    std::int64_t bh, i0;
    walk.rows(step, bh, i0);
    const std::uint32_t q_dst = stages + stage * Tr::kStageBytes, do_dst = q_dst + Tr::kQBytes;
    const T* q = static_cast<const T*>(a.q) + bh * a.seq_q * D;
    const T* d_o = static_cast<const T*>(a.d_o) + bh * a.seq_q * D;
    for (int e = threadIdx.x; e < BR * kChunks; e += Tr::kThreads) {
      const int r = e / kChunks, c = e % kChunks;
      const bool valid = i0 + r < a.seq_q;
      const std::int64_t off = valid ? (i0 + r) * D + c * 8 : 0;
      cp_async_16(q_dst + swizzle<kChunks>(r, c), q + off, valid);
      cp_async_16(do_dst + swizzle<kChunks>(r, c), d_o + off, valid);
    }
    load_bwd_row_scalars<BR>(do_dst + Tr::kQBytes, a, delta, bh, i0);
  };
  if (steps > 0) load_step(0, 0);
  cp_async_commit();

  const float scale_log2 = a.scale * kBwdLog2e;
  const int key_row0 = warp * 16;  // this warp's keys in the block
  float dk[D / 8][4] = {}, dv[D / 8][4] = {};
  for (int step = 0; step < steps; ++step) {
    const int stage = step & 1;
    if (step + 1 < steps) load_step(step + 1, stage ^ 1);
    cp_async_commit();
    cp_async_wait<1>();  // this step's stage (and K, V) landed for this thread ...
    __syncthreads();     // ... and for every thread
    std::int64_t bh, i0;
    walk.rows(step, bh, i0);
    const std::uint32_t q_t = stages + stage * Tr::kStageBytes, do_t = q_t + Tr::kQBytes;
    const float* lse_t = reinterpret_cast<const float*>(smem + 2 * Tr::kKvBytes + stage * Tr::kStageBytes + 2 * Tr::kQBytes);
    const float* delta_t = lse_t + BR;

    // S^T = K Q^T and dP^T = V dO^T for this warp's 16 keys x BR queries.
    float s[BR / 8][4] = {}, dp[BR / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      std::uint32_t k_frag[4], v_frag[4];
      ldmatrix_x4(k_frag, k_s + swizzle<kChunks>(key_row0 + (lane & 15), 2 * kk + (lane >> 4)));
      ldmatrix_x4(v_frag, v_s + swizzle<kChunks>(key_row0 + (lane & 15), 2 * kk + (lane >> 4)));
#pragma unroll
      for (int nb = 0; nb < BR / 16; ++nb) {  // queries 16 nb .. 16 nb + 15: two 8-column blocks
        const int row = nb * 16 + (lane >> 4) * 8 + (lane & 7), chunk = 2 * kk + ((lane >> 3) & 1);
        std::uint32_t q_frag[4], do_frag[4];
        ldmatrix_x4(q_frag, q_t + swizzle<kChunks>(row, chunk));
        ldmatrix_x4(do_frag, do_t + swizzle<kChunks>(row, chunk));
        MmaOp<T>::run(s[2 * nb], k_frag, q_frag[0], q_frag[1]);
        MmaOp<T>::run(s[2 * nb + 1], k_frag, q_frag[2], q_frag[3]);
        MmaOp<T>::run(dp[2 * nb], v_frag, do_frag[0], do_frag[1]);
        MmaOp<T>::run(dp[2 * nb + 1], v_frag, do_frag[2], do_frag[3]);
      }
    }

    // P^T = exp(scale S^T - lse) (0 where the causal mask hides the pair), dS^T = P^T (dP^T - D)
    // (the scale is applied to dK and dQ at the end). A hidden pair's exponent may be +inf (a
    // query that sees no key has lse -inf), so the mask selects, never multiplies.
    const bool masked_tile = a.causal && j0 + Tr::kKeys - 1 > i0 + key_offset;
#pragma unroll
    for (int nb = 0; nb < BR / 8; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = nb * 8 + 2 * t4 + (e & 1);
        float p = fast_exp2(s[nb][e] * scale_log2 - lse_t[col] * kBwdLog2e);
        if (masked_tile && j0 + key_row0 + g + (e >> 1) * 8 > i0 + col + key_offset) p = 0.0f;
        s[nb][e] = p;
        dp[nb][e] = p * (dp[nb][e] - delta_t[col]);
      }

    // dV += P^T dO and dK += dS^T Q: A from registers, B by ldmatrix.trans of the query rows.
#pragma unroll
    for (int kq = 0; kq < BR / 16; ++kq) {
      const std::uint32_t p_frag[4] = {pack2<T>(s[2 * kq][0], s[2 * kq][1]), pack2<T>(s[2 * kq][2], s[2 * kq][3]),
                                       pack2<T>(s[2 * kq + 1][0], s[2 * kq + 1][1]),
                                       pack2<T>(s[2 * kq + 1][2], s[2 * kq + 1][3])};
      const std::uint32_t ds_frag[4] = {pack2<T>(dp[2 * kq][0], dp[2 * kq][1]), pack2<T>(dp[2 * kq][2], dp[2 * kq][3]),
                                        pack2<T>(dp[2 * kq + 1][0], dp[2 * kq + 1][1]),
                                        pack2<T>(dp[2 * kq + 1][2], dp[2 * kq + 1][3])};
      const int row = kq * 16 + ((lane >> 3) & 1) * 8 + (lane & 7);
#pragma unroll
      for (int dn = 0; dn < D / 16; ++dn) {
        std::uint32_t do_frag[4], q_frag[4];
        ldmatrix_x4_trans(do_frag, do_t + swizzle<kChunks>(row, 2 * dn + (lane >> 4)));
        ldmatrix_x4_trans(q_frag, q_t + swizzle<kChunks>(row, 2 * dn + (lane >> 4)));
        MmaOp<T>::run(dv[2 * dn], p_frag, do_frag[0], do_frag[1]);
        MmaOp<T>::run(dv[2 * dn + 1], p_frag, do_frag[2], do_frag[3]);
        MmaOp<T>::run(dk[2 * dn], ds_frag, q_frag[0], q_frag[1]);
        MmaOp<T>::run(dk[2 * dn + 1], ds_frag, q_frag[2], q_frag[3]);
      }
    }

    if constexpr (ATOMIC_DQ) {
      // dS^T to shared memory (keys as rows), then dQ += dS K: warp w takes rows 16 m of the query
      // tile and kDqN8 8-column blocks from n0.
#pragma unroll
      for (int nb = 0; nb < BR / 8; ++nb)
#pragma unroll
        for (int half = 0; half < 2; ++half)
          sts32(ds_s + ((key_row0 + g + 8 * half) * Tr::kDsStride + nb * 8 + 2 * t4) * 2,
                pack2<T>(dp[nb][2 * half], dp[nb][2 * half + 1]));
      __syncthreads();
      const int m = warp / Tr::kWarpsPerMTile, n0 = (warp % Tr::kWarpsPerMTile) * Tr::kDqN8;
      float dq[Tr::kDqN8][4] = {};
#pragma unroll
      for (int kk = 0; kk < Tr::kKeys / 16; ++kk) {
        std::uint32_t ds_frag[4];  // dS rows 16 m.., keys 16 kk..: transposed 8 x 8 reads of dS^T
        ldmatrix_x4_trans(ds_frag, ds_s + ((kk * 16 + (lane & 7) + (lane >> 4) * 8) * Tr::kDsStride + m * 16 +
                                           ((lane >> 3) & 1) * 8) * 2);
        const int key = kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7);
#pragma unroll
        for (int nn = 0; nn < Tr::kDqN8 / 2; ++nn) {
          std::uint32_t k_frag[4];
          ldmatrix_x4_trans(k_frag, k_s + swizzle<kChunks>(key, n0 + 2 * nn + (lane >> 4)));
          MmaOp<T>::run(dq[2 * nn], ds_frag, k_frag[0], k_frag[1]);
          MmaOp<T>::run(dq[2 * nn + 1], ds_frag, k_frag[2], k_frag[3]);
        }
      }
      float* dq_rows = dq_acc + bh * a.seq_q * D;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const std::int64_t i = i0 + m * 16 + g + 8 * half;
        if (i < a.seq_q)
#pragma unroll
          for (int nn = 0; nn < Tr::kDqN8; ++nn)
            atomic_add_float2(dq_rows + i * D + (n0 + nn) * 8 + 2 * t4, dq[nn][2 * half], dq[nn][2 * half + 1]);
      }
    }
    __syncthreads();  // dS^T and this stage are free for the next step
  }
  cp_async_wait<0>();

  // dK = scale * dS^T Q and dV = P^T dO for this warp's key rows.
  T* dk_out = static_cast<T*>(a.dk) + kv_index * a.seq_k * D;
  T* dv_out = static_cast<T*>(a.dv) + kv_index * a.seq_k * D;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const std::int64_t j = j0 + key_row0 + g + 8 * half;
    if (j >= a.seq_k) continue;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      const std::int64_t at = j * D + n * 8 + 2 * t4;
      *reinterpret_cast<std::uint32_t*>(dk_out + at) =
          pack2<T>(a.scale * dk[n][2 * half], a.scale * dk[n][2 * half + 1]);
      *reinterpret_cast<std::uint32_t*>(dv_out + at) = pack2<T>(dv[n][2 * half], dv[n][2 * half + 1]);
    }
  }
}

// The deterministic dQ: a second pass in which each warp owns 16 query rows (Q and dO as A
// fragments in registers, dQ accumulated in registers and written once) and walks the key tiles
// its block sees, recomputing S = Q K^T, P, dP = dO V^T and dS = P (dP - D) (FlashAttention-2's
// second pass); no atomics, so dQ is the same bit for bit on every run. K and V tiles of BN keys
// through a double-buffered cp.async stage.
template <int D, int BN>
struct BwdDqTraits {
  static constexpr int kWarps = 4, kThreads = kWarps * 32, kRows = kWarps * 16;
  static constexpr int kChunks = D / 8;
  static constexpr int kTileBytes = BN * D * 2;  // one of K, V
  static constexpr int kSmemBytes = 2 * 2 * kTileBytes;
};

// Keys a step of the dQ pass: its S and dP take BN / 2 fp32 a lane each beside dQ's D / 2.
template <int D>
constexpr int kDqBn = D == 64 ? 64 : 32;

template <class T, int D, int BN>
__global__ void __launch_bounds__(BwdDqTraits<D, BN>::kThreads)
    attention_bwd_dq_kernel(AttentionBwdArgs a, const float* delta) {
  using Tr = BwdDqTraits<D, BN>;
  constexpr int kChunks = Tr::kChunks;
  extern __shared__ __align__(128) unsigned char smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const std::uint32_t base = smem_address(smem);
  const std::int64_t bh = blockIdx.y;  // b * heads + h
  const std::int64_t kv_index = bh / a.heads * a.kv_heads + bh % a.heads / (a.heads / a.kv_heads);
  const std::int64_t i0 = static_cast<std::int64_t>(blockIdx.x) * Tr::kRows;
  const std::int64_t key_offset = a.seq_k - a.seq_q;
  const T* k = static_cast<const T*>(a.k) + kv_index * a.seq_k * D;
  const T* v = static_cast<const T*>(a.v) + kv_index * a.seq_k * D;
  // Keys this block's rows see: all, or under causal up to its last row's limit.
  std::int64_t keys = a.seq_k;
  if (a.causal) keys = max(static_cast<std::int64_t>(0), min(keys, min(i0 + Tr::kRows, a.seq_q) + key_offset));
  const int tiles = static_cast<int>((keys + BN - 1) / BN);
  auto fetch = [&](int it) {
    const std::uint32_t k_dst = base + (it & 1) * 2 * Tr::kTileBytes, v_dst = k_dst + Tr::kTileBytes;
    for (int e = threadIdx.x; e < BN * kChunks; e += Tr::kThreads) {
      const int r = e / kChunks, c = e % kChunks;
      const std::int64_t j = static_cast<std::int64_t>(it) * BN + r;
      const bool valid = j < a.seq_k;
      const std::int64_t off = valid ? j * D + c * 8 : 0;
      cp_async_16(k_dst + swizzle<kChunks>(r, c), k + off, valid);
      cp_async_16(v_dst + swizzle<kChunks>(r, c), v + off, valid);
    }
  };
  if (tiles > 0) fetch(0);
  cp_async_commit();

  // This lane's rows g and g + 8 of the warp's 16: Q and dO fragments, lse (log2) and D.
  const std::int64_t row_lo = i0 + warp * 16 + g, row_hi = row_lo + 8;
  const bool lo_ok = row_lo < a.seq_q, hi_ok = row_hi < a.seq_q;
  std::uint32_t q_frag[D / 16][4], do_frag[D / 16][4];
  {
    const auto* q_lo = reinterpret_cast<const std::uint32_t*>(static_cast<const T*>(a.q) + (bh * a.seq_q + (lo_ok ? row_lo : 0)) * D);
    const auto* q_hi = reinterpret_cast<const std::uint32_t*>(static_cast<const T*>(a.q) + (bh * a.seq_q + (hi_ok ? row_hi : 0)) * D);
    const auto* o_lo = reinterpret_cast<const std::uint32_t*>(static_cast<const T*>(a.d_o) + (bh * a.seq_q + (lo_ok ? row_lo : 0)) * D);
    const auto* o_hi = reinterpret_cast<const std::uint32_t*>(static_cast<const T*>(a.d_o) + (bh * a.seq_q + (hi_ok ? row_hi : 0)) * D);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      q_frag[kk][0] = lo_ok ? __ldg(q_lo + kk * 8 + t4) : 0u;
      q_frag[kk][1] = hi_ok ? __ldg(q_hi + kk * 8 + t4) : 0u;
      q_frag[kk][2] = lo_ok ? __ldg(q_lo + kk * 8 + 4 + t4) : 0u;
      q_frag[kk][3] = hi_ok ? __ldg(q_hi + kk * 8 + 4 + t4) : 0u;
      do_frag[kk][0] = lo_ok ? __ldg(o_lo + kk * 8 + t4) : 0u;
      do_frag[kk][1] = hi_ok ? __ldg(o_hi + kk * 8 + t4) : 0u;
      do_frag[kk][2] = lo_ok ? __ldg(o_lo + kk * 8 + 4 + t4) : 0u;
      do_frag[kk][3] = hi_ok ? __ldg(o_hi + kk * 8 + 4 + t4) : 0u;
    }
  }
  const float lse2[2] = {lo_ok ? a.lse[bh * a.seq_q + row_lo] * kBwdLog2e : 0.0f,
                         hi_ok ? a.lse[bh * a.seq_q + row_hi] * kBwdLog2e : 0.0f};
  const float d_row[2] = {lo_ok ? delta[bh * a.seq_q + row_lo] : 0.0f, hi_ok ? delta[bh * a.seq_q + row_hi] : 0.0f};
  const std::int64_t limit[2] = {row_lo + key_offset, row_hi + key_offset};  // causal: keys j <= limit
  const float scale_log2 = a.scale * kBwdLog2e;

  float dq[D / 8][4] = {};
  for (int it = 0; it < tiles; ++it) {
    if (it + 1 < tiles) fetch(it + 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const std::uint32_t k_t = base + (it & 1) * 2 * Tr::kTileBytes, v_t = k_t + Tr::kTileBytes;
    float s[BN / 8][4] = {}, dp[BN / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
      for (int nb = 0; nb < BN / 16; ++nb) {
        const int row = nb * 16 + (lane >> 4) * 8 + (lane & 7), chunk = 2 * kk + ((lane >> 3) & 1);
        std::uint32_t k_frag[4], v_frag[4];
        ldmatrix_x4(k_frag, k_t + swizzle<kChunks>(row, chunk));
        ldmatrix_x4(v_frag, v_t + swizzle<kChunks>(row, chunk));
        MmaOp<T>::run(s[2 * nb], q_frag[kk], k_frag[0], k_frag[1]);
        MmaOp<T>::run(s[2 * nb + 1], q_frag[kk], k_frag[2], k_frag[3]);
        MmaOp<T>::run(dp[2 * nb], do_frag[kk], v_frag[0], v_frag[1]);
        MmaOp<T>::run(dp[2 * nb + 1], do_frag[kk], v_frag[2], v_frag[3]);
      }
    const std::int64_t j0 = static_cast<std::int64_t>(it) * BN;
#pragma unroll
    for (int nb = 0; nb < BN / 8; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const std::int64_t j = j0 + nb * 8 + 2 * t4 + (e & 1);
        const int half = e >> 1;
        const bool hidden = j >= a.seq_k || (a.causal && j > limit[half]);
        const float p = hidden ? 0.0f : fast_exp2(s[nb][e] * scale_log2 - lse2[half]);
        dp[nb][e] = p * (dp[nb][e] - d_row[half]);
      }
    // dQ += dS K: dS from the accumulators as A, K by ldmatrix.trans.
#pragma unroll
    for (int kq = 0; kq < BN / 16; ++kq) {
      const std::uint32_t ds_frag[4] = {pack2<T>(dp[2 * kq][0], dp[2 * kq][1]), pack2<T>(dp[2 * kq][2], dp[2 * kq][3]),
                                        pack2<T>(dp[2 * kq + 1][0], dp[2 * kq + 1][1]),
                                        pack2<T>(dp[2 * kq + 1][2], dp[2 * kq + 1][3])};
      const int key = kq * 16 + ((lane >> 3) & 1) * 8 + (lane & 7);
#pragma unroll
      for (int dn = 0; dn < D / 16; ++dn) {
        std::uint32_t k_frag[4];
        ldmatrix_x4_trans(k_frag, k_t + swizzle<kChunks>(key, 2 * dn + (lane >> 4)));
        MmaOp<T>::run(dq[2 * dn], ds_frag, k_frag[0], k_frag[1]);
        MmaOp<T>::run(dq[2 * dn + 1], ds_frag, k_frag[2], k_frag[3]);
      }
    }
    __syncthreads();  // the stage is free for the fetch two tiles on
  }
  cp_async_wait<0>();
  T* dq_out = static_cast<T*>(a.dq) + bh * a.seq_q * D;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const std::int64_t i = half ? row_hi : row_lo;
    if (i >= a.seq_q) continue;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<std::uint32_t*>(dq_out + i * D + n * 8 + 2 * t4) =
          pack2<T>(a.scale * dq[n][2 * half], a.scale * dq[n][2 * half + 1]);
  }
}

// The second pass of deterministic=1; its shared memory granted beforehand (launch_bwd_mma).
template <class T, int D>
void launch_dq_pass(const AttentionBwdArgs& a, const float* delta, cudaStream_t stream) {
  using Tr = BwdDqTraits<D, kDqBn<D>>;
  const dim3 grid(static_cast<unsigned>((a.seq_q + Tr::kRows - 1) / Tr::kRows), static_cast<unsigned>(a.batch * a.heads));
  attention_bwd_dq_kernel<T, D, kDqBn<D>><<<grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, delta);
}

template <class T, int D, int WARPS, int BR>
bool launch_bwd_mma(const AttentionBwdArgs& a, void* workspace, bool deterministic, cudaStream_t stream) {
  using Tr = BwdMmaTraits<D, WARPS, BR>;
  constexpr auto atomic_dq = attention_bwd_mma_kernel<T, D, WARPS, BR, true>;
  constexpr auto dq_apart = attention_bwd_mma_kernel<T, D, WARPS, BR, false>;
  constexpr auto dq_pass = attention_bwd_dq_kernel<T, D, kDqBn<D>>;
  const bool granted =
      deterministic ? smem_granted<dq_apart, Tr::kSmemBytes>() &&
                          smem_granted<dq_pass, BwdDqTraits<D, kDqBn<D>>::kSmemBytes>()
                    : smem_granted<atomic_dq, Tr::kSmemBytes>();
  if (!granted) return false;  // checked before any launch: a refusal leaves no half-done backward
  const auto kernel = deterministic ? dq_apart : atomic_dq;
  float* delta = static_cast<float*>(workspace);
  float* dq_acc = delta + bwd_delta_floats(a);
  launch_attention_bwd_delta<T>(a, delta, stream, deterministic ? nullptr : dq_acc);  // D, the accumulator zeroed
  const dim3 grid(static_cast<unsigned>((a.seq_k + Tr::kKeys - 1) / Tr::kKeys), static_cast<unsigned>(a.batch * a.kv_heads));
  kernel<<<grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, delta, dq_acc);
  if (deterministic) {
    launch_dq_pass<T, D>(a, delta, stream);
    return true;
  }
  launch_attention_bwd_dq_convert<T>(a, dq_acc, stream);
  return true;
}

template <class F>
bool with_config(const AttentionBwdArgs& a, F&& f) {
  auto by_dim = [&](auto t) {
#define FA_BWD_MMA_DISPATCH(D, WARPS, BR) \
  if (a.head_dim == D) return f(t, BwdMmaTraits<D, WARPS, BR>{}, std::integral_constant<int, D>{}, std::integral_constant<int, WARPS>{}, std::integral_constant<int, BR>{});
    FA_BWD_MMA_CONFIGS(FA_BWD_MMA_DISPATCH)
#undef FA_BWD_MMA_DISPATCH
    return false;
  };
  return with_elem16(a.elem, by_dim);
}

}  // namespace

std::size_t attention_bwd_mma_workspace_bytes(const AttentionBwdArgs& a, bool deterministic) {
  return bwd_dq_workspace_bytes(a, !deterministic);
}

std::size_t attention_bwd_mma_smem_bytes(const AttentionBwdArgs& a) {
  std::size_t bytes = 0;
  with_config(a, [&](auto, auto traits, auto, auto, auto) {
    bytes = decltype(traits)::kSmemBytes;
    return true;
  });
  return bytes;
}

bool attention_bwd_mma(const AttentionBwdArgs& a, void* workspace, bool deterministic, cudaStream_t stream) {
  return with_config(a, [&](auto t, auto, auto d, auto warps, auto br) {
    return launch_bwd_mma<decltype(t), decltype(d)::value, decltype(warps)::value, decltype(br)::value>(
        a, workspace, deterministic, stream);
  });
}

}  // namespace fabench
