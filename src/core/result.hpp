#pragma once
// A Case is Problem x Variant x Params; a Result is what running it produced.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/problem.hpp"

namespace fabench {

enum class Status { ok, mismatch, unsupported, oom, launch_error, fault, timeout };
std::string_view to_string(Status s);
std::optional<Status> parse_status(std::string_view s);
// Whether a row with this status makes the run exit non-zero.
bool is_failure(Status s);

struct Case {
  Problem problem;
  std::string variant;
  Params params;  // as requested, defaults filled in
  std::string experiment;
  // Stable identity used by resume, merge and compare: problem key + variant + params.
  std::string key() const;
};

struct TimingStats {
  double median_ms = 0, mean_ms = 0, std_ms = 0, min_ms = 0;
  int samples = 0;
  double total_s = 0;   // time spent sampling
  bool hit_time_limit = false;
  double sm_clock_mhz = 0;  // the median SM clock of the samples above (0: not measured)
  int throttled = 0;        // samples set aside for a lowered clock (timing.max_clock_drop)
};

// What one launch of a self-timed op (OpSpec::self_timed, e.g. generate's prefill + decode loop)
// measured of itself: the launch synchronises inside, so the harness cannot time it from outside.
struct LaunchMetrics {
  double total_ms = 0;                                 // the sample the stopping rule and time_ms_* see
  std::map<std::string, double> values;                // named figures of this launch (ttft_ms)
  std::map<std::string, std::vector<double>> series;   // named lists (step_ms: one per decode step)
};

struct Result {
  Case c;
  Status status = Status::ok;
  std::string reason;
  std::optional<TimingStats> timing;
  double tflops = 0, gbps = 0;
  std::optional<double> pct_peak_flops, pct_peak_bw;
  double peak_mem_mib = 0;   // inputs + outputs + workspace on the device
  double workspace_mib = 0;  // device memory beyond inputs and outputs (naive's S or P)
  std::optional<double> max_abs_err, rel_l2_err;
  double tolerance = 0;
  std::string gpu;  // device name, or "cpu" for host variants
  // Figures an op derives from its self-timed samples (ops/op.hpp's summarize), read by its extra
  // columns: e.g. generate's ttft_ms and tbt_ms_p50. Empty for other ops.
  std::map<std::string, double> metrics;
};

}  // namespace fabench
