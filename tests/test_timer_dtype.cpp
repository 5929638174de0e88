// Timing statistics, the stopping rule, and fp16/bf16 conversions.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/dtype.hpp"
#include "run/timer.hpp"

using namespace fabench;

TEST_CASE("summary statistics of samples", "[timer]") {
  TimingStats s = summarize_samples({4, 1, 3, 2});
  CHECK(s.samples == 4);
  CHECK(s.median_ms == Approx(2.5));
  CHECK(s.mean_ms == Approx(2.5));
  CHECK(s.min_ms == Approx(1));
  CHECK(s.std_ms == Approx(std::sqrt(5.0 / 3.0)));
  CHECK(summarize_samples({5, 1, 9}).median_ms == Approx(5));
  CHECK(summarize_samples({}).samples == 0);
}

TEST_CASE("the stopping rule needs samples, time and low noise, or runs out of time", "[timer]") {
  TimingSettings t;
  t.min_samples = 5;
  t.min_time_s = 0.004;
  t.max_noise = 0.01;
  t.max_time_s = 1;
  std::vector<double> steady(5, 1.0);  // 5 samples of 1 ms: 5 ms measured, no noise
  CHECK(sampling_verdict(t, steady, 0.1) == SamplingVerdict::done);
  CHECK(sampling_verdict(t, std::vector<double>(4, 1.0), 0.1) == SamplingVerdict::more);
  CHECK(sampling_verdict(t, std::vector<double>(5, 0.1), 0.1) == SamplingVerdict::more);  // 0.5 ms < min_time
  std::vector<double> noisy = {1, 2, 1, 2, 1, 2};
  CHECK(relative_noise(noisy) > 0.01);
  CHECK(sampling_verdict(t, noisy, 0.1) == SamplingVerdict::more);
  CHECK(sampling_verdict(t, noisy, 1.5) == SamplingVerdict::time_limit);
  // Noise is the standard error of the mean: it shrinks as samples accumulate.
  std::vector<double> many;
  for (int i = 0; i < 20000; ++i) many.push_back(i % 2 ? 1.0 : 2.0);
  CHECK(relative_noise(many) < 0.01);
}

TEST_CASE("time_on_cpu honours the stopping rule", "[timer]") {
  TimingSettings t;
  t.warmup = 1;
  t.min_samples = 7;
  t.min_time_s = 0;
  t.max_noise = 1;
  int calls = 0;
  TimingStats s = time_on_cpu([&] { ++calls; }, t);
  CHECK(s.samples == 7);
  CHECK(calls == 8);
  CHECK_FALSE(s.hit_time_limit);
}

TEST_CASE("the clock rule sets aside samples run below the highest clock seen", "[timer]") {
  ClockWatch watch;
  for (double mhz : {1800.0, 1980.0, 1965.0}) watch.seen(mhz);
  CHECK(watch.reference_mhz() == 1980.0);
  CHECK_FALSE(watch.throttled(1965.0, 0.03));  // one step of the H200's clock below: kept
  CHECK_FALSE(watch.throttled(1920.6, 0.03));  // exactly 3% below
  CHECK(watch.throttled(1920.0, 0.03));
  CHECK(watch.throttled(1800.0, 0.03));
  CHECK_FALSE(watch.throttled(1800.0, 1.0));  // max_clock_drop 1 keeps every sample

  // A sample kept while the reference was lower is judged again against the final one.
  const std::vector<double> ms = {1.90, 1.74, 1.91, 1.74, 1.73, 1.74}, mhz = {1800, 1980, 1790, 1965, 1980, 1980};
  TimingStats s = summarize_clocked(ms, mhz, watch, 0.03);
  CHECK(s.samples == 4);
  CHECK(s.throttled == 2);
  CHECK(s.median_ms == Approx(1.74));
  CHECK(s.sm_clock_mhz == Approx(1980));
  TimingStats all = summarize_clocked(ms, mhz, watch, 1.0);
  CHECK(all.samples == 6);
  CHECK(all.throttled == 0);
  CHECK(all.median_ms == Approx(1.74));

  // Every sample throttled (a GPU holding a lowered clock): they are the statistics, and say so.
  TimingStats low = summarize_clocked({2.0, 2.2, 2.1}, {1500, 1500, 1510}, watch, 0.03);
  CHECK(low.samples == 3);
  CHECK(low.throttled == 3);
  CHECK(low.median_ms == Approx(2.1));
  CHECK(low.sm_clock_mhz == Approx(1500));
  CHECK(summarize_clocked({}, {}, watch, 0.03).samples == 0);
}

TEST_CASE("fp16 and bf16 conversions round to nearest even", "[dtype]") {
  CHECK(float_to_half_bits(1.0f) == 0x3c00);
  CHECK(float_to_half_bits(-2.0f) == 0xc000);
  CHECK(float_to_half_bits(65504.0f) == 0x7bff);
  CHECK(float_to_half_bits(1e6f) == 0x7c00);              // overflow to inf
  CHECK(float_to_half_bits(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(float_to_half_bits(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie to even (down)
  CHECK(float_to_half_bits(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie to even (up)
  CHECK(std::isnan(half_bits_to_float(float_to_half_bits(NAN))));
  for (float v : {0.1f, -3.75f, 1234.5f, 6.1e-5f, 3e-7f}) {
    float back = half_bits_to_float(float_to_half_bits(v));
    CHECK(back == Approx(v).epsilon(1e-3).margin(6e-8));
  }
  CHECK(float_to_bf16_bits(1.0f) == 0x3f80);
  CHECK(bf16_bits_to_float(float_to_bf16_bits(3.14159f)) == Approx(3.140625f));
  CHECK(float_to_bf16_bits(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);  // tie to even
  CHECK(std::isnan(bf16_bits_to_float(float_to_bf16_bits(NAN))));
  CHECK(std::isnan(half_bits_to_float(0xFFFF)));  // the poison pattern is NaN in every type
  CHECK(std::isnan(bf16_bits_to_float(0xFFFF)));
}

TEST_CASE("running statistics agree with the batch summary", "[timer]") {
  std::vector<double> s = {1.25, 0.75, 1.5, 1.0, 2.0, 0.5, 1.125};
  RunningSamples r;
  for (double x : s) r.add(x);
  TimingStats t = summarize_samples(s);
  CHECK(r.n == 7);
  CHECK(r.sum == Approx(8.125));
  CHECK(r.mean == Approx(t.mean_ms));
  CHECK(r.relative_noise() == Approx(t.std_ms / (t.mean_ms * std::sqrt(7.0))));
  CHECK(relative_noise(s) == Approx(r.relative_noise()));
  CHECK(std::isinf(RunningSamples{}.relative_noise()));
}
