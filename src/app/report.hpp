#pragma once
// `fa-bench report`: the seeds' pivot tables from result CSVs, with ratios against a baseline, or
// the rows in a seed's prescribed CSV format (report/seed_csv.hpp).
#include <string>
#include <vector>

namespace fabench {

struct ReportOptions {
  std::vector<std::string> inputs;  // result CSV files
  std::string value = "time_ms_median";
  std::string baseline;  // variant whose time the others are divided into
  std::vector<std::string> where;  // "column=value": only rows holding that value
  std::string seed_format;         // "004-softmax-matmul", "004-attention", or "" for the pivots
  std::vector<std::string> seed_names;  // "variant=implementation" for the seed's table
  std::string output;              // seed format: the file to write ("" = standard output)
};

int run_report(const ReportOptions& opt);  // 0, or 2 for unreadable input

}  // namespace fabench
