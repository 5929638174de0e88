#pragma once
// What every op's validation shares: the Validation result, the sampled rows, the NaN scan and
// the relative-L2 accumulation over rows. An op supplies only its reference row.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/host_tensor.hpp"
#include "core/problem.hpp"
#include "core/settings.hpp"

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

// One checked row's squared errors; the lse fields stay zero for ops without a log-sum-exp.
struct RowError {
  double diff2 = 0, ref2 = 0, max_abs = 0;
  double lse_diff2 = 0, lse_ref2 = 0;
  bool lse_bad = false;  // -inf expected but not given, or NaN
};

// Adds a row's log-sum-exp (as written, and the reference's) to `e`.
void check_lse(float got, double ref, RowError& e);

// The output rows of an op: `out` is [groups * rows_per_group, width], row-major.
struct OutputRows {
  const HostTensor& out;
  std::int64_t groups = 1, rows_per_group = 0, width = 0;
  bool has_lse = false;  // the reference row also checks a log-sum-exp through check_lse
  // The relative error divides by the reference's norm, or by this RMS per element where that is
  // larger: a gradient that is zero in exact arithmetic (dQ with one key: P = 1, dP - D = 0) is
  // left with rounding alone, whose ratio to zero is infinite. 0: no floor.
  double ref_rms_floor = 0;
};

// Fills ref[0..width) with the reference for global row `row`; may add lse errors to `e`.
using ReferenceRow = std::function<void(std::int64_t row, double* ref, RowError& e)>;

// Scans `out` for NaN/Inf, then compares the sampled rows with the reference, in parallel.
Validation validate_rows(const Problem& p, const OutputRows& rows, const ValidationSettings& s,
                         const ReferenceRow& reference);

// For ops with several outputs: folds one output's check into `total` (which starts passed, with
// the dtype's tolerance): the first failure's reason prefixed by `what`, the worst errors, the
// rows summed.
void fold_validation(Validation& total, const Validation& part, const char* what);

}  // namespace fabench
