// sparse.block_skip in fp32 on CUDA cores: attn.fa2's kernel (attention_fa2.cuh) with a block mask
// in its key loop (attention_keys.cuh, attention_sparse.h), for seed 000's fp32 table.
//
// v1: the query tile's list of non-empty key blocks, as sparse.block_skip on tensor cores: a step
//    is a listed key tile (the next one read a step ahead), full blocks keep attn.fa2's bound at
//    seq_k alone, partial blocks drop scores by their bytes (one 4-byte load per row of a thread:
//    its 4 keys). attn.fa2's 64-key tiles: blocks of 64 and 128.
//    Validated on an H200 at 9de0466 (the [sparse] GPU test, every pattern); not yet timed (the
//    seed's fp32 Part 3 table is the next run).
#include "kernels/attention/attention_fa2.cuh"
#include "kernels/attention/attention_sparse.h"

namespace fabench {

namespace {

template <int BM, int BN, int D, int RM>
bool launch_sparse_fa2(const AttentionArgs& a, const SparseBlockArgs& m, cudaStream_t stream) {
  using Tr = Fa2Traits<BM, D, RM>;
  constexpr auto kernel = attention_fa2_kernel<BM, BN, D, RM, SparseKeys>;
  if (a.causal || m.block % BM != 0 || m.block % BN != 0) return false;
  static const bool smem_granted =
      Tr::kSmemBytes <= 48 * 1024 ||
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) ==
          cudaSuccess;
  if (!smem_granted) return false;
  const AttentionSchedule sched = attention_schedule(a, BM, AttentionResidency{}, false);
  kernel<<<sched.grid, Tr::kThreads, Tr::kSmemBytes, stream>>>(a, sched, m);
  return true;
}

// The compiled tiles: (head_dim, block_m, block_n, rows per thread), attn.fa2's defaults where the
// block holds them (d128: 128 rows for blocks of 128, 64 rows for blocks of 64). ptxas -v (CUDA
// 13.0), no spills: d64 167 registers, d128 64 rows 197, 128 rows 255, d256 255.
#define FA_SPARSE_FA2_CONFIGS(X) \
  X(64, 64, 64, 8)               \
  X(128, 128, 64, 8)             \
  X(128, 64, 64, 8)              \
  X(256, 64, 64, 4)

}  // namespace

std::vector<AttentionTile> attention_sparse_fa2_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(D, BM, BN, RM) \
  out.push_back({D, BM, BN, Fa2Traits<BM, D, RM>::kSmemBytes, Fa2Traits<BM, D, RM>::kThreads / 32});
  FA_SPARSE_FA2_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_sparse_fa2(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                          cudaStream_t stream) {
  if (a.elem != KernelElem::f32) return false;
#define FA_DISPATCH(D, BM, BN, RM)                                                                         \
  if (a.head_dim == D && tile.block_m == BM && tile.block_n == BN && tile.warps == Fa2Traits<BM, D, RM>::kThreads / 32) \
    return launch_sparse_fa2<BM, BN, D, RM>(a, m, stream);
  FA_SPARSE_FA2_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

}  // namespace fabench
