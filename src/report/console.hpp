#pragma once
// What the terminal shows: a progress line per case, then a summary or markdown pivot tables.
#include <cstdio>
#include <string>
#include <vector>

#include "report/rows.hpp"

namespace fabench {

// "[k/N] variant shape params status median ... (eta 1m05s)"
std::string progress_line(std::size_t k, std::size_t n, const TextRow& row, double eta_seconds);
std::string format_duration(double seconds);  // "42s", "3m05s", "1h02m"

// A fixed-width table of every row: variant, shape, params, status, median, TFLOP/s, GB/s, % of peak, error.
std::string summary_table(const std::vector<TextRow>& rows);
// Counts per status, and a plain sentence for GPU variants skipped because there is no GPU.
std::string status_summary(const std::vector<TextRow>& rows);

// Pivot tables like the seeds' baselines: one table per (variant, dtype, options); attention rows are
// seq_len and columns head_dim, softmax rows are rows and columns cols. `value` is a column name
// (time_ms_median by default, or tflops, gbps...).
std::string markdown_pivot(const std::vector<TextRow>& rows, const std::string& value = "time_ms_median");

// The same pivots for every variant but `baseline`, each cell the speed ratio
// baseline median / variant median on the same problem (> 1: faster than the baseline).
// Returns an error text naming the baseline when it has no ok rows.
std::string markdown_ratio_pivot(const std::vector<TextRow>& rows, const std::string& baseline);

// The problem part of a case key (the key without "/variant/params").
std::string problem_key(const TextRow& row);

}  // namespace fabench
