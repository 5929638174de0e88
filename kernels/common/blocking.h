#pragma once
// nvbench's blocking kernel: holds a stream until the host sets a flag, so every launch of a
// timed sample is queued before the GPU starts it and host launch latency stays out of the timing.
#include <cuda_runtime_api.h>

namespace fabench {

// Spins until *flag != 0 or timeout_ns passed (so a launcher that synchronises cannot deadlock).
void launch_blocking_kernel(const volatile int* flag, unsigned long long timeout_ns, cudaStream_t stream);

}  // namespace fabench
