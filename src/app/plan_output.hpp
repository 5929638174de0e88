#pragma once
// `fa-bench plan`: the expanded cases of a config as JSON, so other tools (scripts/peers.py) run
// exactly the shapes fa-bench runs and write rows with the same keys and columns.
#include <string>

#include "core/variant.hpp"

namespace fabench {

struct PlanOutputOptions {
  std::string config_path;  // empty: the built-in default sweep
  std::string filter;
  std::string output;       // empty or "-": standard output
};

// The JSON document: {"plan", "seed", "columns" (the result CSV's), "cases": [{"key", "problem_key",
// "experiment", "variant", "params", "row" (the CSV's problem columns, filled), "flops", "bytes",
// "timing", "validation": {"max_rows", "tolerance"}}]}.
std::string plan_json(const std::string& config_path, const std::string& filter, const Registry& registry);
int run_plan_output(const PlanOutputOptions& opt, const Registry& registry);

}  // namespace fabench
