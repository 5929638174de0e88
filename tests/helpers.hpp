#pragma once
// Shared by the test files: the registry of this build and problem builders.
#include <string>
#include <vector>

#include "config/expand.hpp"
#include "config/plan.hpp"
#include "core/problem.hpp"
#include "core/variant.hpp"

namespace fabench::test {

inline const Registry& registry() {
  static const Registry r = [] {
    Registry x;
    register_all_variants(x);
    return x;
  }();
  return r;
}

inline Problem attention(std::int64_t b, std::int64_t h, std::int64_t kv, std::int64_t sq, std::int64_t sk,
                         std::int64_t d, bool causal = false, DType t = DType::fp32, std::uint64_t seed = 7) {
  Problem p;
  p.op = OpKind::attention;
  p.dtype = t;
  p.batch = b;
  p.heads = h;
  p.kv_heads = kv;
  p.seq_q = sq;
  p.seq_k = sk;
  p.head_dim = d;
  p.causal = causal;
  p.seed = seed;
  return p;
}

// The cases of an experiment file's text; its plan is kept, since cases point into its experiments.
inline std::vector<ExpandedCase> expand(const std::string& text) {
  static std::vector<Plan> plans;
  plans.push_back(parse_plan(text, registry(), "test.json"));
  return expand_plan(plans.back(), registry());
}

// The message of the ConfigError that parsing and expanding `text` raises, or "(no error)".
inline std::string expand_error(const std::string& text) {
  try {
    expand(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace fabench::test
