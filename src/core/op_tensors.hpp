#pragma once
// The tensors each op reads and writes, in the order LaunchArgs::tensors passes them.
#include <cstddef>
#include <string>
#include <vector>

#include "core/problem.hpp"

namespace fabench {

namespace softmax_tensors {
enum : std::size_t { x = 0, y = 1, mask = 2, lengths = 3, count = 4 };
}
namespace softmax_matmul_tensors {
enum : std::size_t { x = 0, v = 1, out = 2, count = 3 };
}
namespace attention_tensors {
enum : std::size_t { q = 0, k = 1, v = 2, o = 3, lse = 4, count = 5 };
}

// How an input is filled: seeded, never zeros.
enum class Fill {
  normal,        // N(0, 1): attention Q, K, V
  uniform_wide,  // U(-4, 4): softmax logits, wide enough that exp() spreads over decades
  keep_bytes,    // 0/1 bytes, about 80% ones, and some rows fully masked
  row_lengths,   // int32 in [0, cols]
  none           // outputs: poisoned instead of filled
};

struct TensorSpec {
  std::string name;
  ElemType type = ElemType::f32;
  std::size_t count = 0;  // 0: unused by this problem (passed as nullptr)
  bool output = false;
  Fill fill = Fill::none;
};

std::vector<TensorSpec> op_tensors(const Problem& p);

}  // namespace fabench
