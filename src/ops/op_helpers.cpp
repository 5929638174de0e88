#include "ops/op_helpers.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace fabench {

std::string describe_json(const nlohmann::ordered_json& j) {
  std::string s = j.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

AxisSpec dtype_axis() { return choice_axis("dtype", parse_dtype, dtype_choices, &Problem::dtype); }

AxisSpec scale_axis() {
  return {"scale", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (v.is_null() || (v.is_string() && v.get<std::string>() == "default")) {
              p.scale.reset();
              return {};
            }
            if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
              return fmt::format("expected a positive number or \"default\", got {}", describe_json(v));
            p.scale = v.get<double>();
            return {};
          }};
}

std::string positive_int_error(const nlohmann::ordered_json& v, std::int64_t& out) {
  if (!v.is_number_integer()) return fmt::format("expected a positive integer, got {}", describe_json(v));
  // Above 2^63 - 1 nlohmann holds an unsigned that get<int64_t> would wrap to a negative.
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    return fmt::format("{} is too large", describe_json(v));
  out = v.get<std::int64_t>();
  if (out < 1) return fmt::format("{} is not a positive integer", out);
  return {};
}

AxisSpec positive_int_axis(std::string name, std::int64_t Problem::*field) {
  return {std::move(name), [field](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            std::int64_t n = 0;
            if (auto e = positive_int_error(v, n); !e.empty()) return e;
            p.*field = n;
            return {};
          }};
}

AxisSpec bool_axis(std::string name, bool Problem::*field) {
  return {std::move(name), [field](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (!v.is_boolean()) return fmt::format("expected true or false, got {}", describe_json(v));
            p.*field = v.get<bool>();
            return {};
          }};
}

AxisSpec head_dim_axis(std::vector<std::int64_t> dims) {
  return {"head_dim", [dims = std::move(dims)](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            std::int64_t n = 0;
            if (auto e = positive_int_error(v, n); !e.empty()) return e;
            if (std::find(dims.begin(), dims.end(), n) == dims.end())
              return fmt::format("{} is not one of {}", n, fmt::join(dims, ", "));
            p.head_dim = n;
            return {};
          }};
}

AxisSpec seq_len_axis() {
  return {"seq_len", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            std::int64_t n = 0;
            if (auto e = positive_int_error(v, n); !e.empty()) return e;
            p.seq_q = p.seq_k = n;
            return {};
          }};
}

std::string seq_required(const AxisGiven& given, std::initializer_list<const char*> others) {
  if (given("seq_len") && (given("seq_q") || given("seq_k")))
    return "give either \"seq_len\" or \"seq_q\" and \"seq_k\", not both";
  if (!given("seq_len") && !(given("seq_q") && given("seq_k"))) return "missing \"seq_len\" (or \"seq_q\" and \"seq_k\")";
  return first_missing(given, others);
}

std::string first_missing(const AxisGiven& given, std::initializer_list<const char*> axes) {
  for (const char* axis : axes)
    if (!given(axis)) return fmt::format("missing \"{}\"", axis);
  return {};
}

std::string scale_key(const Problem& p) { return p.scale ? fmt::format("{:g}", *p.scale) : "default"; }

double unit_scale(const Problem&) { return 1.0; }

std::string csv_real(double v) { return fmt::format("{:.6g}", v); }

std::string row_text(const TextRow& row, const std::string& column) {
  auto it = row.find(column);
  return it == row.end() ? std::string() : it->second;
}

std::string row_heads_text(const TextRow& r) {
  return row_text(r, "kv_heads") == row_text(r, "heads") ? "h" + row_text(r, "heads")
                                                         : "h" + row_text(r, "heads") + "/" + row_text(r, "kv_heads");
}

double inverse_sqrt_head_dim(const Problem& p) { return 1.0 / std::sqrt(static_cast<double>(p.head_dim)); }

}  // namespace fabench
