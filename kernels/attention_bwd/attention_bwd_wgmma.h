#pragma once
// bwd.wgmma (attention_bwd_wgmma.cu): FlashAttention-2's backward on Hopper's warpgroup MMA
// (sm_90a), fp16 and bf16, head dims 64 and 128; dQ accumulated in fp32 by atomics in the
// workspace, then scaled and converted. Arguments and layouts: attention_bwd.h.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <vector>

#include "kernels/attention_bwd/attention_bwd.h"

namespace fabench {

// False when the build has no sm_90a code (the kernel needs wgmma).
bool attention_bwd_wgmma_compiled();
// D (one fp32 a query row, rounded up to 4) and the fp32 dQ accumulator.
std::size_t attention_bwd_wgmma_workspace_bytes(const AttentionBwdArgs& a);
// A compiled configuration: query rows a step (block_q) and keys a block (block_k: 128 is two
// warpgroups a block, 64 one warpgroup and two blocks an SM).
struct BwdWgmmaConfig {
  int head_dim, block_q, block_k;
};
// block_q, block_k: one of the compiled configurations for the head dim, or 0 for the first
// compiled for the head dim that matches the other.
// Shared memory a block needs for a's dtype, head dim, block_q and block_k; 0 when not compiled.
std::size_t attention_bwd_wgmma_smem_bytes(const AttentionBwdArgs& a, int block_q, int block_k);
// The compiled configurations, the default first per head dim.
std::vector<BwdWgmmaConfig> attention_bwd_wgmma_configs();
// False when not compiled for sm_90a, (dtype, head dim, block_q, block_k) is not compiled, or the
// shared memory cannot be granted.
bool attention_bwd_wgmma(const AttentionBwdArgs& a, int block_q, int block_k, void* workspace, cudaStream_t stream);

}  // namespace fabench
