// The generate op's validation against the loop simulated on the CPU with generate.loop's layouts
// (caches by kv_offset, q_last and o_last [batch, heads, d], lse_last [batch, heads], y_* [batch,
// d_model]; values rounded to the dtype where the GPU stores them): it passes, contiguous and
// paged, and fails when the last step reads the wrong embedding, o_last's rows are [heads, batch],
// or y_first is taken at the wrong prompt token. No GPU: the layouts the GPU test relies on.
#include <catch2/catch.hpp>

#include "core/kv_cache_layout.hpp"
#include "ops/generate.hpp"
#include "ops/registry.hpp"
#include "reference/decode_reference.hpp"
#include "run/host_tensors.hpp"
#include "run/validate.hpp"

using namespace fabench;
namespace gt = generate_tensors;

namespace {

struct Sim {
  int step_row_shift = 0;            // the last step reads x_steps row T - 1 + this
  bool swap_heads = false;           // o_last written [H, B] instead of [B, H]
  std::int64_t y_first_token = -1;   // -1: P - 1
};

void simulate(const Problem& p, std::vector<HostTensor>& t, const Sim& sim) {
  const std::int64_t B = p.batch, H = p.heads, KV = p.kv_heads, d = p.head_dim, M = p.d_model;
  const std::int64_t P = p.prompt_len, T = p.steps, L = P + T;
  const ElemType et = storage_type(p.dtype);
  auto rnd = [&](double x) {  // round through the storage type
    unsigned char buf[4];
    store_float(buf, et, 0, static_cast<float>(x));
    return load_float(buf, et, 0);
  };
  const float* xp = t[gt::x_prompt].values.data();
  const float* xs = t[gt::x_steps].values.data();
  auto x_of = [&](std::int64_t b, std::int64_t tok) {
    return tok < P ? xp + (b * P + tok) * M : xs + (b * T + (tok - P)) * M;
  };
  auto proj = [&](const float* x, const float* w, std::int64_t k, std::int64_t ld, std::int64_t col) {
    double s = 0;
    for (std::int64_t i = 0; i < k; ++i) s += static_cast<double>(x[i]) * w[i * ld + col];
    return rnd(s);
  };
  const std::int32_t* pages = p.page_size ? t[gt::page_table].as<std::int32_t>() : nullptr;
  const KvCacheShape cache = generate_cache_shape(p);
  for (int which : {gt::k_cache, gt::v_cache}) {
    const float* w = t[which == gt::k_cache ? gt::wk : gt::wv].values.data();
    auto& out = t[which];
    std::fill(out.bytes.begin(), out.bytes.end(), 0xFF);
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t kvh = 0; kvh < KV; ++kvh)
        for (std::int64_t tok = 0; tok < L; ++tok) {
          const std::int64_t xtok = tok >= P && tok == L - 1 ? tok + sim.step_row_shift : tok;
          for (std::int64_t c = 0; c < d; ++c)
            store_float(out.bytes.data(), et, static_cast<std::size_t>(kv_offset(cache, pages, b, kvh, tok) + c),
                        proj(x_of(b, xtok), w, M, KV * d, kvh * d + c));
        }
  }
  std::vector<float> k(t[gt::k_cache].spec.count), v(k.size());
  for (std::size_t i = 0; i < k.size(); ++i) {
    k[i] = load_float(t[gt::k_cache].bytes.data(), et, i);
    v[i] = load_float(t[gt::v_cache].bytes.data(), et, i);
  }
  const float* wq = t[gt::wq].values.data();
  const float* wo = t[gt::wo].values.data();
  std::vector<float> q(static_cast<std::size_t>(B * H * d));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t c = 0; c < H * d; ++c) {
      q[b * H * d + c] = proj(x_of(b, L - 1 + sim.step_row_shift), wq, M, H * d, c);
      store_float(t[gt::q_last].bytes.data(), et, static_cast<std::size_t>(b * H * d + c), q[b * H * d + c]);
    }
  const std::vector<std::int32_t> full(B, static_cast<std::int32_t>(L));
  const DecodeView last{q.data(), k.data(), v.data(), full.data(), pages, cache, H, 1, p.effective_scale()};
  std::vector<float> o(static_cast<std::size_t>(B * H * d));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h) {
      std::vector<double> row(d);
      double lse = 0;
      decode_reference_row(last, b, h, 0, row.data(), &lse);
      const std::int64_t at = sim.swap_heads ? h * B + b : b * H + h;
      for (std::int64_t c = 0; c < d; ++c) {
        o[at * d + c] = rnd(row[c]);
        store_float(t[gt::o_last].bytes.data(), et, static_cast<std::size_t>(at * d + c), o[at * d + c]);
      }
      t[gt::lse_last].as_mutable<float>()[at] = static_cast<float>(lse);
    }
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t c = 0; c < M; ++c)
      store_float(t[gt::y_last].bytes.data(), et, static_cast<std::size_t>(b * M + c), proj(o.data() + b * H * d, wo, H * d, M, c));
  // y_first: the prefill's output at token y_first_token, attention over the prompt only.
  const std::int64_t yt = sim.y_first_token < 0 ? P - 1 : sim.y_first_token;
  std::vector<float> q1(static_cast<std::size_t>(B * H * d));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t c = 0; c < H * d; ++c) q1[b * H * d + c] = proj(x_of(b, yt), wq, M, H * d, c);
  const std::vector<std::int32_t> lens(B, static_cast<std::int32_t>(yt + 1));
  const DecodeView first{q1.data(), k.data(), v.data(), lens.data(), pages, cache, H, 1, p.effective_scale()};
  std::vector<float> o1(static_cast<std::size_t>(H * d));
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      std::vector<double> row(d);
      double lse = 0;
      decode_reference_row(first, b, h, 0, row.data(), &lse);
      for (std::int64_t c = 0; c < d; ++c) o1[h * d + c] = rnd(row[c]);
    }
    for (std::int64_t c = 0; c < M; ++c)
      store_float(t[gt::y_first].bytes.data(), et, static_cast<std::size_t>(b * M + c), proj(o1.data(), wo, H * d, M, c));
  }
}

}  // namespace

TEST_CASE("generate: validation passes a CPU-simulated loop and catches wrong layouts", "[generate][validate]") {
  for (std::int64_t page : {0, 16}) {
    Problem p;
    p.op = OpKind::generate;
    p.dtype = DType::bf16;
    p.batch = 2;
    p.heads = 4;
    p.kv_heads = 2;
    p.head_dim = 64;
    p.d_model = 96;
    p.prompt_len = 33;
    p.steps = 5;
    p.page_size = page;
    p.causal = true;
    p.seed = 11;
    ValidationSettings vs;
    vs.max_rows = 1024;
    auto t = make_host_tensors(p);
    for (auto& x : t)
      if (x.spec.output) x.bytes.assign(x.size_bytes(), 0xFF);
    simulate(p, t, {});
    Validation v = validate_outputs(p, t, vs);
    INFO(page << " " << v.reason << " rel " << v.rel_l2);
    CHECK(v.passed);
    simulate(p, t, {-1, false, -1});
    CHECK_FALSE(validate_outputs(p, t, vs).passed);
    simulate(p, t, {0, true, -1});
    CHECK_FALSE(validate_outputs(p, t, vs).passed);
    simulate(p, t, {0, false, 0});
    CHECK_FALSE(validate_outputs(p, t, vs).passed);
  }
}
