#include "app/report.hpp"

#include <fmt/format.h>

#include "report/console.hpp"
#include "report/csv.hpp"

namespace fabench {

int run_report(const ReportOptions& opt) {
  std::vector<TextRow> rows;
  for (const auto& path : opt.inputs) {
    try {
      CsvTable t = read_csv(path);
      if (!t.rows.empty() && !t.rows.front().count(opt.value)) {
        fmt::print(stderr, "fa-bench report: {} has no column \"{}\"\n", path, opt.value);
        return 2;
      }
      rows.insert(rows.end(), t.rows.begin(), t.rows.end());
    } catch (const std::exception& e) {
      fmt::print(stderr, "fa-bench report: {}\n", e.what());
      return 2;
    }
  }
  fmt::print("{}", markdown_pivot(rows, opt.value));
  if (!opt.baseline.empty()) {
    fmt::print("\n## Speed ratio against {} (its median time / each variant's)\n", opt.baseline);
    fmt::print("{}", markdown_ratio_pivot(rows, opt.baseline));
  }
  return 0;
}

}  // namespace fabench
