#pragma once
// `fa-bench report`: the seeds' pivot tables from result CSVs, with ratios against a baseline.
#include <string>
#include <vector>

namespace fabench {

struct ReportOptions {
  std::vector<std::string> inputs;  // result CSV files
  std::string value = "time_ms_median";
  std::string baseline;  // variant whose time the others are divided into
};

int run_report(const ReportOptions& opt);  // 0, or 2 for unreadable input

}  // namespace fabench
