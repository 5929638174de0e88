#pragma once
// Device helpers shared by the decode kernels: where a cached token's row lives, and 8-element
// vectors read with 16-byte loads.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/common/element.cuh"
#include "kernels/decode/decode.h"

namespace fabench {

// Element offset of token t's row of KV head kvh of sequence b, contiguous or paged (decode.h).
struct KvRowAddress {
  std::int64_t kv_heads, max_len, head_dim;
  const std::int32_t* page_table;  // null: contiguous
  int page_size, pages_per_seq;

  __device__ __forceinline__ std::int64_t offset(std::int64_t b, std::int64_t kvh, std::int64_t t) const {
    if (page_table == nullptr) return ((b * kv_heads + kvh) * max_len + t) * head_dim;
    const std::int64_t page = __ldg(page_table + b * pages_per_seq + t / page_size);
    return ((page * kv_heads + kvh) * page_size + t % page_size) * head_dim;
  }
};

inline KvRowAddress kv_row_address(std::int64_t kv_heads, std::int64_t max_len, std::int64_t head_dim,
                                   const std::int32_t* page_table, int page_size) {
  const int pages = page_size > 0 ? static_cast<int>((max_len + page_size - 1) / page_size) : 0;
  return {kv_heads, max_len, head_dim, page_size > 0 ? page_table : nullptr, page_size > 0 ? page_size : 1, pages};
}

// Eight consecutive elements read with 16-byte loads (two for fp32). Kept in their storage type
// until used, so a 16-bit vector costs 4 registers in flight instead of 8.
template <class T>
struct Vec8;

template <>
struct Vec8<float> {
  float4 lo, hi;
  __device__ __forceinline__ void load(const float* p) {
    lo = __ldg(reinterpret_cast<const float4*>(p));
    hi = __ldg(reinterpret_cast<const float4*>(p) + 1);
  }
  __device__ __forceinline__ void load_shared(const float* p) {
    lo = reinterpret_cast<const float4*>(p)[0];
    hi = reinterpret_cast<const float4*>(p)[1];
  }
  __device__ __forceinline__ void zero() { lo = hi = make_float4(0, 0, 0, 0); }
  __device__ __forceinline__ void to_floats(float* f) const {
    f[0] = lo.x, f[1] = lo.y, f[2] = lo.z, f[3] = lo.w, f[4] = hi.x, f[5] = hi.y, f[6] = hi.z, f[7] = hi.w;
  }
};

template <class T>
struct Vec8 {  // __half and __nv_bfloat16
  uint4 raw;
  __device__ __forceinline__ void load(const T* p) { raw = __ldg(reinterpret_cast<const uint4*>(p)); }
  __device__ __forceinline__ void load_shared(const T* p) { raw = *reinterpret_cast<const uint4*>(p); }
  __device__ __forceinline__ void zero() { raw = make_uint4(0, 0, 0, 0); }
  __device__ __forceinline__ void to_floats(float* f) const {
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = to_float(e[i]);
  }
};

template <class T>
__device__ __forceinline__ void store8(T* p, const float* f) {
  if constexpr (sizeof(T) == 4) {
    reinterpret_cast<float4*>(p)[0] = make_float4(f[0], f[1], f[2], f[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(f[4], f[5], f[6], f[7]);
  } else {
    uint4 raw;
    T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int i = 0; i < 8; ++i) e[i] = from_float<T>(f[i]);
    *reinterpret_cast<uint4*>(p) = raw;
  }
}

}  // namespace fabench
