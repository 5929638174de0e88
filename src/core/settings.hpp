#pragma once
// How a case is timed and validated: set by the experiment file, read by the runner and the ops.
#include <map>

#include "core/dtype.hpp"
#include "core/l2_mode.hpp"

namespace fabench {

struct TimingSettings {
  int warmup = 3;             // untimed launches before sampling
  int min_samples = 10;       // never fewer samples than this (unless max_time_s runs out)
  double min_time_s = 0.1;    // keep sampling until this much kernel time has been measured
  double max_noise = 0.005;   // ... and the relative standard deviation is at most this
  double max_time_s = 10.0;   // per-case limit on time spent sampling
  L2Mode l2 = L2Mode::cold;   // what the L2 holds when a sample starts (core/l2_mode.hpp)
  // A sample whose SM clock was more than this fraction below the highest clock the process has
  // seen ran throttled and is set aside (src/run/timer.hpp, ClockWatch); 1 keeps every sample.
  double max_clock_drop = 0.03;
};

struct ValidationSettings {
  bool enabled = true;
  int max_rows = 256;  // larger cases check a seeded sample of this many rows, spread over batch and heads
  std::map<DType, double> tolerance = {
      {DType::fp32, 1e-4}, {DType::tf32, 5e-3}, {DType::fp16, 5e-3}, {DType::bf16, 1e-2}};
};

}  // namespace fabench
