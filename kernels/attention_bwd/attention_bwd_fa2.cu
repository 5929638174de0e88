// bwd.fa2: FlashAttention-2's backward (Dao 2023, Algorithm 2) in fp32 on CUDA cores.
//
// Against bwd.naive: no P or dS in device memory. A block owns kKeys keys of one KV head: it loads
// their K and V rows once, keeps their dK and dV in registers, and streams the query tiles of every
// query head of the group (so GQA's sum over the group is the block's own accumulation, no atomics
// and no second pass for dK and dV). Per query tile of kRows rows it recomputes S = Q K^T and
// P = exp(scale * S - lse) from the forward's lse, dP = dO V^T and dS = scale * P * (dP - D) into
// shared memory, then adds P^T dO to dV, dS^T Q to dK, and dS K to dQ, whose rows other key
// tiles also update: dQ is accumulated in fp32 in the output by atomics (zeroed first). Under
// causal masking a block starts at the first query tile that sees any of its keys.
//
// v1 is deliberately plain (the algorithm made visible on CUDA cores, as attn.fa2's v1 was):
// 256 threads; each S / dP entry is one thread's dot product over d from shared memory (K and V
// rows padded to d + 1 floats so a warp's 32 keys hit 32 banks); dK, dV and dQ are owned 8 threads
// a row, d / 8 dims each. measured: pending (written without a GPU at hand).
#include "kernels/attention_bwd/attention_bwd.h"
#include "kernels/attention_bwd/attention_bwd_delta.cuh"
#include "kernels/common/smem_grant.cuh"

namespace fabench {

namespace {

constexpr int kThreads = 256;

template <int D>
struct BwdFa2Traits {
  static_assert(D % 32 == 0, "padded rows of d + 1 floats spread a warp's keys over the banks only for d % 32 == 0");
  static constexpr int kKeys = 32;                          // keys a block owns
  static constexpr int kRows = 32;                          // query rows a step
  static constexpr int kKvStride = D + 1;                   // floats a K or V row in shared memory
  static constexpr int kScoreStride = kKeys + 1;            // floats a P or dS row
  static constexpr int kEntriesPerThread = kRows * kKeys / kThreads;  // S / dP entries
  static constexpr int kRowThreads = 8;                     // threads that share a dK / dV / dQ row
  static constexpr int kDimsPerThread = D / kRowThreads;
  static_assert(kThreads / kRowThreads == kKeys && kThreads / kRowThreads == kRows, "one owned row a thread group");
  static constexpr std::size_t kSmemFloats =
      2 * kKeys * kKvStride + 2 * kRows * D + 2 * kRows * kScoreStride + 2 * kRows;
  static constexpr std::size_t kSmemBytes = kSmemFloats * sizeof(float);
};

template <int D>
__global__ void __launch_bounds__(kThreads) attention_bwd_fa2_kernel(AttentionBwdArgs a, const float* delta) {
  using Tr = BwdFa2Traits<D>;
  extern __shared__ float smem[];
  float* k_s = smem;
  float* v_s = k_s + Tr::kKeys * Tr::kKvStride;
  float* q_s = v_s + Tr::kKeys * Tr::kKvStride;
  float* do_s = q_s + Tr::kRows * D;
  float* p_s = do_s + Tr::kRows * D;
  float* ds_s = p_s + Tr::kRows * Tr::kScoreStride;
  float* lse_s = ds_s + Tr::kRows * Tr::kScoreStride;
  float* delta_s = lse_s + Tr::kRows;

  const int t = threadIdx.x;
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * Tr::kKeys;
  const std::int64_t kv_index = blockIdx.y;  // b * kv_heads + kv_head
  const std::int64_t b = kv_index / a.kv_heads, kv_head = kv_index % a.kv_heads;
  const std::int64_t group = a.heads / a.kv_heads;
  const std::int64_t key_offset = a.seq_k - a.seq_q;  // causal: query i sees keys j <= i + key_offset
  const float* k = static_cast<const float*>(a.k) + kv_index * a.seq_k * D;
  const float* v = static_cast<const float*>(a.v) + kv_index * a.seq_k * D;

  for (int e = t; e < Tr::kKeys * D; e += kThreads) {
    const int r = e / D, c = e % D;
    const std::int64_t j = j0 + r;
    k_s[r * Tr::kKvStride + c] = j < a.seq_k ? k[j * D + c] : 0.0f;
    v_s[r * Tr::kKvStride + c] = j < a.seq_k ? v[j * D + c] : 0.0f;
  }

  // This thread's row of the dK / dV (key row) and dQ (query row) updates, and its first dim.
  const int own_row = t / Tr::kRowThreads, own_dim = t % Tr::kRowThreads;
  float dk_acc[Tr::kDimsPerThread] = {}, dv_acc[Tr::kDimsPerThread] = {};

  std::int64_t first_row = a.causal ? j0 - key_offset : 0;  // the first query that sees key j0
  first_row = first_row < 0 ? 0 : (first_row / Tr::kRows) * Tr::kRows;

  for (std::int64_t h = kv_head * group; h < (kv_head + 1) * group; ++h) {
    const std::int64_t bh = b * a.heads + h;
    const float* q = static_cast<const float*>(a.q) + bh * a.seq_q * D;
    const float* d_o = static_cast<const float*>(a.d_o) + bh * a.seq_q * D;
    float* dq = static_cast<float*>(a.dq) + bh * a.seq_q * D;
    for (std::int64_t i0 = first_row; i0 < a.seq_q; i0 += Tr::kRows) {
      __syncthreads();  // the previous step is done with q_s, do_s, p_s, ds_s (and K, V are loaded)
      for (int e = t; e < Tr::kRows * D; e += kThreads) {
        const std::int64_t i = i0 + e / D;
        q_s[e] = i < a.seq_q ? q[i * D + e % D] : 0.0f;
        do_s[e] = i < a.seq_q ? d_o[i * D + e % D] : 0.0f;
      }
      if (t < Tr::kRows) {
        const std::int64_t i = i0 + t;
        lse_s[t] = i < a.seq_q ? a.lse[bh * a.seq_q + i] : 0.0f;
        delta_s[t] = i < a.seq_q ? delta[bh * a.seq_q + i] : 0.0f;
      }
      __syncthreads();

      // P and dS: entry (r, c) of the tile; a warp holds one query row r and 32 keys c.
#pragma unroll
      for (int m = 0; m < Tr::kEntriesPerThread; ++m) {
        const int e = t + m * kThreads, r = e / Tr::kKeys, c = e % Tr::kKeys;
        const std::int64_t i = i0 + r, j = j0 + c;
        const bool visible = i < a.seq_q && j < a.seq_k && !(a.causal && j > i + key_offset);
        float prob = 0.0f, ds = 0.0f;
        if (visible) {
          float s = 0.0f, dp = 0.0f;
#pragma unroll 8
          for (int x = 0; x < D; ++x) {
            s += q_s[r * D + x] * k_s[c * Tr::kKvStride + x];
            dp += do_s[r * D + x] * v_s[c * Tr::kKvStride + x];
          }
          prob = expf(a.scale * s - lse_s[r]);
          ds = a.scale * prob * (dp - delta_s[r]);
        }
        p_s[r * Tr::kScoreStride + c] = prob;
        ds_s[r * Tr::kScoreStride + c] = ds;
      }
      __syncthreads();

      // dV += P^T dO and dK += dS^T Q for key row own_row.
      for (int r = 0; r < Tr::kRows; ++r) {
        const float prob = p_s[r * Tr::kScoreStride + own_row], ds = ds_s[r * Tr::kScoreStride + own_row];
#pragma unroll
        for (int u = 0; u < Tr::kDimsPerThread; ++u) {
          const int c = own_dim + u * Tr::kRowThreads;
          dv_acc[u] += prob * do_s[r * D + c];
          dk_acc[u] += ds * q_s[r * D + c];
        }
      }
      // dQ += dS K for query row own_row: this block's share, added to the other key tiles'.
      const std::int64_t i = i0 + own_row;
      if (i < a.seq_q) {
#pragma unroll
        for (int u = 0; u < Tr::kDimsPerThread; ++u) {
          const int c = own_dim + u * Tr::kRowThreads;
          float acc = 0.0f;
          for (int key = 0; key < Tr::kKeys; ++key) acc += ds_s[own_row * Tr::kScoreStride + key] * k_s[key * Tr::kKvStride + c];
          atomicAdd(dq + i * D + c, acc);
        }
      }
    }
  }

  const std::int64_t j = j0 + own_row;
  if (j < a.seq_k) {
    float* dk = static_cast<float*>(a.dk) + (kv_index * a.seq_k + j) * D;
    float* dv = static_cast<float*>(a.dv) + (kv_index * a.seq_k + j) * D;
#pragma unroll
    for (int u = 0; u < Tr::kDimsPerThread; ++u) {
      dk[own_dim + u * Tr::kRowThreads] = dk_acc[u];
      dv[own_dim + u * Tr::kRowThreads] = dv_acc[u];
    }
  }
}

template <int D>
bool launch_fa2(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream) {
  using Tr = BwdFa2Traits<D>;
  if (!smem_granted<attention_bwd_fa2_kernel<D>, static_cast<int>(Tr::kSmemBytes)>()) return false;
  float* delta = static_cast<float*>(workspace);
  launch_attention_bwd_delta<float>(a, delta, stream);
  // dQ is a sum of every key tile's atomics: it starts at zero (the harness poisons outputs).
  cudaMemsetAsync(a.dq, 0, static_cast<std::size_t>(a.batch * a.heads * a.seq_q * D) * sizeof(float), stream);
  const dim3 grid(static_cast<unsigned>((a.seq_k + Tr::kKeys - 1) / Tr::kKeys), static_cast<unsigned>(a.batch * a.kv_heads));
  attention_bwd_fa2_kernel<D><<<grid, kThreads, Tr::kSmemBytes, stream>>>(a, delta);
  return true;
}

}  // namespace

std::size_t attention_bwd_fa2_workspace_bytes(const AttentionBwdArgs& a) {
  return static_cast<std::size_t>(a.batch * a.heads * a.seq_q) * sizeof(float);
}

std::size_t attention_bwd_fa2_smem_bytes(std::int64_t head_dim) {
  switch (head_dim) {
    case 64: return BwdFa2Traits<64>::kSmemBytes;
    case 128: return BwdFa2Traits<128>::kSmemBytes;
    default: return 0;
  }
}

bool attention_bwd_fa2(const AttentionBwdArgs& a, void* workspace, cudaStream_t stream) {
  if (a.elem != KernelElem::f32) return false;
  switch (a.head_dim) {
    case 64: return launch_fa2<64>(a, workspace, stream);
    case 128: return launch_fa2<128>(a, workspace, stream);
    default: return false;
  }
}

}  // namespace fabench
