// The timer's clock probe reads a plausible SM clock, and time_on_gpu reports the clock of the
// samples it kept.
#include <catch2/catch.hpp>

#include "kernels/common/blocking.h"
#include "run/device.hpp"
#include "run/timer.hpp"

using namespace fabench;

namespace {
double nominal_mhz() {
  int khz = 0;
  cuda_check(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0), "clock rate");
  return khz / 1000.0;
}
}  // namespace

TEST_CASE("the clock probe counts cycles over at least its window at a plausible clock", "[gpu][timer]") {
  DeviceBuffer out(sizeof(ClockReading));
  for (unsigned long long window : {2'000ull, 50'000ull}) {
    launch_clock_probe(static_cast<ClockReading*>(out.get()), window, nullptr);
    cuda_check(cudaDeviceSynchronize(), "clock probe");
    ClockReading r;
    cuda_check(cudaMemcpy(&r, out.get(), sizeof r, cudaMemcpyDeviceToHost), "clock probe reading");
    INFO("window " << window << " ns: " << r.cycles << " cycles in " << r.ns << " ns, nominal " << nominal_mhz()
                   << " MHz");
    CHECK(r.ns >= window);
    CHECK(r.ns < window + 5'000);  // ends at the first tick past the window
    CHECK(clock_mhz(r) > 0.1 * nominal_mhz());
    CHECK(clock_mhz(r) < 1.1 * nominal_mhz());
  }
}

TEST_CASE("time_on_gpu gives the kept samples' clock and what it set aside", "[gpu][timer]") {
  DeviceBuffer out(sizeof(ClockReading));
  TimingSettings t;
  t.warmup = 1;
  t.min_samples = 20;
  t.min_time_s = 0;
  t.max_noise = 1;
  t.max_time_s = 5;
  // 20 us of spinning a sample: a launch whose time is known in global-timer terms.
  auto spin = [&](cudaStream_t s) { launch_clock_probe(static_cast<ClockReading*>(out.get()), 20'000, s); };
  const TimingStats stats = time_on_gpu(spin, nullptr, nullptr, t);
  INFO("median " << stats.median_ms << " ms at " << stats.sm_clock_mhz << " MHz, " << stats.throttled
                 << " set aside");
  CHECK(stats.samples >= 1);
  CHECK(stats.samples + stats.throttled >= 20);
  CHECK(stats.median_ms >= 0.020);  // a 20 us spin takes no less (no upper bound: sanitizers slow it)
  CHECK(stats.sm_clock_mhz > 0.1 * nominal_mhz());
  CHECK(stats.sm_clock_mhz < 1.1 * nominal_mhz());
  TimingSettings keep_all = t;
  keep_all.max_clock_drop = 1.0;
  const TimingStats all = time_on_gpu(spin, nullptr, nullptr, keep_all);
  CHECK(all.throttled == 0);
  CHECK(all.samples == 20);
}
