#pragma once
// bwd.wgmma (attention_bwd_wgmma.cu): FlashAttention-2's backward on Hopper's warpgroup MMA
// (sm_90a), fp16 and bf16, head dims 64 and 128; dQ accumulated in fp32 by atomics in the
// workspace, then scaled and converted. Arguments and layouts: attention_bwd.h.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "kernels/attention_bwd/attention_bwd.h"

namespace fabench {

// False when the build has no sm_90a code (the kernel needs wgmma).
bool attention_bwd_wgmma_compiled();
// D (one fp32 a query row, rounded up to 4) and the fp32 dQ accumulator.
std::size_t attention_bwd_wgmma_workspace_bytes(const AttentionBwdArgs& a);
// block_q: query rows a step, one of the compiled (head dim, block_q) pairs, or 0 for the first
// compiled for the head dim.
// Shared memory a block needs for a's dtype, head dim and block_q; 0 when not compiled.
std::size_t attention_bwd_wgmma_smem_bytes(const AttentionBwdArgs& a, int block_q);
// The compiled (head dim, block_q) pairs, the default first per head dim.
std::vector<std::pair<int, int>> attention_bwd_wgmma_configs();
// False when not compiled for sm_90a, (dtype, head dim, block_q) is not compiled, or the shared
// memory cannot be granted.
bool attention_bwd_wgmma(const AttentionBwdArgs& a, int block_q, void* workspace, cudaStream_t stream);

// Pipeline 2 (attention_bwd_wgmma_ws.cu): warp-specialized, head dim 128, 64 query rows a step, fp16
// and bf16; the same workspace. Shared memory it needs, 0 where it is not compiled for a's dtype and
// head dim; false when not compiled, or the shared memory, registers or tensor maps are refused.
std::size_t attention_bwd_wgmma_ws_smem_bytes(const AttentionBwdArgs& a);
bool attention_bwd_wgmma_ws(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream);

}  // namespace fabench
