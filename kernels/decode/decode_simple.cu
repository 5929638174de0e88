// decode v1 (decode.h): seed 001's decode kernel. One block per (batch, KV head), one thread per
// element of d. For every cached token each thread multiplies its query and key elements, the
// block sums them (warp shuffles, then one shared-memory round and a barrier per token) and every
// thread takes the same online-softmax step on its element of o. The group's query rows go four
// at a time, each chunk reading the whole cache again. Nothing overlaps a token's load with the
// previous token's arithmetic, and only batch x KV-head blocks run: the baseline v2 improves on.
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/common/reduce.cuh"
#include "kernels/decode/decode_common.cuh"

namespace fabench {

namespace {

constexpr int kRowsPerPass = 4;
constexpr int kMaxWarps = 8;  // head_dim <= 256
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <class T>
__global__ void decode_simple_kernel(DecodeArgs a, KvRowAddress addr) {
  __shared__ float partial[2][kMaxWarps][kRowsPerPass];  // two buffers: one barrier per token suffices
  const int c = threadIdx.x, lane = c % 32, warp = c / 32, warps = blockDim.x / 32;
  const std::int64_t b = blockIdx.x / a.kv_heads, kvh = blockIdx.x % a.kv_heads;
  const std::int64_t group = a.heads / a.kv_heads, rows = group * a.q_len;
  const std::int64_t length = a.lengths[b];
  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k_cache);
  const T* v = static_cast<const T*>(a.v_cache);
  for (std::int64_t first = 0; first < rows; first += kRowsPerPass) {
    float qc[kRowsPerPass], m[kRowsPerPass], l[kRowsPerPass], o[kRowsPerPass];
    std::int64_t out_row[kRowsPerPass], limit[kRowsPerPass];
    for (int r = 0; r < kRowsPerPass; ++r) {
      const std::int64_t row = first + r;
      const bool valid = row < rows;
      const std::int64_t i = row % a.q_len;
      out_row[r] = valid ? (b * a.heads + kvh * group + row / a.q_len) * a.q_len + i : -1;
      limit[r] = valid ? length - a.q_len + i + 1 : 0;
      qc[r] = valid ? to_float(q[out_row[r] * a.head_dim + c]) * a.scale * kLog2e : 0.0f;
      m[r] = -INFINITY;
      l[r] = 0.0f;
      o[r] = 0.0f;
    }
    for (std::int64_t t = 0; t < length; ++t) {
      const std::int64_t off = addr.offset(b, kvh, t) + c;
      const float kc = to_float(k[off]), vc = to_float(v[off]);
      for (int r = 0; r < kRowsPerPass; ++r) {
        const float dot = warp_sum(qc[r] * kc);
        if (lane == 0) partial[t & 1][warp][r] = dot;
      }
      __syncthreads();
      for (int r = 0; r < kRowsPerPass; ++r) {
        if (t >= limit[r]) continue;
        float s = 0.0f;
        for (int w = 0; w < warps; ++w) s += partial[t & 1][w][r];
        const float m_new = fmaxf(m[r], s);
        const float rescale = exp2f(m[r] - m_new), p = exp2f(s - m_new);
        l[r] = l[r] * rescale + p;
        o[r] = o[r] * rescale + p * vc;
        m[r] = m_new;
      }
    }
    for (int r = 0; r < kRowsPerPass; ++r) {
      if (out_row[r] < 0) continue;
      static_cast<T*>(a.o)[out_row[r] * a.head_dim + c] = from_float<T>(o[r] / l[r]);
      if (c == 0) a.lse[out_row[r]] = (m[r] + log2f(l[r])) * kLn2;
    }
    __syncthreads();  // the next pass reuses the partial buffers
  }
}

}  // namespace

bool decode_simple(const DecodeArgs& a, cudaStream_t stream) {
  const auto& dims = decode_head_dims();
  if (std::find(dims.begin(), dims.end(), a.head_dim) == dims.end()) return false;
  const KvRowAddress addr = kv_row_address(a.kv_heads, a.max_len, a.head_dim, a.page_table, a.page_size);
  const dim3 grid(static_cast<unsigned>(a.batch * a.kv_heads));
  FA_DISPATCH_ELEM(a.elem, decode_simple_kernel<T><<<grid, static_cast<unsigned>(a.head_dim), 0, stream>>>(a, addr));
  return true;
}

}  // namespace fabench
