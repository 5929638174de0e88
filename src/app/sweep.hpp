#pragma once
// The `fa-bench [--config FILE]` command: plan -> cases -> runner -> sinks, row by row.
#include <optional>
#include <string>
#include <vector>

#include "config/expand.hpp"
#include "config/plan.hpp"
#include "core/variant.hpp"

namespace fabench {

struct SweepOptions {
  std::string config_path;  // empty: the default sweep compiled into the binary
  std::string output_dir;   // empty: results/<plan name>/
  std::string filter;
  int device = 0;
  bool dry_run = false;
  std::optional<Shard> shard;
  bool resume = false;
  bool overwrite = false;
  std::string format = "table";  // console: table or markdown
  std::vector<std::string> argv;  // to restart this process after a sticky CUDA fault
};

// A config file (empty: the built-in default sweep) expanded and filtered. The cases point into
// plan.experiments, which moves with the struct. Throws ConfigError.
struct LoadedCases {
  Plan plan;
  std::vector<ExpandedCase> cases;
  std::size_t duplicates = 0;  // cases dropped for repeating an earlier experiment's key
};
LoadedCases load_cases(const std::string& config_path, const std::string& filter, const Registry& registry);

// Returns the process exit code: 0 when every row is ok/unsupported/oom/timeout, 1 when any row
// is a mismatch, launch_error or fault, 2 for bad input (config, arguments, files).
int run_sweep(const SweepOptions& opt, const Registry& registry);

// The command line that continues a sweep in a fresh process after a sticky CUDA fault: the same
// arguments with --resume, and without --overwrite (which would discard the rows already written,
// the fault's included, and fault again for ever).
std::vector<std::string> restart_arguments(const std::vector<std::string>& argv);

// The file stem for a plan and shard: "<name>" or "<name>.shard-<i>-of-<n>".
std::string result_stem(const std::string& plan_name, const std::optional<Shard>& shard);

}  // namespace fabench
