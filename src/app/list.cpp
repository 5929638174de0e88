#include "app/list.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ops/registry.hpp"

namespace fabench {

std::string describe_variants(const Registry& registry) {
  std::string out;
  for (const Variant& v : registry.all()) {
    std::vector<std::string_view> dtypes;
    for (DType t : v.dtypes) dtypes.push_back(to_string(t));
    out += fmt::format("{}  [{} {}]\n  {}\n  dtypes: {}\n", v.name, to_string(v.op),
                       v.backend == Backend::gpu ? "gpu" : "cpu", v.summary, fmt::join(dtypes, ", "));
    if (const OpSpec& op = op_spec(v.op); op.list_details) out += op.list_details(v);
    for (const auto& tp : v.params)
      out += fmt::format("  param {} (default {}; {}): {}\n", tp.name, tp.default_value,
                         tp.allowed.empty() ? std::string("any >= 1")
                                            : fmt::format("compiled: {}", fmt::join(tp.allowed, ", ")),
                         tp.help);
    if (!v.constraints.empty()) out += fmt::format("  constraints: {}\n", v.constraints);
    out += "\n";
  }
  return out;
}

}  // namespace fabench
