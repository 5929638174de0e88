// The decode CPU reference (new query tokens against a KV cache, contiguous or paged), its KV cache
// layout, lengths and page tables, the split-KV combine, and kv_append.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "core/kv_cache_layout.hpp"
#include "helpers.hpp"
#include "reference/attention_reference.hpp"
#include "reference/decode_reference.hpp"

using namespace fabench;

namespace {

std::vector<float> normals(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// One decode case with its own storage. K and V are filled everywhere with N(0, 1), the slots
// past each L_b and the paged pool's unused rows included, so nothing is accidentally zero.
struct DecodeCase {
  KvCacheShape cache;
  std::int64_t heads = 1, q_len = 1;
  double scale = 0;
  std::vector<std::int32_t> lengths, table;
  std::vector<float> q, k, v;

  DecodeView view() const {
    return {q.data(), k.data(), v.data(), lengths.data(), table.empty() ? nullptr : table.data(),
            cache,    heads,    q_len,    scale};
  }
};

DecodeCase make_case(std::int64_t batch, std::int64_t kv_heads, std::int64_t group, std::int64_t q_len,
                     std::int64_t max_len, std::int64_t cache_len, std::int64_t d, std::int64_t page_size, bool mixed,
                     std::uint64_t seed) {
  DecodeCase c;
  c.cache = {batch, kv_heads, max_len, d, page_size};
  c.heads = kv_heads * group;
  c.q_len = q_len;
  c.scale = 1.0 / std::sqrt(static_cast<double>(d));
  c.lengths = make_sequence_lengths(mixed, batch, q_len, cache_len, seed);
  c.table = make_page_table(c.cache, seed);
  c.q = normals(static_cast<std::size_t>(batch * c.heads * q_len * d), seed * 3 + 1);
  c.k = normals(static_cast<std::size_t>(c.cache.elements()), seed * 3 + 2);
  c.v = normals(static_cast<std::size_t>(c.cache.elements()), seed * 3 + 3);
  return c;
}

struct Row {
  std::vector<double> o;
  double lse = 0;
  bool operator==(const Row& r) const { return o == r.o && lse == r.lse; }
};

Row decode_row(const DecodeView& view, std::int64_t b, std::int64_t h, std::int64_t i) {
  Row r;
  r.o.resize(static_cast<std::size_t>(view.cache.head_dim));
  decode_reference_row(view, b, h, i, r.o.data(), &r.lse);
  return r;
}

std::vector<Row> all_rows(const DecodeView& view) {
  std::vector<Row> rows;
  for (std::int64_t b = 0; b < view.cache.batch; ++b)
    for (std::int64_t h = 0; h < view.heads; ++h)
      for (std::int64_t i = 0; i < view.q_len; ++i) rows.push_back(decode_row(view, b, h, i));
  return rows;
}

// Largest |a - b| / max(1, |b|) over a row's outputs and lse.
double row_error(const Row& a, const Row& b) {
  double e = std::abs(a.lse - b.lse) / std::max(1.0, std::abs(b.lse));
  for (std::size_t c = 0; c < b.o.size(); ++c)
    e = std::max(e, std::abs(a.o[c] - b.o[c]) / std::max(1.0, std::abs(b.o[c])));
  return e;
}

// Every element offset that holds a live token (t < L_b) of some (b, kv head), for poisoning the rest.
std::vector<bool> live_elements(const DecodeCase& c) {
  std::vector<bool> live(static_cast<std::size_t>(c.cache.elements()), false);
  const DecodeView view = c.view();
  for (std::int64_t b = 0; b < c.cache.batch; ++b)
    for (std::int64_t kvh = 0; kvh < c.cache.kv_heads; ++kvh)
      for (std::int64_t t = 0; t < c.lengths[b]; ++t) {
        const std::int64_t row = kv_offset(c.cache, view.page_table, b, kvh, t);
        for (std::int64_t x = 0; x < c.cache.head_dim; ++x) live[static_cast<std::size_t>(row + x)] = true;
      }
  return live;
}

}  // namespace

TEST_CASE("decode rows equal attention_reference_row on each sequence, contiguous and paged", "[decode]") {
  const std::int64_t batch = 3, kv_heads = 2, max_len = 40, cache_len = 37, d = 16;
  for (std::int64_t page_size : {0, 8, 7})  // 8 divides max_len, 7 leaves a part-used last page
    for (std::int64_t group : {1, 4, 8})
      for (std::int64_t q_len : {1, 5}) {
        CAPTURE(page_size, group, q_len);
        const DecodeCase c = make_case(batch, kv_heads, group, q_len, max_len, cache_len, d, page_size, true,
                                       100 + page_size * 10 + group + q_len);
        const DecodeView view = c.view();
        for (std::int64_t b = 0; b < batch; ++b) {
          const std::int64_t L = c.lengths[b];
          CAPTURE(b, L);
          // Sequence b as a dense causal attention problem: Q [1, heads, q_len, d],
          // K and V [1, kv_heads, L, d] with the cache's tokens 0..L-1 in order.
          Problem p = test::attention(1, c.heads, kv_heads, q_len, L, d, true);
          p.scale = c.scale;
          const auto q_begin = c.q.begin() + b * c.heads * q_len * d;
          const std::vector<float> q_b(q_begin, q_begin + c.heads * q_len * d);
          std::vector<float> k_b, v_b;
          for (std::int64_t kvh = 0; kvh < kv_heads; ++kvh)
            for (std::int64_t t = 0; t < L; ++t) {
              const std::int64_t row = kv_offset(c.cache, view.page_table, b, kvh, t);
              k_b.insert(k_b.end(), c.k.begin() + row, c.k.begin() + row + d);
              v_b.insert(v_b.end(), c.v.begin() + row, c.v.begin() + row + d);
            }
          double worst = 0;
          for (std::int64_t h = 0; h < c.heads; ++h)
            for (std::int64_t i = 0; i < q_len; ++i) {
              Row want;
              want.o.resize(static_cast<std::size_t>(d));
              attention_reference_row(p, q_b.data(), k_b.data(), v_b.data(), 0, h, i, want.o.data(), &want.lse);
              CHECK(decode_visible_tokens(view, b, i) == attention_visible_keys(p, i));
              worst = std::max(worst, row_error(decode_row(view, b, h, i), want));
            }
          CHECK(worst <= 1e-12);
        }
      }
}

TEST_CASE("decode paged and contiguous layouts holding the same tokens give identical results", "[decode]") {
  const std::int64_t batch = 4, kv_heads = 2, group = 4, q_len = 3, max_len = 50, d = 8;
  const DecodeCase flat = make_case(batch, kv_heads, group, q_len, max_len, 45, d, 0, true, 7);
  const std::vector<Row> want = all_rows(flat.view());
  for (std::int64_t page_size : {1, 3, 16, 50, 64}) {  // 64 > max_len: one part-used page per sequence
    CAPTURE(page_size);
    DecodeCase paged = flat;
    paged.cache.page_size = page_size;
    paged.table = make_page_table(paged.cache, 99 + page_size);
    paged.k = normals(static_cast<std::size_t>(paged.cache.elements()), 5);  // unused rows stay random
    paged.v = normals(static_cast<std::size_t>(paged.cache.elements()), 6);
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t kvh = 0; kvh < kv_heads; ++kvh)
        for (std::int64_t t = 0; t < max_len; ++t) {
          const std::int64_t from = kv_offset(flat.cache, nullptr, b, kvh, t);
          const std::int64_t to = kv_offset(paged.cache, paged.table.data(), b, kvh, t);
          std::copy_n(flat.k.begin() + from, d, paged.k.begin() + to);
          std::copy_n(flat.v.begin() + from, d, paged.v.begin() + to);
        }
    // Same values in the same order: bit-identical, not merely close.
    CHECK(all_rows(paged.view()) == want);
  }
}

TEST_CASE("decode page table is a seeded permutation mapping every token to its own slot", "[decode]") {
  struct Shape {
    std::int64_t batch, kv_heads, max_len, d, page_size;
  };
  for (const Shape& s : {Shape{1, 1, 8, 4, 8}, Shape{1, 2, 16, 4, 8}, Shape{2, 1, 16, 4, 8}, Shape{3, 2, 40, 8, 7},
                         Shape{4, 3, 100, 16, 16}, Shape{2, 2, 10, 4, 64}, Shape{5, 1, 33, 2, 1}}) {
    const KvCacheShape shape{s.batch, s.kv_heads, s.max_len, s.d, s.page_size};
    CAPTURE(s.batch, s.kv_heads, s.max_len, s.page_size);
    const std::int64_t pages = (s.max_len + s.page_size - 1) / s.page_size;
    CHECK(shape.pages_per_sequence() == pages);
    CHECK(shape.num_pages() == s.batch * pages);
    CHECK(shape.elements() == s.batch * pages * s.kv_heads * s.page_size * s.d);
    for (std::uint64_t seed : {0ull, 1ull, 12345ull}) {
      const auto table = make_page_table(shape, seed);
      REQUIRE(static_cast<std::int64_t>(table.size()) == shape.num_pages());
      // A permutation of the pool: every page used by exactly one (sequence, page) entry.
      auto sorted = table;
      std::sort(sorted.begin(), sorted.end());
      std::vector<std::int32_t> all(table.size());
      std::iota(all.begin(), all.end(), 0);
      CHECK(sorted == all);
      if (table.size() >= 2) CHECK(table != all);  // deliberately not in order
      CHECK(make_page_table(shape, seed) == table);
      // Every (b, kv head, t < max_len) row is in the pool, row-aligned, and nobody else's.
      std::set<std::int64_t> rows;
      bool inside = true;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t kvh = 0; kvh < s.kv_heads; ++kvh)
          for (std::int64_t t = 0; t < s.max_len; ++t) {
            const std::int64_t r = kv_offset(shape, table.data(), b, kvh, t);
            inside = inside && r >= 0 && r + s.d <= shape.elements() && r % s.d == 0;
            rows.insert(r);
          }
      CHECK(inside);
      CHECK(static_cast<std::int64_t>(rows.size()) == s.batch * s.kv_heads * s.max_len);
      // And the row is where the table says: page table[b][t / P], row t % P of kv head kvh.
      bool by_table = true;
      for (std::int64_t b = 0; b < s.batch; ++b)
        for (std::int64_t kvh = 0; kvh < s.kv_heads; ++kvh)
          for (std::int64_t t = 0; t < s.max_len; ++t) {
            const std::int64_t page = table[static_cast<std::size_t>(b * pages + t / s.page_size)];
            by_table = by_table && kv_offset(shape, table.data(), b, kvh, t) ==
                                       ((page * s.kv_heads + kvh) * s.page_size + t % s.page_size) * s.d;
          }
      CHECK(by_table);
    }
  }
  // Tiny pools, where a shuffle often lands on the identity, never give an in-order table.
  for (const KvCacheShape shape : {KvCacheShape{1, 1, 2, 4, 1}, KvCacheShape{2, 1, 4, 4, 2}}) {
    std::set<std::vector<std::int32_t>> seen;
    for (std::uint64_t seed = 0; seed < 500; ++seed) {
      const auto table = make_page_table(shape, seed);
      CHECK_FALSE(std::is_sorted(table.begin(), table.end()));
      seen.insert(table);
    }
    CHECK(seen.size() == (shape.num_pages() == 2 ? 1u : 23u));  // every non-identity permutation occurs
  }
  // Another seed, another table.
  const KvCacheShape big{4, 1, 64, 4, 4};
  CHECK(make_page_table(big, 1) != make_page_table(big, 2));
  // Pinned: the stream is defined by splitmix64 and our Fisher-Yates, so every platform gets it
  // (values cross-checked against an independent Python model of the same algorithm).
  const KvCacheShape small{2, 1, 12, 4, 3};
  const auto pinned = make_page_table(small, 42);
  CHECK(pinned == std::vector<std::int32_t>{2, 5, 7, 4, 1, 3, 6, 0});
  // By hand: token 4 of sequence 1 is in its page 1, entry 1 * 4 + 1 = pool page 3, row 1:
  // pool row 3 * 3 + 1 = 10, element 40.
  CHECK(kv_offset(small, pinned.data(), 1, 0, 4) == 40);
  // Contiguous: no table, and token rows tile [0, elements()) in order.
  const KvCacheShape flat{2, 3, 5, 4, 0};
  CHECK(make_page_table(flat, 1).empty());
  CHECK(flat.pages_per_sequence() == 0);
  CHECK(flat.elements() == 2 * 3 * 5 * 4);
  std::int64_t expected = 0;
  bool in_order = true;
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t kvh = 0; kvh < 3; ++kvh)
      for (std::int64_t t = 0; t < 5; ++t, expected += 4)
        in_order = in_order && kv_offset(flat, nullptr, b, kvh, t) == expected;
  CHECK(in_order);
}

TEST_CASE("decode sequence lengths: equal is all cache_len, mixed is seeded, in range and reaches the maximum",
          "[decode]") {
  for (std::int64_t batch : {1, 3, 8})
    CHECK(make_sequence_lengths(false, batch, 2, 77, 5) == std::vector<std::int32_t>(batch, 77));
  struct Range {
    std::int64_t q_len, cache_len;
  };
  for (const Range r : {Range{1, 1}, Range{1, 2}, Range{1, 100}, Range{5, 5}, Range{5, 6}, Range{5, 300}})
    for (std::int64_t batch : {1, 2, 3, 8}) {
      CAPTURE(r.q_len, r.cache_len, batch);
      std::set<std::vector<std::int32_t>> distinct;
      std::set<std::size_t> longest_at;
      bool ok = true;
      for (std::uint64_t seed = 0; seed < 200; ++seed) {
        const auto l = make_sequence_lengths(true, batch, r.q_len, r.cache_len, seed);
        REQUIRE(static_cast<std::int64_t>(l.size()) == batch);
        const auto [lo, hi] = std::minmax_element(l.begin(), l.end());
        ok = ok && *lo >= r.q_len && *hi == r.cache_len;
        if (batch > 1 && r.cache_len > r.q_len) ok = ok && *lo < r.cache_len;  // really mixed
        ok = ok && make_sequence_lengths(true, batch, r.q_len, r.cache_len, seed) == l;
        distinct.insert(l);
        longest_at.insert(static_cast<std::size_t>(hi - l.begin()));
      }
      CHECK(ok);
      if (r.cache_len - r.q_len >= 2 && batch > 1) {
        CHECK(distinct.size() > 100);                                 // the seed matters
        CHECK(longest_at.size() == static_cast<std::size_t>(batch));  // the longest is not always first
      }
    }
  // Uniform over [q_len, cache_len]: 1600 draws over 100 values reach every one of them.
  std::set<std::int32_t> values;
  for (std::uint64_t seed = 0; seed < 200; ++seed)
    for (std::int32_t l : make_sequence_lengths(true, 8, 1, 100, seed)) values.insert(l);
  CHECK(values.size() == 100u);
  // Pinned: the stream is defined by splitmix64, so every platform gets these lengths
  // (cross-checked against an independent Python model).
  CHECK(make_sequence_lengths(true, 6, 4, 1000, 42) == std::vector<std::int32_t>{209, 1000, 447, 123, 593, 71});
  CHECK_THROWS_AS(make_sequence_lengths(true, 2, 0, 10, 1), std::invalid_argument);
  CHECK_THROWS_AS(make_sequence_lengths(true, 2, 11, 10, 1), std::invalid_argument);
  CHECK_THROWS_AS(make_sequence_lengths(false, 0, 1, 10, 1), std::invalid_argument);
  const std::vector<std::int32_t> l = {3, 10, 7};
  CHECK(decode_kv_tokens_read(l.data(), 3) == 20.0);
}

TEST_CASE("decode query i sees exactly L_b - q_len + i + 1 tokens and nothing past them", "[decode]") {
  for (std::int64_t page_size : {0, 6}) {
    CAPTURE(page_size);
    const std::int64_t q_len = 5, d = 8;
    DecodeCase c = make_case(3, 2, 4, q_len, 30, 27, d, page_size, true, 31 + page_size);
    const std::vector<Row> want = all_rows(c.view());
    for (std::int64_t b = 0; b < 3; ++b)
      for (std::int64_t i = 0; i < q_len; ++i)
        CHECK(decode_visible_tokens(c.view(), b, i) == c.lengths[b] - q_len + i + 1);

    // Every slot that is not a live token (t >= L_b, other sequences' tails, unused page rows)
    // poisoned with NaN, then with huge values: nothing changes, to the bit.
    const std::vector<bool> live = live_elements(c);
    for (float poison : {std::numeric_limits<float>::quiet_NaN(), 3e38f, -3e38f}) {
      CAPTURE(poison);
      DecodeCase p = c;
      for (std::size_t x = 0; x < live.size(); ++x)
        if (!live[x]) p.k[x] = p.v[x] = poison;
      CHECK(all_rows(p.view()) == want);
    }

    // Among the new tokens: query i ignores token L_b - q_len + i + 1 (the next new token) but
    // not token L_b - q_len + i (itself), so the visible count is exact, not just an upper bound.
    for (std::int64_t b = 0; b < 3; ++b)
      for (std::int64_t i = 0; i < q_len; ++i) {
        CAPTURE(b, i);
        const std::int64_t last = c.lengths[b] - q_len + i;
        for (std::int64_t t : {last, last + 1}) {
          if (t >= c.lengths[b]) continue;
          DecodeCase p = c;
          for (std::int64_t kvh = 0; kvh < 2; ++kvh) {
            const std::int64_t row = kv_offset(p.cache, p.view().page_table, b, kvh, t);
            for (std::int64_t x = 0; x < d; ++x) p.k[row + x] = p.v[row + x] = 1e6f;
          }
          for (std::int64_t h = 0; h < p.heads; ++h) {
            const bool changed = !(decode_row(p.view(), b, h, i) == decode_row(c.view(), b, h, i));
            CHECK(changed == (t == last));
          }
        }
      }
  }
}

TEST_CASE("decode splits of the visible tokens combined by log-sum-exp equal the unsplit row", "[decode]") {
  const std::int64_t max_len = 64, d = 16, q_len = 2;
  const DecodeCase c = make_case(4, 2, 4, q_len, max_len, 60, d, 5, true, 2024);
  const DecodeView view = c.view();
  std::mt19937_64 rng(77);
  int empty_splits = 0;
  double worst = 0;
  for (std::int64_t splits : {1, 3, 7})
    for (int scheme = 0; scheme < 2; ++scheme)
      for (std::int64_t b = 0; b < c.cache.batch; ++b)
        for (std::int64_t h = 0; h < c.heads; ++h)
          for (std::int64_t i = 0; i < q_len; ++i) {
            const std::int64_t visible = decode_visible_tokens(view, b, i);
            // Split boundaries. Scheme 0, like a GPU split of the cache: fixed chunks of
            // ceil(max_len / splits) tokens, so a short sequence's last chunks are empty.
            // Scheme 1: seeded cut points in [0, visible] with an empty first chunk and, for 7
            // splits, an empty middle one.
            std::vector<std::int64_t> cuts = {0};
            if (scheme == 0) {
              const std::int64_t chunk = (max_len + splits - 1) / splits;
              for (std::int64_t s = 1; s < splits; ++s) cuts.push_back(s * chunk);
            } else {
              for (std::int64_t s = 1; s < splits; ++s)
                cuts.push_back(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(visible + 1)));
              std::sort(cuts.begin(), cuts.end());
              if (splits >= 3) cuts[1] = 0;
              if (splits == 7) cuts[4] = cuts[3];
            }
            cuts.push_back(std::max(visible, cuts.back()));
            std::vector<PartialRow> parts;
            for (std::size_t s = 0; s + 1 < cuts.size(); ++s) {
              PartialRow part{0, std::vector<double>(static_cast<std::size_t>(d))};
              decode_reference_partial_row(view, b, h, i, cuts[s], cuts[s + 1], part.o.data(), &part.lse);
              if (std::isinf(part.lse)) {
                ++empty_splits;
                // An empty split's output is never read: a GPU split may leave it unwritten.
                std::fill(part.o.begin(), part.o.end(), std::numeric_limits<double>::quiet_NaN());
              }
              parts.push_back(part);
            }
            Row got;
            got.o.resize(static_cast<std::size_t>(d));
            combine_partials_by_lse(parts, d, got.o.data(), &got.lse);
            worst = std::max(worst, row_error(got, decode_row(view, b, h, i)));
          }
  CHECK(worst <= 1e-12);
  CHECK(empty_splits > 0);

  // Edge cases: no split at all, or only empty ones, is zeros with lse = -inf; one split is itself.
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  std::vector<double> o(2, 5.0);
  double lse = 0;
  combine_partials_by_lse({}, 2, o.data(), &lse);
  CHECK((o == std::vector<double>{0, 0} && lse == -inf));
  combine_partials_by_lse({{-inf, {nan, nan}}, {-inf, {nan, nan}}}, 2, o.data(), &lse);
  CHECK((o == std::vector<double>{0, 0} && lse == -inf));
  combine_partials_by_lse({{1.5, {0.25, -2.0}}, {-inf, {nan, nan}}}, 2, o.data(), &lse);
  CHECK((o == std::vector<double>{0.25, -2.0} && lse == 1.5));
  // By hand: lse log 1 and log 3 weigh their outputs 1/4 and 3/4; the total lse is log 4.
  combine_partials_by_lse({{0.0, {4.0, 0.0}}, {std::log(3.0), {0.0, 8.0}}}, 2, o.data(), &lse);
  CHECK(o[0] == Approx(1.0).epsilon(1e-14));
  CHECK(o[1] == Approx(6.0).epsilon(1e-14));
  CHECK(lse == Approx(std::log(4.0)).epsilon(1e-14));
  // Far-apart lse values do not overflow: the smaller split's weight underflows to 0.
  combine_partials_by_lse({{1000.0, {1.0, 2.0}}, {-1000.0, {7.0, 7.0}}}, 2, o.data(), &lse);
  CHECK((o == std::vector<double>{1.0, 2.0} && lse == 1000.0));
}

TEST_CASE("decode kv_append writes exactly the new slots, contiguous and paged", "[decode]") {
  const std::int64_t batch = 3, kv_heads = 2, max_len = 30, d = 8;
  for (std::int64_t page_size : {0, 4, 7})
    for (std::int64_t q_len : {1, 5}) {
      CAPTURE(page_size, q_len);
      const DecodeCase c = make_case(batch, kv_heads, 1, q_len, max_len, 28, d, page_size, true, 55 + q_len);
      const auto k_new = normals(static_cast<std::size_t>(batch * kv_heads * q_len * d), 8);
      const auto v_new = normals(static_cast<std::size_t>(batch * kv_heads * q_len * d), 9);
      std::vector<float> k = c.k, v = c.v;
      kv_append_reference(c.cache, c.lengths.data(), c.view().page_table, q_len, k_new.data(), v_new.data(), k.data(),
                          v.data());
      // What the cache should hold: the old values, with new token n of (b, kvh) at slot L_b - q_len + n.
      std::vector<float> k_want = c.k, v_want = c.v;
      std::set<std::int64_t> written;
      for (std::int64_t b = 0; b < batch; ++b)
        for (std::int64_t kvh = 0; kvh < kv_heads; ++kvh)
          for (std::int64_t n = 0; n < q_len; ++n) {
            const std::int64_t row = kv_offset(c.cache, c.view().page_table, b, kvh, c.lengths[b] - q_len + n);
            const std::int64_t src = ((b * kv_heads + kvh) * q_len + n) * d;
            std::copy_n(k_new.begin() + src, d, k_want.begin() + row);
            std::copy_n(v_new.begin() + src, d, v_want.begin() + row);
            written.insert(row);
          }
      CHECK(static_cast<std::int64_t>(written.size()) == batch * kv_heads * q_len);
      CHECK(k == k_want);
      CHECK(v == v_want);
      CHECK(k != c.k);  // something was written
    }
}
