// The softmax stage of attn.cublas, as a framework's unfused path runs it between two GEMMs:
// S (scores already scaled by the GEMM's alpha, in the input's element type) becomes P in place,
// with the causal mask (bottom-right aligned) applied on the fly and the log-sum-exp written.
// A warp per row, two passes over memory: an online max-and-sum pass, then the normalising write.
#include "kernels/attention/attention.h"
#include "kernels/common/element.cuh"

namespace fabench {

namespace {

template <class T>
__global__ void attention_softmax_rows_kernel(AttentionArgs a, T* s) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= a.batch * a.heads * a.seq_q) return;
  T* p = s + row * a.seq_k;
  const std::int64_t i = row % a.seq_q;
  // Keys past `visible` are masked: causal rows see j <= i + seq_k - seq_q.
  const std::int64_t visible =
      a.causal ? std::min<std::int64_t>(a.seq_k, std::max<std::int64_t>(0, i + a.seq_k - a.seq_q + 1)) : a.seq_k;
  float m = -INFINITY, sum = 0.0f;
  for (std::int64_t j = lane; j < visible; j += 32) {
    const float x = to_float(p[j]);
    const float m_new = fmaxf(m, x);
    sum = sum * __expf(m - m_new) + __expf(x - m_new);
    m = m_new;
  }
  for (int o = 16; o > 0; o /= 2) {
    const float m_other = __shfl_xor_sync(0xffffffffu, m, o), sum_other = __shfl_xor_sync(0xffffffffu, sum, o);
    const float m_new = fmaxf(m, m_other);
    sum = (m == -INFINITY ? 0.0f : sum * __expf(m - m_new)) + (m_other == -INFINITY ? 0.0f : sum_other * __expf(m_other - m_new));
    m = m_new;
  }
  const float inv_sum = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (std::int64_t j = lane; j < a.seq_k; j += 32)
    p[j] = from_float<T>(j < visible ? __expf(to_float(p[j]) - m) * inv_sum : 0.0f);
  if (lane == 0) a.lse[row] = sum > 0.0f ? m + logf(sum) : -INFINITY;
}

}  // namespace

void attention_softmax_rows(const AttentionArgs& a, void* s, cudaStream_t stream) {
  const std::int64_t rows = a.batch * a.heads * a.seq_q;
  const auto blocks = static_cast<unsigned>((rows + 7) / 8);
  FA_DISPATCH_ELEM(a.elem, (attention_softmax_rows_kernel<T><<<blocks, 256, 0, stream>>>(a, static_cast<T*>(s))));
}

}  // namespace fabench
