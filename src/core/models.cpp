#include "core/models.hpp"

#include <algorithm>

namespace fabench {

double causal_pairs(std::int64_t seq_q, std::int64_t seq_k) {
  // Query i (0-based) sees keys j <= i + (seq_k - seq_q); count them in closed form.
  double total = 0;
  std::int64_t offset = seq_k - seq_q;
  std::int64_t first_full = std::max<std::int64_t>(0, seq_k - offset);  // rows seeing every key
  std::int64_t first_any = std::max<std::int64_t>(0, -offset);           // rows seeing >= 1 key
  std::int64_t partial_end = std::min(seq_q, first_full);
  if (partial_end > first_any) {
    // rows first_any..partial_end-1 see i + offset + 1 keys: an arithmetic series
    double a = static_cast<double>(first_any + offset + 1);
    double b = static_cast<double>(partial_end - 1 + offset + 1);
    total += (a + b) * static_cast<double>(partial_end - first_any) / 2.0;
  }
  if (seq_q > first_full) total += static_cast<double>(seq_q - first_full) * static_cast<double>(seq_k);
  return total;
}

double model_flops(const Problem& p) {
  switch (p.op) {
    case OpKind::softmax: return 5.0 * static_cast<double>(p.rows) * static_cast<double>(p.cols);
    case OpKind::attention: {
      double pairs = p.causal ? causal_pairs(p.seq_q, p.seq_k)
                              : static_cast<double>(p.seq_q) * static_cast<double>(p.seq_k);
      return 4.0 * static_cast<double>(p.batch * p.heads) * pairs * static_cast<double>(p.head_dim);
    }
    case OpKind::softmax_matmul: {
      double x = static_cast<double>(p.batch) * static_cast<double>(p.rows) * static_cast<double>(p.cols);
      return 2.0 * x * static_cast<double>(p.d3) + 5.0 * x;
    }
  }
  return 0;
}

double model_bytes(const Problem& p) {
  double es = static_cast<double>(elem_size(storage_type(p.dtype)));
  switch (p.op) {
    case OpKind::softmax: {
      double elems = static_cast<double>(p.rows) * static_cast<double>(p.cols);
      double mask = p.mask == MaskKind::tensor ? elems : p.mask == MaskKind::lengths ? 4.0 * p.rows : 0.0;
      return 2.0 * elems * es + mask;
    }
    case OpKind::attention: {
      double q_rows = static_cast<double>(p.batch * p.heads * p.seq_q);
      double kv_rows = static_cast<double>(p.batch * p.kv_heads * p.seq_k);
      double d = static_cast<double>(p.head_dim);
      return (2.0 * q_rows * d + 2.0 * kv_rows * d) * es + 4.0 * q_rows;
    }
    case OpKind::softmax_matmul: {
      double b = static_cast<double>(p.batch);
      return b * (static_cast<double>(p.rows) * p.cols + static_cast<double>(p.cols) * p.d3 +
                  static_cast<double>(p.rows) * p.d3) * es;
    }
  }
  return 0;
}

}  // namespace fabench
