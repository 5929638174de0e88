#pragma once
// The timer's own kernels (src/run/timer.cpp), one thread each.
//  - nvbench's blocking kernel: holds a stream until the host sets a flag, so every launch of a
//    timed sample is queued before the GPU starts it and host launch latency stays out of the
//    timing.
//  - A clock probe: the SM clock over a few microseconds, so that the timer can tell a sample the
//    GPU ran at a lowered clock (the power controller's caps when a heavy kernel starts after an
//    idle spell) from one at its usual clock.
#include <cuda_runtime_api.h>

namespace fabench {

// Spins until *flag != 0 or timeout_ns passed (so a launcher that synchronises cannot deadlock).
void launch_blocking_kernel(const volatile int* flag, unsigned long long timeout_ns, cudaStream_t stream);

// SM cycles (clock64) counted over ns nanoseconds of the global timer, both ends taken at a tick
// of the global timer (it advances in steps of up to a microsecond on some GPUs, 256 ns on an
// H200), so the tick's size does not enter the ratio.
struct ClockReading {
  unsigned long long cycles = 0, ns = 0;
};
inline double clock_mhz(const ClockReading& r) {
  return r.ns > 0 ? 1e3 * static_cast<double>(r.cycles) / static_cast<double>(r.ns) : 0.0;
}

// Writes a reading over at least window_ns into *out (device or host-mapped memory).
void launch_clock_probe(ClockReading* out, unsigned long long window_ns, cudaStream_t stream);

}  // namespace fabench
