// The CPU references against hand-computed cases and identities.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/common/philox.h"
#include "helpers.hpp"
#include "reference/attention_reference.hpp"
#include "reference/softmax_matmul_reference.hpp"
#include "reference/softmax_reference.hpp"

using namespace fabench;

namespace {
Problem softmax(std::int64_t rows, std::int64_t cols) {
  Problem p;
  p.op = OpKind::softmax;
  p.rows = rows;
  p.cols = cols;
  return p;
}
std::vector<double> softmax_row(const Problem& p, std::int64_t r, const std::vector<float>& x,
                                const std::uint8_t* mask = nullptr, std::int32_t length = 0) {
  std::vector<double> y(x.size());
  softmax_reference_row(p, r, x.data(), mask, length, y.data());
  return y;
}
}  // namespace

TEST_CASE("softmax of [1, 2, 3] by hand", "[reference]") {
  auto y = softmax_row(softmax(1, 3), 0, {1, 2, 3});
  const double e = std::exp(1.0), z = e + e * e + e * e * e;
  CHECK(y[0] == Approx(e / z).epsilon(1e-12));
  CHECK(y[1] == Approx(e * e / z).epsilon(1e-12));
  CHECK(y[2] == Approx(e * e * e / z).epsilon(1e-12));
}

TEST_CASE("softmax scale multiplies the logits", "[reference]") {
  Problem p = softmax(1, 3);
  p.scale = 2.0;
  auto scaled = softmax_row(p, 0, {1, 2, 3});
  auto doubled = softmax_row(softmax(1, 3), 0, {2, 4, 6});
  for (int i = 0; i < 3; ++i) CHECK(scaled[i] == Approx(doubled[i]).epsilon(1e-12));
}

TEST_CASE("softmax of huge logits does not overflow and equal logits are uniform", "[reference]") {
  auto y = softmax_row(softmax(1, 4), 0, {3e38f, 3e38f, -3e38f, 1});
  CHECK(y[0] == Approx(0.5));
  CHECK(y[1] == Approx(0.5));
  CHECK(y[2] == 0.0);
  auto u = softmax_row(softmax(1, 5), 0, {7, 7, 7, 7, 7});
  for (double v : u) CHECK(v == Approx(0.2));
}

TEST_CASE("softmax masks causal, tensor and lengths, fully masked rows are zeros", "[reference]") {
  Problem p = softmax(6, 3);
  p.mask = MaskKind::causal;
  auto row1 = softmax_row(p, 1, {5, 5, 100});  // row 1 keeps columns 0 and 1
  CHECK(row1[0] == Approx(0.5));
  CHECK(row1[2] == 0.0);
  auto row4 = softmax_row(p, 4, {5, 5, 100});  // 4 mod 3 = 1: the same as row 1
  CHECK(row4 == row1);

  p.mask = MaskKind::tensor;
  const std::uint8_t keep[3] = {1, 0, 1};
  auto t = softmax_row(p, 0, {1, 50, 1}, keep);
  CHECK(t[0] == Approx(0.5));
  CHECK(t[1] == 0.0);
  const std::uint8_t none[3] = {0, 0, 0};
  for (double v : softmax_row(p, 0, {1, 2, 3}, none)) CHECK(v == 0.0);

  p.mask = MaskKind::lengths;
  auto l = softmax_row(p, 0, {1, 1, 9}, nullptr, 2);
  CHECK(l[0] == Approx(0.5));
  CHECK(l[2] == 0.0);
  for (double v : softmax_row(p, 0, {1, 2, 3}, nullptr, 0)) CHECK(v == 0.0);
}

TEST_CASE("dropout regenerates the Philox decisions and rescales kept values", "[reference]") {
  const std::int64_t cols = 4097;  // not a multiple of 4: lanes straddle rows
  Problem p = softmax(3, cols);
  p.dropout = 0.25;
  p.seed = 1234;
  std::vector<float> x(cols);
  for (std::int64_t c = 0; c < cols; ++c) x[c] = static_cast<float>(std::sin(0.37 * c));
  Problem plain = p;
  plain.dropout = 0;
  const std::uint32_t threshold = dropout_threshold(0.25);
  std::int64_t dropped = 0;
  for (std::int64_t r = 0; r < 3; ++r) {
    auto y = softmax_row(p, r, x), base = softmax_row(plain, r, x);
    for (std::int64_t c = 0; c < cols; ++c) {
      bool keep = dropout_keep(p.seed, static_cast<std::uint64_t>(r * cols + c), threshold);
      if (keep) {
        CHECK(y[c] == Approx(base[c] / 0.75).epsilon(1e-12));
      } else {
        CHECK(y[c] == 0.0);
        ++dropped;
      }
    }
  }
  CHECK(dropped == Approx(0.25 * 3 * cols).margin(0.02 * 3 * cols));
  // Another seed drops other elements.
  int differ = 0;
  for (std::uint64_t e = 0; e < 64; ++e) differ += dropout_keep(1, e, threshold) != dropout_keep(2, e, threshold);
  CHECK(differ > 5);
}

TEST_CASE("Philox4x32-10 known-answer vector", "[reference]") {
  // Random123's published test vector for philox4x32-10 with counter and key all zero.
  Philox4 r = philox4x32_10(0, 0);
  CHECK(r.x[0] == 0x6627e8d5u);
  CHECK(r.x[1] == 0xe169c58du);
  CHECK(r.x[2] == 0xbc57ac4cu);
  CHECK(r.x[3] == 0x9b00dbd8u);
}

namespace {
Problem attention(std::int64_t b, std::int64_t h, std::int64_t kv, std::int64_t sq, std::int64_t sk, std::int64_t d) {
  return test::attention(b, h, kv, sq, sk, d);
}
std::vector<float> pattern(std::size_t n, double f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(std::sin(f * static_cast<double>(i + 1)));
  return v;
}
}  // namespace

TEST_CASE("attention with a single key returns that key's value", "[reference]") {
  Problem p = attention(1, 1, 1, 3, 1, 4);
  auto q = pattern(12, 0.3), k = pattern(4, 0.7), v = pattern(4, 1.1);
  for (int i = 0; i < 3; ++i) {
    std::vector<double> o(4);
    double lse = 0;
    attention_reference_row(p, q.data(), k.data(), v.data(), 0, 0, i, o.data(), &lse);
    for (int c = 0; c < 4; ++c) CHECK(o[c] == Approx(v[c]));
    double dot = 0;
    for (int c = 0; c < 4; ++c) dot += static_cast<double>(q[i * 4 + c]) * k[c];
    CHECK(lse == Approx(dot / 2.0));  // log(exp(s)) = s, s = dot / sqrt(4)
  }
}

TEST_CASE("uniform scores give the mean of V and lse = log(seq_k)", "[reference]") {
  Problem p = attention(1, 1, 1, 2, 5, 3);
  std::vector<float> q(6, 0.0f);  // zero query: every score is 0
  auto k = pattern(15, 0.9), v = pattern(15, 0.4);
  std::vector<double> o(3);
  double lse = 0;
  attention_reference_row(p, q.data(), k.data(), v.data(), 0, 0, 1, o.data(), &lse);
  for (int c = 0; c < 3; ++c) {
    double mean = 0;
    for (int j = 0; j < 5; ++j) mean += v[j * 3 + c] / 5.0;
    CHECK(o[c] == Approx(mean));
  }
  CHECK(lse == Approx(std::log(5.0)));
}

TEST_CASE("GQA equals MHA with K and V repeated per query head", "[reference]") {
  const int b = 2, h = 4, kv = 2, s = 3, d = 2;
  Problem gqa = attention(b, h, kv, s, s, d), mha = attention(b, h, h, s, s, d);
  auto q = pattern(b * h * s * d, 0.31), k = pattern(b * kv * s * d, 0.57), v = pattern(b * kv * s * d, 0.83);
  std::vector<float> k_rep, v_rep;  // [b, h, s, d] with head h reading kv head h / 2
  for (int bi = 0; bi < b; ++bi)
    for (int hi = 0; hi < h; ++hi)
      for (int x = 0; x < s * d; ++x) {
        k_rep.push_back(k[(bi * kv + hi / 2) * s * d + x]);
        v_rep.push_back(v[(bi * kv + hi / 2) * s * d + x]);
      }
  for (int bi = 0; bi < b; ++bi)
    for (int hi = 0; hi < h; ++hi)
      for (int i = 0; i < s; ++i) {
        std::vector<double> o1(d), o2(d);
        double l1 = 0, l2 = 0;
        attention_reference_row(gqa, q.data(), k.data(), v.data(), bi, hi, i, o1.data(), &l1);
        attention_reference_row(mha, q.data(), k_rep.data(), v_rep.data(), bi, hi, i, o2.data(), &l2);
        CHECK(l1 == Approx(l2));
        for (int c = 0; c < d; ++c) CHECK(o1[c] == Approx(o2[c]));
      }
}

TEST_CASE("causal masking is aligned to the bottom right", "[reference]") {
  Problem p = attention(1, 1, 1, 2, 5, 1);
  p.causal = true;
  CHECK(attention_visible_keys(p, 0) == 4);  // last query sees every key
  CHECK(attention_visible_keys(p, 1) == 5);
  Problem tall = attention(1, 1, 1, 5, 2, 1);
  tall.causal = true;
  CHECK(attention_visible_keys(tall, 0) == 0);  // sees nothing: O = 0, lse = -inf
  CHECK(attention_visible_keys(tall, 3) == 1);
  CHECK(attention_visible_keys(tall, 4) == 2);
  std::vector<float> q(5, 1.0f), k = {1.0f, 2.0f}, v = {3.0f, 4.0f};
  std::vector<double> o(1);
  double lse = 0;
  attention_reference_row(tall, q.data(), k.data(), v.data(), 0, 0, 0, o.data(), &lse);
  CHECK(o[0] == 0.0);
  CHECK((std::isinf(lse) && lse < 0));
  attention_reference_row(tall, q.data(), k.data(), v.data(), 0, 0, 3, o.data(), &lse);
  CHECK(o[0] == Approx(3.0));  // only key 0 is visible
}

TEST_CASE("softmax(X) @ V by hand", "[reference]") {
  Problem p;
  p.op = OpKind::softmax_matmul;
  p.batch = 2;
  p.rows = 1;
  p.cols = 2;
  p.d3 = 2;
  // batch 1: x = [0, log 3] gives weights 1/4, 3/4; v rows [1, 2] and [5, 6]
  std::vector<float> x = {9, 9, 0.0f, static_cast<float>(std::log(3.0))};
  std::vector<float> v = {0, 0, 0, 0, 1, 2, 5, 6};
  std::vector<double> out(2);
  softmax_matmul_reference_row(p, x.data(), v.data(), 1, 0, out.data());
  CHECK(out[0] == Approx(0.25 * 1 + 0.75 * 5));
  CHECK(out[1] == Approx(0.25 * 2 + 0.75 * 6));
  softmax_matmul_reference_row(p, x.data(), v.data(), 0, 0, out.data());  // batch 0: v is zero
  CHECK(out[0] == 0.0);
}
