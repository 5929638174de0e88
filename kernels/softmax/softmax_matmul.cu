// softmax(X) @ V, unfused and fused (see softmax_matmul.h for the versions).
#include "kernels/common/element.cuh"
#include "kernels/common/gemm_tiled.cuh"
#include "kernels/common/online_softmax.cuh"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_matmul.h"

namespace fabench {

namespace {

constexpr int kThreads = 256;
constexpr int kCols = 64;  // output columns per block
constexpr float kLog2e = 1.4426950408889634f;

// Block (blockIdx.x: 64 output columns, blockIdx.y: BLOCK rows, blockIdx.z: batch). Thread t owns a
// register tile of BLOCK/16 rows x 4 columns (rows (t / 16) * BLOCK/16 + i, columns (t % 16) * 4 + c):
// per 4 steps of d2 it reads BLOCK/16 + 4 16-byte words of shared memory for 16 * BLOCK/16 FMAs.
// (First version: one output column and BLOCK/4 rows a thread, a shared load per FMA: 6.8 TFLOP/s
// fp32 on an H200, slower than the unfused naive version's 8.1.)
template <class T, int BLOCK>
__global__ void __launch_bounds__(kThreads) softmax_matmul_fused_kernel(SoftmaxMatmulArgs a) {
  constexpr int kRows = BLOCK / 16;  // rows of the thread's register tile
  constexpr int kStride = BLOCK + 4;  // keeps each P row 16-byte aligned
  __shared__ __align__(16) float p_tile[BLOCK][kStride];
  __shared__ __align__(16) float v_tile[BLOCK][kCols];
  __shared__ float row_max[BLOCK], row_sum[BLOCK], row_rescale[BLOCK];
  const std::int64_t z = blockIdx.z, i0 = static_cast<std::int64_t>(blockIdx.y) * BLOCK,
                     c0 = static_cast<std::int64_t>(blockIdx.x) * kCols;
  const T* x = static_cast<const T*>(a.x) + z * a.d1 * a.d2;
  const T* v = static_cast<const T*>(a.v) + z * a.d2 * a.d3;
  T* out = static_cast<T*>(a.out) + z * a.d1 * a.d3;
  const int tid = threadIdx.x;
  const int tile_col = (tid % 16) * 4, tile_row = (tid / 16) * kRows;
  if (tid < BLOCK) {
    row_max[tid] = -INFINITY;
    row_sum[tid] = 0.0f;
  }
  float acc[kRows][4] = {};

  for (std::int64_t j0 = 0; j0 < a.d2; j0 += BLOCK) {
    for (int e = tid; e < BLOCK * BLOCK; e += kThreads) {
      const int r = e / BLOCK, j = e % BLOCK;
      // log2 domain: exp(x) = exp2(x log2 e)
      p_tile[r][j] = (i0 + r < a.d1 && j0 + j < a.d2) ? to_float(x[(i0 + r) * a.d2 + j0 + j]) * kLog2e : -INFINITY;
    }
    for (int e = tid; e < BLOCK * kCols; e += kThreads) {
      const int j = e / kCols, c = e % kCols;
      v_tile[j][c] = (j0 + j < a.d2 && c0 + c < a.d3) ? to_float(v[(j0 + j) * a.d3 + c0 + c]) : 0.0f;
    }
    __syncthreads();
    online_softmax_tile<BLOCK, BLOCK, kThreads / 32>(&p_tile[0][0], kStride, row_max, row_sum, row_rescale);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const float rescale = row_rescale[tile_row + i];
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][c] *= rescale;
    }
#pragma unroll 4
    for (int j = 0; j < BLOCK; j += 4) {
      float4 p[kRows];
#pragma unroll
      for (int i = 0; i < kRows; ++i) p[i] = *reinterpret_cast<const float4*>(&p_tile[tile_row + i][j]);
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        const float4 w = *reinterpret_cast<const float4*>(&v_tile[j + jj][tile_col]);
#pragma unroll
        for (int i = 0; i < kRows; ++i) {
          const float pij = jj == 0 ? p[i].x : jj == 1 ? p[i].y : jj == 2 ? p[i].z : p[i].w;
          acc[i][0] += pij * w.x;
          acc[i][1] += pij * w.y;
          acc[i][2] += pij * w.z;
          acc[i][3] += pij * w.w;
        }
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    const int r = tile_row + i;
    if (i0 + r >= a.d1) continue;
    const float inv_sum = 1.0f / row_sum[r];
#pragma unroll
    for (int c = 0; c < 4; ++c)
      if (c0 + tile_col + c < a.d3) out[(i0 + r) * a.d3 + c0 + tile_col + c] = from_float<T>(acc[i][c] * inv_sum);
  }
}

template <class T, int BLOCK>
void launch_fused(const SoftmaxMatmulArgs& a, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>((a.d3 + kCols - 1) / kCols), static_cast<unsigned>((a.d1 + BLOCK - 1) / BLOCK),
                  static_cast<unsigned>(a.batch));
  softmax_matmul_fused_kernel<T, BLOCK><<<grid, kThreads, 0, s>>>(a);
}

}  // namespace

std::size_t softmax_matmul_naive_workspace_bytes(const SoftmaxMatmulArgs& a) {
  const std::size_t es = a.elem == KernelElem::f32 ? 4 : 2;
  return static_cast<std::size_t>(a.batch * a.d1 * a.d2) * es;
}

void softmax_matmul_softmax_pass(const SoftmaxMatmulArgs& a, void* p, int sm_count, cudaStream_t stream) {
  SoftmaxArgs s;
  s.x = a.x;
  s.y = p;
  s.rows = a.batch * a.d1;
  s.cols = a.d2;
  s.elem = a.elem;
  softmax_fused(s, softmax_fused_plan(s.rows, s.cols, a.elem, /*plain=*/true, 0, 0, sm_count), stream);
}

void softmax_matmul_naive(const SoftmaxMatmulArgs& a, void* workspace, int sm_count, cudaStream_t stream) {
  softmax_matmul_softmax_pass(a, workspace, sm_count, stream);
  const GemmBatch batch{a.d1 * a.d2, a.d2 * a.d3, a.d1 * a.d3, 1, 1};
  FA_DISPATCH_ELEM(a.elem, (gemm_nn_tiled<T, T, T, 16>(static_cast<const T*>(workspace), static_cast<const T*>(a.v),
                                                       static_cast<T*>(a.out), a.d1, a.d3, a.d2, a.batch, batch,
                                                       stream)));
}

void softmax_matmul_fused(const SoftmaxMatmulArgs& a, int block, cudaStream_t stream) {
  switch (block) {
    case 16: FA_DISPATCH_ELEM(a.elem, (launch_fused<T, 16>(a, stream))); break;
    case 32: FA_DISPATCH_ELEM(a.elem, (launch_fused<T, 32>(a, stream))); break;
    case 64: FA_DISPATCH_ELEM(a.elem, (launch_fused<T, 64>(a, stream))); break;
  }
}

}  // namespace fabench
