// generate: seed 001 task 6's inference loop for one attention layer. A prompt of P tokens goes
// through the dense forward (Q, K, V projections, causal attention, output projection), filling
// the KV cache; then T decode steps each project the new token's q, k and v, append k and v to
// the cache, attend over the cache with one query token, and project the output back. Random
// seeded weights stand in for the model, and each step's token embedding is given (x_steps), since
// there is no model to produce it.
//
// Self-timed (ops/op.hpp): a launch is the whole loop, and reports TTFT (the prefill), one time
// per step (TBT: the interval between the ends of consecutive steps, the loop synchronising after
// each as a server streaming tokens must) and their total, the sample that time_ms_* summarise.
//
// Models (per launch; es = bytes per element of the dtype, L_i = P + i the cache length at step i):
//   FLOPs  prefill: 2*B*P*d_model*(H + 2*KV)*d (Q, K, V projections) + 2*B*P*H*d*d_model (output)
//                   + 4*B*H*d*causal_pairs(P, P) (attention, unmasked scores only)
//          step i:  2*B*d_model*(H + 2*KV)*d + 2*B*H*d*d_model + 4*B*H*d*L_i
//   bytes  prefill: weights once + x_prompt + K and V written (2*B*KV*P*d) + the first output (B*d_model)
//          step i:  weights once + x of the step + K and V of the cache read (2*B*KV*L_i*d) + the
//                   step's output (B*d_model), all times es. Intermediates (Q, O, scores) count as
//                   nothing: the fewest bytes the loop must move.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/kv_cache_layout.hpp"
#include "core/models.hpp"
#include "core/parallel.hpp"
#include "core/seeded_random.hpp"
#include "kernels/decode/decode.h"
#include "ops/attention_shape.hpp"
#include "ops/generate.hpp"
#include "ops/op_helpers.hpp"
#include "reference/decode_reference.hpp"

namespace fabench {

namespace {

namespace gt = generate_tensors;

AxisSpec generate_dtype_axis() {
  return {"dtype", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            if (!v.is_string()) return "expected a string, got " + describe_json(v);
            auto t = parse_dtype(v.get<std::string>());
            if (!t || (*t != DType::fp16 && *t != DType::bf16)) return describe_json(v) + " is not one of fp16, bf16";
            p.dtype = *t;
            return {};
          }};
}

AxisSpec page_size_axis() {
  return {"page_size", [](const nlohmann::ordered_json& v, Problem& p) -> std::string {
            const std::vector<int>& sizes = decode_page_sizes();
            const std::string choices = fmt::format("0 (contiguous), {}", fmt::join(sizes, ", "));
            if (!v.is_number_integer()) return fmt::format("expected one of {}, got {}", choices, describe_json(v));
            const auto n = v.get<std::int64_t>();
            if (n != 0 && std::find(sizes.begin(), sizes.end(), n) == sizes.end())
              return fmt::format("{} is not one of {}", n, choices);
            p.page_size = n;
            return {};
          }};
}

std::string complete(Problem& p, const AxisGiven& given) {
  if (!given("dtype")) p.dtype = DType::bf16;
  if (!given("kv_heads")) p.kv_heads = p.heads;
  if (!given("d_model")) {
    if (__builtin_mul_overflow(p.heads, p.head_dim, &p.d_model))
      return fmt::format("heads {} x head_dim {} (the default d_model) overflows", p.heads, p.head_dim);
  }
  if (!given("prompt_len")) p.prompt_len = 1024;
  if (!given("steps")) p.steps = 100;
  p.causal = true;
  if (p.heads % p.kv_heads != 0) return fmt::format("heads {} is not a multiple of kv_heads {}", p.heads, p.kv_heads);
  if (p.prompt_len > (std::int64_t{1} << 31) - 1 - p.steps)  // p.prompt_len + p.steps, without overflowing
    return fmt::format("prompt_len + steps = {} + {} does not fit the int32 lengths", p.prompt_len, p.steps);
  return {};
}

std::string key(const Problem& p) {
  return fmt::format("generate/{}/b{}/h{}/kv{}/d{}/m{}/p{}/t{}/page{}/scale{}", to_string(p.dtype), p.batch, p.heads,
                     p.kv_heads, p.head_dim, p.d_model, p.prompt_len, p.steps, p.page_size, scale_key(p));
}

std::string label(const Problem& p) {
  std::string heads = p.kv_heads == p.heads ? fmt::format("h{}", p.heads) : fmt::format("h{}/{}", p.heads, p.kv_heads);
  return fmt::format("{} b{} {} d{} m{} p{}+t{}{}", to_string(p.dtype), p.batch, heads, p.head_dim, p.d_model,
                     p.prompt_len, p.steps, p.page_size ? fmt::format(" page{}", p.page_size) : std::string());
}

// The label's text from a result row (progress lines and summaries of files read back).
std::string row_shape(const TextRow& r) {
  const std::string heads = row_heads_text(r);
  const std::string page = row_text(r, "page_size");
  return fmt::format("{} b{} {} d{} m{} p{}+t{}{}", row_text(r, "dtype"), row_text(r, "batch"), heads,
                     row_text(r, "head_dim"), row_text(r, "d_model"), row_text(r, "prompt_len"), row_text(r, "steps"),
                     page.empty() || page == "0" ? std::string() : " page" + page);
}

// Pivots: the loop's lengths down, the layer's shape across.
PivotPlace row_pivot(const TextRow& r) {
  return {"", "prompt+steps \\ layer", row_text(r, "prompt_len") + "+" + row_text(r, "steps"),
          fmt::format("h{}/{} d{} m{} page{}", row_text(r, "heads"), row_text(r, "kv_heads"), row_text(r, "head_dim"),
                      row_text(r, "d_model"), row_text(r, "page_size"))};
}

// N(0, 1) / sqrt(fan_in), so x @ W keeps activations of order 1. Chunked and seeded per chunk.
CustomFill scaled_normal(std::int64_t fan_in) {
  return [fan_in](const Problem&, std::uint64_t seed, HostTensor& t) {
    const double s = 1.0 / std::sqrt(static_cast<double>(fan_in));
    constexpr std::int64_t kChunk = 1 << 16;
    const auto n = static_cast<std::int64_t>(t.spec.count);
    parallel_for((n + kChunk - 1) / kChunk, [&](std::int64_t c) {
      SplitMix rng{seed + static_cast<std::uint64_t>(c) * 0x9E3779B97F4A7C15ull};
      rng.next();
      for (std::int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) {
        const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
        store_float(t.bytes.data(), t.spec.type, static_cast<std::size_t>(i),
                    static_cast<float>(s * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2)));
      }
    });
  };
}

}  // namespace

KvCacheShape generate_cache_shape(const Problem& p) {
  return {p.batch, p.kv_heads, p.prompt_len + p.steps, p.head_dim, p.page_size};
}

namespace {

std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const auto bm = checked_count("y_first", {p.batch, p.d_model});
  const auto bqd = checked_count("q_last", {p.batch, p.heads, p.head_dim});
  const auto wq = checked_count("wq", {p.d_model, p.heads, p.head_dim});
  const auto wkv = checked_count("wk", {p.d_model, p.kv_heads, p.head_dim});
  const KvCacheShape cache = generate_cache_shape(p);
  const auto cache_elems = static_cast<std::size_t>(cache.elements());
  return {
      {"x_prompt", et, checked_count("x_prompt", {p.batch, p.prompt_len, p.d_model}), false, Fill::normal},
      {"x_steps", et, checked_count("x_steps", {p.batch, p.steps, p.d_model}), false, Fill::normal},
      {"wq", et, wq, false, Fill::custom, scaled_normal(p.d_model)},
      {"wk", et, wkv, false, Fill::custom, scaled_normal(p.d_model)},
      {"wv", et, wkv, false, Fill::custom, scaled_normal(p.d_model)},
      {"wo", et, wq, false, Fill::custom, scaled_normal(p.heads * p.head_dim)},
      {"page_table", ElemType::i32, static_cast<std::size_t>(cache.num_pages()), false, Fill::custom,
       [](const Problem& pr, std::uint64_t seed, HostTensor& t) {
         const std::vector<std::int32_t> table = make_page_table(generate_cache_shape(pr), seed);
         std::copy(table.begin(), table.end(), t.as_mutable<std::int32_t>());
       }},
      {"y_first", et, bm, true, Fill::none},
      {"y_last", et, bm, true, Fill::none},
      {"q_last", et, bqd, true, Fill::none},
      {"o_last", et, bqd, true, Fill::none},
      {"lse_last", ElemType::f32, checked_count("lse_last", {p.batch, p.heads}), true, Fill::none},
      {"k_cache", et, cache_elems, true, Fill::none},
      {"v_cache", et, cache_elems, true, Fill::none},
  };
}

double projection_flops(const Problem& p, double tokens) {
  const double m = static_cast<double>(p.d_model), d = static_cast<double>(p.head_dim);
  const double h = static_cast<double>(p.heads), kv = static_cast<double>(p.kv_heads);
  return 2.0 * tokens * m * (h + 2.0 * kv) * d + 2.0 * tokens * h * d * m;
}

// Sum over steps i = 1..T of L_i = P + i.
double step_cache_tokens(const Problem& p) {
  const double t = static_cast<double>(p.steps);
  return t * static_cast<double>(p.prompt_len) + t * (t + 1) / 2;
}

double flops(const Problem& p) {
  const double b = static_cast<double>(p.batch), h = static_cast<double>(p.heads), d = static_cast<double>(p.head_dim);
  const double prefill = projection_flops(p, b * static_cast<double>(p.prompt_len)) +
                         4.0 * b * h * d * causal_pairs(p.prompt_len, p.prompt_len);
  const double steps = projection_flops(p, b * static_cast<double>(p.steps)) + 4.0 * b * h * d * step_cache_tokens(p);
  return prefill + steps;
}

double bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const double b = static_cast<double>(p.batch), m = static_cast<double>(p.d_model), d = static_cast<double>(p.head_dim);
  const double h = static_cast<double>(p.heads), kv = static_cast<double>(p.kv_heads);
  const double weights = m * (h + 2.0 * kv) * d + h * d * m;
  const double P = static_cast<double>(p.prompt_len), T = static_cast<double>(p.steps);
  const double prefill = weights + b * P * m + 2.0 * b * kv * P * d + b * m;
  const double steps = T * (weights + b * m + b * m) + 2.0 * b * kv * d * step_cache_tokens(p);
  return (prefill + steps) * es;
}

std::vector<float> decoded(const HostTensor& t) {
  std::vector<float> out(t.spec.count);
  parallel_for((static_cast<std::int64_t>(out.size()) + 65535) / 65536, [&](std::int64_t c) {
    const std::size_t end = std::min(out.size(), static_cast<std::size_t>(c + 1) * 65536);
    for (std::size_t i = static_cast<std::size_t>(c) * 65536; i < end; ++i) out[i] = load_float(t.bytes.data(), t.spec.type, i);
  });
  return out;
}

// ref[0..width) = x[0..k) @ W[:, col0 .. col0 + width), W row-major [k, ld], in double.
void project_row(const float* x, const float* w, std::int64_t k, std::int64_t ld, std::int64_t col0, std::int64_t width,
                 double* ref) {
  std::fill(ref, ref + width, 0.0);
  for (std::int64_t i = 0; i < k; ++i) {
    const double xi = x[i];
    const float* wr = w + i * ld + col0;
    for (std::int64_t c = 0; c < width; ++c) ref[c] += xi * wr[c];
  }
}

// Checks, each on sampled rows covering every batch and head:
//   k_cache, v_cache: every token's K and V (prompt and steps) = its x @ Wk, Wv (sampled tokens,
//                     the first and last of each sequence and KV head always);
//   q_last:           the last step's x @ Wq;
//   o_last, lse_last: the last step's attention = a causal attention of its query over the whole
//                     final sequence (decode_reference_row, all P + T tokens, the GPU's q and cache);
//   y_last:           o_last @ Wo (the output projection);
//   y_first:          the prefill at its last prompt token: q = x @ Wq, attention over the prompt's
//                     cache rows, @ Wo, all on the CPU (so the prefill's attention is checked too).
Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  const std::int64_t B = p.batch, H = p.heads, KV = p.kv_heads, d = p.head_dim, M = p.d_model;
  const std::int64_t P = p.prompt_len, T = p.steps, L = P + T;
  const float* x_prompt = t[gt::x_prompt].values.data();
  const float* x_steps = t[gt::x_steps].values.data();
  const float* wq = t[gt::wq].values.data();
  const float* wk = t[gt::wk].values.data();
  const float* wv = t[gt::wv].values.data();
  const float* wo = t[gt::wo].values.data();
  const std::int32_t* pages = p.page_size ? t[gt::page_table].as<std::int32_t>() : nullptr;
  const KvCacheShape cache = generate_cache_shape(p);
  auto x_of = [&](std::int64_t b, std::int64_t tok) {
    return tok < P ? x_prompt + (b * P + tok) * M : x_steps + (b * T + (tok - P)) * M;
  };

  Validation total;
  total.passed = true;
  total.tolerance = s.tolerance.at(p.dtype);
  const std::vector<float> k = decoded(t[gt::k_cache]), v = decoded(t[gt::v_cache]);

  // The caches, gathered token by token into [B * KV, L, d] (the paged pool's unused rows skipped).
  for (int which = 0; which < 2; ++which) {
    const std::vector<float>& c = which == 0 ? k : v;
    HostTensor gathered;
    gathered.spec = {which == 0 ? "k_cache" : "v_cache", ElemType::f32, static_cast<std::size_t>(B * KV * L * d), true,
                     Fill::none};
    gathered.bytes.resize(gathered.size_bytes());
    auto* g = gathered.as_mutable<float>();
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t kvh = 0; kvh < KV; ++kvh)
        for (std::int64_t tok = 0; tok < L; ++tok)
          std::copy_n(c.data() + kv_offset(cache, pages, b, kvh, tok), d, g + ((b * KV + kvh) * L + tok) * d);
    const float* w = which == 0 ? wk : wv;
    fold_validation(total,
                    validate_rows(p, {gathered, B * KV, L, d, false}, s,
                                  [&](std::int64_t row, double* ref, RowError&) {
                                    const std::int64_t bk = row / L, tok = row % L;
                                    project_row(x_of(bk / KV, tok), w, M, KV * d, (bk % KV) * d, d, ref);
                                  }),
                    gathered.spec.name.c_str());
  }

  fold_validation(total,
                  validate_rows(p, {t[gt::q_last], B * H, 1, d, false}, s,
                                [&](std::int64_t row, double* ref, RowError&) {
                                  project_row(x_of(row / H, L - 1), wq, M, H * d, (row % H) * d, d, ref);
                                }),
                  "q_last");

  const std::vector<float> q_last = decoded(t[gt::q_last]), o_last = decoded(t[gt::o_last]);
  const std::vector<std::int32_t> full(static_cast<std::size_t>(B), static_cast<std::int32_t>(L));
  const DecodeView last{q_last.data(), k.data(), v.data(), full.data(), pages, cache, H, 1, p.effective_scale()};
  const float* lse = t[gt::lse_last].as<float>();
  fold_validation(total,
                  validate_rows(p, {t[gt::o_last], B * H, 1, d, true}, s,
                                [&](std::int64_t row, double* ref, RowError& e) {
                                  double ref_lse = 0;
                                  decode_reference_row(last, row / H, row % H, 0, ref, &ref_lse);
                                  check_lse(lse[row], ref_lse, e);
                                }),
                  "o_last");

  fold_validation(total,
                  validate_rows(p, {t[gt::y_last], B, 1, M, false}, s,
                                [&](std::int64_t b, double* ref, RowError&) {
                                  project_row(o_last.data() + b * H * d, wo, H * d, M, 0, M, ref);
                                }),
                  "y_last");

  // The prefill's last prompt token, from the inputs and the (checked) cache only.
  std::vector<float> q_first(static_cast<std::size_t>(B * H * d));
  parallel_for(B * H, [&](std::int64_t row) {
    std::vector<double> q(static_cast<std::size_t>(d));
    project_row(x_of(row / H, P - 1), wq, M, H * d, (row % H) * d, d, q.data());
    for (std::int64_t c = 0; c < d; ++c) q_first[static_cast<std::size_t>(row * d + c)] = static_cast<float>(q[c]);
  });
  const std::vector<std::int32_t> prompt(static_cast<std::size_t>(B), static_cast<std::int32_t>(P));
  const DecodeView first{q_first.data(), k.data(), v.data(), prompt.data(), pages, cache, H, 1, p.effective_scale()};
  fold_validation(total,
                  validate_rows(p, {t[gt::y_first], B, 1, M, false}, s,
                                [&](std::int64_t b, double* ref, RowError&) {
                                  std::vector<double> o(static_cast<std::size_t>(H * d));
                                  std::vector<float> o_f(o.size());
                                  double unused = 0;
                                  for (std::int64_t h = 0; h < H; ++h)
                                    decode_reference_row(first, b, h, 0, o.data() + h * d, &unused);
                                  std::copy(o.begin(), o.end(), o_f.begin());
                                  project_row(o_f.data(), wo, H * d, M, 0, M, ref);
                                }),
                  "y_first");
  return total;
}

// generate's lengths are its prompt and steps (extra columns), not seq_q and seq_k.
ShapeColumns shape_columns(const Problem& p) {
  ShapeColumns c = attention_shape_columns_without_causal(p);
  c.seq_q.clear();
  c.seq_k.clear();
  return c;
}

// Linear interpolation between closest ranks (numpy.percentile's default), q in [0, 100].
double percentile(std::vector<double> xs, double q) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  const double pos = q / 100.0 * static_cast<double>(xs.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, xs.size() - 1);
  return xs[lo] + (pos - static_cast<double>(lo)) * (xs[hi] - xs[lo]);
}

}  // namespace

// TTFT: the median over samples of each launch's prefill time. TBT: every step of every sample
// pooled (mean and percentiles). Tokens per second: batch tokens per mean step.
void summarize_generate(const Problem& p, const std::vector<LaunchMetrics>& samples, Result& r) {
  std::vector<double> ttft, steps;
  for (const LaunchMetrics& m : samples) {
    if (auto it = m.values.find("ttft_ms"); it != m.values.end()) ttft.push_back(it->second);
    if (auto it = m.series.find("step_ms"); it != m.series.end()) steps.insert(steps.end(), it->second.begin(), it->second.end());
  }
  if (!ttft.empty()) r.metrics["ttft_ms"] = percentile(ttft, 50);
  if (steps.empty()) return;
  double sum = 0;
  for (double x : steps) sum += x;
  const double mean = sum / static_cast<double>(steps.size());
  r.metrics["tbt_ms_mean"] = mean;
  r.metrics["tbt_ms_p50"] = percentile(steps, 50);
  r.metrics["tbt_ms_p90"] = percentile(steps, 90);
  r.metrics["tbt_ms_p99"] = percentile(steps, 99);
  if (mean > 0) r.metrics["tokens_per_s"] = static_cast<double>(p.batch) * 1000.0 / mean;
}

namespace {

ExtraColumn problem_column(const char* name, std::int64_t Problem::*field) {
  return {name, ColumnType::integer, true, [field](const Result& r) { return std::to_string(r.c.problem.*field); }};
}

ExtraColumn metric_column(const char* name) {
  return {name, ColumnType::real, false, [name = std::string(name)](const Result& r) {
            auto it = r.metrics.find(name);
            return it == r.metrics.end() ? std::string() : csv_real(it->second);
          }};
}

}  // namespace

const OpSpec& generate_op() {
  static const OpSpec spec = [] {
    OpSpec s;
    s.kind = OpKind::generate;
    s.name = "generate";
    s.axes = {generate_dtype_axis(),
              positive_int_axis("batch", &Problem::batch),
              positive_int_axis("heads", &Problem::heads),
              positive_int_axis("kv_heads", &Problem::kv_heads),
              head_dim_axis({64, 128, 256}),
              positive_int_axis("d_model", &Problem::d_model),
              positive_int_axis("prompt_len", &Problem::prompt_len),
              positive_int_axis("steps", &Problem::steps),
              page_size_axis(),
              scale_axis()};
    s.check_required = [](const AxisGiven& given) { return first_missing(given, {"heads", "head_dim"}); };
    s.complete = complete;
    s.key = key;
    s.label = label;
    s.default_scale = inverse_sqrt_head_dim;
    s.tensors = tensors;
    s.flops = flops;
    s.bytes = bytes;
    s.validate = validate;
    s.shape_columns = shape_columns;
    s.row_shape = row_shape;
    s.row_pivot = row_pivot;
    s.extra_columns = {problem_column("d_model", &Problem::d_model),
                       problem_column("prompt_len", &Problem::prompt_len),
                       problem_column("steps", &Problem::steps),
                       problem_column("page_size", &Problem::page_size),
                       metric_column("ttft_ms"),
                       metric_column("tbt_ms_mean"),
                       metric_column("tbt_ms_p50"),
                       metric_column("tbt_ms_p90"),
                       metric_column("tbt_ms_p99"),
                       metric_column("tokens_per_s")};
    s.bandwidth_ceiling = BandwidthCeiling::read;  // a step reads the weights and the cache
    s.self_timed = true;
    s.summarize = summarize_generate;
    return s;
  }();
  return spec;
}

}  // namespace fabench
