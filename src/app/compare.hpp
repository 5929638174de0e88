#pragma once
// `fa-bench compare A.csv B.csv`: the same cases in two result files, with speed ratios and
// verdicts that account for each measurement's noise (nvbench's compare, for fa-bench's CSV).
#include <string>
#include <vector>

#include "report/rows.hpp"

namespace fabench {

enum class Verdict { faster, slower, same };

struct Comparison {
  std::string key;
  double a_ms = 0, b_ms = 0;
  double ratio = 0;  // a / b: > 1 means B is faster
  Verdict verdict = Verdict::same;
};

// B against A on one case. The medians differ "for real" only when the gap exceeds both
// `min_change` (relative) and three standard errors of the difference (each side's std/sqrt(n)).
Verdict compare_times(const TextRow& a, const TextRow& b, double min_change);

// Joins ok rows on the case key (same problem, variant and parameters); with `by_problem`, on the
// problem alone (the same shapes run by different variants, e.g. ours against a peer's file).
std::vector<Comparison> compare_rows(const std::vector<TextRow>& a, const std::vector<TextRow>& b, bool by_problem,
                                     double min_change);

struct CompareOptions {
  std::string a, b;
  bool by_problem = false;
  double min_change = 0.02;
};
int run_compare(const CompareOptions& opt);  // 0, or 2 for unreadable input

}  // namespace fabench
