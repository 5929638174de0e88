#pragma once
// The textbook shared-memory tiled GEMM (TILE x TILE threads, one output each, fp32 accumulate),
// batched through grid.z. Used by the naive variants of attention, its backward and softmax_matmul, which are
// meant to show what materialising an intermediate costs, not to be fast GEMMs.
#include <cstdint>

#include "kernels/common/element.cuh"

namespace fabench {

// Batch z of C reads batch z of A and batch b_index(z) of B: z / heads picks the batch and z % heads
// the query head, whose KV head is head / (heads / kv_heads) (GQA). heads = kv_heads = 1: b_index = z.
struct GemmBatch {
  std::int64_t a_stride = 0, b_stride = 0, c_stride = 0;
  std::int64_t heads = 1, kv_heads = 1;
  __device__ std::int64_t b_index(std::int64_t z) const {
    return (z / heads) * kv_heads + (z % heads) / (heads / kv_heads);
  }
};

// C[z] (M x N) = A[z] (M x K) @ B[b_index(z)] (K x N), all row-major.
template <class TA, class TB, class TC, int TILE>
__global__ void gemm_nn_tiled_kernel(const TA* a, const TB* b, TC* c, std::int64_t m, std::int64_t n, std::int64_t k,
                                     GemmBatch batch) {
  __shared__ float a_tile[TILE][TILE];
  __shared__ float b_tile[TILE][TILE];
  const std::int64_t z = blockIdx.z;
  a += z * batch.a_stride;
  b += batch.b_index(z) * batch.b_stride;
  c += z * batch.c_stride;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.y) * TILE + threadIdx.y;
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * TILE + threadIdx.x;
  float acc = 0.0f;
  for (std::int64_t k0 = 0; k0 < k; k0 += TILE) {
    const std::int64_t ak = k0 + threadIdx.x, bk = k0 + threadIdx.y;
    a_tile[threadIdx.y][threadIdx.x] = (row < m && ak < k) ? to_float(a[row * k + ak]) : 0.0f;
    b_tile[threadIdx.y][threadIdx.x] = (bk < k && col < n) ? to_float(b[bk * n + col]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int t = 0; t < TILE; ++t) acc += a_tile[threadIdx.y][t] * b_tile[t][threadIdx.x];
    __syncthreads();
  }
  if (row < m && col < n) c[row * n + col] = from_float<TC>(acc);
}

template <class TA, class TB, class TC, int TILE>
void gemm_nn_tiled(const TA* a, const TB* b, TC* c, std::int64_t m, std::int64_t n, std::int64_t k,
                   std::int64_t batches, GemmBatch batch, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((n + TILE - 1) / TILE), static_cast<unsigned>((m + TILE - 1) / TILE),
                  static_cast<unsigned>(batches));
  gemm_nn_tiled_kernel<TA, TB, TC, TILE><<<grid, dim3(TILE, TILE), 0, stream>>>(a, b, c, m, n, k, batch);
}

// What the NT and TN kernels below store: epilogue(z, row, col, acc) -> the value written at
// C[z][row][col] (the backward of bwd.naive turns a score into a probability there).
struct GemmIdentity {
  __device__ float operator()(std::int64_t, std::int64_t, std::int64_t, float acc) const { return acc; }
};

// C[z] (M x N) = epilogue(A[z] (M x K) @ B[b_index(z)]^T), B row-major N x K (Q K^T, dO V^T).
template <class TA, class TB, class TC, int TILE, class Epilogue>
__global__ void gemm_nt_tiled_kernel(const TA* a, const TB* b, TC* c, std::int64_t m, std::int64_t n, std::int64_t k,
                                     GemmBatch batch, Epilogue epilogue) {
  __shared__ float a_tile[TILE][TILE];
  __shared__ float b_tile[TILE][TILE + 1];  // +1: a warp reads a column of it
  const std::int64_t z = blockIdx.z;
  a += z * batch.a_stride;
  b += batch.b_index(z) * batch.b_stride;
  c += z * batch.c_stride;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.y) * TILE + threadIdx.y;
  const std::int64_t col0 = static_cast<std::int64_t>(blockIdx.x) * TILE;
  float acc = 0.0f;
  for (std::int64_t k0 = 0; k0 < k; k0 += TILE) {
    const std::int64_t kk = k0 + threadIdx.x, b_row = col0 + threadIdx.y;
    a_tile[threadIdx.y][threadIdx.x] = (row < m && kk < k) ? to_float(a[row * k + kk]) : 0.0f;
    b_tile[threadIdx.y][threadIdx.x] = (b_row < n && kk < k) ? to_float(b[b_row * k + kk]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int t = 0; t < TILE; ++t) acc += a_tile[threadIdx.y][t] * b_tile[threadIdx.x][t];
    __syncthreads();
  }
  const std::int64_t col = col0 + threadIdx.x;
  if (row < m && col < n) c[row * n + col] = from_float<TC>(epilogue(z, row, col, acc));
}

template <class TA, class TB, class TC, int TILE, class Epilogue = GemmIdentity>
void gemm_nt_tiled(const TA* a, const TB* b, TC* c, std::int64_t m, std::int64_t n, std::int64_t k,
                   std::int64_t batches, GemmBatch batch, cudaStream_t stream, Epilogue epilogue = {}) {
  const dim3 grid(static_cast<unsigned>((n + TILE - 1) / TILE), static_cast<unsigned>((m + TILE - 1) / TILE),
                  static_cast<unsigned>(batches));
  gemm_nt_tiled_kernel<TA, TB, TC, TILE, Epilogue><<<grid, dim3(TILE, TILE), 0, stream>>>(a, b, c, m, n, k, batch,
                                                                                           epilogue);
}

// C[z] (M x N) = A[z]^T @ B[b_index(z)], A row-major K x M, B row-major K x N (P^T dO, dS^T Q).
template <class TA, class TB, class TC, int TILE>
__global__ void gemm_tn_tiled_kernel(const TA* a, const TB* b, TC* c, std::int64_t m, std::int64_t n, std::int64_t k,
                                     GemmBatch batch) {
  __shared__ float a_tile[TILE][TILE];  // [k][m]: loaded along m, read a column per thread row
  __shared__ float b_tile[TILE][TILE];  // [k][n]
  const std::int64_t z = blockIdx.z;
  a += z * batch.a_stride;
  b += batch.b_index(z) * batch.b_stride;
  c += z * batch.c_stride;
  const std::int64_t m0 = static_cast<std::int64_t>(blockIdx.y) * TILE;
  const std::int64_t n0 = static_cast<std::int64_t>(blockIdx.x) * TILE;
  float acc = 0.0f;
  for (std::int64_t k0 = 0; k0 < k; k0 += TILE) {
    const std::int64_t kk = k0 + threadIdx.y;
    const std::int64_t am = m0 + threadIdx.x, bn = n0 + threadIdx.x;
    a_tile[threadIdx.y][threadIdx.x] = (kk < k && am < m) ? to_float(a[kk * m + am]) : 0.0f;
    b_tile[threadIdx.y][threadIdx.x] = (kk < k && bn < n) ? to_float(b[kk * n + bn]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int t = 0; t < TILE; ++t) acc += a_tile[t][threadIdx.y] * b_tile[t][threadIdx.x];
    __syncthreads();
  }
  const std::int64_t row = m0 + threadIdx.y, col = n0 + threadIdx.x;
  if (row < m && col < n) c[row * n + col] = from_float<TC>(acc);
}

template <class TA, class TB, class TC, int TILE>
void gemm_tn_tiled(const TA* a, const TB* b, TC* c, std::int64_t m, std::int64_t n, std::int64_t k,
                   std::int64_t batches, GemmBatch batch, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((n + TILE - 1) / TILE), static_cast<unsigned>((m + TILE - 1) / TILE),
                  static_cast<unsigned>(batches));
  gemm_tn_tiled_kernel<TA, TB, TC, TILE><<<grid, dim3(TILE, TILE), 0, stream>>>(a, b, c, m, n, k, batch);
}

}  // namespace fabench
