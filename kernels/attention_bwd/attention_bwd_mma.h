#pragma once
// bwd.fa2_mma (attention_bwd_mma.cu): FlashAttention-2's backward on tensor cores, fp16 and bf16,
// head dims 64 and 128. dQ is accumulated in fp32 by atomics in the workspace, then scaled and
// converted, or (deterministic) computed by a second pass without atomics. Arguments and layouts:
// attention_bwd.h.
#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/attention_bwd/attention_bwd.h"

namespace fabench {

// D (one fp32 a query row, rounded up to 4) and, unless deterministic, the fp32 dQ accumulator.
std::size_t attention_bwd_mma_workspace_bytes(const AttentionBwdArgs& a, bool deterministic);
// Shared memory a block needs for a's dtype and head dim; 0 when not compiled.
std::size_t attention_bwd_mma_smem_bytes(const AttentionBwdArgs& a);
// deterministic: dQ by a second pass that owns its rows instead of atomics (the same bits every
// run). False when (dtype, head dim) is not compiled or the shared memory cannot be granted.
bool attention_bwd_mma(const AttentionBwdArgs& a, void* workspace, bool deterministic, cudaStream_t stream);

}  // namespace fabench
