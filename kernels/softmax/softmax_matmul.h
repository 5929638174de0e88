#pragma once
// softmax(X) @ V per batch (seed 004 part 1): X [batch, d1, d2], V [batch, d2, d3], out [batch, d1, d3].
//
// Versions:
//   softmax_matmul.naive: softmax.fused writes P = softmax(X) to device memory, then the tiled
//                         CUDA-core GEMM (kernels/common/gemm_tiled.cuh) computes P V.
//   softmax_matmul.fused: one kernel, online softmax: BLOCK rows of X stream over d2 in BLOCK-wide
//                         tiles with a running max and sum, the output accumulator rescaled per tile
//                         and divided by the sum once at the end; P never reaches memory.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace fabench {

struct SoftmaxMatmulArgs {
  const void* x = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  std::int64_t batch = 1, d1 = 0, d2 = 0, d3 = 0;
  KernelElem elem = KernelElem::f32;
};

// The naive version's workspace: P in the element type.
std::size_t softmax_matmul_naive_workspace_bytes(const SoftmaxMatmulArgs& a);
// Writes P = softmax(X) row-wise into `p` (the workspace), with softmax.fused's kernel.
void softmax_matmul_softmax_pass(const SoftmaxMatmulArgs& a, void* p, int sm_count, cudaStream_t stream);
void softmax_matmul_naive(const SoftmaxMatmulArgs& a, void* workspace, int sm_count, cudaStream_t stream);
// block: rows of X per block and the d2 tile, 16, 32 or 64.
void softmax_matmul_fused(const SoftmaxMatmulArgs& a, int block, cudaStream_t stream);

}  // namespace fabench
