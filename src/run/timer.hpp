#pragma once
// Timing the way nvbench does: events on a dedicated stream, warm-up, L2 flushed before each
// sample (cold) unless asked otherwise (hot), and a stopping rule.
#include <cuda_runtime_api.h>

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

// Writes a buffer of twice the L2 size between samples so every sample starts cold.
class L2Flusher {
 public:
  explicit L2Flusher(std::size_t l2_bytes);
  void flush(cudaStream_t s);

 private:
  DeviceBuffer scratch_;
  int value_ = 0;
};

// Times launch(stream) under the settings; `flusher` may be null (hot). Throws CudaError.
TimingStats time_on_gpu(const std::function<void(cudaStream_t)>& launch, cudaStream_t stream, L2Flusher* flusher,
                        const TimingSettings& t);

// Times a host function with a steady clock, same stopping rule.
TimingStats time_on_cpu(const std::function<void()>& run, const TimingSettings& t);

}  // namespace fabench
