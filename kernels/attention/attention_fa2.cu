// attn.fa2: FlashAttention-2 Algorithm 1 (Dao 2023, section 3.1) in fp32 on CUDA cores.
//
// Against attn.naive: no score matrix in device memory. One block owns BM query rows of one head
// and streams BN-row tiles of K and V through shared memory; each row keeps its running maximum m
// and sum l, the output accumulator is rescaled by exp(m_old - m_new) when the maximum grows, and
// divided by l once at the end (FA2's change against FA1: no per-tile normalisation, the loop over
// K/V inside the block, rows in parallel across blocks). Under causal masking tiles wholly above
// the diagonal are skipped and only tiles crossing it are masked. Memory: inputs and outputs only.
// Thread layout: 256 threads as 16 x 16; thread (tr, tc) owns S and O entries of rows tr + 16i and
// columns tc + 16j, so a warp's shared reads are broadcasts (Q, P rows) or consecutive (K rows
// padded by one word, V columns).
#include "kernels/attention/attention.h"
#include "kernels/common/online_softmax.cuh"

namespace fabench {

namespace {

constexpr int kThreads = 256;

template <int BM, int BN, int D>
struct Fa2Traits {
  static_assert(BM % 16 == 0 && BN % 16 == 0 && D % 16 == 0, "16 x 16 thread grid");
  static constexpr int kRows = BM / 16, kCols = BN / 16, kDims = D / 16;
  static constexpr int kKStride = D + 1;  // K rows padded: 16 threads read 16 rows at one column
  static constexpr std::size_t kSmemFloats =
      static_cast<std::size_t>(BM) * D + BN * kKStride + BN * D + BM * BN + 3 * BM;
  static constexpr std::size_t kSmemBytes = kSmemFloats * sizeof(float);
};

template <int BM, int BN, int D>
__global__ void __launch_bounds__(kThreads) attention_fa2_kernel(AttentionArgs a) {
  using Tr = Fa2Traits<BM, BN, D>;
  extern __shared__ float smem[];
  float* q_s = smem;                       // [BM][D]
  float* k_s = q_s + BM * D;               // [BN][D + 1]
  float* v_s = k_s + BN * Tr::kKStride;    // [BN][D]
  float* p_s = v_s + BN * D;               // [BM][BN]: scores, then probabilities
  float* m_s = p_s + BM * BN;              // [BM] running max (log2 domain)
  float* l_s = m_s + BM;                   // [BM] running sum
  float* c_s = l_s + BM;                   // [BM] this tile's rescale factor

  const int tid = threadIdx.x, tr = tid / 16, tc = tid % 16;
  const std::int64_t bh = blockIdx.y, b = bh / a.heads, h = bh % a.heads;
  const std::int64_t kv = b * a.kv_heads + h / (a.heads / a.kv_heads);
  const std::int64_t i0 = static_cast<std::int64_t>(blockIdx.x) * BM;
  const float* q = static_cast<const float*>(a.q) + (bh * a.seq_q + i0) * D;
  const float* k = static_cast<const float*>(a.k) + kv * a.seq_k * D;
  const float* v = static_cast<const float*>(a.v) + kv * a.seq_k * D;
  const float scale_log2 = a.scale * 1.4426950408889634f;  // exp(x) = exp2(x log2 e)
  const std::int64_t diag = a.seq_k - a.seq_q;              // query i sees keys j <= i + diag

  for (int e = tid; e < BM * D; e += kThreads) q_s[e] = i0 + e / D < a.seq_q ? q[e] : 0.0f;
  for (int r = tid; r < BM; r += kThreads) {
    m_s[r] = -INFINITY;
    l_s[r] = 0.0f;
  }
  float o[Tr::kRows][Tr::kDims] = {};

  // Keys past the last visible one of this block's last row are never needed.
  const std::int64_t key_end =
      a.causal ? std::min<std::int64_t>(a.seq_k, std::max<std::int64_t>(0, i0 + BM + diag)) : a.seq_k;
  for (std::int64_t j0 = 0; j0 < key_end; j0 += BN) {
    __syncthreads();  // previous tile's readers are done with k_s, v_s, p_s
    for (int e = tid; e < BN * D; e += kThreads) {
      const int r = e / D, c = e % D;
      const bool in = j0 + r < a.seq_k;
      k_s[r * Tr::kKStride + c] = in ? k[(j0 + r) * D + c] : 0.0f;
      v_s[e] = in ? v[(j0 + r) * D + c] : 0.0f;
    }
    __syncthreads();
    // S = scale * Q K^T for this thread's entries, masked entries -inf.
    const bool needs_mask = j0 + BN > a.seq_k || (a.causal && j0 + BN - 1 > i0 + diag);
#pragma unroll
    for (int ri = 0; ri < Tr::kRows; ++ri) {
      const int r = tr + 16 * ri;
#pragma unroll
      for (int ci = 0; ci < Tr::kCols; ++ci) {
        const int c = tc + 16 * ci;
        float s = 0.0f;
#pragma unroll 16
        for (int x = 0; x < D; ++x) s += q_s[r * D + x] * k_s[c * Tr::kKStride + x];
        s *= scale_log2;
        if (needs_mask && (j0 + c >= a.seq_k || (a.causal && j0 + c > i0 + r + diag))) s = -INFINITY;
        p_s[r * BN + c] = s;
      }
    }
    __syncthreads();
    online_softmax_tile<BM, BN, kThreads / 32>(p_s, BN, m_s, l_s, c_s);  // P = exp2(S - m), rescale factors
    __syncthreads();
    // O = O * rescale + P V
#pragma unroll
    for (int ri = 0; ri < Tr::kRows; ++ri) {
      const int r = tr + 16 * ri;
      const float rescale = c_s[r];
#pragma unroll
      for (int di = 0; di < Tr::kDims; ++di) o[ri][di] *= rescale;
#pragma unroll 8
      for (int c = 0; c < BN; ++c) {
        const float p = p_s[r * BN + c];
#pragma unroll
        for (int di = 0; di < Tr::kDims; ++di) o[ri][di] += p * v_s[c * D + tc + 16 * di];
      }
    }
  }
  __syncthreads();
  float* out = static_cast<float*>(a.o) + (bh * a.seq_q + i0) * D;
#pragma unroll
  for (int ri = 0; ri < Tr::kRows; ++ri) {
    const int r = tr + 16 * ri;
    if (i0 + r >= a.seq_q) continue;
    const float l = l_s[r];
    const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;  // a row that sees no key: O = 0
#pragma unroll
    for (int di = 0; di < Tr::kDims; ++di) out[r * D + tc + 16 * di] = o[ri][di] * inv_l;
    if (tc == 0) a.lse[bh * a.seq_q + i0 + r] = l > 0.0f ? (m_s[r] + log2f(l)) * 0.6931471805599453f : -INFINITY;
  }
}

template <int BM, int BN, int D>
bool launch_fa2(const AttentionArgs& a, cudaStream_t stream) {
  using Tr = Fa2Traits<BM, BN, D>;
  auto kernel = attention_fa2_kernel<BM, BN, D>;
  if (Tr::kSmemBytes > 48 * 1024 &&
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(Tr::kSmemBytes)) !=
          cudaSuccess)
    return false;
  const dim3 grid(static_cast<unsigned>((a.seq_q + BM - 1) / BM), static_cast<unsigned>(a.batch * a.heads));
  kernel<<<grid, kThreads, Tr::kSmemBytes, stream>>>(a);
  return true;
}

// The compiled configurations: (head_dim, block_m, block_n). Tuning notes belong beside them.
#define FA_FA2_CONFIGS(X) \
  X(32, 64, 64)           \
  X(64, 64, 64)           \
  X(64, 32, 64)           \
  X(128, 64, 32)          \
  X(128, 32, 64)          \
  X(256, 32, 32)

}  // namespace

std::vector<AttentionTile> attention_fa2_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(D, BM, BN) out.push_back({D, BM, BN, Fa2Traits<BM, BN, D>::kSmemBytes});
  FA_FA2_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_fa2(const AttentionArgs& a, int block_m, int block_n, cudaStream_t stream) {
#define FA_DISPATCH(D, BM, BN) \
  if (a.head_dim == D && block_m == BM && block_n == BN) return launch_fa2<BM, BN, D>(a, stream);
  FA_FA2_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

}  // namespace fabench
