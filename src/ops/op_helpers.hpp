#pragma once
// What several ops share: axis parsers, key pieces and CSV number text.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/op.hpp"

namespace fabench {

// A JSON value for an error message, cut to 60 characters.
std::string describe_json(const nlohmann::ordered_json& j);

// A name from a fixed list (parse gives nothing for others; choices() lists them for the error).
template <class T>
AxisSpec choice_axis(std::string name, std::optional<T> (*parse)(std::string_view), const char* (*choices)(),
                     T Problem::*field) {
  return {std::move(name), [=](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (!v.is_string()) return "expected a string, got " + describe_json(v);
            auto value = parse(v.get<std::string>());
            if (!value) return describe_json(v) + " is not one of " + choices();
            p.*field = *value;
            return {};
          }};
}

AxisSpec dtype_axis();
// A positive number, or null / "default" for the op's default scale.
AxisSpec scale_axis();
// A positive integer stored in `field` (e.g. &Problem::rows).
AxisSpec positive_int_axis(std::string name, std::int64_t Problem::*field);
// true or false stored in `field` (e.g. &Problem::causal).
AxisSpec bool_axis(std::string name, bool Problem::*field);
// "head_dim": one of `dims` (the head dims an op's kernels are written for).
AxisSpec head_dim_axis(std::vector<std::int64_t> dims);
// "seq_len": a positive integer that sets seq_q and seq_k together (square attention shapes).
AxisSpec seq_len_axis();
// The attention-shaped ops' rule: "seq_len", or both "seq_q" and "seq_k"; then `others`.
std::string seq_required(const AxisGiven& given, std::initializer_list<const char*> others);
// Checks a positive integer; the error text, or "" with `out` set.
std::string positive_int_error(const nlohmann::ordered_json& v, std::int64_t& out);

// "missing \"rows\"" for the first of `axes` not given, or "".
std::string first_missing(const AxisGiven& given, std::initializer_list<const char*> axes);

// The scale as it appears in keys: "0.5", or "default" when unset.
std::string scale_key(const Problem& p);
double unit_scale(const Problem& p);

// A real number as every CSV column writes it (%.6g).
std::string csv_real(double v);

// A result row's column, "" when the row has no such column.
std::string row_text(const TextRow& row, const std::string& column);
// "h32" when a row's kv_heads equal its heads, else "h32/8".
std::string row_heads_text(const TextRow& row);

// 1 / sqrt(head_dim): the default scale of every attention-shaped op (attention, its backward,
// sparse attention, decode, generate).
double inverse_sqrt_head_dim(const Problem& p);

}  // namespace fabench
