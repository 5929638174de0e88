#pragma once
// The tensors each op reads and writes, in the order LaunchArgs::tensors passes them; each op's
// OpSpec (src/ops/) lists its TensorSpecs.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/checked_size.hpp"
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
// page_table has count 0 (nullptr) for a contiguous cache.
namespace decode_tensors {
enum : std::size_t { q = 0, k_cache = 1, v_cache = 2, lengths = 3, page_table = 4, o = 5, lse = 6, count = 7 };
}
namespace kv_append_tensors {
enum : std::size_t { k_new = 0, v_new = 1, lengths = 2, page_table = 3, k_cache = 4, v_cache = 5, count = 6 };
}

// sparse_attention: q, k, v, o, lse as attention's; then the mask as the block-skipping kernels read
// it (core/sparse_mask.hpp's BlockLayout): block_offsets int32 [masks * q_blocks + 1], block_cols
// and block_tiles int32 [entries] (tile -1: a full block), partial_tiles uint8 [tiles, block, block],
// block_order int32 [masks * q_blocks] (each mask's query blocks by descending entries).
namespace sparse_attention_tensors {
enum : std::size_t {
  q = 0, k = 1, v = 2, o = 3, lse = 4, block_offsets = 5, block_cols = 6, block_tiles = 7, partial_tiles = 8,
  block_order = 9, count = 10
};
}

// attention_bwd: inputs q, k, v, o, d_o (dO) [batch, heads or kv_heads, seq, d] and the fp32 lse
// [batch, heads, seq_q]; o and lse are the forward's (computed from q, k, v when the inputs are
// made: Fill::derived); outputs dq like q, dk and dv like k.
namespace attention_bwd_tensors {
enum : std::size_t { q = 0, k = 1, v = 2, o = 3, d_o = 4, lse = 5, dq = 6, dk = 7, dv = 8, count = 9 };
}
// attention_fwd_bwd: the same tensors, but o and lse are outputs of the forward (inputs first).
namespace attention_fwd_bwd_tensors {
enum : std::size_t { q = 0, k = 1, v = 2, d_o = 3, o = 4, lse = 5, dq = 6, dk = 7, dv = 8, count = 9 };
}

namespace generate_tensors {
// Inputs: the prompt and step embeddings, the four projections, the page table (paged caches).
// Outputs: the prefill's projected output at the last prompt token, the last step's projected
// output, query, attention output and log-sum-exp, and the final K and V caches (P + T tokens).
enum : std::size_t {
  x_prompt = 0, x_steps = 1, wq = 2, wk = 3, wv = 4, wo = 5, page_table = 6,
  y_first = 7, y_last = 8, q_last = 9, o_last = 10, lse_last = 11, k_cache = 12, v_cache = 13, count = 14
};
}

struct HostTensor;

// How an input is filled: seeded, never zeros.
enum class Fill {
  normal,        // N(0, 1): attention Q, K, V
  uniform_wide,  // U(-4, 4): softmax logits, wide enough that exp() spreads over decades
  uniform_unit,  // U(-sqrt 3, sqrt 3): mean 0, variance 1 like normal, 16 bits a value, never 0;
                 // about 20x faster than normal's Box-Muller, for multi-GB inputs (KV caches)
  keep_bytes,    // 0/1 bytes, about 80% ones, and some rows fully masked
  row_lengths,   // int32 in [0, cols]
  custom,        // the TensorSpec's own custom_fill (index tensors: lengths, page tables)
  derived,       // computed from the other inputs once they are filled, by the op's
                 // OpSpec::derive_inputs (attention_bwd: the forward's O and lse from Q, K, V)
  none           // outputs: poisoned instead of filled
};

// Fills an input whose bytes are sized already; `seed` is this tensor's own (from the problem's
// seed and the tensor's index). Called once per tensor, on one thread.
using CustomFill = std::function<void(const Problem& p, std::uint64_t seed, HostTensor& t)>;

struct TensorSpec {
  TensorSpec() = default;
  TensorSpec(std::string name, ElemType type, std::size_t count, bool output, Fill fill, CustomFill custom_fill = {})
      : name(std::move(name)), type(type), count(count), output(output), fill(fill), custom_fill(std::move(custom_fill)) {}

  std::string name;
  ElemType type = ElemType::f32;
  std::size_t count = 0;  // 0: unused by this problem (passed as nullptr)
  bool output = false;
  Fill fill = Fill::none;
  CustomFill custom_fill;  // used when fill is Fill::custom
  // Whether the host copy of an input is also decoded to float (HostTensor::values) for the
  // reference. false for inputs too large to hold twice (a KV cache of tens of GB): the op's
  // validation reads their bytes with load_float.
  bool host_floats = true;
};

}  // namespace fabench
