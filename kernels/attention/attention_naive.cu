// attn.naive: four kernels around a materialised score matrix, the way a first CUDA port does it.
//
//   1. gemm_nt:    S = Q K^T                (fp32, shared-memory tiles of TILE x TILE)
//   2. scale_mask: S = scale * S, masked scores set to -inf
//   3. softmax:    P = softmax(S) row-wise in place (a warp per row, three passes), lse written
//   4. gemm_nn:    O = P V                  (fp32 accumulation, converted to the output type)
//
// S costs batch*heads*seq_q*seq_k*4 bytes of device memory and is written and read three times:
// this is the baseline every flash variant removes. Batch and heads ride on grid.z (no host loop).
#include "kernels/attention/attention.h"
#include "kernels/common/element.cuh"
#include "kernels/common/gemm_tiled.cuh"

namespace fabench {

namespace {

// Offsets of head (b, h) in Q/O and of its KV head in K/V, from grid.z = b * heads + h.
struct HeadOffsets {
  std::int64_t q, kv, s;
};
__device__ __forceinline__ HeadOffsets head_offsets(const AttentionArgs& a) {
  const std::int64_t bh = blockIdx.z;
  const std::int64_t b = bh / a.heads, h = bh % a.heads;
  const std::int64_t kv_head = h / (a.heads / a.kv_heads);
  return {bh * a.seq_q * a.head_dim, (b * a.kv_heads + kv_head) * a.seq_k * a.head_dim, bh * a.seq_q * a.seq_k};
}

// S[i, j] = sum_c Q[i, c] K[j, c]; block (TILE x TILE threads) computes a TILE x TILE tile of S.
template <class T, int TILE>
__global__ void attn_naive_gemm_nt_kernel(AttentionArgs a, float* s) {
  __shared__ float q_tile[TILE][TILE];
  __shared__ float k_tile[TILE][TILE + 1];  // +1: column reads below would hit one bank otherwise
  const HeadOffsets off = head_offsets(a);
  const T* q = static_cast<const T*>(a.q) + off.q;
  const T* k = static_cast<const T*>(a.k) + off.kv;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.y) * TILE + threadIdx.y;
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * TILE;
  float acc = 0.0f;
  for (std::int64_t c0 = 0; c0 < a.head_dim; c0 += TILE) {
    const std::int64_t c = c0 + threadIdx.x;
    q_tile[threadIdx.y][threadIdx.x] = (i < a.seq_q && c < a.head_dim) ? to_float(q[i * a.head_dim + c]) : 0.0f;
    const std::int64_t kj = j0 + threadIdx.y;
    k_tile[threadIdx.y][threadIdx.x] = (kj < a.seq_k && c < a.head_dim) ? to_float(k[kj * a.head_dim + c]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int t = 0; t < TILE; ++t) acc += q_tile[threadIdx.y][t] * k_tile[threadIdx.x][t];
    __syncthreads();
  }
  const std::int64_t j = j0 + threadIdx.x;
  if (i < a.seq_q && j < a.seq_k) s[off.s + i * a.seq_k + j] = acc;
}

__global__ void attn_naive_scale_mask_kernel(AttentionArgs a, float* s) {
  const std::int64_t n = a.batch * a.heads * a.seq_q * a.seq_k;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const std::int64_t j = e % a.seq_k, i = (e / a.seq_k) % a.seq_q;
    const bool masked = a.causal && j > i + a.seq_k - a.seq_q;
    s[e] = masked ? -INFINITY : a.scale * s[e];
  }
}

// One warp per row of S: max, sum, normalise, each a pass over global memory.
__global__ void attn_naive_softmax_kernel(AttentionArgs a, float* s) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= a.batch * a.heads * a.seq_q) return;
  float* p = s + row * a.seq_k;
  float row_max = -INFINITY;
  for (std::int64_t j = lane; j < a.seq_k; j += 32) row_max = fmaxf(row_max, p[j]);
  for (int o = 16; o > 0; o /= 2) row_max = fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, o));
  if (row_max == -INFINITY) {  // no visible key
    for (std::int64_t j = lane; j < a.seq_k; j += 32) p[j] = 0.0f;
    if (lane == 0) a.lse[row] = -INFINITY;
    return;
  }
  float sum = 0.0f;
  for (std::int64_t j = lane; j < a.seq_k; j += 32) sum += __expf(p[j] - row_max);
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float inv_sum = 1.0f / sum;
  for (std::int64_t j = lane; j < a.seq_k; j += 32) p[j] = __expf(p[j] - row_max) * inv_sum;
  if (lane == 0) a.lse[row] = row_max + logf(sum);
}

template <class T, int TILE>
void launch_naive(const AttentionArgs& a, float* s, cudaStream_t stream) {
  const auto bh = static_cast<unsigned>(a.batch * a.heads);
  const dim3 block(TILE, TILE);
  const auto rows = static_cast<unsigned>((a.seq_q + TILE - 1) / TILE);
  attn_naive_gemm_nt_kernel<T, TILE>
      <<<dim3(static_cast<unsigned>((a.seq_k + TILE - 1) / TILE), rows, bh), block, 0, stream>>>(a, s);
  attn_naive_scale_mask_kernel<<<1024, 256, 0, stream>>>(a, s);
  const std::int64_t total_rows = a.batch * a.heads * a.seq_q;
  attn_naive_softmax_kernel<<<static_cast<unsigned>((total_rows + 7) / 8), 256, 0, stream>>>(a, s);
  // O = P V: batch z = b * heads + h reads P[z] and the V of its KV head.
  GemmBatch batch{a.seq_q * a.seq_k, a.seq_k * a.head_dim, a.seq_q * a.head_dim, a.heads, a.kv_heads};
  gemm_nn_tiled<float, T, T, TILE>(s, static_cast<const T*>(a.v), static_cast<T*>(a.o), a.seq_q, a.head_dim,
                                   a.seq_k, a.batch * a.heads, batch, stream);
}

}  // namespace

std::size_t attention_naive_workspace_bytes(const AttentionArgs& a) {
  return static_cast<std::size_t>(a.batch * a.heads * a.seq_q * a.seq_k) * sizeof(float);
}

void attention_naive(const AttentionArgs& a, void* workspace, int tile, cudaStream_t stream) {
  float* s = static_cast<float*>(workspace);
  if (tile == 32) {
    FA_DISPATCH_ELEM(a.elem, (launch_naive<T, 32>(a, s, stream)));
  } else {
    FA_DISPATCH_ELEM(a.elem, (launch_naive<T, 16>(a, s, stream)));
  }
}

}  // namespace fabench
