#include "reference/attention_bwd_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/parallel.hpp"
#include "reference/attention_reference.hpp"

namespace fabench {

namespace {

template <class A, class B>
double dot(const A* a, const B* b, std::int64_t d) {
  double s = 0.0;
  for (std::int64_t c = 0; c < d; ++c) s += static_cast<double>(a[c]) * static_cast<double>(b[c]);
  return s;
}

// Row offsets into the [batch, heads, seq_q] and [batch, kv_heads, seq_k] layouts.
std::int64_t query_row(const Problem& p, std::int64_t b, std::int64_t h, std::int64_t i) {
  return (b * p.heads + h) * p.seq_q + i;
}
std::int64_t key_row(const Problem& p, std::int64_t b, std::int64_t kv_head, std::int64_t j) {
  return (b * p.kv_heads + kv_head) * p.seq_k + j;
}

// The first query row that sees key j: causal query i sees j <= i + seq_k - seq_q.
std::int64_t first_query_seeing(const Problem& p, std::int64_t j) {
  return p.causal ? std::max<std::int64_t>(0, j - (p.seq_k - p.seq_q)) : 0;
}

}  // namespace

template <class T>
std::vector<double> attention_bwd_deltas(const Problem& p, const T* o, const T* d_o) {
  const std::int64_t rows = p.batch * p.heads * p.seq_q, d = p.head_dim;
  std::vector<double> delta(static_cast<std::size_t>(rows));
  constexpr std::int64_t kRowsPerTask = 4096;
  parallel_for((rows + kRowsPerTask - 1) / kRowsPerTask, [&](std::int64_t task) {
    for (std::int64_t r = task * kRowsPerTask; r < std::min(rows, (task + 1) * kRowsPerTask); ++r)
      delta[static_cast<std::size_t>(r)] = dot(d_o + r * d, o + r * d, d);
  });
  return delta;
}

template <class T>
void attention_bwd_dq_row(const Problem& p, const AttentionBwdInputs<T>& in, std::int64_t b, std::int64_t h,
                          std::int64_t i, double* dq) {
  const std::int64_t d = p.head_dim, kv_head = h / (p.heads / p.kv_heads);
  const double scale = p.effective_scale();
  const std::int64_t row = query_row(p, b, h, i);
  const T* q = in.q + row * d;
  const T* d_o = in.d_o + row * d;
  const double lse = static_cast<double>(in.lse[row]), delta = in.delta[row];
  std::fill(dq, dq + d, 0.0);
  const std::int64_t visible = attention_visible_keys(p, i);
  for (std::int64_t j = 0; j < visible; ++j) {
    const T* k = in.k + key_row(p, b, kv_head, j) * d;
    const T* v = in.v + key_row(p, b, kv_head, j) * d;
    const double prob = std::exp(scale * dot(q, k, d) - lse);
    const double ds = prob * (dot(d_o, v, d) - delta);
    for (std::int64_t c = 0; c < d; ++c) dq[c] += ds * static_cast<double>(k[c]);
  }
  for (std::int64_t c = 0; c < d; ++c) dq[c] *= scale;
}

template <class T>
void attention_bwd_key_row(const Problem& p, const AttentionBwdInputs<T>& in, std::int64_t b, std::int64_t kv_head,
                           std::int64_t j, double* dk, double* dv) {
  const std::int64_t d = p.head_dim, group = p.heads / p.kv_heads;
  const double scale = p.effective_scale();
  const T* k = in.k + key_row(p, b, kv_head, j) * d;
  const T* v = in.v + key_row(p, b, kv_head, j) * d;
  if (dk) std::fill(dk, dk + d, 0.0);
  if (dv) std::fill(dv, dv + d, 0.0);
  for (std::int64_t h = kv_head * group; h < (kv_head + 1) * group; ++h)
    for (std::int64_t i = first_query_seeing(p, j); i < p.seq_q; ++i) {
      const std::int64_t row = query_row(p, b, h, i);
      const T* q = in.q + row * d;
      const T* d_o = in.d_o + row * d;
      const double prob = std::exp(scale * dot(q, k, d) - static_cast<double>(in.lse[row]));
      if (dv)
        for (std::int64_t c = 0; c < d; ++c) dv[c] += prob * static_cast<double>(d_o[c]);
      if (dk) {
        const double ds = prob * (dot(d_o, v, d) - in.delta[row]);
        for (std::int64_t c = 0; c < d; ++c) dk[c] += ds * static_cast<double>(q[c]);
      }
    }
  if (dk)
    for (std::int64_t c = 0; c < d; ++c) dk[c] *= scale;
}

template <class T>
void attention_bwd_reference(const Problem& p, const AttentionBwdInputs<T>& in, double* dq, double* dk, double* dv) {
  const std::int64_t d = p.head_dim, group = p.heads / p.kv_heads;
  const double scale = p.effective_scale();
  std::fill(dq, dq + p.batch * p.heads * p.seq_q * d, 0.0);
  std::fill(dk, dk + p.batch * p.kv_heads * p.seq_k * d, 0.0);
  std::fill(dv, dv + p.batch * p.kv_heads * p.seq_k * d, 0.0);
  // Heads in ascending order within each KV head, rows in ascending order: a dK or dV row sums its
  // terms in the order attention_bwd_key_row does, a dQ row in attention_bwd_dq_row's.
  for (std::int64_t b = 0; b < p.batch; ++b)
    for (std::int64_t h = 0; h < p.heads; ++h)
      for (std::int64_t i = 0; i < p.seq_q; ++i) {
        const std::int64_t row = query_row(p, b, h, i);
        const T* q = in.q + row * d;
        const T* d_o = in.d_o + row * d;
        const double lse = static_cast<double>(in.lse[row]), delta = in.delta[row];
        double* dq_row = dq + row * d;
        const std::int64_t visible = attention_visible_keys(p, i);
        for (std::int64_t j = 0; j < visible; ++j) {
          const std::int64_t key = key_row(p, b, h / group, j);
          const T* k = in.k + key * d;
          const T* v = in.v + key * d;
          const double prob = std::exp(scale * dot(q, k, d) - lse);
          const double ds = prob * (dot(d_o, v, d) - delta);
          double* dk_row = dk + key * d;
          double* dv_row = dv + key * d;
          for (std::int64_t c = 0; c < d; ++c) {
            dq_row[c] += ds * static_cast<double>(k[c]);
            dk_row[c] += ds * static_cast<double>(q[c]);
            dv_row[c] += prob * static_cast<double>(d_o[c]);
          }
        }
      }
  for (std::int64_t x = 0; x < p.batch * p.heads * p.seq_q * d; ++x) dq[x] *= scale;
  for (std::int64_t x = 0; x < p.batch * p.kv_heads * p.seq_k * d; ++x) dk[x] *= scale;
}

namespace {

// Four doubles as one value (GCC's vector extension): the compiler issues two SSE2 operations for
// each, or one AVX2 operation in the avx2 clones below. Each lane is multiplied and added on its
// own, in the order written, and nothing is contracted into a fused multiply-add (neither target
// has FMA), so a lane's sum is bit for bit the scalar loop's.
typedef double Double4 __attribute__((vector_size(32)));

// Unaligned loads and stores of four doubles (through references: a vector passed or returned by
// value would change the calling convention between the two targets).
inline void load4(Double4& v, const double* p) { __builtin_memcpy(&v, p, sizeof v); }
inline void store4(double* p, const Double4& v) { __builtin_memcpy(p, &v, sizeof v); }

// c[4][4] (row stride ldc) = a[4][n] b[n][4] (b: row stride ldb), or += it when `add`: sixteen
// independent sums, each over x in order from 0 (so a score sums its terms as dot() does), a row
// of four at a time; S takes K^T as b, P V takes V.
__attribute__((target_clones("avx2", "default"))) void block_ab(const double* a, std::int64_t lda, const double* b,
                                                                 std::int64_t ldb, std::int64_t n, double* c,
                                                                 std::int64_t ldc, bool add) {
  Double4 sums[4] = {};
  for (std::int64_t x = 0; x < n; ++x) {
    Double4 bx;
    load4(bx, b + x * ldb);
    for (int i = 0; i < 4; ++i) sums[i] += a[i * lda + x] * bx;
  }
  for (int i = 0; i < 4; ++i) {
    Double4 row = sums[i];
    if (add) {
      load4(row, c + i * ldc);
      row += sums[i];
    }
    store4(c + i * ldc, row);
  }
}

}  // namespace

template <class T>
void attention_forward_reference(const Problem& p, const T* q, const T* k, const T* v, double* o, double* lse) {
  // FlashAttention's loop on the host: 16 query rows share each chunk of 64 keys (K and V are read
  // and converted once per block and chunk, not once per row), with an online softmax per row. S
  // and P V are computed in 4 x 4 register blocks (block_ab), which run several times faster than
  // a dot product a score (one dependent chain each); a score still sums its d terms in order, as
  // attention_reference_row does. Rows, keys and d are padded with zeros to the blocks (a padded
  // key's P is 0). The blocks' rows of four are vectors (K's chunk is held transposed for S), with
  // AVX2 clones chosen at load time: the same bits as the scalar blocks on three shapes (GQA,
  // causal, d 96), 1.6x their speed run back to back on an idle 2-core Xeon host (4 heads, seq
  // 2048 x 2000, d 128: 15.7-16.0 -> 23.9-25.8 GFLOP/s). This forward is most of what a backward
  // case's inputs take to make: at seq 16k, d 64, about 30 s a case on the H200 machine's 16 cores,
  // device time in which the GPU waits.
  constexpr std::int64_t kRows = 16, kKeys = 64;
  const std::int64_t d = p.head_dim, dp = (d + 3) / 4 * 4, group = p.heads / p.kv_heads;
  const std::int64_t blocks = (p.seq_q + kRows - 1) / kRows;
  const double scale = p.effective_scale();
  const double neg_inf = -std::numeric_limits<double>::infinity();
  parallel_for(p.batch * p.heads * blocks, [&](std::int64_t task) {
    const std::int64_t bh = task / blocks, i0 = (task % blocks) * kRows;
    const std::int64_t b = bh / p.heads, h = bh % p.heads;
    const std::int64_t rows = std::min(kRows, p.seq_q - i0);
    std::vector<double> qd(static_cast<std::size_t>(kRows * dp), 0.0), kd(static_cast<std::size_t>(kKeys * dp), 0.0),
        vd(static_cast<std::size_t>(kKeys * dp), 0.0), s(static_cast<std::size_t>(kRows * kKeys)),
        acc(static_cast<std::size_t>(kRows * dp), 0.0),
        m(kRows, neg_inf), l(kRows, 0.0);
    std::vector<std::int64_t> visible(kRows, 0);
    for (std::int64_t r = 0; r < rows; ++r) {
      visible[r] = attention_visible_keys(p, i0 + r);
      for (std::int64_t c = 0; c < d; ++c) qd[r * dp + c] = static_cast<double>(q[query_row(p, b, h, i0 + r) * d + c]);
    }
    const std::int64_t key_end = visible[rows - 1];  // the last row sees the most keys
    const T* k_head = k + key_row(p, b, h / group, 0) * d;
    const T* v_head = v + key_row(p, b, h / group, 0) * d;
    for (std::int64_t j0 = 0; j0 < key_end; j0 += kKeys) {
      const std::int64_t cols = std::min(kKeys, key_end - j0);
      for (std::int64_t jj = 0; jj < kKeys; ++jj)
        for (std::int64_t c = 0; c < d; ++c) {
          kd[c * kKeys + jj] = jj < cols ? static_cast<double>(k_head[(j0 + jj) * d + c]) : 0.0;  // K^T
          vd[jj * dp + c] = jj < cols ? static_cast<double>(v_head[(j0 + jj) * d + c]) : 0.0;
        }
      for (std::int64_t r = 0; r < kRows; r += 4)
        for (std::int64_t jj = 0; jj < kKeys; jj += 4)
          block_ab(qd.data() + r * dp, dp, kd.data() + jj, kKeys, d, s.data() + r * kKeys + jj, kKeys, false);
      // Online softmax: P over the row's visible keys of this chunk (0 elsewhere), O and l rescaled.
      for (std::int64_t r = 0; r < kRows; ++r) {
        double* s_row = s.data() + r * kKeys;
        const std::int64_t valid = r < rows ? std::min(cols, visible[r] - j0) : 0;
        if (valid <= 0) {
          std::fill(s_row, s_row + kKeys, 0.0);
          continue;
        }
        double tile_max = neg_inf;
        for (std::int64_t jj = 0; jj < valid; ++jj) tile_max = std::max(tile_max, s_row[jj] *= scale);
        const double m_new = std::max(m[r], tile_max);
        const double correction = std::exp(m[r] - m_new);  // 0 on the row's first chunk
        for (std::int64_t c = 0; c < dp; ++c) acc[r * dp + c] *= correction;
        l[r] *= correction;
        for (std::int64_t jj = 0; jj < kKeys; ++jj) {
          s_row[jj] = jj < valid ? std::exp(s_row[jj] - m_new) : 0.0;
          l[r] += s_row[jj];
        }
        m[r] = m_new;
      }
      for (std::int64_t r = 0; r < kRows; r += 4)
        for (std::int64_t c = 0; c < dp; c += 4)
          block_ab(s.data() + r * kKeys, kKeys, vd.data() + c, dp, kKeys, acc.data() + r * dp + c, dp, true);
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t row = query_row(p, b, h, i0 + r);
      const bool empty = visible[r] == 0;
      for (std::int64_t c = 0; c < d; ++c) o[row * d + c] = empty ? 0.0 : acc[r * dp + c] / l[r];
      lse[row] = empty ? neg_inf : m[r] + std::log(l[r]);
    }
  });
}

#define FABENCH_INSTANTIATE(T)                                                                                    \
  template std::vector<double> attention_bwd_deltas<T>(const Problem&, const T*, const T*);                       \
  template void attention_bwd_dq_row<T>(const Problem&, const AttentionBwdInputs<T>&, std::int64_t, std::int64_t, \
                                        std::int64_t, double*);                                                   \
  template void attention_bwd_key_row<T>(const Problem&, const AttentionBwdInputs<T>&, std::int64_t,              \
                                         std::int64_t, std::int64_t, double*, double*);                           \
  template void attention_bwd_reference<T>(const Problem&, const AttentionBwdInputs<T>&, double*, double*,        \
                                           double*);                                                              \
  template void attention_forward_reference<T>(const Problem&, const T*, const T*, const T*, double*, double*);
FABENCH_INSTANTIATE(float)
FABENCH_INSTANTIATE(double)
#undef FABENCH_INSTANTIATE

}  // namespace fabench
