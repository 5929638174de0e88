#pragma once
// Shared by the test files: the registry of this build and problem builders.
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

}  // namespace fabench::test
