#pragma once
// Decode attention: q_len new query tokens per sequence attend to a KV cache that already holds
// them (appended first, as vLLM and FlashInfer do), causal among themselves.
//
// Shapes: q, o [batch, heads, q_len, d]; lse [batch, heads, q_len] fp32 (natural log).
// Cache, contiguous (page_size 0): K and V [batch, kv_heads, max_len, d].
// Cache, paged (page_size P): a pool of pages [num_pages, kv_heads, P, d] and an int32 page table
// [batch, pages_per_seq], pages_per_seq = ceil(max_len / P): token t of sequence b is row t % P of
// page table[b * pages_per_seq + t / P].
// Sequence b holds lengths[b] tokens (q_len <= lengths[b] <= max_len); query i sees tokens
// t <= lengths[b] - q_len + i. GQA: query head h reads KV head h / (heads / kv_heads).
//
// Versions (each keeps its number and meaning; the .cu files say what each measured):
//   v1 decode_simple:  seed 001's decode kernel. One block per (batch, KV head), a thread per
//                      element of d; for every cached token a block-wide dot-product reduction and
//                      an online-softmax step. The group's query rows in chunks of 4.
//   v2 decode_split:   Flash-Decoding on CUDA cores. The cache of each (batch, KV head) is split
//                      over blocks so the whole GPU streams it, tiles of K and V brought into
//                      shared memory by bulk copies (TMA) a few stages ahead; every query row of a
//                      GQA group shares each K/V row read; groups of d/8 lanes own a token each
//                      with their own online softmax, merged in shared memory; the last split of
//                      each (batch, KV head) to finish combines the partials by log-sum-exp. The
//                      same kernel reads a paged cache (one bulk copy per page run).
//   v3 decode_split:   the same split and combine on tensor cores (mma.sync, fp16 and bf16): the
//                      group's rows (up to 16) are one m16 tile, a warp takes 16 tokens of each
//                      64-token tile (S = Q K^T, then P V with P kept in registers), K and V
//                      arrive by cp.async into XOR-swizzled rows (per token, so pages cost nothing
//                      extra) for conflict-free ldmatrix; a whole tile in one run (contiguous, or
//                      pages of 64 tokens or more) by two copies a row at fixed offsets. Planned
//                      at one block an SM at d 128 where tiles take those copies (a block
//                      keeps 64 KiB of copies in flight). A wide instance (8 warps, tiles of
//                      128 tokens) runs contiguous d 128 launches of one wave of one block an
//                      SM whose splits hold 2048 tokens or more.
//   kv_append:         writes the q_len new tokens' K and V into their slots (either layout).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/common/kernel_types.h"

namespace fabench {

struct DecodeArgs {
  const void* q = nullptr;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const std::int32_t* lengths = nullptr;     // [batch], device
  const std::int32_t* page_table = nullptr;  // [batch, pages_per_seq], device; null when contiguous
  void* o = nullptr;
  float* lse = nullptr;
  std::int64_t batch = 1, heads = 1, kv_heads = 1, q_len = 1, max_len = 0, head_dim = 0;
  std::int64_t longest = 0;  // the largest lengths[b], known to the host: it sizes the splits
  std::int64_t total_tokens = 0;  // the sum of lengths[b], known to the host (0: not given, taken as equal)
  int page_size = 0;         // 0: contiguous
  float scale = 1.0f;
  KernelElem elem = KernelElem::f32;
};

// Head dims and page sizes compiled into decode_split (and decode_simple's head dims).
const std::vector<int>& decode_head_dims();
const std::vector<int>& decode_page_sizes();

// v1. Returns false for a head dim not compiled.
bool decode_simple(const DecodeArgs& a, cudaStream_t stream);

// How a split-KV version (2: CUDA cores, 3: tensor cores) runs a case: query rows per block (rows
// of one GQA group in a chunk), chunks per group, splits of the cache, tokens per split.
struct DecodeSplitPlan {
  int version = 3;
  int rows_per_block = 1;
  int row_chunks = 1;
  int splits = 1;
  std::int64_t split_tokens = 0;
  std::size_t workspace_bytes = 0;  // fp32 partial outputs and log-sum-exps; 0 when splits == 1
  bool compiled = false;            // false: this version has no instance for the dtype and head dim
  bool wide = false;                // v3 only: its 8-warp instance (decode_split_v3_shape says where)
};
// requested_splits 0 picks: the fewest splits whose blocks fill whole waves of the GPU (the
// version's blocks an SM for a wave x `sm_count`), each split a whole number of the version's tiles,
// at most 256; for lengths far from equal (total_tokens), splits sized to the work instead
// (unequal_split_tokens, decode_plan_rules.h).
DecodeSplitPlan decode_split_plan(const DecodeArgs& a, int version, int sm_count, int requested_splits);
// Runs the plan; the workspace holds plan.workspace_bytes. Returns false when the plan's version has
// no instance for the case, or for a page size not compiled. Launches of these kernels must not
// overlap one another (the splits' merge counters are per kernel file, decode_merge.cuh).
bool decode_split(const DecodeArgs& a, const DecodeSplitPlan& plan, void* workspace, cudaStream_t stream);

struct KvAppendArgs {
  const void* k_new = nullptr;  // [batch, kv_heads, q_len, d]
  const void* v_new = nullptr;
  void* k_cache = nullptr;  // layout as DecodeArgs
  void* v_cache = nullptr;
  const std::int32_t* lengths = nullptr;
  const std::int32_t* page_table = nullptr;
  std::int64_t batch = 1, kv_heads = 1, q_len = 1, max_len = 0, head_dim = 0;
  int page_size = 0;
  KernelElem elem = KernelElem::f32;
};
// head_dim a multiple of 8.
bool kv_append(const KvAppendArgs& a, cudaStream_t stream);

}  // namespace fabench
