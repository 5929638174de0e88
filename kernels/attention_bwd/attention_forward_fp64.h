#pragma once
// The attention forward in double on the GPU: O and the log-sum-exp that an attention backward
// case takes as inputs, from its Q, K and V (already rounded to the storage type, as float). The
// same sums as the CPU's attention_forward_reference (src/reference), in double, on the device: the
// backward's input preparation costs a fraction of a second instead of the tens of seconds the host
// forward takes at seq 16k while the GPU waits. Not a benchmarked kernel.
// Layouts as attention_bwd.h: q, o [batch, heads, seq_q, d]; k, v [batch, kv_heads, seq_k, d]; lse
// [batch, heads, seq_q], natural log, -inf (and O zeros) for a query that sees no key. Causal:
// query i sees keys j <= i + seq_k - seq_q.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace fabench {

struct AttentionFp64Args {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  double* o = nullptr;
  double* lse = nullptr;
  std::int64_t batch = 1, heads = 1, kv_heads = 1, seq_q = 0, seq_k = 0, head_dim = 0;
  double scale = 1.0;
  bool causal = false;
};

// Head dims 1 to attention_forward_fp64_max_head_dim(). Returns false (launching nothing) for a
// head dim outside that, batch x heads over 65535, or shared memory the device does not grant
// (d 256 takes 165 KiB: an H100 or H200 grants it, an A100 not).
std::size_t attention_forward_fp64_smem_bytes(int head_dim);
int attention_forward_fp64_max_head_dim();
bool attention_forward_fp64(const AttentionFp64Args& a, cudaStream_t stream);

}  // namespace fabench
