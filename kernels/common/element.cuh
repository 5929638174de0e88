#pragma once
// Element types kernels are instantiated for, and float conversions for loads and stores.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/common/kernel_types.h"

namespace fabench {

// Host-side dispatch: f called with a value of the element type `elem` names (float, __half or
// __nv_bfloat16); with_elem16 refuses fp32 (tensor-core kernels of 16-bit operands) by returning
// false without calling f.
template <class F>
bool with_elem(KernelElem elem, F&& f) {
  switch (elem) {
    case KernelElem::f32: return f(float{});
    case KernelElem::f16: return f(__half{});
    case KernelElem::bf16: return f(__nv_bfloat16{});
  }
  return false;
}
template <class F>
bool with_elem16(KernelElem elem, F&& f) {
  return elem != KernelElem::f32 && with_elem(elem, [&](auto t) {
    if constexpr (sizeof(t) == 2) {
      return f(t);
    } else {
      return false;
    }
  });
}

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

}  // namespace fabench
