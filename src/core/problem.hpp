#pragma once
// A Problem is one shape of one op: everything a kernel needs to know except its tuning.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.hpp"

namespace fabench {

// What each op is (its axes, key, tensors, models, validation, columns) is its OpSpec in src/ops/;
// the functions below that depend on the op are answered there (src/ops/registry.cpp).
// softmax_matmul: softmax(X) @ V per batch, X [batch, rows (d1), cols (d2)], V [batch, d2, d3].
// sparse_attention: attention under a block-granular mask (src/ops/sparse_attention.cpp,
// core/sparse_mask.hpp).
// decode: q_len new query tokens per sequence against a KV cache; kv_append: writes those tokens'
// K and V into the cache (src/ops/decode.cpp, kv_append.cpp); generate: seed 001 task 6's prefill +
// decode loop (src/ops/generate.cpp); attention_bwd: dQ, dK, dV from Q, K, V, O, dO and the
// log-sum-exp (src/ops/attention_bwd.cpp); attention_fwd_bwd: the forward then the backward of one
// case, each timed (src/ops/attention_fwd_bwd.cpp).
enum class OpKind {
  softmax, attention, softmax_matmul, decode, kv_append, generate, sparse_attention, attention_bwd, attention_fwd_bwd
};
std::string_view to_string(OpKind op);
std::optional<OpKind> parse_op(std::string_view s);
const char* op_choices();

// Softmax masks. causal: row r keeps columns c <= r mod cols (rows are stacked query rows of
// square score matrices); tensor: a 0/1 byte per element; lengths: row r keeps its first
// lengths[r] columns (padding). A row with nothing kept gives zeros.
enum class MaskKind { none, causal, tensor, lengths };
std::string_view to_string(MaskKind m);
std::optional<MaskKind> parse_mask(std::string_view s);
const char* mask_choices();

// Decode's current sequence lengths: every sequence at cache_len (equal), or seeded lengths up to
// cache_len that reach it once (mixed; make_sequence_lengths in core/kv_cache_layout.hpp).
enum class SeqLengths { equal, mixed };
std::string_view to_string(SeqLengths l);
std::optional<SeqLengths> parse_seq_lengths(std::string_view s);
const char* seq_lengths_choices();

// sparse_attention's mask patterns (core/sparse_mask.hpp says what each keeps).
enum class SparsePattern { random, window, causal, causal_window, documents, global_window, file };
std::string_view to_string(SparsePattern s);
std::optional<SparsePattern> parse_sparse_pattern(std::string_view s);
const char* sparse_pattern_choices();

struct Problem {
  OpKind op = OpKind::softmax;
  DType dtype = DType::fp32;
  std::uint64_t seed = 0;  // inputs and dropout decisions derive from it

  // softmax: rows x cols, row-wise
  std::int64_t rows = 0, cols = 0;
  MaskKind mask = MaskKind::none;
  double dropout = 0.0;

  // softmax_matmul: output columns (the seed's d3); rows and cols are d1 and d2, batch is batch
  std::int64_t d3 = 0;

  // attention: Q [batch, heads, seq_q, d], K/V [batch, kv_heads, seq_k, d]
  std::int64_t batch = 1, heads = 1, kv_heads = 1, seq_q = 0, seq_k = 0, head_dim = 0;
  bool causal = false;

  // decode and kv_append: seq_q is q_len (new tokens per sequence), seq_k is cache_len (the current
  // length of every sequence, or the longest under mixed lengths); max_len is the cache's capacity
  // per sequence; page_size 0 is a contiguous cache, otherwise the tokens per page of a paged one.
  std::int64_t max_len = 0;
  SeqLengths lengths = SeqLengths::equal;
  std::int64_t page_size = 0;
  // generate: a prompt of prompt_len tokens, then `steps` decode steps, projections d_model <->
  // heads * head_dim; page_size as above.
  std::int64_t d_model = 0, prompt_len = 0, steps = 0;

  // sparse_attention: the attention shapes above (causal stays false) and a mask of `pattern` at a
  // granularity of `block` (64 or 128) query rows x key columns; each pattern reads only its own
  // parameters (core/sparse_mask.hpp). One mask shared by every batch and head, or one per
  // (batch, head) when mask_per_head.
  SparsePattern pattern = SparsePattern::random;
  std::int64_t block = 128;
  double density = 0;                     // random: the fraction of blocks kept, (0, 1]
  std::int64_t window = 0;                // window, causal_window, global_window: tokens per row
  std::vector<std::int64_t> doc_lengths;  // documents: given lengths (summing to seq_k), or empty
  std::int64_t doc_count = 0;             // documents: this many seeded random lengths instead
  std::int64_t global_tokens = 0;         // global_window: the first G tokens are global
  std::string mask_file;                  // file: a .npy of 0/1 (README: the mask file)
  bool mask_per_head = false;

  // softmax(scale * x). Unset means the op's default: 1 for softmax, 1/sqrt(d) for attention.
  std::optional<double> scale;
  double effective_scale() const;

  // A readable, stable identity of the shape and options (no variant, no tuning).
  std::string key() const;
  // Short shape for progress lines, e.g. "b2 h16/4 s1024x1024 d64 causal".
  std::string shape_label() const;
};

// Tunable parameters of a variant, e.g. {"block_m": 64, "block_n": 32}. Ordered for stable keys.
using Params = std::map<std::string, std::int64_t>;
std::string params_label(const Params& p);  // "block_m=64,block_n=32" or ""

}  // namespace fabench
