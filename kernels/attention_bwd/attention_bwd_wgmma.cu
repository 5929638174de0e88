// bwd.wgmma: FlashAttention-2's backward on Hopper's warpgroup MMA (wgmma, sm_90a), fp16 and bf16,
// head dims 64 and 128.
//
// What changes against bwd.fa2_mma (mma.sync, a warp per 16 keys, every operand through ldmatrix):
// a warpgroup of four warps owns 64 keys and each product is a 64 x N x 16 wgmma whose B (and,
// for the score products, A) the tensor cores read straight from shared memory. A block owns 128
// keys of one KV head (two warpgroups) with K and V resident, and streams the query tiles of
// every query head of its group through a double-buffered cp.async stage (Q, dO, lse, D), as
// bwd.fa2_mma does. Per query tile of BR rows, warpgroup w:
//   - S^T = K_w Q^T and dP^T = V_w dO^T (A: its 64 rows of K or V, B: the Q or dO tile, both
//     K-major over d): P^T = exp(scale S^T - lse) and dS^T = P^T (dP^T - D) land in registers in
//     the accumulator layout, which packed to 16 bits is the register-A operand of the next two;
//   - dV += P^T dO and dK += dS^T Q (B: the same dO and Q tiles read N-major: no transposed copy),
//     dV and dK in registers over the whole loop (GQA's sum over the group is the block's loop);
//   - dS^T goes to shared memory in the swizzled layout; read back M-major (wgmma's transposed A)
//     it is dS, and dQ = dS K (B: the K tile, N-major) is split over the two warpgroups (d 128: a
//     column half each over the tile's 64 queries; d 64: the tile is 128 queries, a row half each)
//     and added into the fp32 dQ accumulator by vector atomics; a last pass scales and converts.
//     dQ runs one step late: a step starts with the step before's dQ (its dS^T in the second of
//     two buffers) and atomics, which then drain while S^T and dP^T run (see da15bc6 below).
// The tiles, their loads and the GEMM steps are attn.wgmma's (kernels/common/wgmma_tiles.cuh).
//
// Registers: dK and dV (128 fp32 a thread at d 128, 64 at d 64) beside S^T and dP^T of a
// 64-query sub-tile (64). ptxas -v (CUDA 13.0) since da15bc6: 255 registers and no spill at d 128,
// 255 and 4 bytes spilled at d 64 block_q 128 (12 and 8 before it), 212 and none at d 64 block_q 64;
// no wgmma serialization (C7514) reported.
//
// Measured on an H200 (bf16, FlashAttention's convention of 16k tokens, seq 2k-16k, TFLOP/s with
// the backward's 2.5 x forward FLOPs; results/h200/backward_wgmma_2d6f4ba37ce7):
//   - first version (ce3d8d5: S^T and dP^T of the whole query tile at once, the K/V descriptors
//     hoisted into registers, 112-180 bytes spilled): d 64 254-278 non-causal / 215-266 causal,
//     d 128 299-329 / 249-307 (bwd.fa2_mma 189-211 / 162-198 in the same run);
//   - sub-tiles of 64 queries and opaque tile addresses (2d6f4ba): d 64 292-331 / 245-331, d 128
//     331-374 / 272-372: 1.15-1.25x PyTorch's flash backward (248-309 / 199-310) and 0.62-0.74x
//     its cuDNN backward (429-590 / 330-580). block_q 64 at d 64 (dQ's keys split over the
//     warpgroups, twice the atomics) 230-254 / 194-236.
//   - Tried and reverted (d5324fb, results/h200/backward_bulk_dq_d5324fb9d103): dQ staged in shared
//     memory (rows padded, conflict-free) and added into the accumulator by the copy engine, one
//     cp.reduce.async.bulk .add.f32 a row (FlashAttention-3's way) instead of the vector atomics.
//     Validated (the [bwd] GPU test, compute-sanitizer), but 0.94-0.98x this version on every case
//     of the sweep (d 128 331 -> 311, 354 -> 333, 366 -> 345 non-causal; the peers within 1-3% of
//     their earlier run): the atomics are not what a step waits for, and the staging adds 32 KiB of
//     shared-memory stores a step (d 128) and a wait before a barrier.
//   - dQ one step late (da15bc6, results/h200/backward_dq_late_da15bc687b64, H200, the peers in
//     the same run). ncu's warp-stall samples of the loop before it (ab/ there: the per-SASS table
//     at 8cb8953 and the details at 687e8e3, bf16 d 128 16k): 12% at a step's top, where the proxy
//     fence (fence.proxy.async.shared::cta compiles to MEMBAR.ALL.CTA + FENCE.VIEW.ASYNC.S) waited
//     for the dQ atomics issued just before it, and the barrier behind it; 8% on the first
//     instruction that reuses a register the atomics had yet to read. Issuing the atomics at the
//     start of the next step (dS^T double-buffered) leaves them a step to drain and takes one block
//     barrier a step instead of three: d 128 4k (b4 h16) 362 / 316 TFLOP/s non-causal / causal, 16k
//     384 / 378, against 353 / 311 and 372 / 367 for 88523c6 in the run before it (+2-3%); d 64
//     16k 325 against 334 (-3%). In the run: 0.63-0.65x PyTorch's cuDNN backward at d 128 (573-602
//     TFLOP/s), 0.68x at d 64; 1.22-1.25x its flash backward at d 128, 1.14x at d 64.
//   - Tried and reverted, each validated (the [bwd] GPU test, compute-sanitizer), timed against
//     88523c6 (ab/ there): one block barrier a step with the atomics still last in it (687e8e3):
//     1.00x at d 128, 0.97x at d 64; three query-tile stages, loads two steps ahead, and lse and D
//     read as float2 (8cb8953): 0.98-0.99x at d 128, 0.95x at d 64 (the loads were not late).
//   - Tried and reverted (070469b, results/h200/bwd_block_k64_070469bff584, H200, the peers in the
//     same run): a block per 64 keys (one warpgroup), two blocks an SM, so that each runs on its own
//     schedule and one's elementwise work meets the other's products; one dS^T buffer, dQ one
//     m64n128 product. Validated (the [bwd] GPU test, memcheck, racecheck, synccheck) but 0.74-0.81x
//     this version at d 128 (16k tokens, seq 2k-16k: 250-285 against 336-384 TFLOP/s non-causal,
//     221-284 against 274-380 causal): each query tile is loaded and its dQ added once per 64 keys
//     instead of 128, and that traffic costs more than the warpgroups' common phase.
// Pipeline 2 (attention_bwd_wgmma_ws.cu, the default at d 128 since it measured 1.28-1.38x this loop)
// is this step warp-specialized: a producer warpgroup loads by TMA and adds dQ by the copy engine.
// What remained against cuDNN in this loop: each warpgroup runs S^T and dP^T, the elementwise P^T and dS^T, dV
// and dK, then dQ, in turn, the two in phase (one block fills an SM), so the tensor cores wait
// during the elementwise work; FlashAttention-3 overlaps them with a producer warp (TMA, which
// also needs no proxy fence) and two consumer warpgroups out of phase. And by arithmetic (not measured): S^T, dP^T
// and dQ are m64n64k16 with both operands in shared memory, 4 KiB read per 131k FLOP, about 120
// bytes a clock at the tensor cores' peak rate against shared memory's 128: three of the five
// products a step run at shared memory's pace, not the tensor cores'. At d 128 a step is 3.7 us
// (16k, non-causal) where its 10.5 MFLOP an SM need 1.4 us at peak.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <utility>
#include <vector>

#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/attention_bwd/attention_bwd_delta.cuh"
#include "kernels/attention_bwd/attention_bwd_dq.cuh"
#include "kernels/attention_bwd/attention_bwd_steps.cuh"
#include "kernels/attention_bwd/attention_bwd_wgmma.cuh"
#include "kernels/attention_bwd/attention_bwd_wgmma.h"
#include "kernels/common/element.cuh"
#include "kernels/common/smem_grant.cuh"
#include "kernels/common/wgmma_tiles.cuh"

namespace fabench {

namespace {

// D: head dim; BR: query rows a step. Two warpgroups of 64 keys.
template <int D, int BR>
struct BwdWgTraits {
  static constexpr int kWarpgroups = 2;
  static constexpr int kThreads = 128 * kWarpgroups;
  static constexpr int kKeys = 64 * kWarpgroups;
  static constexpr int kChunks = D / 8;
  static constexpr int kKvBytes = kKeys * D * 2;      // one of K, V
  static constexpr int kQBytes = BR * D * 2;          // one of Q, dO in a stage
  static constexpr int kDsBytes = kKeys * BR * 2;     // dS^T, keys as rows
  static constexpr int kScalarBytes = 2 * BR * 4;     // lse and D of a stage
  // K, V, two stages of Q and dO, two of dS^T (all 1024-byte multiples, so each tile starts aligned for
  // the swizzle), then the stages' lse and D, and slack to align the base.
  static constexpr int kSmemBytes = 2 * kKvBytes + 4 * kQBytes + 2 * kDsBytes + 2 * kScalarBytes + 1024;
  // dQ (BR x D) in 64 x 64 blocks: kMParts x kNParts of them; with fewer blocks than warpgroups
  // each block's sum over the keys is split kKeyParts ways (every part added by atomics).
  static constexpr int kMParts = BR / 64;
  static constexpr int kNParts = D / 64;
  static constexpr int kKeyParts = kWarpgroups / (kMParts * kNParts);
  static constexpr int kDqKeys = kKeys / kKeyParts;
  static_assert(D % 64 == 0 && BR % 64 == 0 && kKeyParts * kMParts * kNParts == kWarpgroups,
                "dQ: a 64 x 64 block (or a share of one's keys) a warpgroup");
  static_assert(kQBytes % 1024 == 0 && kKvBytes % 1024 == 0 && kDsBytes % 1024 == 0, "aligned tiles");
};

// Compiled (head dim, query rows a step), the first per head dim the default: register budgets
// (the header comment). d 64 with 64 queries a step splits each dQ block's keys over the two
// warpgroups (twice the atomics, half the registers of S^T and dP^T).
#define FA_BWD_WGMMA_CONFIGS(X) \
  X(64, 128)                    \
  X(64, 64)                     \
  X(128, 64)

template <class T, int D, int BR>
__global__ void __launch_bounds__(256, 1)
    attention_bwd_wgmma_kernel(AttentionBwdArgs a, const float* delta, float* dq_acc) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Tr = BwdWgTraits<D, BR>;
  using Out = WgOutSplit<D>;
  constexpr int kThreads = Tr::kThreads, kKeys = Tr::kKeys, kChunks = Tr::kChunks;
  constexpr int kSub = 64, kSubs = BR / kSub;  // query rows a sub-tile of S^T and dP^T
  extern __shared__ unsigned char smem_raw[];
  const std::uint32_t k_s = (smem_address(smem_raw) + 1023u) & ~1023u;
  const std::uint32_t v_s = k_s + Tr::kKvBytes;
  const std::uint32_t stages = v_s + Tr::kKvBytes;  // stage s: Q at + 2 s kQBytes, dO after it
  const std::uint32_t ds_s = stages + 4 * Tr::kQBytes;
  const std::uint32_t scalars = ds_s + 2 * Tr::kDsBytes;  // stage s: lse at + s kScalarBytes, D after it
  const unsigned char* scalars_ptr = smem_raw + (scalars - smem_address(smem_raw));

  const int wg = static_cast<int>(threadIdx.x) / 128, warp = (static_cast<int>(threadIdx.x) / 32) % 4;
  const int lane = static_cast<int>(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
  const std::int64_t kv_index = blockIdx.y;  // b * kv_heads + kv head
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * kKeys;
  const T* k = static_cast<const T*>(a.k) + (kv_index * a.seq_k + j0) * D;
  const T* v = static_cast<const T*>(a.v) + (kv_index * a.seq_k + j0) * D;

  // Keys past seq_k are zero rows (their dK and dV are not stored).
  wg_load_rows<kKeys, kChunks, kThreads>(k_s, k, a.seq_k - j0);
  wg_load_rows<kKeys, kChunks, kThreads>(v_s, v, a.seq_k - j0);
  cp_async_commit();

  const BwdQuerySteps<BR> walk(a, kv_index, j0);
  const int steps = walk.steps;
  // Q and dO rows of a step (zero past seq_q: they add nothing to dK and dV, and their dQ is not
  // stored), and its lse and D.
  auto load_step = [&](int step, int stage) {
    std::int64_t bh, i0;
    walk.rows(step, bh, i0);
    const std::uint32_t q_dst = stages + 2 * stage * Tr::kQBytes;
    const std::int64_t row0 = (bh * a.seq_q + i0) * D;
    wg_load_rows<BR, kChunks, kThreads>(q_dst, static_cast<const T*>(a.q) + row0, a.seq_q - i0);
    wg_load_rows<BR, kChunks, kThreads>(q_dst + Tr::kQBytes, static_cast<const T*>(a.d_o) + row0, a.seq_q - i0);
    load_bwd_row_scalars<BR>(scalars + stage * Tr::kScalarBytes, a, delta, bh, i0);
  };
  if (steps > 0) load_step(0, 0);
  cp_async_commit();

  const float scale_log2 = a.scale * kBwdLog2e;
  const int key_row = 64 * wg + 16 * warp + g;  // this lane's keys in the block: + 0 and + 8
  const std::uint32_t k_wg0 = k_s + 64 * wg * 128, v_wg0 = v_s + 64 * wg * 128;  // A rows of S^T, dP^T
  // dQ: this warpgroup's 64 query rows (of BR), 64 columns (of D) and keys (of kKeys).
  const int dq_m = wg % Tr::kMParts, dq_n = wg / Tr::kMParts % Tr::kNParts;
  const int dq_k0 = wg / (Tr::kMParts * Tr::kNParts) * Tr::kDqKeys;
  float dk[Out::kNb][Out::kN / 2] = {}, dv[Out::kNb][Out::kN / 2] = {};
  // dQ of a step (this warpgroup's 64 x 64 block) = dS K over the block's keys, run one step late:
  // A is that step's dS^T read M-major (its queries are the 128-byte rows' elements), B the K tile
  // N-major. One wgmma group.
  float dq[32];
  auto issue_dq = [&](std::uint32_t ds_t, std::uint32_t k_dq) {
    issue_dq_block<T, kKeys, Tr::kDqKeys>(dq, ds_t, k_dq, dq_m, dq_n, dq_k0);
  };
  // Step `of_step`'s dQ block (its dS^T at ds_t) computed and added into the fp32 accumulator (rows
  // past seq_q dropped).
  auto run_dq = [&](int of_step, std::uint32_t ds_t, std::uint32_t k_dq) {
    issue_dq(ds_t, k_dq);
    wgmma_wait<0>();
    wgmma_pin(dq);
    std::int64_t bh, i0;
    walk.rows(of_step, bh, i0);
    float* dq_rows = dq_acc + bh * a.seq_q * D;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::int64_t i = i0 + 64 * dq_m + 16 * warp + g + 8 * h;
      if (i < a.seq_q)
#pragma unroll
        for (int nt = 0; nt < 8; ++nt)
          atomic_add_float2(dq_rows + i * D + 64 * dq_n + 8 * nt + 2 * t, dq[4 * nt + 2 * h], dq[4 * nt + 2 * h + 1]);
    }
  };
  // A step: (after its one block barrier) the step before's dQ and its atomics, then S^T and dP^T,
  // P^T and dS^T (into the dS^T buffer the step before did not use), and dV and dK issued and left
  // running past the back-edge (the next step waits for them before its barrier). The atomics drain
  // while the step computes, not right before the next step's proxy fence, whose MEMBAR.ALL.CTA
  // waited for them (see the header).
  //
  // P^T and dS^T of a step, the register A of its dV and dK wgmmas: declared outside the loop so
  // that they stay pinned until the next step's wait.
  std::uint32_t p_frag[kSubs][kSub / 16][4], ds_frag[kSubs][kSub / 16][4];
  // After the wait for a step's dV and dK: their accumulators and register operands are settled.
  auto pin_step_operands = [&]() {
#pragma unroll
    for (int nb = 0; nb < Out::kNb; ++nb) {
      wgmma_pin(dv[nb]);
      wgmma_pin(dk[nb]);
    }
#pragma unroll
    for (int sub = 0; sub < kSubs; ++sub)
#pragma unroll
      for (int kk = 0; kk < kSub / 16; ++kk) {
        wgmma_pin(p_frag[sub][kk]);
        wgmma_pin(ds_frag[sub][kk]);
      }
  };
  for (int step = 0; step < steps; ++step) {
    const int stage = step & 1;
    wgmma_wait<0>();     // step - 1's dV and dK are done with its stage and P^T, dS^T fragments
    if (step > 0) pin_step_operands();
    cp_async_wait<0>();  // this step's stage (and K, V) landed for this thread ...
    fence_proxy_async();  // ... and step - 1's dS^T stores, for the async proxy ...
    __syncthreads();     // ... for every thread; every warpgroup is done with step - 1's stage,
                         // and with step - 2's dQ reads of the dS^T buffer this step rewrites
    if (step + 1 < steps) load_step(step + 1, stage ^ 1);  // into step - 1's stage
    cp_async_commit();
    std::int64_t bh, i0;
    walk.rows(step, bh, i0);
    // The tiles' shared-memory addresses made opaque each step: otherwise the compiler hoists every
    // loop-invariant wgmma descriptor of K and V (two registers each, 48 of them at d 128) out of
    // the loop, where they hold registers dK and dV need.
    std::uint32_t k_wg = k_wg0, v_wg = v_wg0, k_dq = k_s, ds_t = ds_s + stage * Tr::kDsBytes,
                  ds_prev = ds_s + (stage ^ 1) * Tr::kDsBytes, q_t = stages + 2 * stage * Tr::kQBytes;
    asm volatile("" : "+r"(k_wg), "+r"(v_wg), "+r"(k_dq), "+r"(ds_t), "+r"(ds_prev), "+r"(q_t));
    const std::uint32_t do_t = q_t + Tr::kQBytes;
    const float* lse_t = reinterpret_cast<const float*>(scalars_ptr + stage * Tr::kScalarBytes);
    const float* delta_t = lse_t + BR;
    if (step > 0) run_dq(step - 1, ds_prev, k_dq);  // its atomics drain while this step computes

    const BwdStepMask<kKeys, BR> mask(a, j0, i0);  // attention_bwd_wgmma.cuh
    // S^T, dP^T, P^T, dS^T and their dV, dK products a sub-tile of kSub queries at a time: a
    // 128-query step at d 64 holds the registers of a 64-query one. A sub-tile's P^T and dS^T
    // fragments are read by its dV and dK wgmmas until the next sub-tile's wait.
#pragma unroll
    for (int sub = 0; sub < kSubs; ++sub) {
      const std::uint32_t q_sub = q_t + sub * kSub * 128, do_sub = do_t + sub * kSub * 128;
      float s[kSub / 2], dp[kSub / 2];
      wgmma_kmajor_gemm<T, D, kSub, kKeys, BR>(s, k_wg, q_sub);
      wgmma_kmajor_gemm<T, D, kSub, kKeys, BR>(dp, v_wg, do_sub);
      wgmma_wait<0>();
      wgmma_pin(s);
      wgmma_pin(dp);
      if (sub > 0)
#pragma unroll
        for (int kk = 0; kk < kSub / 16; ++kk) {
          wgmma_pin(p_frag[sub - 1][kk]);
          wgmma_pin(ds_frag[sub - 1][kk]);
        }
      bwd_probs_and_grads<kSub>(s, dp, lse_t, delta_t, mask, sub * kSub, key_row, t, scale_log2);
      pack_accumulator<T, kSub>(p_frag[sub], s);
      pack_accumulator<T, kSub>(ds_frag[sub], dp);
      store_ds_t<kKeys, kSub>(ds_t, ds_frag[sub], sub * kSub, key_row, t);
      wgmma_rs_gemm<T, D, kSub, BR>(dv, p_frag[sub], do_sub);
      wgmma_rs_gemm<T, D, kSub, BR>(dk, ds_frag[sub], q_sub);
    }
  }
  // The last step's dQ.
  wgmma_wait<0>();
  if (steps > 0) pin_step_operands();
  fence_proxy_async();
  __syncthreads();
  if (steps > 0) {
    std::uint32_t k_dq = k_s, ds_last = ds_s + ((steps - 1) & 1) * Tr::kDsBytes;
    asm volatile("" : "+r"(k_dq), "+r"(ds_last));
    run_dq(steps - 1, ds_last, k_dq);
  }
  cp_async_wait<0>();

  store_dk_dv<T, D>(a, dk, dv, kv_index, j0, key_row, t);
#endif  // sm_90a: elsewhere the kernel is empty and attention_bwd_wgmma refuses to launch it
}

template <class T, int D, int BR>
bool launch_bwd_wgmma(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream) {
  using Tr = BwdWgTraits<D, BR>;
  constexpr auto kernel = attention_bwd_wgmma_kernel<T, D, BR>;
  if (!smem_granted<kernel, Tr::kSmemBytes>()) return false;  // before any launch: no half-done backward
  float* delta = static_cast<float*>(workspace);
  float* dq_acc = delta + bwd_delta_floats(a);
  launch_attention_bwd_delta<T>(a, delta, stream, dq_acc);  // D, and the accumulator zeroed
  const dim3 grid(static_cast<unsigned>((a.seq_k + Tr::kKeys - 1) / Tr::kKeys), static_cast<unsigned>(a.batch * a.kv_heads));
  kernel<<<grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, delta, dq_acc);
  launch_attention_bwd_dq_convert<T>(a, dq_acc, stream);
  return true;
}

// The compiled configuration for a's dtype and head dim with block_q query rows a step (0: the
// first compiled for the head dim).
template <class F>
bool with_config(const AttentionBwdArgs& a, int block_q, F&& f) {
  auto by_dim = [&](auto elem) {
#define FA_BWD_WGMMA_DISPATCH(D, BR)                 \
  if (a.head_dim == D && (block_q == BR || block_q == 0)) \
    return f(elem, BwdWgTraits<D, BR>{}, std::integral_constant<int, D>{}, std::integral_constant<int, BR>{});
    FA_BWD_WGMMA_CONFIGS(FA_BWD_WGMMA_DISPATCH)
#undef FA_BWD_WGMMA_DISPATCH
    return false;
  };
  return with_elem16(a.elem, by_dim);
}

}  // namespace

bool attention_bwd_wgmma_compiled() {
#ifdef FABENCH_SM90A
  return true;
#else
  return false;
#endif
}

std::size_t attention_bwd_wgmma_workspace_bytes(const AttentionBwdArgs& a) { return bwd_dq_workspace_bytes(a, true); }

std::size_t attention_bwd_wgmma_smem_bytes(const AttentionBwdArgs& a, int block_q) {
  std::size_t bytes = 0;
  with_config(a, block_q, [&](auto, auto traits, auto, auto) {
    bytes = decltype(traits)::kSmemBytes;
    return true;
  });
  return bytes;
}

std::vector<std::pair<int, int>> attention_bwd_wgmma_configs() {
  std::vector<std::pair<int, int>> out;
#define FA_BWD_WGMMA_LIST(D, BR) out.emplace_back(D, BR);
  FA_BWD_WGMMA_CONFIGS(FA_BWD_WGMMA_LIST)
#undef FA_BWD_WGMMA_LIST
  return out;
}

bool attention_bwd_wgmma(const AttentionBwdArgs& a, int block_q, void* workspace, cudaStream_t stream) {
  if (!attention_bwd_wgmma_compiled()) return false;
  return with_config(a, block_q, [&](auto elem, auto, auto d, auto br) {
    return launch_bwd_wgmma<decltype(elem), decltype(d)::value, decltype(br)::value>(a, workspace, stream);
  });
}

}  // namespace fabench
