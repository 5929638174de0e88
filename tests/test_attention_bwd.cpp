// Ops attention_bwd and attention_fwd_bwd (issue 19, src/ops/attention_bwd.cpp,
// attention_fwd_bwd.cpp): the double reference against central finite differences of the forward
// in float64 (causal or not, seq_q != seq_k, GQA, a custom scale), GQA gradients as the MHA ones
// summed over each group, causal alignment, the row functions against the full pass, the blocked
// forward that derives O and lse, config errors by JSON path, models, validation that fails on
// wrong gradients, and both CPU variants end to end through the sweep.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "app/sweep.hpp"
#include "core/seeded_random.hpp"
#include "helpers.hpp"
#include "ops/attention_fwd_bwd.hpp"
#include "ops/registry.hpp"
#include "reference/attention_bwd_reference.hpp"
#include "reference/attention_reference.hpp"
#include "report/csv.hpp"
#include "run/host_tensors.hpp"

using namespace fabench;

namespace {

using test::expand;
std::string error_of(const std::string& text) { return test::expand_error(text); }

Problem bwd_problem(std::int64_t b, std::int64_t h, std::int64_t kv, std::int64_t sq, std::int64_t sk, std::int64_t d,
                    bool causal, DType t = DType::fp32) {
  Problem p = test::attention(b, h, kv, sq, sk, d, causal, t, 11);
  p.op = OpKind::attention_bwd;
  return p;
}

std::vector<double> random_values(std::size_t n, std::uint64_t seed) {
  SplitMix rng{seed};
  std::vector<double> x(n);
  for (double& v : x) v = 2.0 * rng.uniform() - 1.0;
  return x;
}

// Tensors of a problem in double, with the forward's O and lse, and the reference's gradients.
struct DoubleCase {
  Problem p;
  std::vector<double> q, k, v, d_o, o, lse, dq, dk, dv;

  explicit DoubleCase(const Problem& problem, std::uint64_t seed = 1) : p(problem) {
    const auto q_elems = static_cast<std::size_t>(p.batch * p.heads * p.seq_q * p.head_dim);
    const auto kv_elems = static_cast<std::size_t>(p.batch * p.kv_heads * p.seq_k * p.head_dim);
    q = random_values(q_elems, seed);
    k = random_values(kv_elems, seed + 1);
    v = random_values(kv_elems, seed + 2);
    d_o = random_values(q_elems, seed + 3);
    gradients();
  }

  void forward(std::vector<double>& o_out, std::vector<double>& lse_out) const {
    o_out.assign(q.size(), 0.0);
    lse_out.assign(static_cast<std::size_t>(p.batch * p.heads * p.seq_q), 0.0);
    attention_forward_reference(p, q.data(), k.data(), v.data(), o_out.data(), lse_out.data());
  }

  void gradients() {
    forward(o, lse);
    const std::vector<double> delta = attention_bwd_deltas(p, o.data(), d_o.data());
    const AttentionBwdInputs<double> in{q.data(), k.data(), v.data(), o.data(), d_o.data(), lse.data(), delta.data()};
    dq.assign(q.size(), 0.0);
    dk.assign(k.size(), 0.0);
    dv.assign(v.size(), 0.0);
    attention_bwd_reference(p, in, dq.data(), dk.data(), dv.data());
  }

  // The loss whose gradients these are: sum(dO * O).
  double loss() const {
    std::vector<double> o_now, lse_now;
    forward(o_now, lse_now);
    double l = 0;
    for (std::size_t i = 0; i < o_now.size(); ++i) l += d_o[i] * o_now[i];
    return l;
  }
};

// Central differences of the loss over every element of x, against `grad`: the worst
// |fd - grad| / (1 + |grad|).
double worst_fd_error(DoubleCase& c, std::vector<double>& x, const std::vector<double>& grad) {
  constexpr double h = 1e-5;
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = c.loss();
    x[i] = keep - h;
    const double down = c.loss();
    x[i] = keep;
    worst = std::max(worst, std::fabs((up - down) / (2 * h) - grad[i]) / (1 + std::fabs(grad[i])));
  }
  return worst;
}

ValidationSettings all_rows() {
  ValidationSettings s;
  s.max_rows = 1 << 20;
  return s;
}

std::vector<void*> pointers(std::vector<HostTensor>& host) {
  std::vector<void*> ptrs;
  for (auto& t : host) ptrs.push_back(t.data());
  return ptrs;
}

// Runs a CPU variant's launch on host tensors with poisoned outputs, as the harness does.
std::vector<HostTensor> run_cpu_variant(const Problem& p, const char* variant, LaunchMetrics* metrics = nullptr) {
  auto host = make_host_tensors(p);
  for (auto& t : host)
    if (t.spec.output) std::fill(t.bytes.begin(), t.bytes.end(), 0xFF);
  const auto ptrs = pointers(host);
  const Params params;
  test::registry().find(variant)->launch(LaunchArgs{p, params, ptrs, nullptr, nullptr, metrics});
  return host;
}

std::string bwd_exp(const std::string& axes, const char* op = "attention_bwd",
                    const char* variant = "bwd.cpu_reference") {
  return std::string(R"({"experiments": [{"op": ")") + op + R"(", "variants": [")" + variant + R"("], )" + axes + "}]}";
}

}  // namespace

TEST_CASE("attention backward reference = central finite differences of the forward in float64", "[bwd][reference]") {
  struct Shape {
    std::int64_t b, h, kv, sq, sk, d;
    bool causal;
    double scale;  // 0: the default 1/sqrt(d)
  };
  const Shape shapes[] = {
      {2, 2, 2, 5, 5, 4, false, 0},   // plain
      {1, 2, 2, 5, 5, 4, true, 0},    // causal, square
      {1, 1, 1, 3, 7, 4, true, 0},    // causal, more keys than queries: bottom right
      {1, 1, 1, 7, 3, 4, true, 0},    // causal, more queries: the first four see nothing
      {1, 4, 2, 4, 6, 3, true, 0},    // GQA 4:2, causal
      {2, 3, 1, 4, 5, 4, false, 0.7}  // GQA 3:1 (multi-query), a scale of its own
  };
  for (const Shape& s : shapes) {
    Problem p = bwd_problem(s.b, s.h, s.kv, s.sq, s.sk, s.d, s.causal);
    if (s.scale > 0) p.scale = s.scale;
    DoubleCase c(p);
    INFO(p.shape_label() << " scale " << p.effective_scale());
    CHECK(worst_fd_error(c, c.q, c.dq) < 1e-7);
    CHECK(worst_fd_error(c, c.k, c.dk) < 1e-7);
    CHECK(worst_fd_error(c, c.v, c.dv) < 1e-7);
    // Not vacuous: the gradients are far from zero.
    double norm = 0;
    for (double x : c.dk) norm += x * x;
    CHECK(norm > 1e-3);
  }
}

TEST_CASE("a wrong gradient fails the finite-difference check", "[bwd][reference]") {
  DoubleCase c(bwd_problem(1, 2, 1, 4, 5, 4, true));
  std::vector<double> wrong = c.dk;
  wrong[3] += 1e-3;
  CHECK(worst_fd_error(c, c.k, wrong) > 1e-4);
  // dS without the softmax term D: the gradient of a loss that ignores the normalisation.
  std::vector<double> zero_delta(c.lse.size(), 0.0);
  const AttentionBwdInputs<double> no_d{c.q.data(),   c.k.data(),   c.v.data(),       c.o.data(),
                                        c.d_o.data(), c.lse.data(), zero_delta.data()};
  std::vector<double> dq(c.dq.size()), dk(c.dk.size()), dv(c.dv.size());
  attention_bwd_reference(c.p, no_d, dq.data(), dk.data(), dv.data());
  CHECK(worst_fd_error(c, c.q, dq) > 1e-4);
}

TEST_CASE("GQA gradients are the MHA ones with each KV head repeated, dK and dV summed over the group", "[bwd][gqa]") {
  for (bool causal : {false, true}) {
    const std::int64_t B = 2, H = 6, KV = 2, Sq = 5, Sk = 7, d = 4, group = H / KV;
    DoubleCase gqa(bwd_problem(B, H, KV, Sq, Sk, d, causal), 5);
    DoubleCase mha(bwd_problem(B, H, H, Sq, Sk, d, causal), 5);
    mha.q = gqa.q;
    mha.d_o = gqa.d_o;
    mha.k.assign(static_cast<std::size_t>(B * H * Sk * d), 0.0);
    mha.v = mha.k;
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t x = 0; x < Sk * d; ++x) {
          mha.k[static_cast<std::size_t>((b * H + h) * Sk * d + x)] =
              gqa.k[static_cast<std::size_t>((b * KV + h / group) * Sk * d + x)];
          mha.v[static_cast<std::size_t>((b * H + h) * Sk * d + x)] =
              gqa.v[static_cast<std::size_t>((b * KV + h / group) * Sk * d + x)];
        }
    mha.gradients();
    double worst = 0;
    for (std::size_t i = 0; i < gqa.dq.size(); ++i) worst = std::max(worst, std::fabs(gqa.dq[i] - mha.dq[i]));
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t kvh = 0; kvh < KV; ++kvh)
        for (std::int64_t x = 0; x < Sk * d; ++x) {
          double dk_sum = 0, dv_sum = 0;
          for (std::int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
            dk_sum += mha.dk[static_cast<std::size_t>((b * H + h) * Sk * d + x)];
            dv_sum += mha.dv[static_cast<std::size_t>((b * H + h) * Sk * d + x)];
          }
          const auto g = static_cast<std::size_t>((b * KV + kvh) * Sk * d + x);
          worst = std::max({worst, std::fabs(gqa.dk[g] - dk_sum), std::fabs(gqa.dv[g] - dv_sum)});
        }
    CHECK(worst < 1e-12);
  }
}

TEST_CASE("causal backward is aligned to the bottom right, as the forward", "[bwd][causal]") {
  // seq_q 3, seq_k 5: query i sees keys j <= i + 2.
  DoubleCase causal(bwd_problem(1, 1, 1, 3, 5, 4, true), 9);
  DoubleCase full(bwd_problem(1, 1, 1, 3, 5, 4, false), 9);
  const std::int64_t d = 4;
  // The last query row sees every key: its dQ row is the non-causal one.
  for (std::int64_t c = 0; c < d; ++c)
    CHECK(causal.dq[static_cast<std::size_t>(2 * d + c)] ==
          Approx(full.dq[static_cast<std::size_t>(2 * d + c)]).epsilon(1e-12));
  // The first row does not: its dQ row differs.
  double diff = 0;
  for (std::int64_t c = 0; c < d; ++c)
    diff += std::fabs(causal.dq[static_cast<std::size_t>(c)] - full.dq[static_cast<std::size_t>(c)]);
  CHECK(diff > 1e-6);
  // Only the last query sees key 4: dV of key 4 = P[2][4] dO[2] (P from its lse).
  double s = 0;
  for (std::int64_t c = 0; c < d; ++c)
    s += causal.q[static_cast<std::size_t>(2 * d + c)] * causal.k[static_cast<std::size_t>(4 * d + c)];
  const double p24 = std::exp(s / 2.0 - causal.lse[2]);
  for (std::int64_t c = 0; c < d; ++c)
    CHECK(causal.dv[static_cast<std::size_t>(4 * d + c)] ==
          Approx(p24 * causal.d_o[static_cast<std::size_t>(2 * d + c)]).epsilon(1e-12));
  // Keys 0..2 are seen by every query: the same keys top-left aligned would leave key 2 to query 2 alone.
  double dv2_all = 0;
  for (std::int64_t i = 0; i < 3; ++i) {
    double si = 0;
    for (std::int64_t c = 0; c < d; ++c)
      si += causal.q[static_cast<std::size_t>(i * d + c)] * causal.k[static_cast<std::size_t>(2 * d + c)];
    dv2_all +=
        std::exp(si / 2.0 - causal.lse[static_cast<std::size_t>(i)]) * causal.d_o[static_cast<std::size_t>(i * d)];
  }
  CHECK(causal.dv[static_cast<std::size_t>(2 * d)] == Approx(dv2_all).epsilon(1e-12));

  // seq_q 5, seq_k 2: queries 0..2 see nothing: lse -inf, zero gradients from them.
  DoubleCase tall(bwd_problem(1, 1, 1, 5, 2, 4, true), 3);
  CHECK(std::isinf(tall.lse[2]));
  CHECK(std::isfinite(tall.lse[3]));
  for (std::int64_t x = 0; x < 3 * d; ++x) CHECK(tall.dq[static_cast<std::size_t>(x)] == 0.0);
  for (double g : tall.dk) CHECK(std::isfinite(g));
}

TEST_CASE("row-sampled reference rows equal the full pass bit for bit", "[bwd][reference]") {
  for (bool causal : {false, true}) {
    const Problem p = bwd_problem(2, 4, 2, 9, 13, 8, causal);
    DoubleCase c(p, 21);
    const std::vector<double> delta = attention_bwd_deltas(p, c.o.data(), c.d_o.data());
    const AttentionBwdInputs<double> in{c.q.data(),   c.k.data(),   c.v.data(),  c.o.data(),
                                        c.d_o.data(), c.lse.data(), delta.data()};
    std::vector<double> row(static_cast<std::size_t>(p.head_dim)), row2(row.size());
    bool same = true;
    for (std::int64_t b = 0; b < p.batch; ++b) {
      for (std::int64_t h = 0; h < p.heads; ++h)
        for (std::int64_t i = 0; i < p.seq_q; ++i) {
          attention_bwd_dq_row(p, in, b, h, i, row.data());
          same =
              same && std::equal(row.begin(), row.end(), c.dq.begin() + ((b * p.heads + h) * p.seq_q + i) * p.head_dim);
        }
      for (std::int64_t kvh = 0; kvh < p.kv_heads; ++kvh)
        for (std::int64_t j = 0; j < p.seq_k; ++j) {
          attention_bwd_key_row(p, in, b, kvh, j, row.data(), row2.data());
          const auto at = ((b * p.kv_heads + kvh) * p.seq_k + j) * p.head_dim;
          same = same && std::equal(row.begin(), row.end(), c.dk.begin() + at) &&
                 std::equal(row2.begin(), row2.end(), c.dv.begin() + at);
          attention_bwd_key_row(p, in, b, kvh, j, nullptr, row2.data());  // dV alone: the same
          same = same && std::equal(row2.begin(), row2.end(), c.dv.begin() + at);
        }
    }
    CHECK(same);
  }
}

TEST_CASE("the blocked forward that makes O and lse agrees with attention's reference rows", "[bwd][reference]") {
  struct Shape {
    std::int64_t sq, sk;
    bool causal;
  };
  // 13: a head dim the 4 x 4 blocks pad; 150 keys: three chunks, the last partial; 37 rows: three blocks.
  for (const Shape s : {Shape{37, 150, false}, Shape{37, 150, true}, Shape{150, 37, true}, Shape{1, 1, false}})
    for (std::int64_t d : {24, 13}) {
      Problem p = test::attention(2, 4, 2, s.sq, s.sk, d, s.causal, DType::fp32, 4);
      const auto host = make_host_tensors(p);
      const float* q = host[0].values.data();
      const float* k = host[1].values.data();
      const float* v = host[2].values.data();
      std::vector<double> o(static_cast<std::size_t>(p.batch * p.heads * p.seq_q * p.head_dim));
      std::vector<double> lse(static_cast<std::size_t>(p.batch * p.heads * p.seq_q));
      attention_forward_reference(p, q, k, v, o.data(), lse.data());
      double worst = 0;
      std::vector<double> ref(static_cast<std::size_t>(p.head_dim));
      for (std::int64_t b = 0; b < p.batch; ++b)
        for (std::int64_t h = 0; h < p.heads; ++h)
          for (std::int64_t i = 0; i < p.seq_q; ++i) {
            double ref_lse = 0;
            attention_reference_row(p, q, k, v, b, h, i, ref.data(), &ref_lse);
            const auto row = (b * p.heads + h) * p.seq_q + i;
            if (std::isinf(ref_lse)) {
              CHECK(std::isinf(lse[static_cast<std::size_t>(row)]));
              continue;
            }
            worst = std::max(worst, std::fabs(lse[static_cast<std::size_t>(row)] - ref_lse));
            for (std::int64_t c = 0; c < p.head_dim; ++c)
              worst = std::max(worst, std::fabs(o[static_cast<std::size_t>(row * p.head_dim + c)] -
                                                ref[static_cast<std::size_t>(c)]));
          }
      INFO(p.shape_label());
      CHECK(worst < 1e-12);
    }
}

TEST_CASE("attention_bwd and attention_fwd_bwd: bad input is a config error naming its JSON path", "[bwd][config]") {
  for (const char* op : {"attention_bwd", "attention_fwd_bwd"}) {
    const char* variant = std::string(op) == "attention_bwd" ? "bwd.cpu_reference" : "fwd_bwd.cpu_reference";
    INFO(op);
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "head_dim": 64, "heads": 6, "kv_heads": 4)", op, variant)) ==
          "experiments[0]: heads 6 is not a multiple of kv_heads 4");
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "head_dim": 48)", op, variant)) ==
          "experiments[0].head_dim: 48 is not one of 64, 128, 256");
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "head_dim": [64, 32])", op, variant)) ==
          "experiments[0].head_dim[1]: 32 is not one of 64, 128, 256");
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "head_dim": "64")", op, variant)) ==
          "experiments[0].head_dim: expected a positive integer, got \"64\"");
    CHECK(error_of(bwd_exp(R"("head_dim": 64)", op, variant)) ==
          "experiments[0]: missing \"seq_len\" (or \"seq_q\" and \"seq_k\")");
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "seq_q": 32, "seq_k": 64, "head_dim": 64)", op, variant)) ==
          "experiments[0]: give either \"seq_len\" or \"seq_q\" and \"seq_k\", not both");
    CHECK(error_of(bwd_exp(R"("seq_len": 64)", op, variant)) == "experiments[0]: missing \"head_dim\"");
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "head_dim": 64, "dtype": ["bf16", "fp8"])", op, variant)) ==
          "experiments[0].dtype[1]: \"fp8\" is not one of fp32, tf32, fp16, bf16");
    CHECK(error_of(bwd_exp(R"("seq_len": 0, "head_dim": 64)", op, variant)) ==
          "experiments[0].seq_len: 0 is not a positive integer");
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "head_dim": 64, "causal": 1)", op, variant)) ==
          "experiments[0].causal: expected true or false, got 1");
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "head_dim": 64, "mask": "causal")", op, variant))
              .rfind("experiments[0].mask: unknown key", 0) == 0);
    CHECK(error_of(bwd_exp(R"("seq_len": 64, "head_dim": 64)", op, "attn.cpu_reference")) ==
          std::string("experiments[0].variants[0]: variant \"attn.cpu_reference\" computes attention, not ") + op);
    CHECK(error_of(bwd_exp(
              R"("seq_q": 64, "seq_k": 100, "head_dim": 128, "heads": 8, "kv_heads": 2, "causal": [false, true])", op,
              variant)) == "(no error)");
  }
  CHECK(
      error_of(
          R"({"experiments": [{"op": "attention_fwd_bwd", "variants": [{"name": "fwd_bwd.cpu_reference", "params": {"block_m": [64]}}], "seq_len": 64, "head_dim": 64}]})") ==
      "experiments[0].variants[0].params.block_m: not a parameter of fwd_bwd.cpu_reference (parameters: none)");
}

TEST_CASE("attention_bwd: key, label, bytes, and FLOPs at 2.5x the forward's (fwd_bwd 3.5x)", "[bwd][models]") {
  const auto cases = expand(bwd_exp(
      R"("dtype": "bf16", "batch": 2, "heads": 8, "kv_heads": 2, "seq_q": 100, "seq_k": 300, "head_dim": 64, "causal": [false, true])"));
  REQUIRE(cases.size() == 2);
  const Problem& full = cases[0].c.problem;
  const Problem& causal = cases[1].c.problem;
  CHECK(full.key() == "attention_bwd/bf16/b2/h8/kv2/sq100/sk300/d64/full/scaledefault");
  CHECK(causal.shape_label() == "bf16 b2 h8/2 s100x300 d64 causal");
  Problem fwd = full;
  fwd.op = OpKind::attention;
  CHECK(model_flops(full) == 2.5 * model_flops(fwd));
  CHECK(model_flops(full) == 2.5 * 4.0 * 2 * 8 * 100 * 300 * 64);
  fwd.causal = true;
  CHECK(model_flops(causal) == 2.5 * model_flops(fwd));  // kept scores only
  CHECK(model_flops(causal) < model_flops(full));
  // Q, O, dO, dQ (2 x 8 x 100 x 64) and K, V, dK, dV (2 x 2 x 300 x 64) in bf16, the fp32 lse.
  CHECK(model_bytes(full) == (4.0 * 2 * 8 * 100 * 64 + 4.0 * 2 * 2 * 300 * 64) * 2 + 4.0 * 2 * 8 * 100);
  Problem both = full;
  both.op = OpKind::attention_fwd_bwd;
  fwd.causal = false;
  CHECK(model_flops(both) == 3.5 * model_flops(fwd));
  CHECK(model_bytes(both) == model_bytes(fwd) + model_bytes(full));
  CHECK(both.key() == "attention_fwd_bwd/bf16/b2/h8/kv2/sq100/sk300/d64/full/scaledefault");
}

TEST_CASE("attention_bwd's inputs: Q, K, V as the forward op's, O and lse its forward", "[bwd][inputs]") {
  const Problem p = bwd_problem(2, 4, 2, 70, 90, 64, true, DType::bf16);
  const auto host = make_host_tensors(p);
  Problem fwd = p;
  fwd.op = OpKind::attention;
  const auto fwd_host = make_host_tensors(fwd);
  namespace T = attention_bwd_tensors;
  CHECK(host[T::q].bytes == fwd_host[attention_tensors::q].bytes);
  CHECK(host[T::v].bytes == fwd_host[attention_tensors::v].bytes);
  CHECK(host[T::d_o].bytes != host[T::q].bytes);
  // O and lse: the reference forward's, rounded as stored.
  std::vector<double> ref(64);
  double worst = 0;
  for (std::int64_t row : {0, 5, 69, 70 * 7 + 3}) {
    double ref_lse = 0;
    attention_reference_row(p, host[T::q].values.data(), host[T::k].values.data(), host[T::v].values.data(),
                            row / (4 * 70), (row / 70) % 4, row % 70, ref.data(), &ref_lse);
    CHECK(host[T::lse].values[static_cast<std::size_t>(row)] == Approx(ref_lse).epsilon(1e-6));
    for (std::int64_t c = 0; c < 64; ++c)
      worst = std::max(worst, std::fabs(host[T::o].values[static_cast<std::size_t>(row * 64 + c)] -
                                        ref[static_cast<std::size_t>(c)]));
  }
  CHECK(worst < 1e-2);                // bf16 rounding of values below about 2
  CHECK(host[T::dq].values.empty());  // outputs are not filled
}

TEST_CASE("bwd.cpu_reference validates in every dtype, and wrong, unwritten or swapped gradients fail",
          "[bwd][validate]") {
  for (DType t : {DType::fp32, DType::fp16, DType::bf16}) {
    const Problem p = bwd_problem(2, 4, 2, 33, 47, 64, true, t);
    auto host = run_cpu_variant(p, "bwd.cpu_reference");
    const Validation v = op_spec(p.op).validate(p, host, all_rows());
    INFO(to_string(t) << " " << v.reason);
    CHECK(v.passed);
    CHECK(v.rel_l2 < (t == DType::fp32 ? 1e-6 : 5e-3));
    CHECK(v.rows_checked == 2 * 4 * 33 + 2 * (2 * 2 * 47));
  }
  const Problem p = bwd_problem(2, 4, 2, 33, 47, 64, false);
  namespace T = attention_bwd_tensors;
  {
    auto host = run_cpu_variant(p, "bwd.cpu_reference");
    host[T::dk].as_mutable<float>()[1000] += 1.0f;  // one element of one key row
    const Validation v = op_spec(p.op).validate(p, host, all_rows());
    CHECK_FALSE(v.passed);
    CHECK(v.reason.rfind("dk: dk rel_l2", 0) == 0);
  }
  {
    auto host = run_cpu_variant(p, "bwd.cpu_reference");
    host[T::dv].as_mutable<float>()[7] = std::numeric_limits<float>::quiet_NaN();
    const Validation v = op_spec(p.op).validate(p, host, all_rows());
    CHECK(v.reason == "dv: 1 of 12032 dv elements are NaN or Inf (unwritten or overflowed)");
  }
  {
    auto host = run_cpu_variant(p, "bwd.cpu_reference");
    std::swap(host[T::dk].bytes, host[T::dv].bytes);
    CHECK_FALSE(op_spec(p.op).validate(p, host, all_rows()).passed);
  }
  {
    // A sample of rows still covers every (batch, head) of dQ and every (batch, KV head) of dK: a
    // wrong last key row of the last KV head is caught.
    auto host = run_cpu_variant(p, "bwd.cpu_reference");
    auto* dk = host[T::dk].as_mutable<float>();
    for (std::int64_t c = 0; c < 64; ++c) dk[host[T::dk].spec.count - 1 - c] *= 1.5f;
    ValidationSettings few;
    few.max_rows = 8;
    const Validation v = op_spec(p.op).validate(p, host, few);
    CHECK_FALSE(v.passed);
    CHECK(v.reason.rfind("dk:", 0) == 0);
  }
}

TEST_CASE("a gradient that is zero in exact arithmetic is judged against a floor, not its own norm", "[bwd][validate]") {
  // One key: P = 1, dP - D = 0, so dQ is exactly 0 and a GPU's rounding alone would be an infinite
  // relative error (it was, for every variant, on the first H200 run).
  namespace T = attention_bwd_tensors;
  const Problem p = bwd_problem(2, 3, 3, 1, 1, 64, false);
  {
    auto host = run_cpu_variant(p, "bwd.cpu_reference");
    auto* dq = host[T::dq].as_mutable<float>();
    for (std::size_t i = 0; i < host[T::dq].spec.count; ++i) dq[i] += (i % 2 ? 1e-7f : -1e-7f);  // rounding
    const Validation v = op_spec(p.op).validate(p, host, all_rows());
    INFO(v.reason);
    CHECK(v.passed);
  }
  {
    auto host = run_cpu_variant(p, "bwd.cpu_reference");
    host[T::dq].as_mutable<float>()[5] = 0.5f;  // a real error is still one
    const Validation v = op_spec(p.op).validate(p, host, all_rows());
    CHECK_FALSE(v.passed);
    CHECK(v.reason.rfind("dq: dq rel_l2", 0) == 0);
  }
}

TEST_CASE("fwd_bwd.cpu_reference: the forward then the backward, each timed, validated", "[bwd][fwd_bwd]") {
  Problem p = bwd_problem(1, 4, 2, 40, 40, 64, true);
  p.op = OpKind::attention_fwd_bwd;
  LaunchMetrics m;
  auto host = run_cpu_variant(p, "fwd_bwd.cpu_reference", &m);
  const Validation v = op_spec(p.op).validate(p, host, all_rows());
  INFO(v.reason);
  CHECK(v.passed);
  namespace M = fwd_bwd_metrics;
  CHECK(m.values.at(M::forward_ms) > 0);
  CHECK(m.values.at(M::backward_ms) > 0);
  CHECK(m.total_ms == m.values.at(M::forward_ms) + m.values.at(M::backward_ms));
  // Forward: Q, K, V, O (fp32) and lse; backward adds dO, dQ, dK, dV; saved: O and lse.
  const double q = 4 * 40 * 64 * 4, kv = 2 * 40 * 64 * 4, lse = 4 * 40 * 4;
  CHECK(m.values.at(M::forward_peak) == Approx((2 * q + 2 * kv + lse) / (1 << 20)));
  CHECK(m.values.at(M::backward_peak) == Approx((4 * q + 4 * kv + lse) / (1 << 20)));
  CHECK(m.values.at(M::saved_activations) == Approx((q + lse) / (1 << 20)));
  // A forward that is off fails as the forward's; the gradients are then not judged.
  namespace T = attention_fwd_bwd_tensors;
  host[T::o].as_mutable<float>()[3] += 0.5f;
  CHECK(op_spec(p.op).validate(p, host, all_rows()).reason.rfind("forward o: o rel_l2", 0) == 0);
}

TEST_CASE("fwd_bwd pipelines refuse a case naming the phase, and fwd_bwd_status keeps the oom phases apart",
          "[bwd][fwd_bwd]") {
  const Variant& pipeline = *test::registry().find("fwd_bwd.cpu_reference");
  CHECK(pipeline.op == OpKind::attention_fwd_bwd);
  CHECK(pipeline.backend == Backend::cpu);
  CHECK(pipeline.summary.find("attn.cpu_reference, then bwd.cpu_reference") == 0);
  Problem big = bwd_problem(8, 16, 16, 4096, 4096, 128, false);
  big.op = OpKind::attention_fwd_bwd;
  DeviceCaps none;
  const auto why = unsupported_reason(pipeline, big, {}, none);
  REQUIRE(why);
  CHECK(why->rfind("backward (bwd.cpu_reference): more than 2^26 scores x head_dim", 0) == 0);
  Problem tf32 = bwd_problem(1, 1, 1, 8, 8, 64, false, DType::tf32);
  tf32.op = OpKind::attention_fwd_bwd;
  CHECK(unsupported_reason(pipeline, tf32, {}, none) ==
        std::string("dtype tf32 not supported (supports fp32, fp16, bf16)"));

  const OpSpec& op = op_spec(OpKind::attention_fwd_bwd);
  const auto status = std::find_if(op.extra_columns.begin(), op.extra_columns.end(),
                                   [](const ExtraColumn& c) { return c.name == "fwd_bwd_status"; });
  REQUIRE(status != op.extra_columns.end());
  Result r;
  CHECK(status->value(r) == "ok");
  r.status = Status::oom;
  r.reason = "backward: workspace of 1073741824 bytes: out of memory (cudaErrorMemoryAllocation)";
  CHECK(status->value(r) == "oom(backward)");
  r.reason = "forward: workspace of 1073741824 bytes: out of memory (cudaErrorMemoryAllocation)";
  CHECK(status->value(r) == "oom(forward)");
  r.reason = "cudaMalloc: out of memory (cudaErrorMemoryAllocation)";  // the case's tensors: before the forward
  CHECK(status->value(r) == "oom(forward)");
  r.status = Status::mismatch;
  CHECK(status->value(r) == "mismatch");
}

TEST_CASE("attention_bwd and attention_fwd_bwd run end to end through the sweep on the CPU", "[bwd][sweep]") {
  const auto dir = std::filesystem::temp_directory_path() / "fabench-bwd-sweep";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string config = (dir / "sweep.json").string();
  std::ofstream(config) << R"({"name": "b", "timing": {"min_samples": 2, "min_time_s": 0, "max_time_s": 1},
    "experiments": [
      {"op": "attention_bwd", "variants": ["bwd.cpu_reference"], "dtype": ["fp32", "bf16"], "batch": 2, "heads": 4,
       "kv_heads": 2, "seq_q": 48, "seq_k": 80, "head_dim": 64, "causal": [false, true]},
      {"op": "attention_fwd_bwd", "variants": ["fwd_bwd.cpu_reference"], "dtype": "fp16", "batch": 1, "heads": 2,
       "seq_len": 65, "head_dim": 128, "causal": true},
      {"op": "attention_bwd", "variants": ["bwd.cpu_reference"], "dtype": "bf16", "batch": 1, "heads": 32,
       "seq_len": 16384, "head_dim": 64}
    ]})";
  SweepOptions o;
  o.config_path = config;
  o.output_dir = (dir / "out").string();
  o.argv = {"fa-bench"};
  o.device = 99;
  CHECK(run_sweep(o, test::registry()) == 0);
  const CsvTable t = read_csv((dir / "out/b.csv").string());
  for (const char* column : {"forward_ms", "forward_ms_std", "backward_ms", "backward_ms_std", "forward_peak_MiB",
                             "backward_peak_MiB", "saved_activations_MiB", "fwd_bwd_status"})
    CHECK(std::find(t.header.begin(), t.header.end(), column) != t.header.end());
  REQUIRE(t.rows.size() == 6);
  for (std::size_t r = 0; r < 5; ++r) {
    const auto& row = t.rows[r];
    INFO(row.at("key") << " " << row.at("reason"));
    CHECK(row.at("status") == "ok");
    CHECK(std::stod(row.at("rel_l2_err")) < 1e-2);
    CHECK(std::stod(row.at("tflops")) > 0);
  }
  CHECK(t.rows[0].at("op") == "attention_bwd");
  CHECK(t.rows[0].at("forward_ms").empty());
  const auto& both = t.rows[4];
  CHECK(both.at("variant") == "fwd_bwd.cpu_reference");
  CHECK(both.at("fwd_bwd_status") == "ok");
  CHECK(std::stod(both.at("forward_ms")) > 0);
  CHECK(std::stod(both.at("backward_ms")) > 0);
  CHECK(std::stod(both.at("saved_activations_MiB")) > 0);
  CHECK(std::stod(both.at("backward_peak_MiB")) > std::stod(both.at("forward_peak_MiB")));
  CHECK(t.rows[5].at("status") == "unsupported");
  CHECK(t.rows[5].at("reason").find("the CPU reference's limit") != std::string::npos);
}

TEST_CASE("configs/backward.json expands: seed 004's sweep and the FlashAttention convention", "[bwd][config]") {
  const Plan plan = load_plan_file(std::string(FABENCH_SOURCE_DIR) + "/configs/backward.json", test::registry());
  const auto cases = expand_plan(plan, test::registry());
  std::set<std::int64_t> seed_seqs, fa_tokens;
  std::set<std::string> ops;
  for (const ExpandedCase& ec : cases) {
    const Problem& p = ec.c.problem;
    ops.insert(std::string(to_string(p.op)));
    if (p.dtype == DType::fp32) {
      CHECK(p.batch == 8);
      CHECK(p.heads * p.head_dim == 64);  // seed 004's d_model
      seed_seqs.insert(p.seq_q);
    } else {
      CHECK(p.dtype == DType::bf16);
      fa_tokens.insert(p.batch * p.seq_q);
      CHECK(p.heads * p.head_dim == 2048);
    }
  }
  CHECK(ops == std::set<std::string>{"attention_bwd", "attention_fwd_bwd"});
  CHECK(seed_seqs == std::set<std::int64_t>{256, 1024, 4096, 8192, 16384});
  CHECK(fa_tokens == std::set<std::int64_t>{16384});
}
