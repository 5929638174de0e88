#include "variants/user_variants.hpp"

#include <fmt/format.h>
#include <stdexcept>

namespace fabench {

std::string user_variant_problem(const Variant& v) {
  if (v.name.empty()) return "a variant has no name";
  if (v.name.find('.') == std::string::npos)
    return fmt::format("variant \"{}\": names are <family>.<version>, e.g. \"user.{}\"", v.name, v.name);
  if (v.name.find_first_of(" \t\n,\"") != std::string::npos)
    return fmt::format("variant \"{}\": no spaces, commas or quotes in a name (it is a CSV field and a regex target)", v.name);
  if (!v.launch) return fmt::format("variant {}: no launch function", v.name);
  if (v.dtypes.empty()) return fmt::format("variant {}: no dtypes (list those it accepts)", v.name);
  for (const auto& tp : v.params) {
    if (tp.name.empty()) return fmt::format("variant {}: a parameter has no name", v.name);
    bool default_allowed = tp.allowed.empty() ? tp.default_value >= 1 : false;
    for (auto value : tp.allowed) default_allowed = default_allowed || value == tp.default_value;
    if (!default_allowed)
      return fmt::format("variant {}: parameter {}'s default {} is not among its allowed values", v.name, tp.name,
                         tp.default_value);
  }
  return "";
}

void register_user_block(Registry& r, const std::string& origin, void (*register_fn)(Registry&)) {
  const std::size_t before = r.all().size();
  try {
    register_fn(r);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("FABENCH_USER_KERNELS, {}: {}", origin, e.what()));
  }
  for (std::size_t i = before; i < r.all().size(); ++i)
    if (std::string why = user_variant_problem(r.all()[i]); !why.empty())
      throw std::runtime_error(fmt::format("FABENCH_USER_KERNELS, {}: {}", origin, why));
}

}  // namespace fabench
