#pragma once
// A kernel that faults on purpose (an illegal address: a sticky CUDA error), so the harness's
// fault path can be tested for real. Registered only as a debug variant.
#include <cuda_runtime_api.h>

namespace fabench {
void launch_illegal_address_kernel(cudaStream_t stream);
}  // namespace fabench
