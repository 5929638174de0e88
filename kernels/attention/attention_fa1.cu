// attn.fa1: FlashAttention-1 Algorithm 1 (Dao et al. 2022) as the paper writes it, fp32.
//
// Against attn.naive: no score matrix; against attn.fa2 (which came later): the loops are the
// other way round. One block per (batch, head) walks the K/V blocks in the outer loop and, for
// each, every Q block in the inner loop, reading the partial O, the running max m and sum l of
// those rows from device memory, folding in this K/V block (renormalising O each time), and
// writing them back. Device memory beyond inputs and outputs: m and l, 8 bytes per query row.
// Parallelism is batch x heads blocks only, and O is re-read and re-written once per K/V block:
// the two costs FlashAttention-2 removed. Same 16 x 16 thread layout as attn.fa2. Static shared
// memory (under 48 KB) holds head dims 32 and 64, the paper's sizes.
// Measured (H200, fp32, d 64): b8 h32 s2048 5.4 TFLOP/s against attn.fa2's 11.2; b4 h32 s4096 3.1
// against 11.2; one head at s4096 0.04 TFLOP/s (a single block) against 4.0.
#include "kernels/attention/attention.h"
#include "kernels/common/reduce.cuh"

namespace fabench {

namespace {

constexpr int kThreads = 256;
constexpr int kBr = 32, kBc = 32;  // the paper's Br, Bc

template <int D>
__global__ void __launch_bounds__(kThreads) attention_fa1_kernel(AttentionArgs a, float* m_all, float* l_all) {
  constexpr int kRows = kBr / 16, kDims = D / 16, kKStride = D + 1;
  __shared__ float q_s[kBr * D];
  __shared__ float k_s[kBc * kKStride];
  __shared__ float v_s[kBc * D];
  __shared__ float p_s[kBr * kBc];
  __shared__ float tile_max_s[kBr], tile_sum_s[kBr];
  const int tid = threadIdx.x, tr = tid / 16, tc = tid % 16, warp = tid / 32, lane = tid % 32;
  const std::int64_t bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const std::int64_t kv = b * a.kv_heads + h / (a.heads / a.kv_heads);
  const float* q = static_cast<const float*>(a.q) + bh * a.seq_q * D;
  const float* k = static_cast<const float*>(a.k) + kv * a.seq_k * D;
  const float* v = static_cast<const float*>(a.v) + kv * a.seq_k * D;
  float* o = static_cast<float*>(a.o) + bh * a.seq_q * D;
  float* m = m_all + bh * a.seq_q;
  float* l = l_all + bh * a.seq_q;
  const std::int64_t diag = a.seq_k - a.seq_q;

  // Line 2 of the algorithm: O = 0, l = 0, m = -inf in device memory.
  for (std::int64_t e = tid; e < a.seq_q * D; e += kThreads) o[e] = 0.0f;
  for (std::int64_t e = tid; e < a.seq_q; e += kThreads) {
    m[e] = -INFINITY;
    l[e] = 0.0f;
  }
  __syncthreads();
  for (std::int64_t j0 = 0; j0 < a.seq_k; j0 += kBc) {
    for (int e = tid; e < kBc * D; e += kThreads) {
      const int r = e / D, c = e % D;
      const bool in = j0 + r < a.seq_k;
      k_s[r * kKStride + c] = in ? k[(j0 + r) * D + c] : 0.0f;
      v_s[e] = in ? v[(j0 + r) * D + c] : 0.0f;
    }
    // Causal: Q blocks whose last row sees none of this K/V block are skipped.
    const std::int64_t i_first = a.causal ? std::max<std::int64_t>(0, (j0 - diag) / kBr * kBr) : 0;
    for (std::int64_t i0 = i_first; i0 < a.seq_q; i0 += kBr) {
      __syncthreads();  // k_s/v_s loaded; q_s, p_s free
      for (int e = tid; e < kBr * D; e += kThreads) q_s[e] = i0 + e / D < a.seq_q ? q[i0 * D + e] : 0.0f;
      __syncthreads();
#pragma unroll
      for (int ri = 0; ri < kRows; ++ri) {
        const int r = tr + 16 * ri;
#pragma unroll
        for (int ci = 0; ci < kBc / 16; ++ci) {
          const int c = tc + 16 * ci;
          float s = 0.0f;
#pragma unroll 16
          for (int x = 0; x < D; ++x) s += q_s[r * D + x] * k_s[c * kKStride + x];
          const bool masked = j0 + c >= a.seq_k || (a.causal && j0 + c > i0 + r + diag);
          p_s[r * kBc + c] = masked ? -INFINITY : s * a.scale;
        }
      }
      __syncthreads();
      // Lines 10-11: the block's own row max m~ and P~ = exp(S - m~), row sums l~.
      for (int r = warp; r < kBr; r += kThreads / 32) {
        float mx = -INFINITY;
        for (int c = lane; c < kBc; c += 32) mx = fmaxf(mx, p_s[r * kBc + c]);
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int c = lane; c < kBc; c += 32) {
          const float p = mx == -INFINITY ? 0.0f : __expf(p_s[r * kBc + c] - mx);
          p_s[r * kBc + c] = p;
          sum += p;
        }
        sum = warp_sum(sum);
        if (lane == 0) {
          tile_max_s[r] = mx;
          tile_sum_s[r] = sum;
        }
      }
      __syncthreads();
      // Lines 12-13: combine with the stored m, l; O = (l e^{m - m_new} O + e^{m~ - m_new} P~ V) / l_new.
#pragma unroll
      for (int ri = 0; ri < kRows; ++ri) {
        const int r = tr + 16 * ri;
        if (i0 + r >= a.seq_q) continue;
        const float m_old = m[i0 + r], l_old = l[i0 + r], m_tile = tile_max_s[r];
        const float m_new = fmaxf(m_old, m_tile);
        if (m_new == -INFINITY) continue;  // nothing visible to this row yet
        const float a_old = m_old == -INFINITY ? 0.0f : __expf(m_old - m_new) * l_old;
        const float a_tile = m_tile == -INFINITY ? 0.0f : __expf(m_tile - m_new);
        const float l_new = a_old + a_tile * tile_sum_s[r];
        float pv[kDims] = {};
        for (int c = 0; c < kBc; ++c) {
          const float p = p_s[r * kBc + c];
#pragma unroll
          for (int di = 0; di < kDims; ++di) pv[di] += p * v_s[c * D + tc + 16 * di];
        }
        float* o_row = o + (i0 + r) * D;
#pragma unroll
        for (int di = 0; di < kDims; ++di) {
          const int col = tc + 16 * di;
          o_row[col] = (a_old * o_row[col] + a_tile * pv[di]) / l_new;
        }
      }
      __syncthreads();  // every thread read m, l of these rows before they change
      if (tid < kBr && i0 + tid < a.seq_q) {
        const std::int64_t row = i0 + tid;
        const float m_old = m[row], m_tile = tile_max_s[tid], m_new = fmaxf(m_old, m_tile);
        if (m_new != -INFINITY) {
          const float a_old = m_old == -INFINITY ? 0.0f : __expf(m_old - m_new) * l[row];
          const float a_tile = m_tile == -INFINITY ? 0.0f : __expf(m_tile - m_new);
          l[row] = a_old + a_tile * tile_sum_s[tid];
          m[row] = m_new;
        }
      }
    }
    __syncthreads();
  }
  __syncthreads();
  for (std::int64_t e = tid; e < a.seq_q; e += kThreads)
    a.lse[bh * a.seq_q + e] = l[e] > 0.0f ? m[e] + logf(l[e]) : -INFINITY;
}

template <int D>
void launch_fa1(const AttentionArgs& a, void* workspace, cudaStream_t stream) {
  float* m = static_cast<float*>(workspace);
  float* l = m + a.batch * a.heads * a.seq_q;
  attention_fa1_kernel<D><<<static_cast<unsigned>(a.batch * a.heads), kThreads, 0, stream>>>(a, m, l);
}

}  // namespace

std::size_t attention_fa1_workspace_bytes(const AttentionArgs& a) {
  return static_cast<std::size_t>(a.batch * a.heads * a.seq_q) * 2 * sizeof(float);
}

bool attention_fa1(const AttentionArgs& a, void* workspace, cudaStream_t stream) {
  switch (a.head_dim) {
    case 32: launch_fa1<32>(a, workspace, stream); return true;
    case 64: launch_fa1<64>(a, workspace, stream); return true;
    default: return false;
  }
}

}  // namespace fabench
