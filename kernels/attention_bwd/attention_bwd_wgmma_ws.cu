// bwd.wgmma pipeline 2: the backward of attention_bwd_wgmma.cu, warp-specialized (FlashAttention-3's
// division of a block), d 128, 64 query rows a step, fp16 and bf16.
//
// What changes against pipeline 1 (every thread loads its share of a step's Q, dO, lse and D by
// cp.async, fences the async proxy and meets the others at a block barrier; dQ added by each
// thread's vector atomics, whose completion the next proxy fence waited for):
//   - A producer warpgroup (24 registers) only loads and stores: its warp 0 has the copy engine
//     bring K and V once and each step's Q and dO (TMA, 128-byte swizzle, rows past the sequence as
//     zeros) into two stages, its lanes bring lse and D by cp.async, all counted on the stage's
//     `full` mbarrier; its warp 1 adds each step's dQ into the fp32 accumulator by the copy engine
//     (cp.reduce.async.bulk.tensor .add from a swizzled staging tile), so no consumer thread issues
//     an atomic and the consumers' proxy fence waits for nothing in flight.
//   - Two consumer warpgroups (240 registers) of 64 keys each: per step dQ of the step before (its
//     dS^T read from both warpgroups' halves), staged for the producer's warp 1; then S^T and dP^T,
//     P^T and dS^T, dS^T stored, dV and dK issued, and one barrier of the two warpgroups (named
//     barrier 1) that publishes dS^T. A stage goes back to the producer once its dV and dK
//     products are done, at the next step's wait.
// Measured at 27a047e on an H200 (results/h200/bwd_ws_27a047e9558a, bf16 d 128, 16k tokens, seq 2k-16k,
// the peers in the same run): 421 / 463 / 488 / 493 TFLOP/s non-causal and 339 / 404 / 450 / 497 causal,
// 1.28-1.38x pipeline 1 (322-364 and 265-361 in that run), 0.80-0.86x PyTorch's cuDNN backward (0.798
// at seq 2k non-causal) and 1.55-1.62x its flash backward. Issuing S^T and dP^T beside dQ of the step before (dQ staged while they
// run) spills 372 bytes and serializes the wgmmas (C7512) within 240 registers, so dQ is waited for first.
// Since the delta pass zeroes the accumulator (attention_bwd_delta.cuh) no memset runs before it, and
// the conversion takes four elements a thread: at dc19bf1 (results/h200/bwd_ws_final_dc19bf1f3d12) 429 /
// 468 / 489 / 501 TFLOP/s non-causal and 350 / 411 / 454 / 499 causal, 0.81-0.85x cuDNN, 1.60-1.63x flash.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/attention_bwd/attention_bwd_delta.cuh"
#include "kernels/attention_bwd/attention_bwd_dq.cuh"
#include "kernels/attention_bwd/attention_bwd_steps.cuh"
#include "kernels/attention_bwd/attention_bwd_wgmma.cuh"
#include "kernels/attention_bwd/attention_bwd_wgmma.h"
#include "kernels/common/bulk_copy.cuh"
#include "kernels/common/element.cuh"
#include "kernels/common/tensor_map.h"

namespace fabench {

namespace {

constexpr int kD = 128, kBR = 64, kKeys = 128;  // head dim, query rows a step, keys a block
constexpr int kThreads = 384;                   // producer warpgroup + two consumer warpgroups
constexpr int kProducerRegisters = 24;          // 128 x 24 + 256 x 240 = 64512 of the SM's 65536
constexpr int kConsumerRegisters = 240;
constexpr std::uint32_t kKvBytes = kKeys * kD * 2;   // one of K, V: two column blocks of 128 rows
constexpr std::uint32_t kQBytes = kBR * kD * 2;      // one of Q, dO: two column blocks of 64 rows
constexpr std::uint32_t kStageBytes = 2 * kQBytes;   // Q then dO
constexpr std::uint32_t kDsBytes = kKeys * kBR * 2;  // dS^T, keys as rows: one column block
constexpr std::uint32_t kDqBytes = kBR * kD * 4;     // dQ staging: four fp32 blocks of 64 rows x 32
constexpr std::uint32_t kScalarBytes = 2 * kBR * 4;  // lse then D of a stage
// K, V, two stages, two dS^T buffers, the dQ staging (all 1024-byte multiples: the swizzle's
// alignment), the stages' lse and D, the mbarriers (K/V full, stage full x 2, stage empty x 2, dQ
// full, dQ empty), and slack to align the base.
constexpr std::uint32_t kStagesOffset = 2 * kKvBytes;
constexpr std::uint32_t kDsOffset = kStagesOffset + 2 * kStageBytes;
constexpr std::uint32_t kDqOffset = kDsOffset + 2 * kDsBytes;
constexpr std::uint32_t kScalarOffset = kDqOffset + kDqBytes;
constexpr std::uint32_t kBarrierOffset = kScalarOffset + 2 * kScalarBytes;
constexpr int kSmemBytes = static_cast<int>(kBarrierOffset + 7 * 8 + 1024);

__device__ __forceinline__ void consumers_barrier() { asm volatile("bar.sync 1, 256;\n" ::: "memory"); }

// A consumer's 64 x 64 block of a step's dQ (queries x its column half c) into the staging tile in
// the dQ map's box layout: block 2c + cb holds columns 64c + 32cb.., 64 rows of 128 bytes, chunk k of
// row r at k ^ (r mod 8) (a warp's rows g = 0..7 in different banks).
__device__ __forceinline__ void stage_dq(std::uint32_t staging, const float (&dq)[32], int c, int warp, int g, int t) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = 16 * warp + g + 8 * h;  // r mod 8 = g
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
      const int chunk = 2 * (nt & 3) + (t >> 1);
      const std::uint32_t at = staging + (2 * c + (nt >> 2)) * (64 * 128) + r * 128 + ((chunk ^ g) << 4) + 8 * (t & 1);
      asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(at), "f"(dq[4 * nt + 2 * h]), "f"(dq[4 * nt + 2 * h + 1])
                   : "memory");
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads, 1)
    attention_bwd_wgmma_ws_kernel(AttentionBwdArgs a, const float* delta, const __grid_constant__ CUtensorMap q_map,
                                  const __grid_constant__ CUtensorMap do_map, const __grid_constant__ CUtensorMap k_map,
                                  const __grid_constant__ CUtensorMap v_map, const __grid_constant__ CUtensorMap dq_map) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  const std::uint32_t base = (smem_address(smem_raw) + 1023u) & ~1023u;
  const std::uint32_t k_s = base, v_s = base + kKvBytes, stages = base + kStagesOffset, ds_s = base + kDsOffset;
  const std::uint32_t dq_staging = base + kDqOffset, scalars = base + kScalarOffset;
  const std::uint32_t bars = base + kBarrierOffset;
  const std::uint32_t kv_full = bars, dq_full = bars + 40, dq_empty = bars + 48;
  auto full = [&](int s) { return bars + 8 + 8 * s; };
  auto empty = [&](int s) { return bars + 24 + 8 * s; };

  const std::int64_t kv_index = blockIdx.y;  // b * kv_heads + kv head
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * kKeys;
  const BwdQuerySteps<kBR> walk(a, kv_index, j0);
  const int steps = walk.steps;
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = (static_cast<int>(threadIdx.x) / 32) % 4;

  if (threadIdx.x == 0) {
    mbarrier_init(kv_full, 1);
    for (int s = 0; s < 2; ++s) {
      mbarrier_init(full(s), 1 + 32);  // warp 0's lane 0 with the TMA bytes, and its 32 lanes' cp.async
      mbarrier_init(empty(s), 256);
    }
    mbarrier_init(dq_full, 256);
    mbarrier_init(dq_empty, 1);
    mbarrier_init_fence();
  }
  __syncthreads();

  const int role = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) / 128, 0);  // warp-uniform
  if (role == 0) {
    warpgroup_registers_down<kProducerRegisters>();
    if (warp == 0) {
      // Loads: K and V once, then each step's Q, dO (copy engine) and lse, D (cp.async) into its stage.
      if (lane == 0) {
        mbarrier_arrive_expect_bytes(kv_full, 2 * kKvBytes);
        for (int cb = 0; cb < kD / 64; ++cb) {
          tma_load_3d(k_s + cb * kKeys * 128, &k_map, 64 * cb, static_cast<int>(j0), static_cast<int>(kv_index), kv_full);
          tma_load_3d(v_s + cb * kKeys * 128, &v_map, 64 * cb, static_cast<int>(j0), static_cast<int>(kv_index), kv_full);
        }
      }
      for (int j = 0; j < steps; ++j) {
        const int s = j & 1;
        if (j >= 2) mbarrier_wait_parity(empty(s), ((j >> 1) - 1) & 1);  // step j - 2's stage is free
        std::int64_t bh, i0;
        walk.rows(j, bh, i0);
        const std::uint32_t q_dst = stages + s * kStageBytes;
        if (lane == 0) {
          mbarrier_arrive_expect_bytes(full(s), kStageBytes);
          for (int cb = 0; cb < kD / 64; ++cb) {
            tma_load_3d(q_dst + cb * kBR * 128, &q_map, 64 * cb, static_cast<int>(i0), static_cast<int>(bh), full(s));
            tma_load_3d(q_dst + kQBytes + cb * kBR * 128, &do_map, 64 * cb, static_cast<int>(i0), static_cast<int>(bh),
                        full(s));
          }
        }
        const std::uint32_t lse_dst = scalars + s * kScalarBytes;
#pragma unroll
        for (int h = 0; h < 2; ++h) {  // rows lane and lane + 32; zeros past seq_q
          const int r = lane + 32 * h;
          const bool valid = i0 + r < a.seq_q;
          const std::int64_t at = valid ? bh * a.seq_q + i0 + r : 0;
          cp_async_4(lse_dst + 4 * r, a.lse + at, valid);
          cp_async_4(lse_dst + 4 * kBR + 4 * r, delta + at, valid);
        }
        cp_async_arrive_on(full(s));
      }
      cp_async_commit();
      cp_async_wait<0>();  // no copy outlives its thread
    } else if (warp == 1 && lane == 0) {
      // dQ: each step's staged block added into the fp32 accumulator, then the staging handed back.
      for (int j = 0; j < steps; ++j) {
        mbarrier_wait_parity(dq_full, j & 1);
        std::int64_t bh, i0;
        walk.rows(j, bh, i0);
        for (int part = 0; part < 4; ++part)  // columns 32 part.., rows past seq_q dropped
          tma_reduce_add_3d(&dq_map, 32 * part, static_cast<int>(i0), static_cast<int>(bh),
                            dq_staging + part * (64 * 128));
        bulk_commit_group();
        bulk_wait_group_read<0>();
        mbarrier_arrive(dq_empty);
      }
      bulk_wait_group<0>();  // the adds done before the block ends
    }
    return;
  }

  warpgroup_registers_up<kConsumerRegisters>();
  using Out = WgOutSplit<kD>;
  const int c = role - 1, g = lane >> 2, t = lane & 3;
  const float scale_log2 = a.scale * kBwdLog2e;
  const int key_row = 64 * c + 16 * warp + g;  // this lane's keys in the block: + 0 and + 8
  const std::uint32_t k_c0 = k_s + 64 * c * 128, v_c0 = v_s + 64 * c * 128;  // A rows of S^T, dP^T
  const unsigned char* scalars_ptr = smem_raw + (scalars - smem_address(smem_raw));
  float dk[Out::kNb][Out::kN / 2] = {}, dv[Out::kNb][Out::kN / 2] = {};
  float dq[32];
  std::uint32_t p_frag[kBR / 16][4], ds_frag[kBR / 16][4];
  // dQ of a step, this warpgroup's column half, = dS K over the block's keys: A its dS^T read
  // M-major, B the K tile N-major. One wgmma group.
  auto issue_dq = [&](std::uint32_t ds_t, std::uint32_t k_dq) {
    issue_dq_block<T, kKeys, kKeys>(dq, ds_t, k_dq, 0, c, 0);
  };
  auto pin_step = [&]() {
#pragma unroll
    for (int nb = 0; nb < Out::kNb; ++nb) {
      wgmma_pin(dv[nb]);
      wgmma_pin(dk[nb]);
    }
#pragma unroll
    for (int kk = 0; kk < kBR / 16; ++kk) {
      wgmma_pin(p_frag[kk]);
      wgmma_pin(ds_frag[kk]);
    }
  };
  // dQ of the step before staged for the producer's warp 1, once it has taken the one before that.
  auto hand_over_dq = [&](int of_step) {
    if (of_step >= 1) mbarrier_wait_parity(dq_empty, (of_step - 1) & 1);
    stage_dq(dq_staging, dq, c, warp, g, t);
  };
  mbarrier_wait_parity(kv_full, 0);
  for (int j = 0; j < steps; ++j) {
    const int s = j & 1;
    mbarrier_wait_parity(full(s), (j >> 1) & 1);
    std::int64_t bh, i0;
    walk.rows(j, bh, i0);
    // Opaque addresses, as in pipeline 1: otherwise every K/V descriptor is hoisted into registers.
    std::uint32_t k_c = k_c0, v_c = v_c0, k_dq = k_s, ds_t = ds_s + s * kDsBytes, ds_prev = ds_s + (s ^ 1) * kDsBytes,
                  q_t = stages + s * kStageBytes;
    asm volatile("" : "+r"(k_c), "+r"(v_c), "+r"(k_dq), "+r"(ds_t), "+r"(ds_prev), "+r"(q_t));
    const std::uint32_t do_t = q_t + kQBytes;
    const float* lse_t = reinterpret_cast<const float*>(scalars_ptr + s * kScalarBytes);
    const float* delta_t = lse_t + kBR;
    // dQ of step j - 1 first, waited for at once (beside S^T and dP^T in flight, with dK and dV held,
    // its registers spilled 244 bytes and ptxas serialized the wgmmas, C7512); at step 0 a product
    // over the other buffer, dropped (issued under a branch, ptxas would serialize every wgmma).
    issue_dq(ds_prev, k_dq);
    wgmma_wait<0>();  // and before it step j - 1's dV and dK
    wgmma_pin(dq);
    if (j > 0) {
      pin_step();
      mbarrier_arrive(empty(s ^ 1));  // step j - 1's stage: its last reader, dV and dK, is done
      hand_over_dq(j - 1);
      fence_proxy_async();  // the dQ staging, for the copy engine
      mbarrier_arrive(dq_full);
    }
    float sc[kBR / 2], dp[kBR / 2];
    wgmma_kmajor_gemm<T, kD, kBR, kKeys, kBR>(sc, k_c, q_t);
    wgmma_kmajor_gemm<T, kD, kBR, kKeys, kBR>(dp, v_c, do_t);
    wgmma_wait<0>();
    wgmma_pin(sc);
    wgmma_pin(dp);
    const BwdStepMask<kKeys, kBR> mask(a, j0, i0);
    bwd_probs_and_grads<kBR>(sc, dp, lse_t, delta_t, mask, 0, key_row, t, scale_log2);
    pack_accumulator<T, kBR>(p_frag, sc);
    pack_accumulator<T, kBR>(ds_frag, dp);
    store_ds_t<kKeys, kBR>(ds_t, ds_frag, 0, key_row, t);
    fence_proxy_async();  // dS^T, for wgmma
    wgmma_rs_gemm<T, kD, kBR, kBR>(dv, p_frag, do_t);
    wgmma_rs_gemm<T, kD, kBR, kBR>(dk, ds_frag, q_t);
    consumers_barrier();  // both halves of dS^T written; both done reading step j - 1's
  }
  wgmma_wait<0>();
  if (steps > 0) {
    pin_step();
    std::uint32_t k_dq = k_s, ds_last = ds_s + ((steps - 1) & 1) * kDsBytes;
    asm volatile("" : "+r"(k_dq), "+r"(ds_last));
    issue_dq(ds_last, k_dq);
    wgmma_wait<0>();
    wgmma_pin(dq);
    hand_over_dq(steps - 1);
    fence_proxy_async();
    mbarrier_arrive(dq_full);
  }

  store_dk_dv<T, kD>(a, dk, dv, kv_index, j0, key_row, t);
#endif  // sm_90a: elsewhere the kernel is empty and attention_bwd_wgmma_ws refuses to launch it
}

// Q, dO, K, V and the fp32 dQ accumulator's maps for a launch (TileMapCache: encoded again only when
// the tensors change); fa-bench issues launches one at a time.
const CUtensorMap* bwd_ws_maps(const AttentionBwdArgs& a, float* dq_acc) {
  static TileMapCache<5> cache;
  const auto q_planes = static_cast<std::uint64_t>(a.batch * a.heads), kv_planes = static_cast<std::uint64_t>(a.batch * a.kv_heads);
  const auto seq_q = static_cast<std::uint64_t>(a.seq_q), seq_k = static_cast<std::uint64_t>(a.seq_k);
  return cache.maps({TileMapSpec{a.q, a.elem, q_planes, seq_q, kD, kBR}, TileMapSpec{a.d_o, a.elem, q_planes, seq_q, kD, kBR},
                     TileMapSpec{a.k, a.elem, kv_planes, seq_k, kD, kKeys}, TileMapSpec{a.v, a.elem, kv_planes, seq_k, kD, kKeys},
                     TileMapSpec{dq_acc, KernelElem::f32, q_planes, seq_q, kD, kBR}});
}

template <class T>
bool launch_bwd_wgmma_ws(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream) {
  constexpr auto kernel = attention_bwd_wgmma_ws_kernel<T>;
  static const bool smem_ok =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes) == cudaSuccess;
  // The consumers' setmaxnreg.inc waits until the block's registers cover 24 + 2 x 240 a lane of a
  // warpgroup: a build that allotted fewer at launch would wait for ever, so it refuses instead.
  static const bool registers_fit = [] {
    cudaFuncAttributes f{};
    return cudaFuncGetAttributes(&f, kernel) == cudaSuccess &&
           f.numRegs * kThreads >= 128 * kProducerRegisters + 256 * kConsumerRegisters;
  }();
  if (!smem_ok || !registers_fit) return false;  // before any launch: no half-done backward
  float* delta = static_cast<float*>(workspace);
  float* dq_acc = delta + bwd_delta_floats(a);
  const CUtensorMap* maps = bwd_ws_maps(a, dq_acc);  // q, d_o, k, v, dq
  if (maps == nullptr) return false;
  launch_attention_bwd_delta<T>(a, delta, stream, dq_acc);  // D, and the accumulator zeroed
  const dim3 grid(static_cast<unsigned>((a.seq_k + kKeys - 1) / kKeys), static_cast<unsigned>(a.batch * a.kv_heads));
  kernel<<<grid, kThreads, kSmemBytes, stream>>>(a, delta, maps[0], maps[1], maps[2], maps[3], maps[4]);
  launch_attention_bwd_dq_convert<T>(a, dq_acc, stream);
  return true;
}

}  // namespace

std::size_t attention_bwd_wgmma_ws_smem_bytes(const AttentionBwdArgs& a) {
  return a.head_dim == kD && (a.elem == KernelElem::f16 || a.elem == KernelElem::bf16) ? kSmemBytes : 0;
}

bool attention_bwd_wgmma_ws(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream) {
  if (!attention_bwd_wgmma_compiled() || a.head_dim != kD) return false;
  if (a.elem == KernelElem::f16) return launch_bwd_wgmma_ws<__half>(a, workspace, stream);
  if (a.elem == KernelElem::bf16) return launch_bwd_wgmma_ws<__nv_bfloat16>(a, workspace, stream);
  return false;
}

}  // namespace fabench
