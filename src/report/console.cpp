#include "report/console.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <set>

#include "ops/op_helpers.hpp"
#include "ops/registry.hpp"

namespace fabench {

namespace {

std::string get(const TextRow& r, const std::string& col) { return row_text(r, col); }

// A row of an op this build does not know (a file of another build): rows x cols.
std::string shape_of(const TextRow& r) {
  if (const OpSpec* op = find_op(get(r, "op")); op && op->row_shape) return op->row_shape(r);
  return fmt::format("{} {}x{}", get(r, "dtype"), get(r, "rows"), get(r, "cols"));
}

PivotPlace pivot_place(const TextRow& r) {
  if (const OpSpec* op = find_op(get(r, "op")); op && op->row_pivot) return op->row_pivot(r);
  return {"", "rows \\ cols", get(r, "rows"), get(r, "cols")};
}

// Whether the row's op is judged by bandwidth (GB/s, % of bandwidth) rather than by FLOP/s.
bool memory_bound(const TextRow& r) {
  const OpSpec* op = find_op(get(r, "op"));
  return op && op->memory_bound;
}

std::string fixed(const std::string& v, int digits) {
  if (v.empty()) return "-";
  try {
    return fmt::format("{:.{}f}", std::stod(v), digits);
  } catch (const std::exception&) {
    return v;
  }
}

}  // namespace

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  auto total = static_cast<long>(std::lround(s));
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

std::string progress_line(std::size_t k, std::size_t n, const TextRow& r, double eta) {
  std::string params = get(r, "params");
  std::string line = fmt::format("[{}/{}] {} {}{} {}", k, n, get(r, "variant"), shape_of(r),
                                 params.empty() ? "" : " " + params, get(r, "status"));
  if (!get(r, "time_ms_median").empty()) {
    line += fmt::format(" {} ms", fixed(get(r, "time_ms_median"), 4));
    if (memory_bound(r))
      line += fmt::format(" {} GB/s", fixed(get(r, "gbps"), 1));
    else
      line += fmt::format(" {} TFLOP/s", fixed(get(r, "tflops"), 2));
    const std::string throttled = get(r, "throttled_samples");
    if (!throttled.empty() && throttled != "0")
      line += fmt::format(" ({} samples at a lowered clock set aside)", throttled);
  }
  if (get(r, "status") != "ok" && !get(r, "reason").empty()) line += " (" + get(r, "reason") + ")";
  if (k < n) line += fmt::format("  eta {}", format_duration(eta));
  return line;
}

std::string summary_table(const std::vector<TextRow>& rows) {
  const std::vector<std::string> head = {"variant", "shape", "params", "status", "median ms", "TFLOP/s",
                                         "GB/s",    "%peak", "rel err"};
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    if (get(r, "status") == "unsupported") continue;  // counted with their reasons by status_summary
    std::string pct = memory_bound(r) ? get(r, "pct_peak_bw") : get(r, "pct_peak_flops");
    std::string err = get(r, "rel_l2_err");
    cells.push_back({get(r, "variant"), shape_of(r), get(r, "params"), get(r, "status"),
                     fixed(get(r, "time_ms_median"), 4), fixed(get(r, "tflops"), 2), fixed(get(r, "gbps"), 1),
                     pct.empty() ? "-" : fixed(pct, 1) + "%",
                     err.empty() ? "-" : fmt::format("{:.1e}", std::stod(err))});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) {
    width[i] = head[i].size();
    for (const auto& c : cells) width[i] = std::max(width[i], c[i].size());
  }
  auto line = [&](const std::vector<std::string>& c) {
    std::string s;
    for (std::size_t i = 0; i < c.size(); ++i)
      s += i < 4 ? fmt::format("{:<{}}  ", c[i], width[i]) : fmt::format("{:>{}}  ", c[i], width[i]);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  std::string out = line(head);
  std::size_t total = 0;
  for (auto w : width) total += w + 2;
  out += std::string(total - 2, '-') + "\n";
  for (const auto& c : cells) out += line(c);
  return out;
}

std::string status_summary(const std::vector<TextRow>& rows) {
  std::map<std::string, int> counts;
  std::map<std::string, int> gpu_skips, other_skips;  // reason -> count
  for (const auto& r : rows) {
    counts[get(r, "status")]++;
    if (get(r, "status") != "unsupported") continue;
    if (get(r, "gpu").empty() && get(r, "reason").rfind("no CUDA device", 0) == 0)
      gpu_skips[get(r, "reason")]++;
    else
      other_skips[get(r, "variant") + ": " + get(r, "reason")]++;
  }
  std::string s = fmt::format("{} cases:", rows.size());
  for (const auto& [status, n] : counts) s += fmt::format(" {} {}", n, status);
  s += "\n";
  for (const auto& [reason, n] : gpu_skips)
    s += fmt::format("GPU variants were skipped ({} cases): {}. Run on a machine with an NVIDIA GPU to measure them.\n",
                     n, reason);
  for (const auto& [reason, n] : other_skips) s += fmt::format("unsupported ({}x) {}\n", n, reason);
  // A measured rate above its ceiling means the ceiling is wrong for this device or this build's
  // kernels (a calibration from before calibrate's blocked read shapes put decode at 103% on an
  // H200), so every percent-of-peak beside it is off too: say so. 2% of slack for lease noise.
  constexpr double kAboveCeiling = 102.0;
  int above = 0;
  double highest = 0;
  std::string example;
  for (const auto& r : rows)
    for (const char* col : {"pct_peak_bw", "pct_peak_flops"}) {
      const std::string text = get(r, col);
      const double pct = text.empty() ? 0.0 : std::stod(text);
      if (pct <= kAboveCeiling) continue;
      ++above;
      if (pct > highest) highest = pct, example = fmt::format("{} {} {}", get(r, "variant"), shape_of(r), col);
    }
  if (above > 0)
    s += fmt::format("{} percent-of-peak figures exceed {:.0f}% (up to {:.1f}%, {}): the calibration's ceilings are "
                     "below what was measured; run `fa-bench calibrate` again before reading them\n",
                     above, kAboveCeiling, highest, example);
  return s;
}

std::string markdown_pivot(const std::vector<TextRow>& rows, const std::string& value) {
  struct Table {
    std::string title;
    std::string corner;  // what rows and columns are, e.g. "seq_len \\ head_dim"
    std::vector<std::string> row_labels, col_labels;
    std::map<std::pair<std::string, std::string>, std::string> cells;
  };
  std::vector<Table> tables;
  std::map<std::string, std::size_t> index;
  auto add_label = [](std::vector<std::string>& labels, const std::string& l) {
    if (std::find(labels.begin(), labels.end(), l) == labels.end()) labels.push_back(l);
  };
  for (const auto& r : rows) {
    const PivotPlace place = pivot_place(r);
    std::string title = fmt::format("{} {}{}", get(r, "variant"), get(r, "dtype"), place.title);
    if (!get(r, "params").empty()) title += " " + get(r, "params");
    if (!index.count(title)) {
      index[title] = tables.size();
      tables.push_back({title, place.corner, {}, {}, {}});
    }
    Table& t = tables[index[title]];
    std::string row_label = place.row;
    const std::string& col_label = place.column;
    std::string v = get(r, "status") == "ok" ? fixed(get(r, value), value.find("_ms") != std::string::npos ? 4 : 2)
                                             : get(r, "status");
    auto key = std::make_pair(row_label, col_label);
    if (t.cells.count(key)) {
      // Another batch/heads at the same seq: keep both apart by naming them.
      row_label = fmt::format("{} (b{} h{})", row_label, get(r, "batch"), get(r, "heads"));
      key.first = row_label;
    }
    add_label(t.row_labels, row_label);
    add_label(t.col_labels, col_label);
    t.cells[key] = v;
  }
  std::string out;
  for (const Table& t : tables) {
    out += fmt::format("\n### {} ({})\n\n| {} |", t.title, value, t.corner);
    for (const auto& c : t.col_labels) out += " " + c + " |";
    out += "\n|---|";
    for (std::size_t i = 0; i < t.col_labels.size(); ++i) out += "---|";
    out += "\n";
    for (const auto& rl : t.row_labels) {
      out += "| " + rl + " |";
      for (const auto& cl : t.col_labels) {
        auto it = t.cells.find({rl, cl});
        out += " " + (it == t.cells.end() ? std::string() : it->second) + " |";
      }
      out += "\n";
    }
  }
  return out;
}

std::string problem_key(const TextRow& row) {
  const std::string key = get(row, "key");
  const auto at = key.find("/" + get(row, "variant"));
  return at == std::string::npos ? key : key.substr(0, at);
}

std::string markdown_ratio_pivot(const std::vector<TextRow>& rows, const std::string& baseline) {
  std::map<std::string, double> base_ms;
  for (const auto& r : rows)
    if (get(r, "variant") == baseline && get(r, "status") == "ok") base_ms.emplace(problem_key(r), std::stod(get(r, "time_ms_median")));
  if (base_ms.empty()) return fmt::format("no ok rows of the baseline {}\n", baseline);
  std::vector<TextRow> ratios;
  for (const auto& r : rows) {
    if (get(r, "variant") == baseline || get(r, "status") != "ok") continue;
    auto it = base_ms.find(problem_key(r));
    if (it == base_ms.end()) continue;
    TextRow x = r;
    x["speedup_vs_" + baseline] = fmt::format("{:.6g}", it->second / std::stod(get(r, "time_ms_median")));
    ratios.push_back(std::move(x));
  }
  return markdown_pivot(ratios, "speedup_vs_" + baseline);
}

}  // namespace fabench
