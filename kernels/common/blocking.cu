#include "kernels/common/blocking.h"

namespace fabench {

namespace {
__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void blocking_kernel(const volatile int* flag, unsigned long long timeout_ns) {
  const unsigned long long start = global_ns();
  while (*flag == 0 && global_ns() - start < timeout_ns) {
  }
}
}  // namespace

void launch_blocking_kernel(const volatile int* flag, unsigned long long timeout_ns, cudaStream_t stream) {
  blocking_kernel<<<1, 1, 0, stream>>>(flag, timeout_ns);
}

}  // namespace fabench
