// The CPU FlashAttention-2 against the reference at odd shapes.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/op_tensors.hpp"
#include "helpers.hpp"
#include "kernels/cpu/flash2_cpu.h"
#include "run/host_tensors.hpp"
#include "run/validate.hpp"
#include "variants/kernel_args.hpp"

using namespace fabench;

TEST_CASE("CPU flash2 matches the reference at odd shapes, causal, GQA", "[flash_cpu]") {
  struct Shape {
    std::int64_t b, h, kv, sq, sk, d;
  };
  const Shape shapes[] = {{1, 1, 1, 1, 1, 8},    {2, 3, 3, 17, 17, 16}, {1, 4, 2, 33, 70, 8},
                          {2, 2, 1, 70, 33, 24}, {1, 2, 2, 100, 100, 5}};
  for (const Shape& s : shapes)
    for (bool causal : {false, true})
      for (auto [bm, bn] : {std::pair<int, int>{8, 8}, {16, 32}, {64, 16}}) {
        Problem p = test::attention(s.b, s.h, s.kv, s.sq, s.sk, s.d, causal, DType::fp32, 11);
        auto tensors = make_host_tensors(p);
        std::vector<void*> ptrs;
        for (auto& t : tensors) {
          if (t.spec.output) std::fill(t.bytes.begin(), t.bytes.end(), 0xFF);  // NaN poison
          ptrs.push_back(t.data());
        }
        flash2_cpu(cpu_attention_args(p, ptrs), bm, bn);
        ValidationSettings vs;
        vs.max_rows = 100000;
        Validation v = validate_outputs(p, tensors, vs);
        INFO(p.key() << " Br=" << bm << " Bc=" << bn << ": " << v.reason);
        CHECK(v.passed);
        CHECK(v.rel_l2 < 1e-5);
        CHECK(v.rows_checked == s.b * s.h * s.sq);
      }
}
