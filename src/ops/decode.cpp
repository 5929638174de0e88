// decode: q_len new query tokens per sequence (1, or up to 16 for speculative decoding) attend to
// a KV cache that already holds them, causal among themselves: query i of sequence b sees cache
// tokens 0 .. L_b - q_len + i. The cache is contiguous [batch, kv_heads, max_len, d] or paged (a
// pool of pages reached through a page table whose pages are out of order); L_b per sequence,
// all cache_len or seeded up to it (kernels/decode/decode.h, core/kv_cache_layout.hpp). GQA: query
// head h reads KV head h / (heads / kv_heads). Outputs O and the log-sum-exp per query row.
// Problem: seq_q is q_len and seq_k is cache_len.
#include <cmath>
#include <fmt/format.h>

#include "ops/attention_shape.hpp"
#include "ops/kv_cache_axes.hpp"
#include "ops/op_helpers.hpp"
#include "reference/decode_reference.hpp"

namespace fabench {

namespace {

std::string check_required(const AxisGiven& given) { return kv_cache_check_required(given); }

// kv_heads defaults to heads (no GQA); then the cache's checks.
std::string complete(Problem& p, const AxisGiven& given) {
  if (!given("kv_heads")) p.kv_heads = p.heads;
  if (p.heads % p.kv_heads != 0) return fmt::format("heads {} is not a multiple of kv_heads {}", p.heads, p.kv_heads);
  return kv_cache_complete(p, given);
}

std::string key(const Problem& p) {
  return fmt::format("decode/{}/b{}/h{}/kv{}/{}/scale{}", to_string(p.dtype), p.batch, p.heads, p.kv_heads,
                     kv_cache_key(p), scale_key(p));
}

std::string heads_text(const Problem& p) {
  return p.kv_heads == p.heads ? fmt::format("h{}", p.heads) : fmt::format("h{}/{}", p.heads, p.kv_heads);
}

// "bf16 b16 h32/8 q1 c8192 d128 page64 mixed"
std::string label(const Problem& p) {
  return fmt::format("{} b{} {} {}", to_string(p.dtype), p.batch, heads_text(p), kv_cache_label(p));
}

std::string row_shape(const TextRow& r) {
  return fmt::format("{} b{} {} {}", row_text(r, "dtype"), row_text(r, "batch"), row_heads_text(r),
                     kv_cache_row_label(r));
}

// Tables per heads, q_len, head dim, layout and lengths; rows cache_len, columns batch.
PivotPlace row_pivot(const TextRow& r) { return kv_cache_row_pivot(r, " " + row_heads_text(r)); }

// Unit-variance uniform everywhere (slots past each length and the pool's unused rows too), kept
// as stored. Not normal: Box-Muller filled 0.68 GB/s on the H200 machine's 16 cores, so the
// 8.6 GB caches of configs/decode.json spent most of a sweep's time being generated.
TensorSpec kv_cache_tensor(const char* name, ElemType et, std::size_t count) {
  TensorSpec spec{name, et, count, false, Fill::uniform_unit};
  spec.host_floats = false;
  return spec;
}

std::int64_t q_rows(const Problem& p) { return p.batch * p.heads * p.seq_q; }

// In decode_tensors order: q [batch, heads, q_len, d]; the K and V caches (KvCacheShape::elements:
// contiguous or the paged pool); lengths int32 [batch]; page table int32 [batch, pages_per_seq]
// (none when contiguous); o like q; lse fp32 [batch, heads, q_len].
std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const auto rows = checked_count("lse", {p.batch, p.heads, p.seq_q});
  const auto q = checked_count("q", {p.batch, p.heads, p.seq_q, p.head_dim});
  const auto cache = static_cast<std::size_t>(kv_cache_shape(p).elements());
  return {
      {"q", et, q, false, Fill::normal},
      kv_cache_tensor("k_cache", et, cache),
      kv_cache_tensor("v_cache", et, cache),
      lengths_tensor(p),
      page_table_tensor(p),
      {"o", et, q, true, Fill::none},
      {"lse", ElemType::f32, rows, true, Fill::none},
  };
}

// 4*heads*d per visible (query, token) pair (Q K^T and P V, a multiply-add = 2): query i of
// sequence b sees L_b - q_len + i + 1 tokens, with L_b regenerated from the problem's seed.
double flops(const Problem& p) {
  double pairs = 0;
  for (std::int32_t length : problem_sequence_lengths(p))
    for (std::int64_t i = 0; i < p.seq_q; ++i) pairs += static_cast<double>(length - p.seq_q + i + 1);
  return 4.0 * static_cast<double>(p.heads) * static_cast<double>(p.head_dim) * pairs;
}

// The K and V rows a step must read (each KV head's first L_b tokens, current lengths, not
// max_len), q, o, the fp32 lse, the lengths and the page table.
double bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const std::vector<std::int32_t> lengths = problem_sequence_lengths(p);
  const double tokens = decode_kv_tokens_read(lengths.data(), p.batch);
  const double d = static_cast<double>(p.head_dim);
  const double rows = static_cast<double>(q_rows(p));
  return 2.0 * static_cast<double>(p.kv_heads) * d * es * tokens + 2.0 * rows * d * es + 4.0 * rows +
         4.0 * static_cast<double>(p.batch) + 4.0 * static_cast<double>(kv_cache_shape(p).num_pages());
}

// The caches stay in their stored type on the host (host_floats false: a cache of tens of GB is
// not held twice). Each checked row gathers its sequence's visible K and V rows of its KV head
// (through kv_offset, contiguous or paged) into a one-sequence contiguous cache and runs
// decode_reference_row on that: the same reference over the same values.
Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  const HostTensor& k_cache = t[decode_tensors::k_cache];
  const HostTensor& v_cache = t[decode_tensors::v_cache];
  const std::int32_t* lengths = t[decode_tensors::lengths].as<std::int32_t>();
  const std::int32_t* table =
      t[decode_tensors::page_table].spec.count ? t[decode_tensors::page_table].as<std::int32_t>() : nullptr;
  const KvCacheShape cache = kv_cache_shape(p);
  const float* q = t[decode_tensors::q].values.data();
  const float* lse = t[decode_tensors::lse].as<float>();
  const std::int64_t d = p.head_dim, group = p.heads / p.kv_heads;
  // Rows are [batch * heads] groups of q_len: the sample covers every batch and head.
  return validate_rows(p, {t[decode_tensors::o], p.batch * p.heads, p.seq_q, d, true}, s,
                       [&](std::int64_t row, double* ref, RowError& e) {
                         const std::int64_t b = row / (p.heads * p.seq_q), h = (row / p.seq_q) % p.heads,
                                            i = row % p.seq_q;
                         const std::int32_t length = lengths[b];
                         const std::int64_t visible = length - p.seq_q + i + 1;
                         std::vector<float> k(static_cast<std::size_t>(length * d)), v(k.size());
                         for (std::int64_t token = 0; token < visible; ++token) {
                           const std::int64_t from = kv_offset(cache, table, b, h / group, token);
                           for (std::int64_t c = 0; c < d; ++c) {
                             const auto at = static_cast<std::size_t>(from + c);
                             k[static_cast<std::size_t>(token * d + c)] = load_float(k_cache.bytes.data(), k_cache.spec.type, at);
                             v[static_cast<std::size_t>(token * d + c)] = load_float(v_cache.bytes.data(), v_cache.spec.type, at);
                           }
                         }
                         KvCacheShape one;
                         one.max_len = length;
                         one.head_dim = d;
                         const DecodeView view{q + (b * p.heads + h) * p.seq_q * d, k.data(), v.data(), &length,
                                               nullptr, one, 1, p.seq_q, p.effective_scale()};
                         double ref_lse = 0;
                         decode_reference_row(view, 0, 0, i, ref, &ref_lse);
                         check_lse(lse[row], ref_lse, e);
                       });
}

}  // namespace

const OpSpec& decode_op() {
  static const OpSpec spec = [] {
    OpSpec s;
    s.kind = OpKind::decode;
    s.name = "decode";
    s.axes = {dtype_axis(), positive_int_axis("batch", &Problem::batch), positive_int_axis("heads", &Problem::heads),
              positive_int_axis("kv_heads", &Problem::kv_heads)};
    for (AxisSpec& axis : kv_cache_axes()) s.axes.push_back(std::move(axis));
    s.axes.push_back(positive_int_axis("head_dim", &Problem::head_dim));
    s.axes.push_back(scale_axis());
    s.check_required = check_required;
    s.complete = complete;
    s.key = key;
    s.label = label;
    s.default_scale = inverse_sqrt_head_dim;
    s.tensors = tensors;
    s.flops = flops;
    s.bytes = bytes;
    s.validate = validate;
    // seq_q and seq_k hold q_len and cache_len; max_len, lengths and page_size are extra columns.
    s.shape_columns = attention_shape_columns_without_causal;
    s.row_shape = row_shape;
    s.row_pivot = row_pivot;
    s.extra_columns = kv_cache_columns();
    s.bandwidth_ceiling = BandwidthCeiling::read;
    s.memory_bound = true;
    s.list_details = kv_cache_list_details;
    return s;
  }();
  return spec;
}

}  // namespace fabench
