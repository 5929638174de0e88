// softmax v5, streamed path: long rows with a mask or dropout, streamed through shared memory by
// persistent clusters (chosen by softmax_fused_plan; softmax.fused's other shapes keep the row in
// registers, softmax_fused.cu).
//
// Against the register path: there a block holds one slice of one row, so its load, its
// reduction (block, then cluster) and its stores run in turn, and with one or two blocks of 512 to
// 1024 threads per SM the memory idles while a row is reduced and written: with scale + mask +
// dropout, fp32, 4096x32768 ran at 76.8% of the calibrated copy and 1024x131072 at 57.8% (H100).
// Here a cluster of C blocks owns rows r, r + clusters, ..., each block one slice of 4096 16-byte
// vectors of each; the slice of the next row (x and mask bytes) is fetched (by bulk copy) into the
// other half of a double buffer while the current row is reduced and written, so the loads never
// stop. One block of 1024 threads per SM (two stages of 80 KiB fp32, 96 KiB 16-bit).
//   - A thread's vectors of a row are a warp's contiguous 512 bytes, in shared memory as in
//     memory, so every copy and store is whole sectors.
//   - fp32 dropout: lanes t and t ^ 1 hold the two halves of a Philox group, so each draws every
//     other item's group and they swap halves by shuffle: half the Philox calls of the register
//     path, drawn before the wait for the row's data. 1024x131072 with scale + mask + dropout:
//     64.7 -> 77.6% of copy, dropout alone 59.5 -> 73.3%; 4096x32768 71.0 -> 79.8% (H100).
//   - The clusters are as many as can be resident together (cudaOccupancyMaxActiveClusters):
//     one more, and its rows run after everyone else's.
//   - Tried: 512 threads x 8 vectors a row (16 warps an SM; fp32 4096x32768: mask alone 82.7 ->
//     85.2% of copy, mask + dropout 76.8 -> 70.4%, H100); threads holding two adjacent vectors,
//     one Philox call for both: uncoalesced stores and 4.8-way shared-memory conflicts, 63.6%.
// v5.1 (A/B on one H100, % of the calibrated copy, fp32 scale + mask + dropout 0.1):
//   - Bulk copies: thread 0 asks the copy engine (TMA, cp.async.bulk) for the block's slice of the
//     next row on an mbarrier, instead of 8 cp.async per thread: 4096x32768 81.0 -> 84.6.
//   - The cluster's (max, sum) exchange by st.async messages counted on mbarriers instead of a
//     cluster barrier, whose arrive carried a release fence that made every warp wait for its
//     stores of the row before (Nsight Compute: 31% of the stall cycles, "membar"): 4096x32768
//     84.6 -> 95.0, 1024x131072 78.8 -> 93.0; dropout alone 81 -> 92 and 73 -> 94.
#include <cooperative_groups.h>

#include <algorithm>

#include "kernels/common/bulk_copy.cuh"
#include "kernels/common/element.cuh"
#include "kernels/common/mma.cuh"
#include "kernels/softmax/softmax_fused.cuh"

namespace fabench {

namespace {

namespace cg = cooperative_groups;
using namespace softmax_v5;

constexpr int kThreads = kStreamThreads;

// A 4- or 8-byte copy global -> shared (the mask bytes of one vector), zero-filled when !valid.
template <int BYTES>
__device__ __forceinline__ void cp_async_small(std::uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(dst), "l"(src), "n"(BYTES),
               "r"(valid ? BYTES : 0));
}

template <class T>
struct StreamLayout {
  static constexpr int kE = Vec16<T>::kElems;
  static constexpr int kSliceVectors = kThreads * kStreamItems;
  static constexpr int kXBytes = kSliceVectors * 16;
  static constexpr int kMaskBytes = kSliceVectors * kE;
  static constexpr int kStageBytes = kXBytes + kMaskBytes;  // the mask part stays unused without a mask tensor
  static constexpr int kSmemBytes = 2 * kStageBytes;
};

template <class T>
__global__ void __launch_bounds__(kThreads, 1) softmax_stream_kernel(SoftmaxArgs a, int cluster_blocks) {
  using L = StreamLayout<T>;
  using V = Vec16<T>;
  constexpr int E = L::kE;
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ MaxSum scratch[2][32];  // the block reduction's, alternating by iteration
  // Every block's (max, sum) of the row, sent by each block to all (rows of even and odd
  // iterations), and per parity the barrier that completes when all cluster_blocks have landed.
  __shared__ __align__(8) MaxSum exchange[2][8];
  __shared__ __align__(8) std::uint64_t exchanged[2];
  cg::cluster_group cluster = cg::this_cluster();
  const int t = static_cast<int>(threadIdx.x), lane = t % 32;
  const int rank = static_cast<int>(blockIdx.x) % cluster_blocks;
  const std::int64_t clusters = gridDim.x / cluster_blocks;
  const int vectors = static_cast<int>(a.cols / E);  // the plan keeps cols < 2^31
  const int first_vector = rank * L::kSliceVectors;  // this block's slice of every row
  const bool mask_tensor = a.mask_kind == SoftmaxMaskKind::tensor;
  const float scale = a.scale * kLog2e;
  const std::uint32_t smem0 = smem_address(smem);
  // The vectors of this block's slice that lie inside the row (none past its end: those slots
  // stay stale and are never used, every use tests k < vectors).
  const std::uint32_t slice_count =
      static_cast<std::uint32_t>(std::max(0, std::min(int{L::kSliceVectors}, vectors - first_vector)));
  const bool mask_bulk = mask_tensor && a.cols % 16 == 0;
  __shared__ __align__(8) std::uint64_t landed[2];  // per stage: its bulk copies of a row have landed
  const std::uint32_t landed0 = smem_address(landed);
  const std::uint32_t exchanged0 = smem_address(exchanged);
  if (t == 0) {
    for (int b = 0; b < 2; ++b) {
      mbarrier_init(landed0 + 8 * b, 1);
      mbarrier_init(exchanged0 + 8 * b, 1);
    }
    mbarrier_init_fence();
  }
  cluster.sync();  // every block's barriers are initialised before any peer sends to them
  // Row r's slice into stage `stage`: thread 0 asks the copy engine for the slice (x, and the mask
  // bytes when their rows are 16-byte aligned) as one or two bulk copies counted on the stage's
  // barrier. Mask bytes of rows not 16-byte aligned go by cp.async, each thread copying the slots
  // it reads later, in one commit group per row (empty past the last row, so that the wait below
  // always leaves exactly the newest group in flight). A stage is refilled one iteration after it
  // was read, and every thread read it before the block reduction's barrier of that iteration.
  auto fetch = [&](std::int64_t r, int stage) {
    if (r < a.rows) {
      const std::uint32_t xs = smem0 + stage * L::kStageBytes, ms = xs + L::kXBytes;
      if (t == 0) {
        const std::uint32_t x_bytes = slice_count * 16u, m_bytes = mask_bulk ? slice_count * E : 0u;
        mbarrier_arrive_expect_bytes(landed0 + 8 * stage, x_bytes + m_bytes);
        if (slice_count > 0) {
          bulk_copy_to_shared(xs, static_cast<const V*>(a.x) + r * vectors + first_vector, x_bytes, landed0 + 8 * stage);
          if (mask_bulk)
            bulk_copy_to_shared(ms, a.mask + r * a.cols + static_cast<std::int64_t>(first_vector) * E, m_bytes,
                                landed0 + 8 * stage);
        }
      }
      if (mask_tensor && !mask_bulk) {
#pragma unroll
        for (int i = 0; i < kStreamItems; ++i) {
          const int slot = i * kThreads + t, k = first_vector + slot;
          cp_async_small<E>(ms + slot * E, a.mask + r * a.cols + static_cast<std::int64_t>(k < vectors ? k : 0) * E,
                            k < vectors);
        }
      }
    }
    cp_async_commit();
  };
  // Dropout's keep bits of row r (bit i E + e for item i, element e). They need no data: with a
  // cluster each row's are drawn while the cluster exchange of the row before completes, without
  // one before the wait for the row's own data. (Measured, fp32 with dropout 0.1, H100, % of copy,
  // with cp.async loads and a cluster barrier, against drawing before the data wait: 4096x32768
  // (clusters of 2) 75.6 -> 77.3, with a mask too 79.9 -> 81.2; 1024x131072 (clusters of 8) with
  // a mask 77.2 -> 74.2. With bulk loads the barrier waited longer and clusters of 8 gained too:
  // 75.9 -> 79.2.)
  const bool draw_under_barrier = cluster_blocks > 1;
  constexpr int kKeepWords = (kStreamItems * E + 31) / 32;
  auto draw_keep = [&](std::int64_t r, std::uint32_t (&keep)[kKeepWords]) {
#pragma unroll
    for (int w = 0; w < kKeepWords; ++w) keep[w] = 0;
    if (!a.dropout_threshold || r >= a.rows) return;
    const std::uint64_t row0 = static_cast<std::uint64_t>(r * a.cols);
    if (E == 4 && (row0 & 7u) == 0) {
      // fp32 with rows starting on a Philox group: lanes t and t ^ 1 hold the two halves of one
      // group per item, so each draws the group of every other item and they swap halves.
      const bool odd = t & 1;
#pragma unroll
      for (int j = 0; j < kStreamItems / 2; ++j) {
        const int drawn = 2 * j + (odd ? 1 : 0), k = first_vector + drawn * kThreads + t;
        const Philox4 b = philox4x32_10((row0 + static_cast<std::uint64_t>(k) * 4) >> 3, a.seed);
        const std::uint32_t got0 = __shfl_xor_sync(0xffffffffu, odd ? b.x[0] : b.x[2], 1);
        const std::uint32_t got1 = __shfl_xor_sync(0xffffffffu, odd ? b.x[1] : b.x[3], 1);
        const std::uint32_t own0 = odd ? b.x[2] : b.x[0], own1 = odd ? b.x[3] : b.x[1];
        keep[0] |= half_group_keep_bits(a, odd ? got0 : own0, odd ? got1 : own1) << (8 * j);      // item 2j
        keep[0] |= half_group_keep_bits(a, odd ? own0 : got0, odd ? own1 : got1) << (8 * j + 4);  // item 2j + 1
      }
    } else {
#pragma unroll
      for (int i = 0; i < kStreamItems; ++i)
        keep[i * E / 32] |=
            vector_keep_bits<E>(a, row0 + static_cast<std::uint64_t>(first_vector + i * kThreads + t) * E)
            << (i * E % 32);
    }
  };

  std::int64_t r = blockIdx.x / cluster_blocks;
  fetch(r, 0);
  std::uint32_t keep[kKeepWords];
  if (draw_under_barrier) draw_keep(r, keep);
  for (int it = 0; r < a.rows; ++it, r += clusters) {
    const int stage = it & 1;
    fetch(r + clusters, stage ^ 1);  // read an iteration ago, before that iteration's block barrier
    if (!draw_under_barrier) draw_keep(r, keep);
    mbarrier_wait_parity(landed0 + 8 * stage, (it >> 1) & 1);  // the stage's (it / 2)-th fill
    cp_async_wait<1>();  // and this thread's cp.async mask bytes, if any
    const unsigned char* xs = smem + stage * L::kStageBytes;
    const std::int32_t length = a.mask_kind == SoftmaxMaskKind::lengths ? a.lengths[r] : 0;
    const std::int64_t row_last = a.mask_kind == SoftmaxMaskKind::causal ? r % a.cols : 0;

    float v[kStreamItems][E];
    MaxSum mine;  // this thread's max and sum of exp2(v - max)
#pragma unroll
    for (int i = 0; i < kStreamItems; ++i) {
      const int slot = i * kThreads + t, k = first_vector + slot;  // a warp: 512 contiguous bytes
      const V raw = reinterpret_cast<const V*>(xs)[slot];
      MaskBytes<E> m{};
      if (mask_tensor) m = reinterpret_cast<const MaskBytes<E>*>(xs + L::kXBytes)[slot];
#pragma unroll
      for (int e = 0; e < E; ++e) {
        const bool in = k < vectors && kept(a, row_last, static_cast<std::int64_t>(k) * E, e, length, m);
        v[i][e] = in ? scale * to_float(raw.v[e]) : -INFINITY;
        mine.max = fmaxf(mine.max, v[i][e]);
      }
    }
    exp_against_own_max(v, mine);
    // The block, then the cluster. After the block reduction lane b of warp 0 sends the block's
    // (max, sum) to block b's exchange[it & 1][rank], counted on its barrier exchanged[it & 1];
    // each block waits for its barrier's phase and every warp merges the cluster_blocks slots.
    // Slots and barriers alternate by iteration: a peer can send for iteration it + 2 only after
    // it has this block's message of it + 1, which this block sends after reading the slots of it.
    // (Against the cluster barrier it replaces: that barrier's arrive carries a release fence, so
    // every warp first waited for its stores of the row before to complete; Nsight Compute put
    // 31% of the warps' stall cycles on that fence, 4096x32768 with mask + dropout, H100.)
    // The next row's dropout bits are drawn while the messages travel (draw_under_barrier).
    MaxSum row = block_allreduce<kThreads, false>(mine, MaxSumOp<true, true>{}, scratch[it & 1]);
    std::uint32_t keep_next[kKeepWords];
    if (cluster_blocks > 1) {
      const std::uint32_t bar = exchanged0 + 8 * (it & 1);
      if (t == 0) mbarrier_arrive_expect_bytes(bar, 8u * cluster_blocks);
      if (t < cluster_blocks)
        store_async_pair(cluster_peer_address(smem_address(&exchange[it & 1][rank]), t), row.max, row.sum,
                         cluster_peer_address(bar, t));
      if (draw_under_barrier) draw_keep(r + clusters, keep_next);
      mbarrier_wait_parity(bar, (it >> 1) & 1);
      const MaxSum peer = lane < cluster_blocks ? exchange[it & 1][lane] : MaxSum{};
      row = warp_merge_two_phase<true>(peer);
    }
    const float factor = row_factor(mine, row);
    V* y = reinterpret_cast<V*>(static_cast<T*>(a.y) + r * a.cols);
#pragma unroll
    for (int i = 0; i < kStreamItems; ++i) {
      const int k = first_vector + i * kThreads + t;
      if (k < vectors) y[k] = output_vector<T>(a, v, i, factor, keep, a.dropout_threshold != 0);
    }
    if (draw_under_barrier) {
#pragma unroll
      for (int w = 0; w < kKeepWords; ++w) keep[w] = keep_next[w];
    }
  }
  cp_async_wait<0>();
  cluster.sync();  // no block leaves while a message to it may still be in flight
}

template <class T>
void launch_stream(const SoftmaxArgs& a, const SoftmaxFusedPlan& plan, cudaStream_t s) {
  using L = StreamLayout<T>;
  auto kernel = softmax_stream_kernel<T>;
  cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L::kSmemBytes);
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(plan.stream_clusters * plan.cluster_blocks));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = L::kSmemBytes;
  config.stream = s;
  cudaLaunchAttribute cluster{};
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = static_cast<unsigned>(plan.cluster_blocks);
  cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = 1;
  // Persistent clusters must all be resident at once: a cluster that waits for a free GPC runs
  // its whole share of rows after the others (SMs / C clusters of 8 came out as 15 resident of
  // 16 on an H100, and the row time doubled). Asked once per kernel and cluster size.
  static int resident[9] = {};
  int& fits = resident[plan.cluster_blocks];
  if (fits == 0 && cudaOccupancyMaxActiveClusters(&fits, kernel, &config) != cudaSuccess) fits = 1;
  config.gridDim = dim3(static_cast<unsigned>(std::max(1, std::min(plan.stream_clusters, fits)) * plan.cluster_blocks));
  cudaLaunchKernelEx(&config, kernel, a, plan.cluster_blocks);
}

}  // namespace

void softmax_fused_stream(const SoftmaxArgs& args, const SoftmaxFusedPlan& plan, cudaStream_t stream) {
  FA_DISPATCH_ELEM(args.elem, launch_stream<T>(args, plan, stream));
}

}  // namespace fabench
