#include "report/seed_csv.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <set>
#include <stdexcept>

#include "report/csv.hpp"

namespace fabench {

namespace {

// Row fields by column name; "" where the file has no such column.
std::string field(const TextRow& row, const std::string& column) {
  auto it = row.find(column);
  return it == row.end() ? std::string() : it->second;
}

// Rows whose times stand: validated and timed (a timeout row has real samples, just fewer).
bool measured(const TextRow& row) {
  const std::string status = field(row, "status");
  return status == "ok" || status == "timeout";
}

// The value of the BLOCK parameter in a params label ("block=32,warps=4"), any case; "" if none.
std::string block_param(const std::string& params) {
  std::size_t start = 0;
  while (start < params.size()) {
    std::size_t end = params.find(',', start);
    if (end == std::string::npos) end = params.size();
    const std::string item = params.substr(start, end - start);
    const std::size_t eq = item.find('=');
    std::string key = item.substr(0, eq);
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    if (eq != std::string::npos && key == "block") return item.substr(eq + 1);
    start = end + 1;
  }
  return "";
}

const char* const kFused = "fused_softmax";
const char* const kTorch = "softmax_mult";

// The seed's implementation of `variant` under the defaults and the user's names; "" for none.
std::string softmax_matmul_name(const std::string& variant, const SeedNames& names) {
  if (auto it = names.find(variant); it != names.end()) return it->second;
  if (variant == "torch.softmax_matmul") return kTorch;
  if (variant.rfind("triton.", 0) == 0) return kFused;
  return "";
}

std::string attention_name(const std::string& variant, const SeedNames& names) {
  if (auto it = names.find(variant); it != names.end()) return it->second;
  if (variant == "fwd_bwd.fa2") return "flash_triton";
  if (variant == "torch.sdpa_efficient") return "pytorch_sdpa";
  return variant;
}

// fa-bench's fwd_bwd_status as the seed writes it: "OOM" (forward) and "OOM(backward)".
std::string seed_status(const std::string& status) {
  if (status == "oom(forward)") return "OOM";
  if (status == "oom(backward)") return "OOM(backward)";
  return status;
}

// What fa-bench knows of a row that the seed's columns drop, to say why two rows collide.
std::string row_origin(const TextRow& row) {
  return fmt::format("{}{}", field(row, "key"), field(row, "params").empty() ? "" : " " + field(row, "params"));
}

// The first column the seed drops in which two rows differ, as a --where that keeps the first.
std::string where_hint(const TextRow& a, const TextRow& b) {
  for (const char* column : {"experiment", "dtype", "batch", "causal", "heads", "kv_heads", "head_dim", "scale",
                             "mask", "dropout", "variant", "params"})
    if (field(a, column) != field(b, column)) return fmt::format("--where {}={}", column, field(a, column));
  return "--where";
}

void add_row(SeedTable& t, std::map<std::vector<std::string>, const TextRow*>& seen, std::vector<std::string> fields,
             std::size_t identity_columns, const TextRow& source) {
  std::vector<std::string> identity(fields.begin(), fields.begin() + static_cast<std::ptrdiff_t>(identity_columns));
  auto [it, fresh] = seen.emplace(identity, &source);
  if (!fresh)
    throw std::invalid_argument(fmt::format(
        "two rows become the same row of the seed's table ({}): {} and {}; the seed has no column for what tells "
        "them apart, so keep one with {} or name them apart with --seed-name",
        fmt::join(identity, ", "), row_origin(*it->second), row_origin(source), where_hint(*it->second, source)));
  t.rows.push_back(std::move(fields));
}

SeedTable softmax_matmul_table(const std::vector<TextRow>& rows, const SeedNames& names) {
  SeedTable t;
  t.header = seed_columns(SeedFormat::softmax_matmul_004);
  std::set<std::string> unnamed;
  std::map<std::vector<std::string>, const TextRow*> seen;
  for (const TextRow& row : rows) {
    if (field(row, "op") != "softmax_matmul") continue;
    const std::string variant = field(row, "variant");
    const std::string name = softmax_matmul_name(variant, names);
    if (name.empty()) {
      unnamed.insert(variant);
      continue;
    }
    if (name != kFused && name != kTorch)
      throw std::invalid_argument(fmt::format("--seed-name {}={}: seed 004's softmax-matmul table knows {} (triton "
                                              "True) and {} (triton False)", variant, name, kFused, kTorch));
    const bool ok = measured(row);
    auto when_ok = [&](const char* column) { return ok ? field(row, column) : std::string(); };
    add_row(t, seen,
            {field(row, "batch"), field(row, "rows"), field(row, "cols"), field(row, "d3"),
             name == kFused ? "True" : "False", block_param(field(row, "params")), when_ok("time_ms_mean"),
             when_ok("time_ms_std"), when_ok("peak_mem_mib")},
            6, row);
  }
  if (!unnamed.empty())
    t.notes.push_back(fmt::format("left out (seed 004 names only {} and {}; add one with --seed-name VARIANT={}): {}",
                                  kFused, kTorch, kFused, fmt::join(unnamed, ", ")));
  return t;
}

SeedTable attention_table(const std::vector<TextRow>& rows, const SeedNames& names) {
  SeedTable t;
  t.header = seed_columns(SeedFormat::attention_004);
  std::set<std::string> uneven;
  std::map<std::vector<std::string>, const TextRow*> seen;
  for (const TextRow& row : rows) {
    if (field(row, "op") != "attention_fwd_bwd") continue;
    if (field(row, "seq_q") != field(row, "seq_k")) {  // the seed's one seq_len
      uneven.insert(field(row, "key"));
      continue;
    }
    // d_model: one projection's width, heads x head_dim (seed 004 runs one head of d_model 64).
    const std::string heads = field(row, "heads"), head_dim = field(row, "head_dim");
    if (heads.empty() || head_dim.empty())
      throw std::invalid_argument(fmt::format("row {}: no heads or head_dim", field(row, "key")));
    const std::string d_model = std::to_string(std::stoll(heads) * std::stoll(head_dim));
    add_row(t, seen,
            {attention_name(field(row, "variant"), names), d_model, field(row, "seq_q"), field(row, "forward_ms"),
             field(row, "forward_peak_MiB"), field(row, "backward_ms"), field(row, "backward_peak_MiB"),
             field(row, "saved_activations_MiB"), seed_status(field(row, "fwd_bwd_status")), field(row, "gpu")},
            3, row);
  }
  if (!uneven.empty())
    t.notes.push_back(fmt::format("left out {} case(s) with seq_q != seq_k (the seed has one seq_len)", uneven.size()));
  return t;
}

}  // namespace

std::optional<SeedFormat> parse_seed_format(std::string_view s) {
  if (s == "004-softmax-matmul") return SeedFormat::softmax_matmul_004;
  if (s == "004-attention") return SeedFormat::attention_004;
  return std::nullopt;
}

const char* seed_format_choices() { return "004-softmax-matmul, 004-attention"; }

const std::vector<std::string>& seed_columns(SeedFormat f) {
  static const std::vector<std::string> softmax_matmul = {
      "batch_size", "d1", "d2", "d3", "triton", "BLOCK", "forward_ms_mean", "forward_ms_std", "forward_peak_MiB"};
  static const std::vector<std::string> attention = {
      "implementation", "d_model",           "seq_len",
      "forward_ms",     "forward_peak_MiB",  "backward_ms",
      "backward_peak_MiB", "saved_activations_MiB", "status",
      "gpu"};
  return f == SeedFormat::softmax_matmul_004 ? softmax_matmul : attention;
}

SeedTable to_seed_table(SeedFormat f, const std::vector<TextRow>& rows, const SeedNames& names) {
  SeedTable t = f == SeedFormat::softmax_matmul_004 ? softmax_matmul_table(rows, names) : attention_table(rows, names);
  if (t.rows.empty()) {
    const bool softmax_matmul = f == SeedFormat::softmax_matmul_004;
    throw std::invalid_argument(fmt::format("no {} rows to write{}{} (seed 004's sweep: {})",
                                            softmax_matmul ? "softmax_matmul" : "attention_fwd_bwd",
                                            t.notes.empty() ? "" : "; ", t.notes.empty() ? "" : t.notes.front(),
                                            softmax_matmul ? "configs/softmax_matmul.json" : "configs/backward.json"));
  }
  return t;
}

std::string seed_csv_text(const SeedTable& t) {
  std::string out;
  auto line = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_escape(fields[i]);
    out += "\n";
  };
  line(t.header);
  for (const auto& row : t.rows) line(row);
  return out;
}

}  // namespace fabench
