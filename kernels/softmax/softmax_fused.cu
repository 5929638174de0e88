// softmax v5 (softmax.fused): scale, mask and dropout in one pass over memory, the row on chip.
//
// Against v3/v4: every access is 16 bytes (float4, or 8 halves), each thread issues all of its
// loads before the first use (the row sits in registers: ITEMS vectors per thread), the log2(e)
// of exp is folded into the scale so exp is one exp2f, and the mask and dropout are applied in
// registers: one read of x (and of the mask), one write of y. Rows go to a warp (up to 1024
// fp32 columns), or a block of 128..1024 threads (up to 32768 fp32 columns); more threads per row
// when rows are fewer than SMs. Rows too long for one block are split over a thread-block cluster
// (2..8 blocks, Hopper), whose blocks exchange their partial max and sum through distributed
// shared memory: the row still crosses memory once. Rows whose columns are not a multiple of the
// vector width run v4's two-pass online kernel.
//
// Measured on an H200 (first version, before alignas(16) and clusters): fp32 8192x4096 3843 GB/s
// (90.7% of the calibrated copy), 32768x4096 4101 GB/s; fp16 only 1501 GB/s because a struct of
// halves has 2-byte alignment and its loads were split; 4096x32768 at 1024 threads x 8 vectors
// spilled and ran 1 block per SM (1679 GB/s): hence alignas(16) and the cluster path.
// Then a PLAIN instantiation without mask and dropout code: the fp32 128 x 8 tile went from 95 to
// 72 registers (7 blocks per SM instead of 5): 8192x4096 fp32 3786 -> 3859 GB/s (90.5% of copy),
// bf16 2479 -> 3272 GB/s (1.6x cuDNN).
#include <cooperative_groups.h>

#include "kernels/common/element.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_fused.cuh"
#include "kernels/softmax/softmax_mask.cuh"

namespace fabench {

namespace {

namespace cg = cooperative_groups;
using namespace softmax_v5;

// Merges the threads' (max, sum of exp2(x - max)) over the row: the block first, then (clustered)
// the blocks of the cluster through distributed shared memory, all in one exchange. A clustered
// block then arrives on the cluster barrier (its reads of the others' slots are done) and must
// wait on it before it exits (finish_row), so the barrier's latency hides behind the stores.
// Rows with a mask or dropout merge warps in two phases, plain rows along the shuffle tree
// (reduce.cuh's warp_merge_two_phase says what each measured).
template <int TPR, bool PLAIN>
__device__ __forceinline__ MaxSum row_allreduce(MaxSum v, MaxSum* scratch, MaxSum* slot, int cluster_blocks) {
  v = block_allreduce<TPR>(v, MaxSumOp<true, !PLAIN>{}, scratch);
  if (cluster_blocks == 1) return v;
  cg::cluster_group cluster = cg::this_cluster();
  if (threadIdx.x == 0) *slot = v;
  cluster.sync();
  MaxSum all;
  for (int b = 0; b < cluster_blocks; ++b) all = merge<true>(all, *cluster.map_shared_rank(slot, b));
  cluster.barrier_arrive();
  return all;
}

// No block may leave while another of its cluster may still read its slot.
__device__ __forceinline__ void finish_row(int cluster_blocks) {
  if (cluster_blocks > 1) cg::this_cluster().barrier_wait();
}

// Which vector of the block's slice item i of thread t holds: a warp's load covers 512
// contiguous bytes. (Tried: fp32 threads holding adjacent vector pairs, so one Philox call covers
// both; each load instruction then spans 1 KB half-used and 8192x4096 fell from 3808 to 2931 GB/s.)
template <int TPR>
__device__ __forceinline__ int slice_vector(int i, int t) {
  return i * TPR + t;
}

// PLAIN: no mask and no dropout, so none of their code (mask loads, Philox) takes registers.
template <class T, int TPR, int ITEMS, bool PLAIN>
__global__ void __launch_bounds__(TPR < 128 ? 128 : TPR) softmax_v5_kernel(SoftmaxArgs a, int cluster_blocks) {
  using V = Vec16<T>;
  constexpr int E = V::kElems;
  constexpr int kRowsPerBlock = TPR < 128 ? 128 / TPR : 1;  // clusters only with TPR >= 128
  __shared__ MaxSum scratch[32];
  __shared__ MaxSum exchange;  // this block's max and sum, read by the cluster
  const int t = threadIdx.x % TPR;
  const int rank = cluster_blocks == 1 ? 0 : static_cast<int>(blockIdx.x % cluster_blocks);
  const std::int64_t r =
      (static_cast<std::int64_t>(blockIdx.x) / cluster_blocks) * kRowsPerBlock + threadIdx.x / TPR;
  // Several rows per block only with TPR == 32, whose reductions are warp-only: leaving is safe.
  if (r >= a.rows) return;
  const V* x = reinterpret_cast<const V*>(static_cast<const T*>(a.x) + r * a.cols);
  V* y = reinterpret_cast<V*>(static_cast<T*>(a.y) + r * a.cols);
  const int vectors = static_cast<int>(a.cols / E);  // the plan keeps cols < 2^31
  const int first_vector = rank * TPR * ITEMS;       // this block's slice of the row
  const std::int32_t length = a.mask_kind == SoftmaxMaskKind::lengths ? a.lengths[r] : 0;
  const std::int64_t row_last = a.mask_kind == SoftmaxMaskKind::causal ? r % a.cols : 0;
  const float scale = a.scale * kLog2e;

  // Every load of the thread in flight before the first use: x and, when present, the mask.
  V raw[ITEMS];
  MaskBytes<E> mask[ITEMS];
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int k = first_vector + slice_vector<TPR>(i, t);
    if (k < vectors) {
      raw[i] = x[k];
      if (!PLAIN && a.mask_kind == SoftmaxMaskKind::tensor)
        mask[i] = *reinterpret_cast<const MaskBytes<E>*>(a.mask + r * a.cols + static_cast<std::int64_t>(k) * E);
    }
  }
  // Dropout's keep decisions, one bit per element, drawn while the loads are in flight: Philox
  // does not wait on data, and with one block per SM (long rows) it would otherwise run with the
  // memory idle. (Drawn at the stores instead: 4096x32768 with mask + dropout 70.6% of copy on an H100.)
  std::uint32_t keep[(ITEMS * E + 31) / 32] = {};
  if (!PLAIN && a.dropout_threshold) {
#pragma unroll
    for (int i = 0; i < ITEMS; ++i) {
      const int k = first_vector + slice_vector<TPR>(i, t);
      // (Tried: lane pairs each drawing one group for two items and swapping words by shuffle,
      // half the Philox calls for fp32; measured slower, 3058 against 3266 GB/s. Tried again with
      // the bits drawn here, one shuffle of packed keep bits per thread (H200, 8192x4096): dropout
      // alone rose from 77% to 85% of copy, but the mask-only case, which runs none of it, fell
      // from 92% to 72-84% and mask + dropout stayed at 63-75%: reverted. Drawn after the loads
      // are consumed instead of here: mask + dropout 64%.)
      const std::uint64_t first = static_cast<std::uint64_t>(r * a.cols) + static_cast<std::uint64_t>(k) * E;
      keep[i * E / 32] |= vector_keep_bits<E>(a, first) << (i * E % 32);
    }
  }
  float v[ITEMS][E];
  MaxSum mine;  // this thread's max and sum of exp2(v - max)
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int k = first_vector + slice_vector<TPR>(i, t);
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const bool keep =
          k < vectors && (PLAIN || kept(a, row_last, static_cast<std::int64_t>(k) * E, e, length, mask[i]));
      v[i][e] = keep ? scale * to_float(raw[i].v[e]) : -INFINITY;
      mine.max = fmaxf(mine.max, v[i][e]);
    }
  }
  exp_against_own_max(v, mine);
  const MaxSum row = row_allreduce<TPR, PLAIN>(mine, scratch, &exchange, cluster_blocks);
  const float factor = row_factor(mine, row);
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int k = first_vector + slice_vector<TPR>(i, t);
    if (k < vectors) y[k] = output_vector<T>(a, v, i, factor, keep, !PLAIN && a.dropout_threshold);
  }
  finish_row(cluster_blocks);
}

template <class T, int TPR, int ITEMS, bool PLAIN>
void launch_v5_plain(const SoftmaxArgs& a, int cluster_blocks, cudaStream_t s) {
  constexpr int kRowsPerBlock = TPR < 128 ? 128 / TPR : 1;
  const auto blocks = static_cast<unsigned>((a.rows + kRowsPerBlock - 1) / kRowsPerBlock * cluster_blocks);
  if (cluster_blocks == 1) {
    softmax_v5_kernel<T, TPR, ITEMS, PLAIN><<<blocks, TPR * kRowsPerBlock, 0, s>>>(a, 1);
    return;
  }
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(TPR);
  config.stream = s;
  cudaLaunchAttribute cluster{};
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = static_cast<unsigned>(cluster_blocks);
  cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = 1;
  if (cluster_blocks > 8)  // past the portable 8, Hopper's 16 must be asked for
    cudaFuncSetAttribute(softmax_v5_kernel<T, TPR, ITEMS, PLAIN>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  cudaLaunchKernelEx(&config, softmax_v5_kernel<T, TPR, ITEMS, PLAIN>, a, cluster_blocks);
}

template <class T, int TPR, int ITEMS>
void launch_v5_config(const SoftmaxArgs& a, int cluster_blocks, cudaStream_t s) {
  if (a.mask_kind == SoftmaxMaskKind::none && a.dropout_threshold == 0)
    launch_v5_plain<T, TPR, ITEMS, true>(a, cluster_blocks, s);
  else
    launch_v5_plain<T, TPR, ITEMS, false>(a, cluster_blocks, s);
}

template <class T, int TPR>
void launch_v5_items(const SoftmaxArgs& a, const SoftmaxFusedPlan& plan, cudaStream_t s) {
  switch (plan.items) {
    case 1: launch_v5_config<T, TPR, 1>(a, plan.cluster_blocks, s); break;
    case 2: launch_v5_config<T, TPR, 2>(a, plan.cluster_blocks, s); break;
    case 4: launch_v5_config<T, TPR, 4>(a, plan.cluster_blocks, s); break;
    case 8:
      // 64 registers a thread at 1024 threads: 8 vectors of 8 halves (64 floats) would spill.
      if constexpr (!(TPR == 1024 && sizeof(T) == 2)) {
        if constexpr (TPR == 1024) {  // max_items: fp32 without mask and dropout only
          launch_v5_plain<T, TPR, 8, true>(a, plan.cluster_blocks, s);
        } else {
          launch_v5_config<T, TPR, 8>(a, plan.cluster_blocks, s);
        }
      }
      break;
  }
}

template <class T>
void launch_v5(const SoftmaxArgs& a, const SoftmaxFusedPlan& plan, cudaStream_t s) {
  switch (plan.threads_per_row) {
    case 32: launch_v5_items<T, 32>(a, plan, s); break;
    case 128: launch_v5_items<T, 128>(a, plan, s); break;
    case 256: launch_v5_items<T, 256>(a, plan, s); break;
    case 512: launch_v5_items<T, 512>(a, plan, s); break;
    case 1024: launch_v5_items<T, 1024>(a, plan, s); break;
  }
}

// 16-byte vectors a thread may hold at 1024 threads (64 registers): 8 fp32 vectors fit only
// without mask and dropout (with them: 140 bytes of spills, 4096x32768 fell to 37% of copy).
int max_items(int threads_per_row, KernelElem elem, bool plain) {
  if (threads_per_row < 1024) return 8;
  return elem == KernelElem::f32 && plain ? 8 : 4;
}

int next_pow2(std::int64_t n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

}  // namespace

SoftmaxFusedPlan softmax_fused_plan(std::int64_t rows, std::int64_t cols, KernelElem elem, bool plain,
                                    int threads_per_row, int cluster_blocks, int sm_count) {
  SoftmaxFusedPlan plan;
  const int e = elem == KernelElem::f32 ? 4 : 8;
  if (cols % e != 0) {
    plan.reason = "cols not a multiple of the 16-byte vector width";
    return plan;
  }
  if (cols >= (std::int64_t{1} << 31)) {
    plan.reason = "cols >= 2^31";
    return plan;
  }
  const std::int64_t vectors = cols / e;
  auto capacity = [&](int tpr) { return static_cast<std::int64_t>(tpr) * max_items(tpr, elem, plain); };
  if (threads_per_row != 0 || cluster_blocks != 0) {  // as asked, or unsupported
    plan.threads_per_row = threads_per_row != 0 ? threads_per_row : 256;
    plan.cluster_blocks = cluster_blocks != 0 ? cluster_blocks : 1;
    if (plan.cluster_blocks > 1 && plan.threads_per_row < 128) {
      plan.reason = "a cluster needs at least 128 threads per block";
      return plan;
    }
    if (vectors > capacity(plan.threads_per_row) * plan.cluster_blocks) {
      plan.reason =
          "row longer than threads_per_row x cluster_blocks x 8 vectors of 16 bytes "
          "(4 at 1024 threads with a mask, dropout or 16-bit data)";
      return plan;
    }
  } else if (vectors <= capacity(256)) {
    // The fewest threads that hold the row: most rows resident per SM, all loads of a thread in
    // flight at once. With few rows per SM, latency rules: spread each row over more threads.
    for (int tpr : {32, 128, 256})
      if (vectors <= capacity(tpr)) {
        plan.threads_per_row = tpr;
        break;
      }
    if (rows < 4 * sm_count)  // measured: 512x4096 fp32 8.9 us at 512 threads, 9.8 at 128
      for (int tpr : {128, 256, 512})
        if (tpr > plan.threads_per_row && vectors >= 2 * tpr) plan.threads_per_row = tpr;
  } else if (vectors <= capacity(1024)) {
    // One big block beats a cluster: measured (H200) 4096x32768 fp32 3703 GB/s at 1024 threads,
    // 2479 with 4 blocks of 256 sharing the row (cluster barriers and co-scheduling cost more).
    plan.threads_per_row = vectors <= capacity(512) ? 512 : 1024;
  } else if (!plain && elem == KernelElem::f32 && vectors <= 8 * kStreamThreads * kStreamItems) {
    // fp32 with a mask or dropout, longer than a block holds: the streamed path
    // (softmax_fused_stream.cu), clusters of blocks holding 4096 vectors of each row, as many as
    // can be resident, streaming their rows through shared memory. Measured (H100, % of copy,
    // scale + mask + dropout, against the register path's 4 x 512 threads x 4 vectors at 32768
    // columns and 8 x 1024 x 4 at 131072): 4096x32768 79.8 against 76.3, 1024x131072 77.6
    // against 64.7 (dropout alone 75.7 / 73.3 against 73.8 / 59.5). bf16 keeps registers: the
    // streamed path without the lane-pair Philox measured 61.5 against 65.8 at 1024x131072.
    constexpr int kSlice = kStreamThreads * kStreamItems;
    plan.threads_per_row = kStreamThreads;
    plan.items = kStreamItems;
    plan.cluster_blocks = next_pow2((vectors + kSlice - 1) / kSlice);
    plan.stream_clusters =
        static_cast<int>(std::min<std::int64_t>(rows, std::max(1, sm_count / plan.cluster_blocks)));
    plan.on_chip = true;
    return plan;
  } else if (!plain && vectors <= 8 * 512 * 4) {
    // With a mask or dropout, blocks of 512 threads holding 4 vectors each: measured (H100,
    // 4096x32768 fp32, scale + mask + dropout) 4 x 512 76% of copy, 2 x 1024 71%, 2 x 512 x 8
    // vectors 69%; dropout alone 4 x 256 79%, 4 x 512 76%, 2 x 1024 69%.
    plan.threads_per_row = 512;
    plan.cluster_blocks = next_pow2((vectors + 2047) / 2048);
  } else {
    // Longer than one block holds: a cluster of 1024-thread blocks (measured 1024x131072 fp32:
    // 2563 GB/s with 4 x 1024, 1885 with 8 x 512). Hopper's non-portable clusters of 16 (asked for
    // with cluster_blocks=16) did not pay, H100, mask + dropout: 16 x 256 54%, 16 x 512 54%, 8 x
    // 1024 58% of copy; 4096x32768: 16 x 128 64%, 4 x 512 76%.
    const std::int64_t blocks = (vectors + capacity(1024) - 1) / capacity(1024);
    if (blocks > 8) {
      plan.reason = "row longer than a cluster of 8 blocks holds in registers";
      return plan;
    }
    plan.threads_per_row = 1024;
    plan.cluster_blocks = next_pow2(blocks);
  }
  const std::int64_t per_block = (vectors + plan.cluster_blocks - 1) / plan.cluster_blocks;
  plan.items = next_pow2((per_block + plan.threads_per_row - 1) / plan.threads_per_row);
  plan.on_chip = true;
  return plan;
}

void softmax_fused(const SoftmaxArgs& args, const SoftmaxFusedPlan& plan, cudaStream_t stream) {
  if (!plan.on_chip) {
    softmax_online(args, 1024, stream);
    return;
  }
  if (plan.stream_clusters > 0) {
    softmax_fused_stream(args, plan, stream);
    return;
  }
  FA_DISPATCH_ELEM(args.elem, launch_v5<T>(args, plan, stream));
}

}  // namespace fabench
