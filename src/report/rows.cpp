#include "report/rows.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "ops/op_helpers.hpp"
#include "ops/registry.hpp"

namespace fabench {

namespace {

const std::vector<Column>& base_columns() {
  using T = ColumnType;
  static const std::vector<Column> cols = {
      {"key", T::text},           {"experiment", T::text},     {"op", T::text},
      {"variant", T::text},       {"dtype", T::text},          {"batch", T::integer},
      {"heads", T::integer},      {"kv_heads", T::integer},    {"seq_q", T::integer},
      {"seq_k", T::integer},      {"head_dim", T::integer},    {"causal", T::boolean},
      {"rows", T::integer},       {"cols", T::integer},        {"d3", T::integer},
      {"mask", T::text},          {"dropout", T::real},        {"scale", T::real},
      {"params", T::text},        {"status", T::text},         {"reason", T::text},
      {"time_ms_median", T::real}, {"time_ms_mean", T::real},  {"time_ms_std", T::real},
      {"time_ms_min", T::real},   {"samples", T::integer},     {"sm_clock_mhz", T::real},
      {"throttled_samples", T::integer},                       {"tflops", T::real},
      {"gbps", T::real},          {"pct_peak_flops", T::real}, {"pct_peak_bw", T::real},
      {"peak_mem_mib", T::real},  {"workspace_mib", T::real},  {"max_abs_err", T::real},
      {"rel_l2_err", T::real},    {"tolerance", T::real},      {"gpu", T::text}};
  return cols;
}

std::string opt(const std::optional<double>& v) { return v ? csv_real(*v) : std::string(); }

std::vector<std::string> base_fields(const Result& r, const OpSpec& op) {
  const Problem& p = r.c.problem;
  const ShapeColumns s = op.shape_columns(p);
  const bool timed = r.timing && r.timing->samples > 0;
  auto t = [&](double v) { return timed ? csv_real(v) : std::string(); };
  return {r.c.key(),
          r.c.experiment,
          op.name,
          r.c.variant,
          std::string(to_string(p.dtype)),
          s.batch,
          s.heads,
          s.kv_heads,
          s.seq_q,
          s.seq_k,
          s.head_dim,
          s.causal,
          s.rows,
          s.cols,
          s.d3,
          s.mask,
          s.dropout,
          csv_real(p.effective_scale()),
          params_label(r.c.params),
          std::string(to_string(r.status)),
          r.reason,
          t(timed ? r.timing->median_ms : 0),
          t(timed ? r.timing->mean_ms : 0),
          t(timed ? r.timing->std_ms : 0),
          t(timed ? r.timing->min_ms : 0),
          timed ? std::to_string(r.timing->samples) : "",
          timed && r.timing->sm_clock_mhz > 0 ? csv_real(r.timing->sm_clock_mhz) : "",
          timed && r.timing->sm_clock_mhz > 0 ? std::to_string(r.timing->throttled) : "",
          t(r.tflops),
          t(r.gbps),
          opt(r.pct_peak_flops),
          opt(r.pct_peak_bw),
          r.status == Status::unsupported ? "" : csv_real(r.peak_mem_mib),
          r.status == Status::unsupported ? "" : csv_real(r.workspace_mib),
          opt(r.max_abs_err),
          opt(r.rel_l2_err),
          csv_real(r.tolerance),
          r.gpu};
}

}  // namespace

const std::vector<std::string>& result_columns() {
  static const std::vector<std::string> names = column_names(base_columns());
  return names;
}

std::vector<std::string> result_fields(const Result& r) { return base_fields(r, op_spec(r.c.problem.op)); }

std::vector<Column> file_columns(const std::vector<const OpSpec*>& ops) {
  std::vector<Column> cols = base_columns();
  // Ops may share a column (decode and kv_append: max_len, lengths, page_size): it appears once.
  for (const OpSpec* op : ops)
    for (const ExtraColumn& x : op->extra_columns)
      if (std::none_of(cols.begin(), cols.end(), [&](const Column& c) { return c.name == x.name; }))
        cols.push_back({x.name, x.type});
  return cols;
}

std::vector<Column> plan_columns(const Plan& plan) {
  std::vector<const OpSpec*> used;
  for (const OpSpec* op : all_ops())
    for (const Experiment& e : plan.experiments)
      if (e.op == op->kind) {
        used.push_back(op);
        break;
      }
  return file_columns(used);
}

std::vector<std::string> column_names(const std::vector<Column>& columns) {
  std::vector<std::string> names;
  for (const Column& c : columns) names.push_back(c.name);
  return names;
}

TextRow to_text_row(const Result& r) { return to_text_row(r, op_spec(r.c.problem.op)); }

TextRow to_text_row(const Result& r, const OpSpec& op) {
  TextRow row;
  auto fields = base_fields(r, op);
  for (std::size_t i = 0; i < fields.size(); ++i) row[result_columns()[i]] = fields[i];
  for (const ExtraColumn& x : op.extra_columns) row[x.name] = x.value(r);
  return row;
}

std::vector<std::string> row_fields(const TextRow& row, const std::vector<Column>& columns) {
  std::vector<std::string> fields;
  for (const Column& c : columns) {
    auto it = row.find(c.name);
    fields.push_back(it == row.end() ? std::string() : it->second);
  }
  return fields;
}

ordered_json row_to_json(const TextRow& row, const std::vector<Column>& columns) {
  ordered_json j = ordered_json::object();
  for (const Column& col : columns) {
    auto it = row.find(col.name);
    const std::string v = it == row.end() ? "" : it->second;
    if (v.empty() && col.name != "reason" && col.name != "params") {  // those two are "" when empty
      j[col.name] = nullptr;
      continue;
    }
    switch (col.type) {
      case ColumnType::integer: j[col.name] = std::stoll(v); break;
      case ColumnType::real: j[col.name] = std::stod(v); break;  // "inf" parses; written as null
      case ColumnType::boolean: j[col.name] = v == "true"; break;
      case ColumnType::text: j[col.name] = v; break;
    }
  }
  return j;
}

ordered_json row_to_json(const TextRow& row) { return row_to_json(row, base_columns()); }

}  // namespace fabench
