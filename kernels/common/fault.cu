#include "kernels/common/fault.h"

namespace fabench {

namespace {
__global__ void illegal_address_kernel(int* nowhere) { *nowhere = 1; }
}  // namespace

void launch_illegal_address_kernel(cudaStream_t stream) {
  // An address no allocation can hold on a 64-bit device.
  illegal_address_kernel<<<1, 1, 0, stream>>>(reinterpret_cast<int*>(0x10));
}

}  // namespace fabench
