#pragma once
// Small kernels of the generate loop (src/variants/generate_variants.cpp): what sits between the
// cuBLAS projections, the attention forward and the decode kernels.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace fabench {

// The start of a decode step, the same kernel with or without a CUDA graph: reads the step index
// s from *step (device), copies each sequence's token embedding x_steps[b, s, :] into x_cur[b, :],
// sets lengths[b] = prompt_len + s + 1 (the cache length once this step's token is appended), and
// leaves *step = s + 1 for the next step. One block, so reading and advancing the counter need no
// grid-wide ordering. row_bytes: the bytes of one embedding (d_model elements).
void generate_step_begin(const void* x_steps, void* x_cur, int* step, std::int32_t* lengths, std::int64_t batch,
                         std::int64_t steps, std::int64_t prompt_len, std::size_t row_bytes, cudaStream_t stream);

// [batch, heads, seq, head_dim] -> [batch, seq, heads, head_dim] of 2-byte elements (fp16, bf16),
// head_dim a multiple of 8 (16-byte moves): the attention output's layout turned into the rows
// the output projection multiplies. Returns false for a head_dim it cannot move.
bool generate_heads_to_tokens(const void* in, void* out, std::int64_t batch, std::int64_t heads, std::int64_t seq,
                              std::int64_t head_dim, cudaStream_t stream);

}  // namespace fabench
