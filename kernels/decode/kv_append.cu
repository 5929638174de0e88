// kv_append (decode.h): the q_len new tokens' K and V rows copied into their cache slots
// lengths[b] - q_len .. lengths[b] - 1, contiguous or through the page table. A block per
// (new token, KV head, sequence), a lane per 8 elements: 16-byte loads and stores.
#include <cuda_runtime.h>

#include "kernels/decode/decode_common.cuh"

namespace fabench {

namespace {

template <class T>
__global__ void kv_append_kernel(KvAppendArgs a, KvRowAddress addr) {
  const std::int64_t i = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const std::int64_t t = a.lengths[b] - a.q_len + i;
  const std::int64_t src = ((b * a.kv_heads + kvh) * a.q_len + i) * a.head_dim + threadIdx.x * 8;
  const std::int64_t dst = addr.offset(b, kvh, t) + threadIdx.x * 8;
  float f[8];
  Vec8<T> x;
  x.load(static_cast<const T*>(a.k_new) + src);
  x.to_floats(f);
  store8(static_cast<T*>(a.k_cache) + dst, f);
  x.load(static_cast<const T*>(a.v_new) + src);
  x.to_floats(f);
  store8(static_cast<T*>(a.v_cache) + dst, f);
}

}  // namespace

bool kv_append(const KvAppendArgs& a, cudaStream_t stream) {
  if (a.head_dim % 8 != 0 || a.head_dim > 8 * 1024 || a.kv_heads > 65535 || a.batch > 65535) return false;
  const KvRowAddress addr = kv_row_address(a.kv_heads, a.max_len, a.head_dim, a.page_table, a.page_size);
  const dim3 grid(static_cast<unsigned>(a.q_len), static_cast<unsigned>(a.kv_heads), static_cast<unsigned>(a.batch));
  FA_DISPATCH_ELEM(a.elem, kv_append_kernel<T><<<grid, static_cast<unsigned>(a.head_dim / 8), 0, stream>>>(a, addr));
  return true;
}

}  // namespace fabench
