#pragma once
// attn.wgmma's key loop, warp-specialized (FlashAttention-3's division of a block): a producer
// warpgroup only loads, two consumer warpgroups only compute, and they meet at mbarriers instead
// of the block barriers attention_wgmma.cuh's loop takes three times a step.
//   - Producer (warpgroup 0, its registers cut to 40 by setmaxnreg): Q, then each step's K and V
//     (and a partial block's bytes) into buffer step % 2 by cp.async, 16 bytes a thread, as the
//     block's threads load them there; each thread's cp.async.mbarrier.arrive counts on the
//     buffer's `full` barrier once its copies land. A buffer is refilled once both consumers have
//     arrived on its `empty` barrier.
//   - Consumers (warpgroups 1 and 2, 64 query rows each, 232 registers): wait on `full`, fence the
//     async proxy (the copies are generic-proxy writes, wgmma reads through the async proxy), S,
//     the softmax, P V, and arrive on `empty` once the step's wgmmas are done.
//   - PINGPONG: the consumers take the tensor cores in turn. A consumer's GEMM phase issues S of
//     step j and P V of step j - 1 back to back between two named barriers (its own, then the
//     other's), so one consumer's softmax runs while the other's GEMMs do (FlashAttention-3's
//     ping-pong schedule); without it both consumers run S, softmax, P V on their own time.
// Keys as in attention_wgmma.cuh (SparseKeys: the list of a query tile's key blocks).
#include "kernels/attention/attention_wgmma.cuh"
#include "kernels/common/bulk_copy.cuh"

namespace fabench {

namespace {

// Arrives on `bar` once every cp.async this thread issued before has landed; the barrier's
// expected arrivals count it (.noinc).
__device__ __forceinline__ void cp_async_arrive_on(std::uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbarrier_arrive(std::uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// A warpgroup's register budget (sm_90a; all of its warps execute it).
template <int N>
__device__ __forceinline__ void warpgroup_registers_down() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void warpgroup_registers_up() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
// Named barriers 1 and 2 (0 is __syncthreads): `threads` counts the syncing and the arriving ones.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// The producer's loads, lean on registers (it has 40): ROWS rows of CHUNKS 16-byte chunks into a
// 128-byte-swizzled tile (as wg_load_rows), each thread one chunk column whose swizzle phase stays
// fixed from pass to pass, so one shared and one global address advance by constant strides.
// Rows at or past rows_left are zero-filled.
template <int ROWS, int CHUNKS, class T>
__device__ __forceinline__ void producer_load_rows(std::uint32_t dst, const T* src, int rows_left) {
  constexpr int kRowsPerPass = 128 / CHUNKS;
  static_assert(kRowsPerPass % 8 == 0 && ROWS % kRowsPerPass == 0, "passes keep each thread's swizzle phase");
  const int tid = static_cast<int>(threadIdx.x) % 128, r = tid / CHUNKS;
  const std::uint32_t to = dst + swizzle128_offset<ROWS>(r, tid % CHUNKS);
  const unsigned char* from = reinterpret_cast<const unsigned char*>(src) + tid * 16;
#pragma unroll 4
  for (int i = 0; i < ROWS / kRowsPerPass; ++i) {
    const bool valid = r + i * kRowsPerPass < rows_left;
    cp_async_16(to + i * kRowsPerPass * 128, valid ? from + static_cast<std::size_t>(i) * 128 * 16 : from, valid);
  }
}
// A partial block's BM x BN bytes (rows `block` bytes apart) into a mask stage (stage_mask_tile's
// layout), the same way.
template <int BM, int BN>
__device__ __forceinline__ void producer_load_mask(std::uint32_t dst, const std::uint8_t* src, int block) {
  constexpr int kChunks = BN / 16, kRowsPerPass = 128 / kChunks;
  const int tid = static_cast<int>(threadIdx.x) % 128, r = tid / kChunks, c = tid % kChunks;
  const std::uint32_t to = dst + r * MaskStage<BM, BN>::kMaskRow + c * 16;
  const std::uint8_t* from = src + static_cast<std::size_t>(r) * block + c * 16;
#pragma unroll 4
  for (int i = 0; i < BM / kRowsPerPass; ++i)
    cp_async_16(to + i * kRowsPerPass * MaskStage<BM, BN>::kMaskRow,
                from + static_cast<std::size_t>(i) * kRowsPerPass * block, true);
}

constexpr int kWsThreads = 384;         // producer warpgroup + two consumer warpgroups
constexpr int kProducerRegisters = 40;  // 128 x 40 + 256 x 232 = 64512 of the SM's 65536
constexpr int kConsumerRegisters = 232;

template <class T, int D, int BN>
struct WsTraits {
  using Tr = WgTraits<T, D, BN, 2>;  // the consumers' tiles: 2 x 64 query rows
  static constexpr std::uint32_t kMaskBytes = MaskStage<Tr::kBM, BN>::kBytes;
  // Q, two K and two V buffers, two mask stages, then five mbarriers (full x2, empty x2, Q).
  static constexpr std::size_t kBarrierOffset = Tr::kQBytes + 4 * Tr::kTileBytes + 2 * kMaskBytes;
  static constexpr std::size_t kSmemBytes = kBarrierOffset + 5 * 8 + 1024;
  static_assert(kBarrierOffset % 8 == 0, "mbarriers are 8-byte aligned");
};

template <class T, int D, int BN, bool PINGPONG, class Keys>
__global__ void __launch_bounds__(kWsThreads, 1)
    attention_wgmma_ws_kernel(AttentionArgs a, AttentionSchedule sched, typename Keys::Args mask) {
  static_assert(Keys::kSkip || !Keys::kBlockMask, "DenseKeys or SparseKeys");
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Ws = WsTraits<T, D, BN>;
  using Tr = typename Ws::Tr;
  constexpr int kBM = Tr::kBM, kProducers = 128;
  extern __shared__ unsigned char smem_raw[];
  const std::uint32_t q_s = (smem_address(smem_raw) + 1023u) & ~1023u;
  const std::uint32_t k_s = q_s + Tr::kQBytes;
  const std::uint32_t v_s = k_s + 2 * Tr::kTileBytes;
  const std::uint32_t m_s = v_s + 2 * Tr::kTileBytes;
  const std::uint32_t bars = q_s + static_cast<std::uint32_t>(Ws::kBarrierOffset);
  auto full = [&](int buf) { return bars + 8 * buf; };
  auto empty = [&](int buf) { return bars + 16 + 8 * buf; };
  const std::uint32_t q_full = bars + 32;

  const AttentionBlock<T, D> blk(a, sched, kBM);
  const std::int64_t bh = blk.bh, i0 = blk.i0, diag = blk.diag;
  const MaskRowOf<Keys, BN> mrow(mask, bh, i0);
  const int n_tiles = blk.tiles(BN);
  const int n_steps = Keys::kSkip ? mrow.steps() : n_tiles;
  auto key_tile = [&](int step) { return Keys::kSkip ? mrow.key_tile(step) : step; };
  auto kind_of = [&](int step) { return Keys::kSkip ? mrow.kind(step) : kKeysFull; };

  if (threadIdx.x == 0) {
    mbarrier_init(full(0), kProducers);
    mbarrier_init(full(1), kProducers);
    mbarrier_init(empty(0), 256);
    mbarrier_init(empty(1), 256);
    mbarrier_init(q_full, kProducers);
    mbarrier_init_fence();
  }
  __syncthreads();

  // The role, warp-uniform by construction (a shuffle of lane 0's value), as setmaxnreg needs.
  const int role = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) / 128, 0);
  if (role == 0) {
    warpgroup_registers_down<kProducerRegisters>();
    producer_load_rows<kBM, Tr::kChunks>(q_s, blk.q, static_cast<int>(min(a.seq_q - i0, std::int64_t{kBM})));
    cp_async_arrive_on(q_full);
    for (int j = 0; j < n_steps; ++j) {
      const int buf = j & 1;
      if (j >= 2) mbarrier_wait_parity(empty(buf), ((j >> 1) - 1) & 1);  // both consumers are done with step j - 2
      const int kt = key_tile(j);
      const std::int64_t r0 = static_cast<std::int64_t>(kt) * BN;
      // A key tile wholly past seq_k loads zeros from the head's first row (see attention_wgmma.cuh).
      const int rows = static_cast<int>(max(std::int64_t{0}, min(a.seq_k - r0, std::int64_t{BN})));
      const std::int64_t at = rows > 0 ? r0 * D : 0;
      producer_load_rows<BN, Tr::kChunks>(k_s + buf * Tr::kTileBytes, blk.k + at, rows);
      producer_load_rows<BN, Tr::kChunks>(v_s + buf * Tr::kTileBytes, blk.v + at, rows);
      if constexpr (Keys::kBlockMask) {
        const int kind = kind_of(j);
        if (kind >= 0) producer_load_mask<kBM, BN>(m_s + buf * Ws::kMaskBytes, mrow.bytes(kind, kt), mrow.block);
      }
      cp_async_arrive_on(full(buf));
    }
    cp_async_wait<0>();  // no copy outlives its thread
    return;
  }

  warpgroup_registers_up<kConsumerRegisters>();
  const int wg = static_cast<int>(threadIdx.x) / 128 - 1, warp = (static_cast<int>(threadIdx.x) / 32) % 4;
  const int lane = static_cast<int>(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const std::int64_t lane_row = i0 + 64 * wg + 16 * warp + g;  // this lane's rows: +0 and +8
  auto rows_of = [&](int tile) {
    return TileRows{lane_row, static_cast<std::int64_t>(tile) * BN, a.seq_k, diag, a.causal, t};
  };
  auto needs_mask = [&](int tile) { return blk.needs_mask(a, static_cast<std::int64_t>(tile) * BN, BN); };
  const std::uint32_t q_wg = q_s + wg * 64 * 128;

  float o[Tr::kNb][Tr::kN / 2] = {};
  float s[BN / 2] = {};
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  float rescale[2];
  std::uint32_t p[BN / 16][4];
  // Scores of step j (in s) to P (in p): the block mask's bytes or the bounds, the online softmax.
  auto scores_to_p = [&](int j) {
    const int kt = key_tile(j), kind = kind_of(j);
    if constexpr (Keys::kBlockMask) {
      if (kind >= 0)
        apply_partial_tile<kBM, BN>(s, smem_raw + (m_s - smem_address(smem_raw)) + (j & 1) * Ws::kMaskBytes,
                                    64 * wg + 16 * warp + g, 2 * t);
    }
    softmax_tile<BN>(s, rows_of(kt), kind < 0 && needs_mask(kt), scale_log2, row_max, row_sum, rescale);
    rescale_output<Tr>(o, rescale);
    pack_p<T, BN>(p, s);
  };
  auto wait_full = [&](int j) {
    mbarrier_wait_parity(full(j & 1), (j >> 1) & 1);
    fence_proxy_async();  // the producer's generic-proxy copies before this thread's wgmma reads
  };
  const int mine = 1 + wg, other = 2 - wg;  // named barriers of the ping-pong

  mbarrier_wait_parity(q_full, 0);
  if constexpr (PINGPONG) {
    if (n_steps > 0) {
      if (wg == 1) named_barrier_arrive(other, 256);  // consumer 0 takes the first GEMM phase
      wait_full(0);
      named_barrier_sync(mine, 256);
      issue_scores<Tr, T, D, BN>(s, q_wg, k_s);
      named_barrier_arrive(other, 256);
      wgmma_wait<0>();
      wgmma_pin(s);
      scores_to_p(0);
      for (int j = 1; j < n_steps; ++j) {
        wait_full(j);
        named_barrier_sync(mine, 256);
        issue_scores<Tr, T, D, BN>(s, q_wg, k_s + (j & 1) * Tr::kTileBytes);
        issue_pv<Tr, T, BN>(o, p, v_s + ((j - 1) & 1) * Tr::kTileBytes);
        named_barrier_arrive(other, 256);
        wgmma_wait<0>();
        wgmma_pin(s);
#pragma unroll
        for (int nb = 0; nb < Tr::kNb; ++nb) wgmma_pin(o[nb]);
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) wgmma_pin(p[kk]);
        mbarrier_arrive(empty((j - 1) & 1));
        scores_to_p(j);
      }
      named_barrier_sync(mine, 256);
      issue_pv<Tr, T, BN>(o, p, v_s + ((n_steps - 1) & 1) * Tr::kTileBytes);
      if (wg == 0) named_barrier_arrive(other, 256);  // consumer 1's last phase: every sync has its arrive
      wgmma_wait<0>();
#pragma unroll
      for (int nb = 0; nb < Tr::kNb; ++nb) wgmma_pin(o[nb]);
      mbarrier_arrive(empty((n_steps - 1) & 1));
    }
  } else {
    for (int j = 0; j < n_steps; ++j) {
      wait_full(j);
      issue_scores<Tr, T, D, BN>(s, q_wg, k_s + (j & 1) * Tr::kTileBytes);
      wgmma_wait<0>();
      wgmma_pin(s);
      scores_to_p(j);
      issue_pv<Tr, T, BN>(o, p, v_s + (j & 1) * Tr::kTileBytes);
      wgmma_wait<0>();
#pragma unroll
      for (int nb = 0; nb < Tr::kNb; ++nb) wgmma_pin(o[nb]);
      mbarrier_arrive(empty(j & 1));
    }
  }

  store_output<T, Tr>(a, o, row_sum, row_max, bh, lane_row, t);
#endif  // sm_90a: elsewhere the kernel is empty and its launcher refuses to run it
}

}  // namespace

}  // namespace fabench
