#pragma once
// A kernel instance's dynamic shared memory above the 48 KiB default, asked once per instance: the
// attribute does not change between launches, and launches inside timed regions should not pay
// for it again.
#include <cuda_runtime.h>

namespace fabench {

// True when KERNEL may use BYTES of dynamic shared memory; a refusal is cleared (it is not sticky)
// so the caller can report the case unsupported.
template <auto KERNEL, int BYTES>
bool smem_granted() {
  static const bool granted =
      cudaFuncSetAttribute(KERNEL, cudaFuncAttributeMaxDynamicSharedMemorySize, BYTES) == cudaSuccess;
  if (!granted) cudaGetLastError();
  return granted;
}

}  // namespace fabench
