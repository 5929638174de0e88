#include "app/compare.hpp"

#include <cmath>
#include <fmt/format.h>
#include <map>

#include "report/console.hpp"
#include "report/csv.hpp"

namespace fabench {

namespace {
double standard_error_ms(const TextRow& r) {
  const double std_ms = r.count("time_ms_std") && !r.at("time_ms_std").empty() ? std::stod(r.at("time_ms_std")) : 0.0;
  const double n = r.count("samples") && !r.at("samples").empty() ? std::stod(r.at("samples")) : 1.0;
  return std_ms / std::sqrt(std::max(n, 1.0));
}
std::string_view to_string(Verdict v) { return v == Verdict::faster ? "faster" : v == Verdict::slower ? "slower" : "same"; }
}  // namespace

Verdict compare_times(const TextRow& a, const TextRow& b, double min_change) {
  const double ta = std::stod(a.at("time_ms_median")), tb = std::stod(b.at("time_ms_median"));
  const double noise = std::sqrt(std::pow(standard_error_ms(a), 2) + std::pow(standard_error_ms(b), 2));
  const double gap = std::fabs(ta - tb);
  if (gap <= min_change * ta || gap <= 3.0 * noise) return Verdict::same;
  return tb < ta ? Verdict::faster : Verdict::slower;
}

std::vector<Comparison> compare_rows(const std::vector<TextRow>& a, const std::vector<TextRow>& b, bool by_problem,
                                     double min_change) {
  auto join_key = [&](const TextRow& r) { return by_problem ? problem_key(r) : r.at("key"); };
  std::map<std::string, const TextRow*> from_b;
  for (const auto& r : b)
    if (r.at("status") == "ok") from_b.emplace(join_key(r), &r);
  std::vector<Comparison> out;
  for (const auto& r : a) {
    if (r.at("status") != "ok") continue;
    auto it = from_b.find(join_key(r));
    if (it == from_b.end()) continue;
    Comparison c;
    c.key = by_problem ? fmt::format("{} ({} vs {})", join_key(r), r.at("variant"), it->second->at("variant"))
                       : join_key(r);
    c.a_ms = std::stod(r.at("time_ms_median"));
    c.b_ms = std::stod(it->second->at("time_ms_median"));
    c.ratio = c.a_ms / c.b_ms;
    c.verdict = compare_times(r, *it->second, min_change);
    out.push_back(c);
  }
  return out;
}

int run_compare(const CompareOptions& opt) {
  CsvTable a, b;
  try {
    a = read_csv(opt.a);
    b = read_csv(opt.b);
  } catch (const std::exception& e) {
    fmt::print(stderr, "fa-bench compare: {}\n", e.what());
    return 2;
  }
  const auto rows = compare_rows(a.rows, b.rows, opt.by_problem, opt.min_change);
  if (rows.empty()) {
    fmt::print(stderr, "fa-bench compare: no ok case is in both files{}\n",
               opt.by_problem ? "" : " (--by-problem joins on the shape alone)");
    return 2;
  }
  fmt::print("| case | A ms | B ms | A/B | verdict |\n|---|---|---|---|---|\n");
  std::map<Verdict, int> counts;
  for (const auto& c : rows) {
    fmt::print("| {} | {:.4f} | {:.4f} | {:.3f} | {} |\n", c.key, c.a_ms, c.b_ms, c.ratio, to_string(c.verdict));
    counts[c.verdict]++;
  }
  fmt::print("\n{} cases in both: B faster in {}, slower in {}, the same within noise in {} (min change {:.0f}%, "
             "3 standard errors)\n",
             rows.size(), counts[Verdict::faster], counts[Verdict::slower], counts[Verdict::same],
             100 * opt.min_change);
  return 0;
}

}  // namespace fabench
