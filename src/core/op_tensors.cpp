#include "core/op_tensors.hpp"

namespace fabench {

std::vector<TensorSpec> op_tensors(const Problem& p) {
  ElemType et = storage_type(p.dtype);
  switch (p.op) {
    case OpKind::softmax: {
      std::size_t n = static_cast<std::size_t>(p.rows) * static_cast<std::size_t>(p.cols);
      return {
          {"x", et, n, false, Fill::uniform_wide},
          {"y", et, n, true, Fill::none},
          {"mask", ElemType::u8, p.mask == MaskKind::tensor ? n : 0, false, Fill::keep_bytes},
          {"lengths", ElemType::i32, p.mask == MaskKind::lengths ? static_cast<std::size_t>(p.rows) : 0, false,
           Fill::row_lengths},
      };
    }
    case OpKind::attention: {
      auto q_rows = static_cast<std::size_t>(p.batch * p.heads * p.seq_q);
      auto kv_rows = static_cast<std::size_t>(p.batch * p.kv_heads * p.seq_k);
      auto d = static_cast<std::size_t>(p.head_dim);
      return {
          {"q", et, q_rows * d, false, Fill::normal},
          {"k", et, kv_rows * d, false, Fill::normal},
          {"v", et, kv_rows * d, false, Fill::normal},
          {"o", et, q_rows * d, true, Fill::none},
          {"lse", ElemType::f32, q_rows, true, Fill::none},
      };
    }
    case OpKind::softmax_matmul: {
      auto b = static_cast<std::size_t>(p.batch), d1 = static_cast<std::size_t>(p.rows),
           d2 = static_cast<std::size_t>(p.cols), d3 = static_cast<std::size_t>(p.d3);
      return {
          {"x", et, b * d1 * d2, false, Fill::uniform_wide},
          {"v", et, b * d2 * d3, false, Fill::normal},
          {"out", et, b * d1 * d3, true, Fill::none},
      };
    }
  }
  return {};
}

}  // namespace fabench
