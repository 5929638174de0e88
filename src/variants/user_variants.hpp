#pragma once
// Variants from outside the tree (-DFABENCH_USER_KERNELS, docs/byo_kernels.md). The build generates
// register_user_variants (cmake/user_kernels.cmake): one register_user_block call per
// FABENCH_USER_VARIANTS block of the user's folder; without the option it registers nothing.
#include <string>

#include "core/variant.hpp"

namespace fabench {

void register_user_variants(Registry& r);

// Runs one user registration function and checks what it added, so a mistake in a user's file is
// an error that names the file and the variant rather than a crash in the middle of a sweep.
void register_user_block(Registry& r, const std::string& origin, void (*register_fn)(Registry&));

// Why `v` cannot be registered (empty name, no launcher, no dtypes, ...), or "" when it can.
std::string user_variant_problem(const Variant& v);

}  // namespace fabench
