// FLOP and byte models.
#include <catch2/catch.hpp>

#include "core/models.hpp"
#include "ops/registry.hpp"
#include "reference/attention_reference.hpp"
#include "helpers.hpp"

using namespace fabench;

namespace {
Problem attention(std::int64_t b, std::int64_t h, std::int64_t kv, std::int64_t sq, std::int64_t sk,
                  std::int64_t d, bool causal, DType t = DType::bf16) {
  return test::attention(b, h, kv, sq, sk, d, causal, t);
}
}  // namespace

TEST_CASE("attention forward FLOPs are 4*B*H*Sq*Sk*d", "[models]") {
  CHECK(model_flops(attention(2, 16, 16, 1024, 1024, 64, false)) == Approx(4.0 * 2 * 16 * 1024 * 1024 * 64));
  CHECK(model_flops(attention(1, 1, 1, 3, 5, 2, false)) == Approx(4.0 * 3 * 5 * 2));
}

TEST_CASE("causal FLOPs count exactly the unmasked scores", "[models]") {
  for (auto [sq, sk] : {std::pair<int, int>{1, 1}, {7, 7}, {5, 9}, {9, 5}, {1, 100}, {100, 1}, {64, 64}}) {
    double brute = 0;
    Problem p = attention(1, 1, 1, sq, sk, 1, true);
    for (int i = 0; i < sq; ++i) brute += static_cast<double>(attention_visible_keys(p, i));
    INFO(sq << "x" << sk);
    CHECK(causal_pairs(sq, sk) == Approx(brute));
    CHECK(model_flops(p) == Approx(4.0 * brute));
  }
  // Sq == Sk: n(n+1)/2, about half.
  CHECK(causal_pairs(4096, 4096) == Approx(4096.0 * 4097 / 2));
}

TEST_CASE("bytes: each input read once, each output written once", "[models]") {
  // bf16 Q,O: 2*16*1024*64 elements each; K,V with 4 kv heads; lse fp32.
  Problem p = attention(2, 16, 4, 1024, 1024, 64, false);
  double q = 2.0 * 16 * 1024 * 64, kv = 2.0 * 4 * 1024 * 64;
  CHECK(model_bytes(p) == Approx((2 * q + 2 * kv) * 2 + 4.0 * 2 * 16 * 1024));
  Problem s;
  s.op = OpKind::softmax;
  s.rows = 8;
  s.cols = 16;
  CHECK(model_bytes(s) == Approx(2.0 * 8 * 16 * 4));
  s.mask = MaskKind::tensor;
  CHECK(model_bytes(s) == Approx(2.0 * 8 * 16 * 4 + 8 * 16));
  s.mask = MaskKind::lengths;
  s.dtype = DType::fp16;
  CHECK(model_bytes(s) == Approx(2.0 * 8 * 16 * 2 + 4 * 8));
  CHECK(model_flops(s) == Approx(5.0 * 8 * 16));
}

TEST_CASE("softmax_matmul FLOPs and bytes", "[models]") {
  Problem p;
  p.op = OpKind::softmax_matmul;
  p.dtype = DType::fp16;
  p.batch = 16;
  p.rows = 2048;
  p.cols = 64;
  p.d3 = 512;
  const double x = 16.0 * 2048 * 64;
  CHECK(model_flops(p) == Approx(2.0 * x * 512 + 5.0 * x));
  CHECK(model_bytes(p) == Approx(16.0 * (2048.0 * 64 + 64.0 * 512 + 2048.0 * 512) * 2));
}
