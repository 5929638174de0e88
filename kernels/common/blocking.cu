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

// Waits for the global timer's next tick, counts cycles until a tick at least window_ns later.
// Each end is read within one pass of a polling loop (tens of cycles) after its tick.
__global__ void clock_probe_kernel(ClockReading* out, unsigned long long window_ns) {
  const unsigned long long before = global_ns();
  unsigned long long t0;
  do {
    t0 = global_ns();
  } while (t0 == before);
  const long long c0 = clock64();
  unsigned long long t1;
  do {
    t1 = global_ns();
  } while (t1 - t0 < window_ns);
  const long long c1 = clock64();
  out->cycles = static_cast<unsigned long long>(c1 - c0);
  out->ns = t1 - t0;
}
}  // namespace

void launch_blocking_kernel(const volatile int* flag, unsigned long long timeout_ns, cudaStream_t stream) {
  blocking_kernel<<<1, 1, 0, stream>>>(flag, timeout_ns);
}

void launch_clock_probe(ClockReading* out, unsigned long long window_ns, cudaStream_t stream) {
  clock_probe_kernel<<<1, 1, 0, stream>>>(out, window_ns);
}

}  // namespace fabench
