#pragma once
// Plain host-visible types shared by kernel launchers; no CUDA device code here.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace fabench {

// What a tensor holds, as a launcher sees it. The harness maps its dtypes onto these.
enum class KernelElem { f32, f16, bf16 };

}  // namespace fabench

// Dispatch on a KernelElem: runs the body with `T` as the matching device type.
#define FA_DISPATCH_ELEM(elem, ...)              \
  switch (elem) {                                \
    case ::fabench::KernelElem::f32: {           \
      using T = float;                           \
      __VA_ARGS__;                               \
      break;                                     \
    }                                            \
    case ::fabench::KernelElem::f16: {           \
      using T = __half;                          \
      __VA_ARGS__;                               \
      break;                                     \
    }                                            \
    case ::fabench::KernelElem::bf16: {          \
      using T = __nv_bfloat16;                   \
      __VA_ARGS__;                               \
      break;                                     \
    }                                            \
  }
