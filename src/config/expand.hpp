#pragma once
// Plan -> Case[]: cartesian product of axes (zipped groups advance together), then variants and
// their parameter lists. Deterministic order, so shards and resume agree across processes.
#include <optional>
#include <string>
#include <vector>

#include "config/plan.hpp"
#include "core/result.hpp"

namespace fabench {

class Registry;

struct ExpandedCase {
  Case c;
  const Experiment* experiment = nullptr;
};

// The most cases a plan may expand to (duplicates included): far past any sweep that could run,
// small enough that expanding it takes seconds.
constexpr std::size_t kMaxCases = 1000000;

// Throws ConfigError for combinations that are not valid problems (heads not a multiple of kv_heads).
// A case whose key repeats an earlier one is dropped; `duplicates` counts them.
std::vector<ExpandedCase> expand_plan(const Plan& plan, const Registry& registry, std::size_t* duplicates = nullptr);

// Keeps cases whose variant name matches `regex` (std::regex search). Throws ConfigError on a bad regex.
std::vector<ExpandedCase> filter_cases(std::vector<ExpandedCase> cases, const std::string& regex);

struct Shard {
  int index = 0, count = 1;
};
// "i/n" with 0 <= i < n. Throws std::invalid_argument with a message naming the problem.
Shard parse_shard(const std::string& text);
// Shard from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (and SLURM_ARRAY_TASK_MIN), if set.
std::optional<Shard> shard_from_slurm_env();
// Round-robin: case k belongs to shard k mod n; the shards partition the cases exactly.
std::vector<ExpandedCase> select_shard(std::vector<ExpandedCase> cases, Shard shard);

}  // namespace fabench
