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

template <class T>
void attention_forward_reference(const Problem& p, const T* q, const T* k, const T* v, double* o, double* lse) {
  // 16 query rows share each chunk of 64 keys: K and V are converted once per block and chunk,
  // and the score loop runs over keys innermost (independent sums the compiler vectorises) rather
  // than over d (one dependent chain a score).
  constexpr std::int64_t kRows = 16, kKeys = 64;
  const std::int64_t d = p.head_dim, group = p.heads / p.kv_heads;
  const std::int64_t blocks = (p.seq_q + kRows - 1) / kRows;
  const double scale = p.effective_scale();
  const double neg_inf = -std::numeric_limits<double>::infinity();
  parallel_for(p.batch * p.heads * blocks, [&](std::int64_t task) {
    const std::int64_t bh = task / blocks, i0 = (task % blocks) * kRows;
    const std::int64_t b = bh / p.heads, h = bh % p.heads;
    const std::int64_t rows = std::min(kRows, p.seq_q - i0);
    std::vector<double> qd(static_cast<std::size_t>(kRows * d)), k_t(static_cast<std::size_t>(d * kKeys)),
        vd(static_cast<std::size_t>(kKeys * d)), s(static_cast<std::size_t>(kRows * kKeys)),
        acc(static_cast<std::size_t>(kRows * d), 0.0), m(kRows, neg_inf), l(kRows, 0.0);
    std::vector<std::int64_t> visible(kRows, 0);
    for (std::int64_t r = 0; r < rows; ++r) {
      visible[r] = attention_visible_keys(p, i0 + r);
      for (std::int64_t c = 0; c < d; ++c) qd[r * d + c] = static_cast<double>(q[query_row(p, b, h, i0 + r) * d + c]);
    }
    const std::int64_t key_end = visible[rows - 1];  // the last row sees the most keys
    const T* k_head = k + key_row(p, b, h / group, 0) * d;
    const T* v_head = v + key_row(p, b, h / group, 0) * d;
    for (std::int64_t j0 = 0; j0 < key_end; j0 += kKeys) {
      const std::int64_t cols = std::min(kKeys, key_end - j0);
      for (std::int64_t jj = 0; jj < cols; ++jj)
        for (std::int64_t c = 0; c < d; ++c) {
          k_t[c * kKeys + jj] = static_cast<double>(k_head[(j0 + jj) * d + c]);
          vd[jj * d + c] = static_cast<double>(v_head[(j0 + jj) * d + c]);
        }
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t valid = std::min(cols, visible[r] - j0);
        if (valid <= 0) continue;
        double* s_row = s.data() + r * kKeys;
        std::fill(s_row, s_row + valid, 0.0);
        for (std::int64_t c = 0; c < d; ++c) {
          const double qc = qd[r * d + c];
          const double* k_c = k_t.data() + c * kKeys;
          for (std::int64_t jj = 0; jj < valid; ++jj) s_row[jj] += qc * k_c[jj];
        }
        double tile_max = neg_inf;
        for (std::int64_t jj = 0; jj < valid; ++jj) tile_max = std::max(tile_max, s_row[jj] *= scale);
        const double m_new = std::max(m[r], tile_max);
        const double correction = std::exp(m[r] - m_new);  // 0 on the row's first chunk
        double* acc_row = acc.data() + r * d;
        for (std::int64_t c = 0; c < d; ++c) acc_row[c] *= correction;
        l[r] *= correction;
        for (std::int64_t jj = 0; jj < valid; ++jj) {
          const double w = std::exp(s_row[jj] - m_new);
          l[r] += w;
          for (std::int64_t c = 0; c < d; ++c) acc_row[c] += w * vd[jj * d + c];
        }
        m[r] = m_new;
      }
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t row = query_row(p, b, h, i0 + r);
      const bool empty = visible[r] == 0;
      for (std::int64_t c = 0; c < d; ++c) o[row * d + c] = empty ? 0.0 : acc[r * d + c] / l[r];
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
