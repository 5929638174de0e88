#pragma once
// Checks a case's outputs against the CPU reference (double accumulation).
#include <cstdint>
#include <string>
#include <vector>

#include "config/plan.hpp"
#include "run/host_tensors.hpp"

namespace fabench {

struct Validation {
  bool passed = false;
  double rel_l2 = 0;   // ||out - ref|| / ||ref|| over the checked rows (worst of output and lse)
  double max_abs = 0;  // max |out - ref| over the checked rows
  double tolerance = 0;
  std::int64_t rows_checked = 0;
  std::string reason;  // why it failed, empty when passed
};

// Rows to check: all of them when groups * rows_per_group <= max_rows, otherwise a seeded sample
// with at least the first and last row of every group (batch x head), so every group is covered.
// Returns sorted global row indices (group * rows_per_group + row).
std::vector<std::int64_t> sample_rows(std::int64_t groups, std::int64_t rows_per_group, int max_rows,
                                      std::uint64_t seed);

// `tensors` holds the inputs as generated and the outputs as read back (bytes), in op order.
// Every output element is scanned for NaN (unwritten elements keep their NaN poison).
Validation validate_outputs(const Problem& p, const std::vector<HostTensor>& tensors, const ValidationSettings& s);

}  // namespace fabench
