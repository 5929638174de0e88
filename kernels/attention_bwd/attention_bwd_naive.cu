// bwd.naive: the attention backward with P and dS materialised, as autograd over the plain path
// (attn.naive's forward) computes it; every product a textbook tiled GEMM on CUDA cores
// (kernels/common/gemm_tiled.cuh, TILE x TILE threads, fp32 accumulation):
//
//   1. D  = rowsum(dO * O)                         a warp per query row
//   2. P  = exp(scale * Q K^T - lse)                GEMM-NT, the exp in its epilogue (masked: 0)
//   3. dS = scale * P * (dO V^T - D)                GEMM-NT, P read in its epilogue
//   4. dV = P^T dO,  dK = dS^T Q                     GEMM-TN over each KV head's group at once:
//                                                  the group's query heads are contiguous rows
//   5. dQ = dS K                                    GEMM-NN
//
// scale is folded into dS once, so dQ and dK need no epilogue. P and dS cost
// 2 * batch * heads * seq_q * seq_k * 4 bytes of workspace: this is what the flash backward removes,
// and where it does not fit the row is an oom. measured: pending.
#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/attention_bwd/attention_bwd_delta.cuh"
#include "kernels/common/gemm_tiled.cuh"

namespace fabench {

namespace {

constexpr int kTile = 16;

// Causal (bottom right): query row i sees key j when j <= i + seq_k - seq_q.
__device__ __forceinline__ bool masked(bool causal, std::int64_t i, std::int64_t j, std::int64_t key_offset) {
  return causal && j > i + key_offset;
}

// Step 2's epilogue: a score of batch z = b * heads + h becomes its probability under the lse.
struct ProbabilityEpilogue {
  const float* lse;
  float scale;
  bool causal;
  std::int64_t seq_q, key_offset;
  __device__ float operator()(std::int64_t z, std::int64_t i, std::int64_t j, float score) const {
    return masked(causal, i, j, key_offset) ? 0.0f : expf(scale * score - lse[z * seq_q + i]);
  }
};

// Step 3's epilogue: dP becomes scale * P * (dP - D), P read from step 2's output.
struct ScoreGradientEpilogue {
  const float* p;
  const float* delta;
  float scale;
  std::int64_t seq_q, seq_k;
  __device__ float operator()(std::int64_t z, std::int64_t i, std::int64_t j, float dp) const {
    const float prob = p[(z * seq_q + i) * seq_k + j];
    return prob == 0.0f ? 0.0f : scale * prob * (dp - delta[z * seq_q + i]);
  }
};

template <class T>
void launch_naive(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream) {
  const std::int64_t bh = a.batch * a.heads, d = a.head_dim, group = a.heads / a.kv_heads;
  float* p = static_cast<float*>(workspace);
  float* ds = p + bh * a.seq_q * a.seq_k;
  float* delta = ds + bh * a.seq_q * a.seq_k;
  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);
  const T* d_o = static_cast<const T*>(a.d_o);
  launch_attention_bwd_delta<T>(a, delta, stream);

  // Query head z = b * heads + h against its KV head (GemmBatch::b_index).
  const GemmBatch by_query_head{a.seq_q * d, a.seq_k * d, a.seq_q * a.seq_k, a.heads, a.kv_heads};
  gemm_nt_tiled<T, T, float, kTile>(q, k, p, a.seq_q, a.seq_k, d, bh, by_query_head, stream,
                                    ProbabilityEpilogue{a.lse, a.scale, a.causal, a.seq_q, a.seq_k - a.seq_q});
  gemm_nt_tiled<T, T, float, kTile>(d_o, v, ds, a.seq_q, a.seq_k, d, bh, by_query_head, stream,
                                    ScoreGradientEpilogue{p, delta, a.scale, a.seq_q, a.seq_k});

  // dV and dK of KV head z = b * kv_heads + kv: the group's group * seq_q rows of P (dS) and dO (Q)
  // are contiguous, so the sum over the group is the GEMM's own reduction.
  const GemmBatch by_kv_head_p{group * a.seq_q * a.seq_k, group * a.seq_q * d, a.seq_k * d, 1, 1};
  gemm_tn_tiled<float, T, T, kTile>(p, d_o, static_cast<T*>(a.dv), a.seq_k, d, group * a.seq_q, a.batch * a.kv_heads,
                                    by_kv_head_p, stream);
  gemm_tn_tiled<float, T, T, kTile>(ds, q, static_cast<T*>(a.dk), a.seq_k, d, group * a.seq_q, a.batch * a.kv_heads,
                                    by_kv_head_p, stream);

  const GemmBatch dq_batch{a.seq_q * a.seq_k, a.seq_k * d, a.seq_q * d, a.heads, a.kv_heads};
  gemm_nn_tiled<float, T, T, kTile>(ds, k, static_cast<T*>(a.dq), a.seq_q, d, a.seq_k, bh, dq_batch, stream);
}

}  // namespace

std::size_t attention_bwd_naive_workspace_bytes(const AttentionBwdArgs& a) {
  const auto scores = static_cast<std::size_t>(a.batch * a.heads * a.seq_q * a.seq_k);
  const auto rows = static_cast<std::size_t>(a.batch * a.heads * a.seq_q);
  return (2 * scores + rows) * sizeof(float);
}

void attention_bwd_naive(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream) {
  FA_DISPATCH_ELEM(a.elem, (launch_naive<T>(a, workspace, stream)));
}

}  // namespace fabench
