// attn.fa2: FlashAttention-2 Algorithm 1 (Dao 2023, section 3.1) in fp32 on CUDA cores.
//
// Against attn.naive: no score matrix in device memory. One block owns BM query rows of one head
// and streams BN-row tiles of K and V through shared memory; each row keeps its running maximum m
// and sum l, the output accumulator is rescaled by exp(m_old - m_new) when the maximum grows, and
// divided by l once at the end (FA2's change against FA1: no per-tile normalisation, the loop over
// K/V inside the block, rows in parallel across blocks). Under causal masking tiles wholly above
// the diagonal are skipped and only tiles crossing it are masked. Memory: inputs and outputs only.
//
// v2, register-blocked as an SGEMM is. v1 gave each thread single S and O entries strided over the
// tile: every FFMA waited on one or two shared-memory loads, the scores went through shared memory
// for a warp-per-row softmax, and it ran 10.5-11.4 TFLOP/s on an H100 (0.23-0.33x PyTorch's fused
// fp32 kernel). Now 256 threads form a 16 x 16 grid over a 64 x 64 tile; thread (tr, tc) owns the
// 4 x 4 block of S at rows 4tr.., keys 4tc.., and O's rows 4tr.. at dims 4tc + 64g (+0..3).
//   - Q and K are stored transposed ([dim][row], rows padded to 68 floats), so one step over a dim
//     is two 16-byte loads (4 rows of Q, 4 keys of K) feeding 16 FFMA; Q is pre-scaled by
//     scale * log2(e), so S is in the exp2 domain.
//   - The online softmax runs in registers: a row's 16 threads are 16 consecutive lanes and reduce
//     its maximum with four shuffles; each thread keeps its share of l until the end.
//   - P goes to shared memory as [key][row] (over K^T, which S no longer needs), so O += P V is
//     again two 16-byte loads (4 rows of P, 4 dims of V) per 16 FFMA.
// Measured (H100, fp32, 16k tokens, seq 2k-16k, TFLOP/s): d64 27.4-29.5, d128 26.0-28.2, d256
// 24.4-27.4, 2.5x v1, 0.84-0.85x PyTorch's efficient kernel at d64 and 0.60-0.62x at d128 (that
// kernel runs fp32 as 3xTF32 on tensor cores, as attn.fa2_mma's fp32 tiles do). With P in its own
// buffer d128 held one block per SM: 22.9-24.9.
// v2.1: the transposing tile loads were rearranged to be free of bank conflicts (Nsight Compute
// had found 14.2-way conflicts on the shared stores at d128) and batch four 16-byte loads: d64
// 28.0-30.1, d128 28.0-30.1 (0.85-0.86x and 0.64-0.66x PyTorch's efficient kernel, same H100).
// v2.2: 4 warps holding 8 query rows a thread (the warps parameter; 8 warps keep 4 rows): a step
// over a dim is three 16-byte loads for 32 FFMA instead of two for 16, and a P V step four for 64
// instead of three for 32. Measured (H100, fp32, 16k tokens, seq 2k-16k, TFLOP/s, 8 -> 4 warps):
// d64 29.7-30.0 -> 33.0-33.6 (causal 27.8-29.1 -> 30.6-32.6), d128 29.5-29.8 -> 32.6-33.6 (causal
// 27.6-30.1 -> 31.0-33.9): the default at d64 (at d128 until v2.4). At d256 (231 registers, one
// block of 4 warps an SM) 4 warps lost, 28.0-28.4 -> 23.9-24.9: 8 warps stay its default.
// v2.3, d256 (Fa2Traits::kPrefetch): the next K tile is loaded into registers during P V and
// V arrives by cp.async during S, so a block alone on its SM no longer waits for its tiles: d256
// 28.0-28.3 -> 31.1-31.4 TFLOP/s (causal 27.0-29.8 -> 29.1-32.3), H100. At d128 the 64 staging
// registers took the 4-warp kernel to 255 registers with spills (32.3-33.9 -> 27.9-29.3) and the
// 8-warp one to one block per SM; d64 fell 7%.
// v2.4, d128: blocks of 128 query rows over 8 warps (8 rows a thread, 253 registers), one block
// per SM, prefetching as v2.3: each K/V tile serves twice the rows. 64 -> 128 rows (H100, TFLOP/s):
// 33.2-33.5 -> 36.6-37.2, causal 31.0-33.8 -> 32.8-37.7. At d64 128 rows lost 1-4%.
// v2.5, prefetching blocks: P^T in its own buffer, so the next K^T is stored while P V reads P^T:
// two barriers a tile instead of four. d128 +3.4%, d256 +1.6% (H100 A/B, two passes each).
// v2.6, causal 128-row blocks: a warp whose rows all end before a tile skips that tile's S and
// P V (in a block's last tile, half the warps), leaving the SM's issue slots to the warps that
// still work: d128 causal seq 2048 +1.7%, other d128 points within 0.5% (H100 A/B, one pass). In
// every block (d256's 64-row ones too) the branch cost d256 1%, causal or not: 128 rows only.
// Launch order (attention_order.h, kernel unchanged): causal blocks with the last heads
// interleaved, +1-6% causal at d128 and d256 (most at seq 2048-4096; H100 A/B, two passes): d128
// causal 0.79-0.83x -> 0.84-0.85x PyTorch's efficient backend in fp32.
// v2.7, lane pairs: a 16-byte shared load returns 128 bytes a cycle, so a warp's takes 4 wavefronts
// unless lanes n and n ^ 1 (or n ^ 2) load the same address, then 2. With tc = lane % 16, Q^T and
// P^T loads (one row group a half-warp) took 2 and K^T and V loads 4, 1.51e9 wavefronts at d256
// seq 2048, L1 80% busy (Nsight Compute). Lane bit 1 now picks the row group and bits 0, 2-4 the
// column thread: every load takes 2, 0.96e9 wavefronts, L1 58% busy. (Tried and dropped: giving a
// half-warp 8 column threads of two row groups, still 4 wavefronts; loading S's and P V's operands
// a dim or key ahead by hand, 2-7% slower.) With each kernel's unroll (Fa2Traits), H100 A/B, two
// passes, TFLOP/s at seq 2048 / 8192: d64 32.4 -> 35.4 / 32.9 -> 35.9, d128 37.7 -> 39.3 /
// 38.3 -> 39.9, d256 31.3 -> 33.6 / 31.7 -> 34.1 (causal alike).
// Measured figures live in results/README.md beside the command that produced them.
#include "kernels/attention/attention_fa2.cuh"

namespace fabench {

namespace {

template <int BM, int BN, int D, int RM>
bool launch_fa2(const AttentionArgs& a, cudaStream_t stream) {
  using Tr = Fa2Traits<BM, D, RM>;
  auto kernel = attention_fa2_kernel<BM, BN, D, RM>;
  if (Tr::kSmemBytes > 48 * 1024 &&
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) !=
          cudaSuccess)
    return false;
  static const AttentionResidency residency = attention_residency(kernel, Tr::kThreads, Tr::kSmemBytes);
  const AttentionSchedule sched = attention_schedule(a, BM, residency, false);
  kernel<<<sched.grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, sched, DenseKeys::Args{});
  return true;
}

// The compiled configurations: (head_dim, block_m, block_n, rows per thread); 64-key tiles, 64
// query rows over 8 warps (4 rows a thread) or 4 warps (8 rows), 128 rows over 8 warps (8 rows).
// The first of a head dim is its default. (Not kept: d128 with 64 rows over 8 warps, v2.1's tile,
// 10% behind 4 warps; d64 with 128 rows, 1-4% behind 64 rows.)
#define FA_FA2_CONFIGS(X) \
  X(32, 64, 64, 4)        \
  X(64, 64, 64, 8)        \
  X(64, 64, 64, 4)        \
  X(128, 128, 64, 8)      \
  X(128, 64, 64, 8)       \
  X(256, 64, 64, 4)

}  // namespace

std::vector<AttentionTile> attention_fa2_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(D, BM, BN, RM) \
  out.push_back({D, BM, BN, Fa2Traits<BM, D, RM>::kSmemBytes, Fa2Traits<BM, D, RM>::kThreads / 32});
  FA_FA2_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_fa2(const AttentionArgs& a, const AttentionTile& tile, cudaStream_t stream) {
#define FA_DISPATCH(D, BM, BN, RM)                                               \
  if (a.head_dim == D && tile.block_m == BM && tile.block_n == BN &&             \
      tile.warps == Fa2Traits<BM, D, RM>::kThreads / 32)                          \
    return launch_fa2<BM, BN, D, RM>(a, stream);
  FA_FA2_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

}  // namespace fabench
