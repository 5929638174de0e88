#include "report/rows.hpp"

#include <fmt/format.h>
#include <set>

#include "core/models.hpp"

namespace fabench {

const std::vector<std::string>& result_columns() {
  static const std::vector<std::string> cols = {
      "key", "experiment", "op", "variant", "dtype", "batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim",
      "causal", "rows", "cols", "d3", "mask", "dropout", "scale", "params", "status", "reason", "time_ms_median",
      "time_ms_mean", "time_ms_std", "time_ms_min", "samples", "tflops", "gbps", "pct_peak_flops", "pct_peak_bw",
      "peak_mem_mib", "workspace_mib", "max_abs_err", "rel_l2_err", "tolerance", "gpu"};
  return cols;
}

namespace {
std::string num(double v) { return fmt::format("{:.6g}", v); }
std::string opt(const std::optional<double>& v) { return v ? num(*v) : std::string(); }
}  // namespace

std::vector<std::string> result_fields(const Result& r) {
  const Problem& p = r.c.problem;
  const bool attn = p.op == OpKind::attention, matmul = p.op == OpKind::softmax_matmul;
  auto attn_int = [&](std::int64_t v) { return attn ? std::to_string(v) : std::string(); };
  auto soft = [&](std::string v) { return attn ? std::string() : v; };          // softmax and softmax_matmul
  auto soft_only = [&](std::string v) { return attn || matmul ? std::string() : v; };
  const bool timed = r.timing && r.timing->samples > 0;
  auto t = [&](double v) { return timed ? num(v) : std::string(); };
  return {r.c.key(),
          r.c.experiment,
          std::string(to_string(p.op)),
          r.c.variant,
          std::string(to_string(p.dtype)),
          attn || matmul ? std::to_string(p.batch) : std::string(),
          attn_int(p.heads),
          attn_int(p.kv_heads),
          attn_int(p.seq_q),
          attn_int(p.seq_k),
          attn_int(p.head_dim),
          attn ? (p.causal ? "true" : "false") : "",
          soft(std::to_string(p.rows)),
          soft(std::to_string(p.cols)),
          matmul ? std::to_string(p.d3) : std::string(),
          soft_only(std::string(to_string(p.mask))),
          soft_only(num(p.dropout)),
          num(p.effective_scale()),
          params_label(r.c.params),
          std::string(to_string(r.status)),
          r.reason,
          t(timed ? r.timing->median_ms : 0),
          t(timed ? r.timing->mean_ms : 0),
          t(timed ? r.timing->std_ms : 0),
          t(timed ? r.timing->min_ms : 0),
          timed ? std::to_string(r.timing->samples) : "",
          t(r.tflops),
          t(r.gbps),
          opt(r.pct_peak_flops),
          opt(r.pct_peak_bw),
          r.status == Status::unsupported ? "" : num(r.peak_mem_mib),
          r.status == Status::unsupported ? "" : num(r.workspace_mib),
          opt(r.max_abs_err),
          opt(r.rel_l2_err),
          num(r.tolerance),
          r.gpu};
}

TextRow to_text_row(const Result& r) {
  TextRow row;
  auto fields = result_fields(r);
  for (std::size_t i = 0; i < fields.size(); ++i) row[result_columns()[i]] = fields[i];
  return row;
}

ordered_json row_to_json(const TextRow& row) {
  static const std::set<std::string> integer = {"batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim",
                                                "rows",  "cols",  "d3",       "samples"};
  static const std::set<std::string> real = {"dropout", "scale", "time_ms_median", "time_ms_mean", "time_ms_std",
                                             "time_ms_min", "tflops", "gbps", "pct_peak_flops", "pct_peak_bw",
                                             "peak_mem_mib", "workspace_mib", "max_abs_err", "rel_l2_err", "tolerance"};
  ordered_json j = ordered_json::object();
  for (const auto& col : result_columns()) {
    auto it = row.find(col);
    const std::string v = it == row.end() ? "" : it->second;
    if (v.empty() && col != "reason" && col != "params") {
      j[col] = nullptr;
    } else if (integer.count(col)) {
      j[col] = std::stoll(v);
    } else if (real.count(col)) {
      j[col] = std::stod(v);  // "inf" parses; nlohmann writes non-finite numbers as null
    } else if (col == "causal") {
      j[col] = v == "true";
    } else {
      j[col] = v;
    }
  }
  return j;
}

}  // namespace fabench
