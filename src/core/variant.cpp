#include "core/variant.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdexcept>

namespace fabench {

Params with_defaults(const Variant& v, const Params& requested) {
  Params out = requested;
  for (const auto& tp : v.params) out.emplace(tp.name, tp.default_value);
  return out;
}

static bool contains(const std::vector<std::int64_t>& xs, std::int64_t x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

std::optional<std::string> unsupported_reason(const Variant& v, const Problem& p, const Params& params,
                                              const DeviceCaps& caps) {
  if (v.backend == Backend::gpu && !caps.available) return caps.unavailable_reason;
  if (std::find(v.dtypes.begin(), v.dtypes.end(), p.dtype) == v.dtypes.end()) {
    std::vector<std::string_view> names;
    for (DType t : v.dtypes) names.push_back(to_string(t));
    return fmt::format("dtype {} not supported (supports {})", to_string(p.dtype), fmt::join(names, ", "));
  }
  if (!v.head_dims.empty() && !contains(v.head_dims, p.head_dim))
    return fmt::format("head_dim {} not compiled (compiled: {})", p.head_dim, fmt::join(v.head_dims, ", "));
  for (const auto& tp : v.params) {
    auto it = params.find(tp.name);
    if (it == params.end()) continue;
    if (tp.allowed.empty() ? it->second < 1 : !contains(tp.allowed, it->second))
      return fmt::format("{}={} not compiled (allowed: {})", tp.name, it->second,
                         tp.allowed.empty() ? std::string(">= 1") : fmt::format("{}", fmt::join(tp.allowed, ", ")));
  }
  if (v.supports) return v.supports(p, params, caps);
  return std::nullopt;
}

void Registry::add(Variant v) {
  if (find(v.name)) throw std::logic_error("variant registered twice: " + v.name);
  variants_.push_back(std::move(v));
}

const Variant* Registry::find(const std::string& name) const {
  for (const auto& v : variants_)
    if (v.name == name) return &v;
  return nullptr;
}

std::vector<const Variant*> Registry::for_op(OpKind op) const {
  std::vector<const Variant*> out;
  for (const auto& v : variants_)
    if (v.op == op) out.push_back(&v);
  return out;
}

}  // namespace fabench
