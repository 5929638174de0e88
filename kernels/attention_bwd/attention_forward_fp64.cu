// attention_forward_fp64.h: a block per 16 query rows of one head walks the visible keys in chunks
// of 32 held in shared memory as double; a thread per (row, key) score (its d terms summed in
// order), a warp per row for the online softmax, a thread per 8th column of a row for P V (keys
// summed in order). Plain and exact rather than fast: fp64 on CUDA cores, shared memory bound.
// Products and sums are rounded apart (__dmul_rn, __dadd_rn: no fused multiply-add), as the host
// forward's are; the chunks (32 keys, not 64) and the warp sums of P order some sums differently,
// so the two agree to about 1e-15, not bit for bit.
#include <cmath>

#include "kernels/attention_bwd/attention_forward_fp64.h"
#include "kernels/common/reduce.cuh"

namespace fabench {

namespace {

constexpr int kRows = 16, kKeys = 32, kThreads = 128, kMaxHeadDim = 256;
constexpr int kColsPerThread = kMaxHeadDim / (kThreads / kRows);  // a row's columns over 8 threads

__device__ __forceinline__ std::int64_t visible_keys(const AttentionFp64Args& a, std::int64_t i) {
  if (!a.causal) return a.seq_k;
  const std::int64_t n = i + (a.seq_k - a.seq_q) + 1;
  return n < 0 ? 0 : n > a.seq_k ? a.seq_k : n;
}

// Shared memory: Q rows (d apart), K rows (d + 1 apart: a warp's 32 keys at one column then fall
// in different banks), V rows (d apart), the chunk's scores and P, each row's max, sum, rescale.
std::size_t smem_bytes(int d) {
  return sizeof(double) * (static_cast<std::size_t>(kRows) * d + kKeys * (d + 1) + kKeys * d + kRows * kKeys + 3 * kRows);
}

__global__ void __launch_bounds__(kThreads) attention_forward_fp64_kernel(AttentionFp64Args a) {
  extern __shared__ double smem[];
  const int d = static_cast<int>(a.head_dim), k_stride = d + 1;
  double* qs = smem;
  double* ks = qs + kRows * d;
  double* vs = ks + kKeys * k_stride;
  double* ps = vs + kKeys * d;
  double* row_max = ps + kRows * kKeys;
  double* row_sum = row_max + kRows;
  double* row_rescale = row_sum + kRows;
  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  const std::int64_t bh = blockIdx.y, b = bh / a.heads, h = bh % a.heads;
  const std::int64_t kv_head = h / (a.heads / a.kv_heads);
  const std::int64_t i0 = static_cast<std::int64_t>(blockIdx.x) * kRows;
  const int rows = static_cast<int>(a.seq_q - i0 < kRows ? a.seq_q - i0 : kRows);
  const float* q = a.q + (bh * a.seq_q + i0) * d;
  const float* k = a.k + (b * a.kv_heads + kv_head) * a.seq_k * d;
  const float* v = a.v + (b * a.kv_heads + kv_head) * a.seq_k * d;

  for (int x = tid; x < kRows * d; x += kThreads) qs[x] = x / d < rows ? static_cast<double>(q[x]) : 0.0;
  if (tid < kRows) {
    row_max[tid] = -INFINITY;
    row_sum[tid] = 0.0;
  }
  const std::int64_t key_end = visible_keys(a, i0 + rows - 1);  // the last row sees the most keys
  // This thread's row of P V and its columns c = col0 + 8 n.
  const int pv_row = tid / (kThreads / kRows), col0 = tid % (kThreads / kRows);
  double acc[kColsPerThread];
#pragma unroll
  for (int n = 0; n < kColsPerThread; ++n) acc[n] = 0.0;

  for (std::int64_t j0 = 0; j0 < key_end; j0 += kKeys) {
    const int cols = static_cast<int>(key_end - j0 < kKeys ? key_end - j0 : kKeys);
    __syncthreads();  // the chunk before is done with ks, vs and ps
    for (int x = tid; x < kKeys * d; x += kThreads) {
      const int j = x / d, c = x % d;
      const bool in = j < cols;
      ks[j * k_stride + c] = in ? static_cast<double>(k[(j0 + j) * d + c]) : 0.0;
      vs[x] = in ? static_cast<double>(v[(j0 + j) * d + c]) : 0.0;
    }
    __syncthreads();
    for (int x = tid; x < kRows * kKeys; x += kThreads) {  // scaled scores, d terms in order
      const int r = x / kKeys, j = x % kKeys;
      double s = 0.0;
      for (int c = 0; c < d; ++c) s = __dadd_rn(s, __dmul_rn(qs[r * d + c], ks[j * k_stride + c]));
      ps[x] = __dmul_rn(s, a.scale);
    }
    __syncthreads();
    // Online softmax, a warp a row, a lane a key: P over the row's visible keys of this chunk (0
    // elsewhere); a row with none here keeps its state (rescale 1).
    for (int r = warp; r < kRows; r += kThreads / 32) {
      const std::int64_t valid = r < rows ? visible_keys(a, i0 + r) - j0 : 0;
      const bool keep = lane < valid && lane < cols;
      const double s = keep ? ps[r * kKeys + lane] : -INFINITY;
      if (valid <= 0) {
        ps[r * kKeys + lane] = 0.0;
        if (lane == 0) row_rescale[r] = 1.0;
        continue;
      }
      const double m_old = row_max[r];
      const double m_new = fmax(m_old, warp_max(s));
      const double rescale = exp(m_old - m_new);  // 0 on the row's first chunk
      const double p = keep ? exp(s - m_new) : 0.0;
      const double sum = warp_sum(p);
      ps[r * kKeys + lane] = p;
      __syncwarp();
      if (lane == 0) {
        row_rescale[r] = rescale;
        row_sum[r] = __dadd_rn(__dmul_rn(row_sum[r], rescale), sum);
        row_max[r] = m_new;
      }
    }
    __syncthreads();
    const double rescale = row_rescale[pv_row];
#pragma unroll
    for (int n = 0; n < kColsPerThread; ++n) {
      const int c = col0 + (kThreads / kRows) * n;
      if (c >= d) break;
      double pv = 0.0;
      for (int j = 0; j < kKeys; ++j) pv = __dadd_rn(pv, __dmul_rn(ps[pv_row * kKeys + j], vs[j * d + c]));
      acc[n] = __dadd_rn(__dmul_rn(acc[n], rescale), pv);
    }
  }
  __syncthreads();
  if (pv_row < rows) {
    const bool empty = visible_keys(a, i0 + pv_row) == 0;
    double* o = a.o + (bh * a.seq_q + i0 + pv_row) * d;
#pragma unroll
    for (int n = 0; n < kColsPerThread; ++n) {
      const int c = col0 + (kThreads / kRows) * n;
      if (c >= d) break;
      o[c] = empty ? 0.0 : acc[n] / row_sum[pv_row];
    }
    if (col0 == 0) a.lse[bh * a.seq_q + i0 + pv_row] = empty ? -INFINITY : row_max[pv_row] + log(row_sum[pv_row]);
  }
}

}  // namespace

int attention_forward_fp64_max_head_dim() { return kMaxHeadDim; }
std::size_t attention_forward_fp64_smem_bytes(int head_dim) { return smem_bytes(head_dim); }

bool attention_forward_fp64(const AttentionFp64Args& a, cudaStream_t stream) {
  if (a.head_dim < 1 || a.head_dim > kMaxHeadDim || a.heads < 1 || a.kv_heads < 1 || a.heads % a.kv_heads != 0)
    return false;
  if (a.seq_q <= 0 || a.batch <= 0) return true;  // no query rows: nothing to derive
  if (a.batch * a.heads > 65535 || (a.seq_q + kRows - 1) / kRows > 0x7fffffff) return false;  // grid.y, grid.x
  const std::size_t bytes = smem_bytes(static_cast<int>(a.head_dim));
  if (cudaFuncSetAttribute(attention_forward_fp64_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(bytes)) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  const dim3 grid(static_cast<unsigned>((a.seq_q + kRows - 1) / kRows), static_cast<unsigned>(a.batch * a.heads));
  attention_forward_fp64_kernel<<<grid, kThreads, bytes, stream>>>(a);
  return true;
}

}  // namespace fabench
