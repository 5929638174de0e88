#include "run/timer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <atomic>
#include <numeric>
#include <thread>

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

namespace {
double median_of(std::vector<double> xs) { return xs.empty() ? 0.0 : summarize_samples(std::move(xs)).median_ms; }
}  // namespace

TimingStats summarize_clocked(const std::vector<double>& samples_ms, const std::vector<double>& clocks_mhz,
                              const ClockWatch& watch, double max_drop) {
  std::vector<double> kept, kept_clocks;
  for (std::size_t i = 0; i < samples_ms.size(); ++i)
    if (!watch.throttled(clocks_mhz[i], max_drop)) {
      kept.push_back(samples_ms[i]);
      kept_clocks.push_back(clocks_mhz[i]);
    }
  const bool all_throttled = kept.empty();
  TimingStats stats = summarize_samples(all_throttled ? samples_ms : kept);
  stats.sm_clock_mhz = median_of(all_throttled ? clocks_mhz : kept_clocks);
  stats.throttled = static_cast<int>(samples_ms.size() - kept.size());
  return stats;
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

// Two host-mapped clock readings (before and after a sample) the probe writes; one pair per
// process, allocated on first use.
ClockReading* clock_readings() {
  static ClockReading* readings = nullptr;
  if (!readings)
    cuda_check(cudaHostAlloc(reinterpret_cast<void**>(&readings), 2 * sizeof(ClockReading), cudaHostAllocMapped),
               "cudaHostAlloc");
  return readings;
}
// Long enough for a tick of the global timer not to matter (8 of an H200's 256 ns), short
// against the L2 flush each sample already waits for.
constexpr unsigned long long kClockProbeNs = 2'000;
double probed_mhz(const ClockReading* r) {
  const volatile ClockReading* v = r;  // written by the GPU through the mapping
  return clock_mhz(ClockReading{v->cycles, v->ns});
}
// After a throttled sample the GPU idles this long before the next (nvbench's throttle recovery
// delay): the power cap reacts to power averaged over tens of milliseconds, so a heavy kernel run
// back to back holds the clock down (sparse.wgmma at seq 8k, density 1, on an H200: 690 W and
// 1700-1760 MHz after about 50 ms of samples), while after an idle spell its next samples run at
// the full clock again.
constexpr std::chrono::milliseconds kThrottlePause{50};
ClockWatch& process_clock_watch() {
  static ClockWatch watch;
  return watch;
}

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
  ClockReading* probe = clock_readings();
  ClockReading* probe_device = nullptr;
  cuda_check(cudaHostGetDevicePointer(reinterpret_cast<void**>(&probe_device), probe, 0), "cudaHostGetDevicePointer");
  ClockWatch& watch = process_clock_watch();
  std::vector<double> samples, clocks;
  RunningSamples kept;  // the samples the clock rule keeps so far: what the stopping rule sees
  auto t0 = std::chrono::steady_clock::now();
  SamplingVerdict verdict;
  while ((verdict = sampling_verdict(t, kept, seconds_since(t0))) == SamplingVerdict::more) {
    // Hold the stream, queue flush + clock probe + start + launch + stop + clock probe, then
    // release it: the sample measures the GPU's work, not the host's launch latency.
    *flag = 0;
    launch_blocking_kernel(flag_device, kBlockingTimeoutNs, stream);
    if (flusher) flusher->flush(t.l2, stream);
    launch_clock_probe(probe_device, kClockProbeNs, stream);
    cuda_check(cudaEventRecord(ev.start, stream), "cudaEventRecord");
    launch(stream);
    cuda_check(cudaEventRecord(ev.stop, stream), "cudaEventRecord");
    launch_clock_probe(probe_device + 1, kClockProbeNs, stream);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    *flag = 1;
    cuda_check(cudaStreamSynchronize(stream), "timed launch");
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, ev.start, ev.stop), "cudaEventElapsedTime");
    const double before = probed_mhz(probe), after = probed_mhz(probe + 1), reference = watch.reference_mhz();
    watch.seen(before);
    watch.seen(after);
    samples.push_back(ms);
    clocks.push_back(std::min(before, after));
    const bool throttled = watch.throttled(clocks.back(), t.max_clock_drop);
    if (watch.reference_mhz() != reference) {  // a higher reference may set aside samples counted before
      kept = RunningSamples{};
      for (std::size_t i = 0; i < samples.size(); ++i)
        if (!watch.throttled(clocks[i], t.max_clock_drop)) kept.add(samples[i]);
    } else if (!throttled) {
      kept.add(ms);
    }
    if (throttled) std::this_thread::sleep_for(kThrottlePause);
  }
  cuda_check(cudaGetLastError(), "timed launch");
  TimingStats stats = summarize_clocked(samples, clocks, watch, t.max_clock_drop);
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
