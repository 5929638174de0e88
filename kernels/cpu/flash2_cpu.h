#pragma once
// FlashAttention-2 Algorithm 1 on the CPU (Dao 2023, section 3.1; seed 003's "unparallelized C"):
// for each Br-row tile of Q, stream Bc-row tiles of K and V, keep the running max m, running sum l
// and the unnormalised output in a Br x d buffer, rescale when the max grows, divide by l once at
// the end. Memory beyond inputs and outputs: Br*d + Br*Bc + 2*Br floats, independent of seq.
#include <cstdint>

namespace fabench {

struct CpuAttentionArgs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* o = nullptr;
  float* lse = nullptr;
  std::int64_t batch = 1, heads = 1, kv_heads = 1, seq_q = 0, seq_k = 0, head_dim = 0;
  bool causal = false;  // bottom-right aligned, as the GPU kernels
  float scale = 1.0f;
};

void flash2_cpu(const CpuAttentionArgs& a, int block_m, int block_n);

}  // namespace fabench
