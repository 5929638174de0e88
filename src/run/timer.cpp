#include "run/timer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <atomic>
#include <numeric>

#include "kernels/common/blocking.h"
#include "kernels/common/stream_read.h"

namespace fabench {

TimingStats summarize_samples(std::vector<double> s) {
  TimingStats t;
  t.samples = static_cast<int>(s.size());
  if (s.empty()) return t;
  std::sort(s.begin(), s.end());
  std::size_t n = s.size();
  t.median_ms = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  t.min_ms = s.front();
  double sum = std::accumulate(s.begin(), s.end(), 0.0);
  t.mean_ms = sum / static_cast<double>(n);
  double ss = 0;
  for (double x : s) ss += (x - t.mean_ms) * (x - t.mean_ms);
  t.std_ms = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
  t.total_s = sum / 1000.0;
  return t;
}

void RunningSamples::add(double x) {
  ++n;
  sum += x;
  const double delta = x - mean;
  mean += delta / n;
  m2 += delta * (x - mean);
}

double RunningSamples::relative_noise() const {
  if (n < 2 || mean <= 0) return INFINITY;
  return std::sqrt(m2 / (n - 1)) / (mean * std::sqrt(static_cast<double>(n)));
}

namespace {
RunningSamples running(const std::vector<double>& s) {
  RunningSamples r;
  for (double x : s) r.add(x);
  return r;
}
}  // namespace

double relative_noise(const std::vector<double>& s) { return running(s).relative_noise(); }

SamplingVerdict sampling_verdict(const TimingSettings& t, const RunningSamples& s, double wall_s) {
  const bool enough = s.n >= t.min_samples && s.sum / 1000.0 >= t.min_time_s && s.relative_noise() <= t.max_noise;
  if (enough) return SamplingVerdict::done;
  if (wall_s >= t.max_time_s) return SamplingVerdict::time_limit;
  return SamplingVerdict::more;
}

SamplingVerdict sampling_verdict(const TimingSettings& t, const std::vector<double>& s, double wall_s) {
  return sampling_verdict(t, running(s), wall_s);
}

namespace {
std::size_t flush_bytes(std::size_t l2_bytes) { return std::max<std::size_t>(2 * l2_bytes, 1 << 20); }
}  // namespace

L2Flusher::L2Flusher(std::size_t l2_bytes)
    : written_(flush_bytes(l2_bytes)), read_(flush_bytes(l2_bytes)), checksum_(sizeof(unsigned long long)) {
  int device = 0;
  cuda_check(cudaGetDevice(&device), "cudaGetDevice");
  cuda_check(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device), "SM count");
  // Allocated here, not on first use: cudaMalloc inside the sampling loop could wait for the
  // stream the timer holds.
  cuda_check(cudaMemset(read_.get(), 0, read_.bytes()), "L2 flush read buffer");
  cuda_check(cudaDeviceSynchronize(), "L2 flush read buffer");
}

void L2Flusher::flush(L2Mode mode, cudaStream_t s) {
  if (mode == L2Mode::hot) return;
  value_ ^= 1;  // alternate the value so no write can be elided as a repeat
  cuda_check(cudaMemsetAsync(written_.get(), value_, written_.bytes(), s), "L2 flush");
  if (mode == L2Mode::dirty) return;
  cuda_check(stream_read_launch(read_.get(), read_.bytes(), static_cast<unsigned long long*>(checksum_.get()),
                                kChecksumNever, kFlushReadShape, sm_count_, s),
             "L2 flush read pass");
}

namespace {
class Events {
 public:
  Events() {
    cuda_check(cudaEventCreate(&start), "cudaEventCreate");
    cuda_check(cudaEventCreate(&stop), "cudaEventCreate");
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  cudaEvent_t start = nullptr, stop = nullptr;
};
// A host-mapped flag the blocking kernel polls; one per process, allocated on first use.
volatile int* blocking_flag(int** device_ptr) {
  static int* host = nullptr;
  static int* device = nullptr;
  if (!host) {
    cuda_check(cudaHostAlloc(reinterpret_cast<void**>(&host), sizeof(int), cudaHostAllocMapped), "cudaHostAlloc");
    cuda_check(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device), host, 0), "cudaHostGetDevicePointer");
  }
  *device_ptr = device;
  return host;
}
constexpr unsigned long long kBlockingTimeoutNs = 200'000'000;  // 0.2 s

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TimingStats time_on_gpu(const std::function<void(cudaStream_t)>& launch, cudaStream_t stream, L2Flusher* flusher,
                        const TimingSettings& t) {
  Events ev;
  for (int i = 0; i < t.warmup; ++i) launch(stream);
  cuda_check(cudaStreamSynchronize(stream), "warm-up");
  cuda_check(cudaGetLastError(), "warm-up launch");
  int* flag_device = nullptr;
  volatile int* flag = blocking_flag(&flag_device);
  std::vector<double> samples;
  RunningSamples running_stats;
  auto t0 = std::chrono::steady_clock::now();
  SamplingVerdict verdict;
  while ((verdict = sampling_verdict(t, running_stats, seconds_since(t0))) == SamplingVerdict::more) {
    // Hold the stream, queue flush + start + launch + stop, then release it: the sample measures
    // the GPU's work, not the host's launch latency.
    *flag = 0;
    launch_blocking_kernel(flag_device, kBlockingTimeoutNs, stream);
    if (flusher) flusher->flush(t.l2, stream);
    cuda_check(cudaEventRecord(ev.start, stream), "cudaEventRecord");
    launch(stream);
    cuda_check(cudaEventRecord(ev.stop, stream), "cudaEventRecord");
    std::atomic_thread_fence(std::memory_order_seq_cst);
    *flag = 1;
    cuda_check(cudaEventSynchronize(ev.stop), "timed launch");
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, ev.start, ev.stop), "cudaEventElapsedTime");
    samples.push_back(ms);
    running_stats.add(ms);
  }
  cuda_check(cudaGetLastError(), "timed launch");
  TimingStats stats = summarize_samples(samples);
  stats.hit_time_limit = verdict == SamplingVerdict::time_limit;
  return stats;
}

TimingStats time_on_cpu(const std::function<void()>& run, const TimingSettings& t) {
  for (int i = 0; i < std::min(t.warmup, 1); ++i) run();  // one warm-up: the host has no module loading
  std::vector<double> samples;
  RunningSamples running_stats;
  auto t0 = std::chrono::steady_clock::now();
  SamplingVerdict verdict;
  while ((verdict = sampling_verdict(t, running_stats, seconds_since(t0))) == SamplingVerdict::more) {
    auto s0 = std::chrono::steady_clock::now();
    run();
    samples.push_back(seconds_since(s0) * 1000.0);
    running_stats.add(samples.back());
  }
  TimingStats stats = summarize_samples(samples);
  stats.hit_time_limit = verdict == SamplingVerdict::time_limit;
  return stats;
}

TimingStats time_self_timed(const std::function<LaunchMetrics()>& launch, const TimingSettings& t,
                            std::vector<LaunchMetrics>& samples) {
  for (int i = 0; i < t.warmup; ++i) launch();
  std::vector<double> totals;
  RunningSamples running_stats;
  auto t0 = std::chrono::steady_clock::now();
  SamplingVerdict verdict;
  while ((verdict = sampling_verdict(t, running_stats, seconds_since(t0))) == SamplingVerdict::more) {
    samples.push_back(launch());
    totals.push_back(samples.back().total_ms);
    running_stats.add(totals.back());
  }
  TimingStats stats = summarize_samples(totals);
  stats.hit_time_limit = verdict == SamplingVerdict::time_limit;
  return stats;
}

}  // namespace fabench
