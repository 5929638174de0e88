#pragma once
// Attention forward kernels: O = softmax(scale * Q K^T) V, plus the natural-log log-sum-exp per row.
// Q, O: [batch, heads, seq_q, d]; K, V: [batch, kv_heads, seq_k, d]; lse: [batch, heads, seq_q] fp32.
// Causal masking is aligned to the bottom right: query i sees keys j <= i + seq_k - seq_q.
// A query that sees no key gets O = 0 and lse = -inf.
//
// Versions:
//   attn.naive: materialises S = QK^T in device memory (seed 001 task 2): tiled GEMM-NT, scale and
//               causal mask, row softmax (writes lse), tiled GEMM-NN. Memory grows with seq_q*seq_k.
//   attn.fa1:   FlashAttention-1 Algorithm 1 as in the paper, fp32: K/V blocks outer, Q blocks inner,
//               O, m, l kept in device memory between blocks; one block per (batch, head).
//   attn.fa2:   FlashAttention-2 Algorithm 1, fp32 on CUDA cores: a block per BM query rows, K/V
//               tiles of BN rows streamed through shared memory, online softmax, no S in memory.
//   attn.fa2_mma: FlashAttention-2 on tensor cores (mma.sync, ldmatrix, cp.async, swizzled shared
//               memory), fp16/bf16 and tf32; S and P stay in registers.
//   attn.wgmma: FlashAttention-2 on Hopper's warpgroup MMA (wgmma, sm_90a): a warpgroup per 64
//               query rows, operands read by the tensor cores from swizzled shared memory, P from
//               registers; fp16/bf16.
//   attn.cublas: (src/variants) cuBLAS GEMMs around attention_softmax_rows below.
// The tiled kernels' key loops take a policy (attention_keys.cuh); block-sparse attention runs them
// under a block mask (attention_sparse.h: sparse.masked, sparse.block_skip, sparse.wgmma).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/common/kernel_types.h"

namespace fabench {

struct AttentionArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;
  float* lse = nullptr;
  std::int64_t batch = 1, heads = 1, kv_heads = 1, seq_q = 0, seq_k = 0, head_dim = 0;
  bool causal = false;
  float scale = 1.0f;
  KernelElem elem = KernelElem::f32;
};

// Workspace the naive version needs: the fp32 score matrix S.
std::size_t attention_naive_workspace_bytes(const AttentionArgs& a);
// tile: the GEMM tile edge, 16 or 32.
void attention_naive(const AttentionArgs& a, void* workspace, int tile, cudaStream_t stream);

// fp32, head_dim 32 or 64 (false otherwise); workspace: m and l, 8 bytes per query row.
std::size_t attention_fa1_workspace_bytes(const AttentionArgs& a);
bool attention_fa1(const AttentionArgs& a, void* workspace, cudaStream_t stream);

// A compiled tile configuration of a tuned kernel and the shared memory it needs per block.
struct AttentionTile {
  int head_dim, block_m, block_n;
  std::size_t smem_bytes;
  int warps = 8;                        // threads / 32
  KernelElem elem = KernelElem::f32;    // the element type it is compiled for
  int stages = 1;                       // K/V buffers in shared memory (prefetch distance)
  bool tf32x3 = false;                  // f32 at fp32 accuracy by three TF32 products (else one)
  int pipeline = 1;                     // score tiles in flight per warpgroup (attn.wgmma: 2 overlaps
                                        // a tile's softmax with the previous tile's P V); 3 (sparse.wgmma,
                                        // attn.wgmma): warp-specialized, persistent (attention_wgmma_ws.cuh)
};
std::vector<AttentionTile> attention_fa2_configs();
// fp32 only. Returns false when (head_dim, block_m, block_n, warps) of `tile` is not compiled or the
// shared memory cannot be granted; the variant checks both before launching, so a false here is a bug.
bool attention_fa2(const AttentionArgs& a, const AttentionTile& tile, cudaStream_t stream);

// fp16, bf16 and f32 (a.elem; f32 as TF32, or at fp32 accuracy by 3xTF32 when tile.tf32x3); the
// tile must be one of attention_fa2_mma_configs() for a.elem and a.head_dim. Returns false
// otherwise or when its shared memory cannot be granted. workspace: at least
// attention_fa2_mma_workspace_bytes(a, tile) bytes (asked on the device that runs it), where
// persistent blocks split the keys of the last items; null runs with whole items only.
std::vector<AttentionTile> attention_fa2_mma_configs();
std::size_t attention_fa2_mma_workspace_bytes(const AttentionArgs& a, const AttentionTile& tile);
bool attention_fa2_mma(const AttentionArgs& a, const AttentionTile& tile, void* workspace, cudaStream_t stream);

// fp16 and bf16 on sm_90a. attention_wgmma_compiled: whether this build has the sm_90a code (else
// the kernels are empty). The tile must be one of attention_wgmma_configs() for a.elem and
// a.head_dim; returns false otherwise, when not compiled, or when its shared memory cannot be granted.
bool attention_wgmma_compiled();
std::vector<AttentionTile> attention_wgmma_configs();
bool attention_wgmma(const AttentionArgs& a, const AttentionTile& tile, cudaStream_t stream);

// The softmax stage of attn.cublas: S [batch*heads, seq_q, seq_k] of a.elem, scaled and causally
// masked (bottom-right), becomes P in place; lse written. A warp per row.
void attention_softmax_rows(const AttentionArgs& a, void* s, cudaStream_t stream);

}  // namespace fabench
