#pragma once
// Block-sparse attention forward (op sparse_attention, issue 18): attention's kernels with a key
// loop that follows a block mask instead of visiting every key tile (attention_keys.cuh). Shapes,
// outputs and the empty-row rule (O = 0, lse = -inf) are attention's (attention.h); a.causal must
// be false, the mask says what each query sees.
//
// The mask arrives as the host built it (src/core/sparse_mask.hpp's BlockLayout): per query block
// of `block` rows, the ascending list of its non-empty key blocks in CSR form, each full (no mask
// arithmetic) or partial (a block x block byte tile of the element mask).
//
// Versions:
//   sparse.masked:     attn.fa2_mma's loop over every key tile, every score of every tile masked
//                      element by element from the block mask (empty blocks computed, then
//                      dropped): seed 000's mask-pointer approach, the baseline.
//   sparse.block_skip: attn.fa2_mma (fp16, bf16, tf32) and attn.fa2 (fp32 on CUDA cores) visiting
//                      only the query tile's listed key blocks: empty blocks cost nothing, full
//                      blocks take no mask arithmetic (but the bound at seq_k), partial blocks
//                      their byte tile.
//   sparse.wgmma:      the same list on attn.wgmma (fp16, bf16, sm_90a), the next list entry
//                      read a tile ahead of its loads.
// Kernel tiles and mask blocks: a kernel runs a mask whose block is a multiple of its block_m
// and block_n (a query tile inside one block row; a block entry as block / block_n key tiles);
// the launchers return false otherwise and the variants refuse such cases beforehand.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "kernels/attention/attention.h"

namespace fabench {

// The block mask as a kernel reads it (device pointers).
struct SparseBlockArgs {
  const std::int32_t* offsets = nullptr;  // [masks * q_blocks + 1]: CSR row offsets, mask-major
  const std::int32_t* cols = nullptr;     // per entry: its key block, ascending within a row
  const std::int32_t* tiles = nullptr;    // per entry: -1 full, else its partial tile
  const std::uint8_t* partial = nullptr;  // [tiles, block, block]: 1 kept, 0 dropped (and past seq_q, seq_k)
  const std::int32_t* order = nullptr;    // [masks * q_blocks]: per mask, query blocks by descending entries (v3's draw)
  std::int64_t q_blocks = 0;              // query blocks per mask
  std::int64_t entries = 0;               // list entries of all masks (sparse.wgmma v3's choice of loop)
  int block = 64;                         // rows and keys of a mask block
  bool per_head = false;                  // one mask per (batch, head) instead of one for all
  std::int32_t tail_slices = 1;           // v3's draw: the launch's last slices taken together (heaviest_first_item)
};

// Whether a kernel tile of block_m x block_n can run a mask of `block`.
inline bool sparse_tile_fits(const AttentionTile& t, int block) {
  return block % t.block_m == 0 && block % t.block_n == 0;
}

// sparse.masked: attn.fa2_mma tiles (fp16, bf16) evaluating the mask on every key tile.
std::vector<AttentionTile> attention_sparse_masked_configs();
bool attention_sparse_masked(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                             cudaStream_t stream);

// sparse.block_skip on tensor cores: attn.fa2_mma tiles (fp16, bf16, tf32 as KernelElem::f32).
std::vector<AttentionTile> attention_sparse_mma_configs();
bool attention_sparse_mma(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                          cudaStream_t stream);

// sparse.block_skip in fp32 on CUDA cores: attn.fa2 tiles.
std::vector<AttentionTile> attention_sparse_fa2_configs();
bool attention_sparse_fa2(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                          cudaStream_t stream);

// sparse.wgmma: attn.wgmma tiles (fp16, bf16) on sm_90a; false when attention_wgmma_compiled() is.
std::vector<AttentionTile> attention_sparse_wgmma_configs();
bool attention_sparse_wgmma(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                            cudaStream_t stream);

}  // namespace fabench
