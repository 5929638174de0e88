// kv_append: the q_len new tokens' K and V, k_new / v_new [batch, kv_heads, q_len, d], written into
// their cache slots L_b - q_len .. L_b - 1 of each sequence, contiguous or paged (the decode op's
// cache, kernels/decode/decode.h). Validation reads the whole cache back: the new slots must hold
// k_new / v_new exactly and every other element must still be the harness's NaN poison, so a
// missing write and a stray one both fail. Problem: seq_q is q_len and seq_k is cache_len.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <fmt/format.h>
#include <vector>

#include "core/parallel.hpp"
#include "ops/attention_shape.hpp"
#include "ops/kv_cache_axes.hpp"
#include "ops/op_helpers.hpp"

namespace fabench {

namespace {

std::string complete(Problem& p, const AxisGiven& given) {
  p.heads = p.kv_heads;  // no query heads: keeps the generic row text (h..) meaningful
  return kv_cache_complete(p, given);
}

std::string key(const Problem& p) {
  return fmt::format("kv_append/{}/b{}/kv{}/{}", to_string(p.dtype), p.batch, p.kv_heads, kv_cache_key(p));
}

// "bf16 b16 kv8 q1 c8192 d128 page64 mixed"
std::string label(const Problem& p) {
  return fmt::format("{} b{} kv{} {}", to_string(p.dtype), p.batch, p.kv_heads, kv_cache_label(p));
}

std::string row_shape(const TextRow& r) {
  return fmt::format("{} b{} kv{} {}", row_text(r, "dtype"), row_text(r, "batch"), row_text(r, "kv_heads"),
                     kv_cache_row_label(r));
}

PivotPlace row_pivot(const TextRow& r) { return kv_cache_row_pivot(r, " kv" + row_text(r, "kv_heads")); }

std::int64_t new_rows(const Problem& p) { return p.batch * p.kv_heads * p.seq_q; }

// In kv_append_tensors order: k_new, v_new [batch, kv_heads, q_len, d]; lengths; page table (none
// when contiguous); then the outputs, the K and V caches (KvCacheShape::elements).
std::vector<TensorSpec> tensors(const Problem& p) {
  const ElemType et = storage_type(p.dtype);
  const auto n = checked_count("k_new", {p.batch, p.kv_heads, p.seq_q, p.head_dim});
  const auto cache = static_cast<std::size_t>(kv_cache_shape(p).elements());
  return {
      {"k_new", et, n, false, Fill::normal},
      {"v_new", et, n, false, Fill::normal},
      lengths_tensor(p),
      page_table_tensor(p),
      {"k_cache", et, cache, true, Fill::none},
      {"v_cache", et, cache, true, Fill::none},
  };
}

// The new K and V, read once and written once, the lengths and the page table.
double bytes(const Problem& p) {
  const double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  const double n = static_cast<double>(new_rows(p)) * static_cast<double>(p.head_dim);
  return 4.0 * n * es + 4.0 * static_cast<double>(p.batch) + 4.0 * static_cast<double>(kv_cache_shape(p).num_pages());
}

// What one cache (K or V) holds after the append, against its new tokens.
struct CacheCheck {
  std::int64_t missing_rows = 0;  // a new token's row with poison left in it
  std::int64_t wrong_rows = 0;    // a new token's row written with other values
  std::int64_t stray = 0;         // elements outside the new rows that are no longer poison
  double diff2 = 0, ref2 = 0, max_abs = 0;
};

CacheCheck check_cache(const Problem& p, const HostTensor& fresh, const HostTensor& cache,
                       const std::int32_t* lengths, const std::int32_t* table) {
  const KvCacheShape shape = kv_cache_shape(p);
  const std::int64_t d = p.head_dim;
  const std::size_t es = elem_size(cache.spec.type);
  CacheCheck c;
  std::vector<char> is_new(static_cast<std::size_t>(shape.elements() / d), 0);
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t kvh = 0; kvh < p.kv_heads; ++kvh)
      for (std::int64_t i = 0; i < p.seq_q; ++i) {
        const std::int64_t dst = kv_offset(shape, table, b, kvh, lengths[b] - p.seq_q + i);
        const std::int64_t src = ((b * p.kv_heads + kvh) * p.seq_q + i) * d;
        is_new[static_cast<std::size_t>(dst / d)] = 1;
        bool missing = false, wrong = false;
        for (std::int64_t e = 0; e < d; ++e) {
          const double got = load_float(cache.bytes.data(), cache.spec.type, static_cast<std::size_t>(dst + e));
          const double want = load_float(fresh.bytes.data(), fresh.spec.type, static_cast<std::size_t>(src + e));
          if (std::isnan(got)) {
            missing = true;
            continue;
          }
          wrong |= got != want;
          c.diff2 += (got - want) * (got - want);
          c.ref2 += want * want;
          c.max_abs = std::max(c.max_abs, std::fabs(got - want));
        }
        c.missing_rows += missing;
        c.wrong_rows += wrong && !missing;
      }
  // Every other row must still be 0xFF bytes, as the harness poisoned it.
  const auto rows = static_cast<std::int64_t>(is_new.size());
  constexpr std::int64_t kRowsPerChunk = 4096;
  std::atomic<std::int64_t> stray{0};
  parallel_for((rows + kRowsPerChunk - 1) / kRowsPerChunk, [&](std::int64_t chunk) {
    std::int64_t local = 0;
    const std::int64_t end = std::min(rows, (chunk + 1) * kRowsPerChunk);
    for (std::int64_t r = chunk * kRowsPerChunk; r < end; ++r) {
      if (is_new[static_cast<std::size_t>(r)]) continue;
      const unsigned char* row = cache.bytes.data() + static_cast<std::size_t>(r * d) * es;
      for (std::int64_t e = 0; e < d; ++e) {
        bool poison = true;
        for (std::size_t byte = 0; byte < es; ++byte) poison &= row[static_cast<std::size_t>(e) * es + byte] == 0xFF;
        local += !poison;
      }
    }
    stray += local;
  });
  c.stray = stray.load();
  return c;
}

Validation validate(const Problem& p, const std::vector<HostTensor>& t, const ValidationSettings& s) {
  Validation v;
  v.tolerance = s.tolerance.at(p.dtype);
  const std::int32_t* lengths = t[kv_append_tensors::lengths].as<std::int32_t>();
  const std::int32_t* table =
      t[kv_append_tensors::page_table].spec.count ? t[kv_append_tensors::page_table].as<std::int32_t>() : nullptr;
  const std::int64_t rows = new_rows(p);
  double diff2 = 0, ref2 = 0;
  for (auto [fresh, cache] : {std::pair{kv_append_tensors::k_new, kv_append_tensors::k_cache},
                              std::pair{kv_append_tensors::v_new, kv_append_tensors::v_cache}}) {
    const CacheCheck c = check_cache(p, t[fresh], t[cache], lengths, table);
    const std::string& name = t[cache].spec.name;
    diff2 += c.diff2;
    ref2 += c.ref2;
    v.max_abs = std::max(v.max_abs, c.max_abs);
    if (!v.reason.empty()) continue;
    if (c.missing_rows > 0)
      v.reason = fmt::format("{}: {} of {} new token rows not written (poison left)", name, c.missing_rows, rows);
    else if (c.stray > 0)
      v.reason = fmt::format("{}: {} elements outside the new tokens' slots were written", name, c.stray);
    else if (c.wrong_rows > 0)
      v.reason = fmt::format("{}: {} of {} new token rows differ from {} (a copy must be exact)", name, c.wrong_rows,
                             rows, t[fresh].spec.name);
  }
  v.rows_checked = 2 * rows;
  v.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 == 0 ? 0.0 : INFINITY);
  if (!v.reason.empty() && v.rel_l2 == 0) v.rel_l2 = INFINITY;  // a missing or stray write is no small error
  v.passed = v.reason.empty();
  return v;
}

// kv_append has no query heads.
ShapeColumns shape_columns(const Problem& p) {
  ShapeColumns c = attention_shape_columns_without_causal(p);
  c.heads.clear();
  return c;
}

}  // namespace

const OpSpec& kv_append_op() {
  static const OpSpec spec = [] {
    OpSpec s;
    s.kind = OpKind::kv_append;
    s.name = "kv_append";
    s.axes = {dtype_axis(), positive_int_axis("batch", &Problem::batch),
              positive_int_axis("kv_heads", &Problem::kv_heads)};
    for (AxisSpec& axis : kv_cache_axes()) s.axes.push_back(std::move(axis));
    s.axes.push_back(positive_int_axis("head_dim", &Problem::head_dim));
    s.check_required = kv_cache_check_required;
    s.complete = complete;
    s.key = key;
    s.label = label;
    s.default_scale = unit_scale;
    s.tensors = tensors;
    s.flops = [](const Problem&) { return 0.0; };
    s.bytes = bytes;
    s.validate = validate;
    s.shape_columns = shape_columns;
    s.row_shape = row_shape;
    s.row_pivot = row_pivot;
    s.extra_columns = kv_cache_columns();
    s.bandwidth_ceiling = BandwidthCeiling::copy;
    s.memory_bound = true;
    s.list_details = kv_cache_list_details;
    return s;
  }();
  return spec;
}

}  // namespace fabench
