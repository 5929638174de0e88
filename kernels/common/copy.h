#pragma once
// The device-to-device copy `fa-bench calibrate` measures: the bandwidth ceiling for memory-bound ops.
#include <cuda_runtime_api.h>

#include <cstddef>

namespace fabench {

// Copies `bytes` (a multiple of 16, both pointers 16-byte aligned) with 16-byte loads and stores.
void copy_kernel_launch(const void* src, void* dst, std::size_t bytes, int sm_count, cudaStream_t stream);

}  // namespace fabench
