// The generate loop's own small kernels (generate.h).
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/generate/generate.h"

namespace fabench {

namespace {

__global__ void step_begin_kernel(const unsigned char* x_steps, unsigned char* x_cur, int* step,
                                  std::int32_t* lengths, std::int64_t batch, std::int64_t steps,
                                  std::int64_t prompt_len, std::size_t row_bytes) {
  __shared__ int s;
  if (threadIdx.x == 0) s = *step;
  __syncthreads();
  const std::int64_t row = s < steps ? s : steps - 1;  // never read past x_steps
  for (std::int64_t b = 0; b < batch; ++b) {
    const unsigned char* src = x_steps + (b * steps + row) * row_bytes;
    unsigned char* dst = x_cur + b * row_bytes;
    if (row_bytes % 16 == 0 && (reinterpret_cast<std::uintptr_t>(src) | reinterpret_cast<std::uintptr_t>(dst)) % 16 == 0) {
      for (std::size_t i = threadIdx.x; i < row_bytes / 16; i += blockDim.x)
        reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(src)[i];
    } else {
      for (std::size_t i = threadIdx.x; i < row_bytes; i += blockDim.x) dst[i] = src[i];
    }
  }
  for (std::int64_t b = threadIdx.x; b < batch; b += blockDim.x)
    lengths[b] = static_cast<std::int32_t>(prompt_len + s + 1);
  __syncthreads();  // every thread has read s before it moves on
  if (threadIdx.x == 0) *step = s + 1;
}

__global__ void heads_to_tokens_kernel(const uint4* in, uint4* out, std::int64_t heads, std::int64_t seq,
                                       std::int64_t vecs_per_row, std::int64_t total) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    // i walks the output [b, t, h, v]: consecutive threads write consecutive 16-byte vectors.
    const std::int64_t v = i % vecs_per_row;
    const std::int64_t h = (i / vecs_per_row) % heads;
    const std::int64_t t = (i / (vecs_per_row * heads)) % seq;
    const std::int64_t b = i / (vecs_per_row * heads * seq);
    out[i] = in[((b * heads + h) * seq + t) * vecs_per_row + v];
  }
}

}  // namespace

void generate_step_begin(const void* x_steps, void* x_cur, int* step, std::int32_t* lengths, std::int64_t batch,
                         std::int64_t steps, std::int64_t prompt_len, std::size_t row_bytes, cudaStream_t stream) {
  step_begin_kernel<<<1, 256, 0, stream>>>(static_cast<const unsigned char*>(x_steps),
                                           static_cast<unsigned char*>(x_cur), step, lengths, batch, steps,
                                           prompt_len, row_bytes);
}

bool generate_heads_to_tokens(const void* in, void* out, std::int64_t batch, std::int64_t heads, std::int64_t seq,
                              std::int64_t head_dim, cudaStream_t stream) {
  if (head_dim % 8 != 0) return false;
  const std::int64_t vecs_per_row = head_dim / 8;
  const std::int64_t total = batch * heads * seq * vecs_per_row;
  if (total == 0) return true;
  const int threads = 256;
  const std::int64_t blocks = std::min<std::int64_t>((total + threads - 1) / threads, 65536);
  heads_to_tokens_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<const uint4*>(in), static_cast<uint4*>(out), heads, seq, vecs_per_row, total);
  return true;
}

}  // namespace fabench
