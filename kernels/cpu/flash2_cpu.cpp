// CPU FlashAttention-2, single-threaded fp32: the algorithm made visible, not a fast CPU kernel.
#include "kernels/cpu/flash2_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace fabench {

void flash2_cpu(const CpuAttentionArgs& a, int block_m, int block_n) {
  const std::int64_t d = a.head_dim;
  const std::int64_t group = a.heads / a.kv_heads;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> acc(static_cast<std::size_t>(block_m * d));
  std::vector<float> s(static_cast<std::size_t>(block_m * block_n));
  std::vector<float> m(static_cast<std::size_t>(block_m)), l(static_cast<std::size_t>(block_m));

  for (std::int64_t b = 0; b < a.batch; ++b)
    for (std::int64_t h = 0; h < a.heads; ++h) {
      const std::int64_t kvh = h / group;
      const float* q = a.q + (b * a.heads + h) * a.seq_q * d;
      const float* k = a.k + (b * a.kv_heads + kvh) * a.seq_k * d;
      const float* v = a.v + (b * a.kv_heads + kvh) * a.seq_k * d;
      float* o = a.o + (b * a.heads + h) * a.seq_q * d;
      float* lse = a.lse + (b * a.heads + h) * a.seq_q;

      for (std::int64_t i0 = 0; i0 < a.seq_q; i0 += block_m) {
        const std::int64_t rows = std::min<std::int64_t>(block_m, a.seq_q - i0);
        std::fill(acc.begin(), acc.end(), 0.0f);
        std::fill(m.begin(), m.end(), neg_inf);
        std::fill(l.begin(), l.end(), 0.0f);
        // Under causal masking, the last key row i0 + rows - 1 can see bounds the K/V loop.
        const std::int64_t key_end =
            a.causal ? std::clamp<std::int64_t>(i0 + rows + a.seq_k - a.seq_q, 0, a.seq_k) : a.seq_k;
        for (std::int64_t j0 = 0; j0 < key_end; j0 += block_n) {
          const std::int64_t cols = std::min<std::int64_t>(block_n, key_end - j0);
          for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t i = i0 + r;
            const std::int64_t visible_end = a.causal ? i + a.seq_k - a.seq_q : a.seq_k - 1;  // last visible key
            float tile_max = neg_inf;
            for (std::int64_t c = 0; c < cols; ++c) {
              const std::int64_t j = j0 + c;
              float dot = 0.0f;
              for (std::int64_t x = 0; x < d; ++x) dot += q[i * d + x] * k[j * d + x];
              const float score = j <= visible_end ? a.scale * dot : neg_inf;
              s[r * block_n + c] = score;
              tile_max = std::max(tile_max, score);
            }
            const float m_new = std::max(m[r], tile_max);
            if (m_new == neg_inf) continue;  // nothing visible yet for this row
            const float correction = std::exp(m[r] - m_new);  // exp(-inf) = 0 on the first tile
            float row_sum = 0.0f;
            for (std::int64_t x = 0; x < d; ++x) acc[r * d + x] *= correction;
            for (std::int64_t c = 0; c < cols; ++c) {
              const float p = std::exp(s[r * block_n + c] - m_new);
              row_sum += p;
              for (std::int64_t x = 0; x < d; ++x) acc[r * d + x] += p * v[(j0 + c) * d + x];
            }
            l[r] = l[r] * correction + row_sum;
            m[r] = m_new;
          }
        }
        for (std::int64_t r = 0; r < rows; ++r) {
          const bool empty = l[r] == 0.0f;
          const float inv_l = empty ? 0.0f : 1.0f / l[r];
          for (std::int64_t x = 0; x < d; ++x) o[(i0 + r) * d + x] = acc[r * d + x] * inv_l;
          lse[i0 + r] = empty ? neg_inf : m[r] + std::log(l[r]);
        }
      }
    }
}

}  // namespace fabench
