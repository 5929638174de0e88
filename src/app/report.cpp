#include "app/report.hpp"

#include <fmt/format.h>
#include <fstream>
#include <stdexcept>

#include "report/console.hpp"
#include "report/csv.hpp"
#include "report/seed_csv.hpp"

namespace fabench {

namespace {

// "name=value" split at its first '='; throws naming the option when there is none.
std::pair<std::string, std::string> split_assignment(const std::string& text, const char* option) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument(fmt::format("{} \"{}\": expected NAME=VALUE", option, text));
  return {text.substr(0, eq), text.substr(eq + 1)};
}

// Keeps the rows that hold every --where value; a column no row has is an error (a typo would
// otherwise leave an empty table).
std::vector<TextRow> filtered(std::vector<TextRow> rows, const std::vector<std::string>& where) {
  for (const std::string& w : where) {
    const auto [column, value] = split_assignment(w, "--where");
    bool known = false;
    std::vector<TextRow> kept;
    for (TextRow& row : rows) {
      auto it = row.find(column);
      known = known || it != row.end();
      if (it != row.end() && it->second == value) kept.push_back(std::move(row));
    }
    if (!known && !rows.empty()) throw std::invalid_argument(fmt::format("--where {}: no column \"{}\"", w, column));
    rows = std::move(kept);
  }
  return rows;
}

int write_seed_format(const ReportOptions& opt, const std::vector<TextRow>& rows) {
  const auto format = parse_seed_format(opt.seed_format);
  if (!format)
    throw std::invalid_argument(
        fmt::format("--seed-format {}: not one of {}", opt.seed_format, seed_format_choices()));
  SeedNames names;
  for (const std::string& n : opt.seed_names) names.insert(split_assignment(n, "--seed-name"));
  const SeedTable table = to_seed_table(*format, rows, names);
  for (const std::string& note : table.notes) fmt::print(stderr, "fa-bench report: {}\n", note);
  const std::string text = seed_csv_text(table);
  if (opt.output.empty()) {
    fmt::print("{}", text);
    return 0;
  }
  std::ofstream out(opt.output, std::ios::binary);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + opt.output);
  fmt::print(stderr, "fa-bench report: {} rows in seed {} format -> {}\n", table.rows.size(), opt.seed_format,
             opt.output);
  return 0;
}

}  // namespace

int run_report(const ReportOptions& opt) {
  std::vector<TextRow> rows;
  for (const auto& path : opt.inputs) {
    try {
      CsvTable t = read_csv(path);
      if (opt.seed_format.empty() && !t.rows.empty() && !t.rows.front().count(opt.value)) {
        fmt::print(stderr, "fa-bench report: {} has no column \"{}\"\n", path, opt.value);
        return 2;
      }
      rows.insert(rows.end(), t.rows.begin(), t.rows.end());
    } catch (const std::exception& e) {
      fmt::print(stderr, "fa-bench report: {}\n", e.what());
      return 2;
    }
  }
  try {
    rows = filtered(std::move(rows), opt.where);
    if (!opt.seed_format.empty()) return write_seed_format(opt, rows);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fa-bench report: {}\n", e.what());
    return 2;
  }
  fmt::print("{}", markdown_pivot(rows, opt.value));
  if (!opt.baseline.empty()) {
    fmt::print("\n## Speed ratio against {} (its median time / each variant's)\n", opt.baseline);
    fmt::print("{}", markdown_ratio_pivot(rows, opt.baseline));
  }
  return 0;
}

}  // namespace fabench
