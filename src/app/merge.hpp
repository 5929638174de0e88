#pragma once
// `fa-bench merge`: shard outputs -> one CSV and JSON, checked against the plan they came from.
#include <string>
#include <vector>

#include "core/variant.hpp"

namespace fabench {

struct MergeOptions {
  std::vector<std::string> inputs;  // CSV files, or folders whose *.csv files are shard outputs
  std::string output;               // output stem: writes <output>.csv and <output>.json
  bool allow_mixed = false;         // accept different configs, seeds, filters or fa-bench revisions
  bool allow_missing = false;       // write the merge even when cases are missing (exit code stays 1)
};

// Exit code: 0 merged and complete; 1 cases missing (listed) or duplicated; 2 bad input.
int run_merge(const MergeOptions& opt, const Registry& registry);

}  // namespace fabench
