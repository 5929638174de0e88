#pragma once
// Attention backward kernels: dQ, dK, dV from Q, K, V, the forward's O and log-sum-exp, and dO
// (seed 004, section 2.3.2): D = rowsum(dO * O), P = exp(scale * Q K^T - lse) recomputed from the
// lse, dV = P^T dO, dP = dO V^T, dS = P * (dP - D), dQ = scale * dS K, dK = scale * dS^T Q.
// Q, O, dO, dQ: [batch, heads, seq_q, d]; K, V, dK, dV: [batch, kv_heads, seq_k, d]; lse:
// [batch, heads, seq_q] fp32 (-inf for a query that sees no key). Causal masking is aligned to the
// bottom right: query i sees keys j <= i + seq_k - seq_q. GQA: dK and dV of a KV head sum over the
// query heads of its group (heads h = kv_head * group .. + group - 1, contiguous in memory).
//
// Versions:
//   bwd.naive: materialises P and dS in device memory, as autograd over the plain path does: D by
//              a warp per row, then tiled CUDA-core GEMMs (P = Q K^T then exp in place, dP = dO V^T,
//              dS = scale * P * (dP - D) in place, dV = P^T dO and dK = dS^T Q over each group's
//              query rows at once, dQ = dS K). Memory grows with seq_q * seq_k: 8 bytes a score.
//              Every dtype (fp32 accumulation). Validated on an H200 at 391aa3b; timed only on
//              the sanitizer's small case (0.042 ms at 2 x 6 heads x 77 x 150, d 64).
//   bwd.fa2:   FlashAttention-2's backward (Dao 2023, Algorithm 2) in fp32 on CUDA cores: a block
//              per (KV head, tile of keys) keeps its dK and dV in registers and streams the query
//              tiles of every query head of its group (so GQA needs no reduction), recomputing P
//              from the lse; dQ is accumulated in fp32 by atomics. D first, by a warp per row.
//              Head dims 64 and 128. Validated on an H200 at 391aa3b (timed only on the sanitizer's
//              small case: 0.080 ms there, 1.9x bwd.naive's time).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace fabench {

struct AttentionBwdArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* o = nullptr;
  const void* d_o = nullptr;
  const float* lse = nullptr;
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
  std::int64_t batch = 1, heads = 1, kv_heads = 1, seq_q = 0, seq_k = 0, head_dim = 0;
  bool causal = false;
  float scale = 1.0f;
  KernelElem elem = KernelElem::f32;
};

// P and dS (fp32, [batch * heads, seq_q, seq_k] each) and D (fp32, one a query row).
std::size_t attention_bwd_naive_workspace_bytes(const AttentionBwdArgs& a);
void attention_bwd_naive(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream);

// fp32 only, head_dim 64 or 128. Workspace: D, one fp32 a query row. Shared memory per block:
// attention_bwd_fa2_smem_bytes (more than 48 KiB at d128: the launcher opts in). Returns false when
// the head dim is not compiled or the shared memory cannot be granted.
std::size_t attention_bwd_fa2_workspace_bytes(const AttentionBwdArgs& a);
std::size_t attention_bwd_fa2_smem_bytes(std::int64_t head_dim);
bool attention_bwd_fa2(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream);

}  // namespace fabench
