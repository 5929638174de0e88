#include "app/plan_output.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/sweep.hpp"
#include "ops/registry.hpp"
#include "report/rows.hpp"

namespace fabench {

namespace {

// The base result columns that describe the case rather than its measurement.
const char* const kCaseColumns[] = {"key",  "experiment", "op",   "variant", "dtype", "batch", "heads",
                                    "kv_heads", "seq_q", "seq_k", "head_dim", "causal", "rows", "cols",
                                    "d3", "mask", "dropout", "scale", "params"};

}  // namespace

std::string plan_json(const std::string& config_path, const std::string& filter, const Registry& registry) {
  const LoadedCases loaded = load_cases(config_path, filter, registry);
  ordered_json doc;
  doc["plan"] = loaded.plan.name;
  doc["config"] = config_path.empty() ? "configs/default.json (built in)" : config_path;
  doc["seed"] = loaded.plan.seed;
  const std::vector<Column> columns = plan_columns(loaded.plan);
  doc["columns"] = column_names(columns);
  ordered_json cases = ordered_json::array();
  for (const ExpandedCase& ec : loaded.cases) {
    Result r;
    r.c = ec.c;
    const OpSpec& op = op_spec(ec.c.problem.op);
    const ordered_json full = row_to_json(to_text_row(r, op), columns);
    ordered_json row = ordered_json::object();
    for (const char* col : kCaseColumns) row[col] = full.at(col);
    for (const ExtraColumn& x : op.extra_columns)
      if (x.describes_case) row[x.name] = full.at(x.name);
    ordered_json params = ordered_json::object();
    for (const auto& [name, value] : ec.c.params) params[name] = value;
    const TimingSettings& t = ec.experiment->timing;
    const ValidationSettings& v = ec.experiment->validation;
    // "flush_l2" as before (cold and dirty both flush), so plans of cold or hot sweeps stay as
    // they were; "l2" only for the write-only flush, which peers.py must tell apart from cold.
    ordered_json timing = {{"warmup", t.warmup},
                           {"min_samples", t.min_samples},
                           {"min_time_s", t.min_time_s},
                           {"max_noise", t.max_noise},
                           {"max_time_s", t.max_time_s},
                           {"flush_l2", t.l2 != L2Mode::hot}};
    if (t.l2 == L2Mode::dirty) timing["l2"] = to_string(t.l2);
    // Likewise only when it is not the default, which peers.py assumes when it is absent.
    if (t.max_clock_drop != TimingSettings{}.max_clock_drop) timing["max_clock_drop"] = t.max_clock_drop;
    cases.push_back({{"key", ec.c.key()},
                     {"problem_key", ec.c.problem.key()},
                     {"experiment", ec.c.experiment},
                     {"variant", ec.c.variant},
                     {"params", params},
                     {"row", row},
                     {"seed", ec.c.problem.seed},
                     {"flops", op.flops(ec.c.problem)},
                     {"bytes", op.bytes(ec.c.problem)},
                     {"timing", timing},
                     {"validation",
                      {{"enabled", v.enabled},
                       {"max_rows", v.max_rows},
                       {"tolerance", v.tolerance.at(ec.c.problem.dtype)}}}});
  }
  doc["cases"] = std::move(cases);
  return doc.dump(1) + "\n";
}

int run_plan_output(const PlanOutputOptions& opt, const Registry& registry) {
  std::string text;
  try {
    text = plan_json(opt.config_path, opt.filter, registry);
  } catch (const ConfigError& e) {
    fmt::print(stderr, "fa-bench: config error: {}\n", e.what());
    return 2;
  }
  if (opt.output.empty() || opt.output == "-") {
    std::cout << text;
    return 0;
  }
  std::ofstream out(opt.output);
  out << text;
  if (!out.flush()) {
    fmt::print(stderr, "fa-bench: cannot write {}\n", opt.output);
    return 2;
  }
  return 0;
}

}  // namespace fabench
