#pragma once
// Timing the way nvbench does: events on a dedicated stream, warm-up, L2 flushed before each
// sample and left clean (cold) unless asked otherwise (dirty, hot), and a stopping rule.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "config/plan.hpp"
#include "core/result.hpp"
#include "run/device.hpp"

namespace fabench {

// Median, mean, standard deviation (n-1), minimum of samples in milliseconds.
TimingStats summarize_samples(std::vector<double> samples_ms);

// Count, sum and (Welford) variance of samples as they arrive: O(1) a sample, so the stopping
// rule can be asked after every one of a short kernel's tens of thousands of samples.
struct RunningSamples {
  int n = 0;
  double sum = 0, mean = 0, m2 = 0;
  void add(double x);
  // Relative standard error of the mean: std / (mean * sqrt(n)). The noise the stopping rule
  // bounds; unlike the relative standard deviation it shrinks as samples accumulate, so short
  // kernels with jittery launches still converge.
  double relative_noise() const;
};
double relative_noise(const std::vector<double>& samples_ms);

// The stopping rule: enough samples, enough measured time and low enough noise, or out of time.
enum class SamplingVerdict { more, done, time_limit };
SamplingVerdict sampling_verdict(const TimingSettings& t, const RunningSamples& samples_ms, double wall_s);
SamplingVerdict sampling_verdict(const TimingSettings& t, const std::vector<double>& samples_ms, double wall_s);

// Which samples ran at a lowered SM clock. The timer probes the clock (launch_clock_probe) just
// before and just after each sample; the lower of the two is the sample's clock. A sample more
// than max_drop below the highest clock seen ran throttled: it is set aside, and the GPU idles
// for a moment before the next (timer.cpp, kThrottlePause). So fa-bench's times are the kernel's
// at the GPU's full clock, as with clocks locked at their maximum, whatever the power controller
// does meanwhile. Why: an H200 cannot hold its 1980 MHz under the heavy kernels at its 700 W
// limit. Run back to back, sparse.wgmma at seq 8k, density 1, settles at 690 W and 1700-1760 MHz
// within about 50 ms; a case of 29 samples finished before or after the cap set in, and its median
// was 1.740 or 1.905 ms from run to run of one binary (results/h200/clock_watch_16d295fb0a6a).
// The highest clock rather than the device's nominal one, so that clocks an administrator locked
// lower are not taken for throttling.
class ClockWatch {
 public:
  void seen(double mhz) { reference_ = std::max(reference_, mhz); }
  bool throttled(double mhz, double max_drop) const { return mhz < (1.0 - max_drop) * reference_; }
  double reference_mhz() const { return reference_; }

 private:
  double reference_ = 0;
};

// The samples of a case with their clocks, split by the clock rule against the final reference
// (a sample taken before the reference rose is judged again): the kept ones' statistics, their
// median clock and how many were set aside. If every sample was throttled (a GPU that holds a
// lowered clock), the statistics are over all of them and `throttled` equals `samples`.
TimingStats summarize_clocked(const std::vector<double>& samples_ms, const std::vector<double>& clocks_mhz,
                              const ClockWatch& watch, double max_drop);

// Empties the L2 of the measured kernel's data between samples (timing.l2):
//  dirty: writes a buffer of twice the L2 size (nvbench's and triton do_bench's flush). The L2 is
//         left full of that buffer's dirty lines, which the measured kernel then pays to write
//         back as it evicts them: on an H200 a 32 MB read took 20.1 us after it, 17.2 us after a
//         clean flush, with 13.4 MB written back.
//  cold:  the same write, then a read pass over a second buffer of twice the L2 size, which
//         evicts the dirty lines (their write-back lands here, before the timed sample) and leaves
//         the L2 holding clean lines that cost nothing to drop.
//  hot:   nothing.
// Why a read pass rather than PTX discard.global.L2 over the written lines (cheaper: no memory
// traffic): a discarded line is one the L2 drops without writing back only if the hardware
// implements it so; the PTX manual promises just indeterminate data. A read pass relies on
// nothing but the L2 replacing lines it must make room for, the same assumption the write pass
// already makes, and the GPU tests prove it reads every byte. It costs about 2 x L2 / bandwidth
// (25 us on an H200) outside the timed region. Cold keeps the write pass first so that cold and
// dirty differ only in the dirty lines, not in what was evicted.
class L2Flusher {
 public:
  explicit L2Flusher(std::size_t l2_bytes);  // allocates both buffers on the current device
  void flush(L2Mode mode, cudaStream_t s);
  std::size_t read_pass_bytes() const { return read_.bytes(); }

 private:
  DeviceBuffer written_, read_, checksum_;
  int sm_count_ = 0;
  int value_ = 0;
};

// Times launch(stream) under the settings, flushing by `flusher` as t.l2 says before each
// sample; `flusher` may be null (never flushed). Each sample's clock is probed and judged by one
// ClockWatch for the process (summarize_clocked). Throws CudaError.
TimingStats time_on_gpu(const std::function<void(cudaStream_t)>& launch, cudaStream_t stream, L2Flusher* flusher,
                        const TimingSettings& t);

// Times a host function with a steady clock, same stopping rule.
TimingStats time_on_cpu(const std::function<void()>& run, const TimingSettings& t);

// Times a self-timed op (OpSpec::self_timed): `warmup` launches, then launches sampled under the
// same stopping rule, each sample being the launch's own LaunchMetrics::total_ms (the wall clock
// only bounds max_time_s). Every sample's metrics are appended to `samples` in order. No CUDA
// calls of its own: `launch` does whatever the sample needs (flush, launch, read its events).
TimingStats time_self_timed(const std::function<LaunchMetrics()>& launch, const TimingSettings& t,
                            std::vector<LaunchMetrics>& samples);

}  // namespace fabench
