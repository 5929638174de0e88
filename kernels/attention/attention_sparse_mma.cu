// sparse.masked and sparse.block_skip on tensor cores: attn.fa2_mma's kernel (attention_fa2_mma.cuh)
// with a block mask in its key loop (attention_keys.cuh, attention_sparse.h).
//
// v1 sparse.masked: the dense kernel's loop over every key tile of the query tile; a tile's scores
//    are computed whatever the mask, then each is kept or dropped from the block mask: an empty
//    block's tile drops all (found by walking the query block's ascending list alongside the
//    tiles), a full one compares every key with seq_k, a partial one reads a byte per score. The
//    time of the dense kernel whatever the density: the baseline the skipping versions are
//    measured against.
//    Measured on an H200 at 9de0466 (bf16 d128, batch 2, 16 heads, seq 8k, blocks of 128;
//    results/h200/sparse_9de046644854): 3.50-3.69 ms at density 0.1 and 1 alike (300 TFLOP/s
//    on the full matrix, 0.93x attn.fa2_mma's 64 x 64 tile).
// v2 sparse.block_skip: the loop runs over the query tile's list of non-empty key blocks only (an
//    entry is block / block_n key tiles), so an empty block costs nothing; full blocks take no
//    mask arithmetic but the seq_k bound on the last keys, partial blocks their byte tile. The
//    next step's key tile and this step's kind are read from the list at the top of a step and
//    used after S = Q K^T, which hides their latency. One block per query tile (attn.fa2_mma's
//    persistent schedule assumes equal work per tile, which a mask breaks).
//    Measured there: 311-314 TFLOP/s at density 1 (0.96-0.99x attn.fa2_mma's 64 x 64 tile), 226
//    at density 0.05, 264 at 0.1, 305 at 0.5 (on the kept scores): 0.78-0.89x sparse.wgmma.
#include "kernels/attention/attention_fa2_mma.cuh"
#include "kernels/attention/attention_sparse.h"

namespace fabench {

namespace {

template <class Keys, class M, int D, int BM, int BN, int WARPS>
bool launch_sparse_mma(const AttentionArgs& a, const SparseBlockArgs& m, cudaStream_t stream) {
  using Tr = MmaTraits<M, D, BM, BN, WARPS, 1>;
  constexpr auto kernel = attention_fa2_mma_kernel<M, D, BM, BN, WARPS, 1, Keys>;
  if (a.causal || m.block % BM != 0 || m.block % BN != 0) return false;
  static const bool smem_granted =
      Tr::kSmemBytes + Tr::kUnitSmemBytes <= 48 * 1024 ||
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) ==
          cudaSuccess;
  if (!smem_granted) return false;
  // No residency: a block per query tile, head by head.
  const AttentionSchedule sched = attention_schedule(a, BM, AttentionResidency{}, false);
  kernel<<<sched.grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, sched, nullptr, nullptr, m);
  return true;
}

// The compiled tiles: (element, mma element, head_dim, block_m, block_n, warps), one stage. The
// first that fits the mask's block (block % block_m == 0, block % block_n == 0) is the default:
// d64 128 x 64 (attn.fa2_mma's d64 tile) for blocks of 128, else 64 x 64 over 4 warps. (attn.fa2_mma's
// d128 causal tile, 128 x 64 over 4 warps, spilled 264 bytes with the mask row's registers, ptxas
// of CUDA 13: not compiled.) ptxas -v (CUDA 13.0), no spills: block_skip d64 128 x 64 254 registers,
// 64 x 64 168, d128 64 x 64 233, tf32 209-214; masked d64 165, d128 223.
#define FA_SPARSE_MASKED_CONFIGS(X)          \
  X(f16, __half, 64, 64, 64, 4)              \
  X(f16, __half, 128, 64, 64, 4)             \
  X(bf16, __nv_bfloat16, 64, 64, 64, 4)      \
  X(bf16, __nv_bfloat16, 128, 64, 64, 4)

#define FA_SPARSE_MMA_CONFIGS(X)             \
  X(f16, __half, 64, 128, 64, 4)             \
  X(f16, __half, 64, 64, 64, 4)              \
  X(f16, __half, 128, 64, 64, 4)             \
  X(bf16, __nv_bfloat16, 64, 128, 64, 4)     \
  X(bf16, __nv_bfloat16, 64, 64, 64, 4)      \
  X(bf16, __nv_bfloat16, 128, 64, 64, 4)     \
  X(f32, float, 64, 64, 64, 4)               \
  X(f32, float, 128, 64, 32, 4)

#define FA_SPARSE_LIST(E, M, D, BM, BN, W) \
  out.push_back({D, BM, BN, MmaTraits<M, D, BM, BN, W, 1>::kSmemBytes + 16, W, KernelElem::E, 1, false});
#define FA_SPARSE_MATCHES(E, M, D, BM, BN, W)                                                             \
  a.elem == KernelElem::E && a.head_dim == D && tile.block_m == BM && tile.block_n == BN && tile.warps == W && \
      !tile.tf32x3

}  // namespace

std::vector<AttentionTile> attention_sparse_masked_configs() {
  std::vector<AttentionTile> out;
  FA_SPARSE_MASKED_CONFIGS(FA_SPARSE_LIST)
  return out;
}

std::vector<AttentionTile> attention_sparse_mma_configs() {
  std::vector<AttentionTile> out;
  FA_SPARSE_MMA_CONFIGS(FA_SPARSE_LIST)
  return out;
}

bool attention_sparse_masked(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                             cudaStream_t stream) {
#define FA_DISPATCH(E, M, D, BM, BN, W) \
  if (FA_SPARSE_MATCHES(E, M, D, BM, BN, W)) return launch_sparse_mma<MaskedKeys, M, D, BM, BN, W>(a, m, stream);
  FA_SPARSE_MASKED_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

bool attention_sparse_mma(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                          cudaStream_t stream) {
#define FA_DISPATCH(E, M, D, BM, BN, W) \
  if (FA_SPARSE_MATCHES(E, M, D, BM, BN, W)) return launch_sparse_mma<SparseKeys, M, D, BM, BN, W>(a, m, stream);
  FA_SPARSE_MMA_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

#undef FA_SPARSE_LIST
#undef FA_SPARSE_MATCHES

}  // namespace fabench
