// user.attention_simple: a template for bringing your own attention kernel into fa-bench, in the
// style of seed 001's task 4 (FlashAttention-2's forward in one CUDA kernel, head_dim <= 128).
//
// One block per (query tile of `block_rows` rows, head, batch); one warp per query row. The block
// walks the keys in tiles of `block_keys` (the seed's B_c), staged in shared memory as float for
// every storage type, and each warp keeps its row's running maximum m, sum l and output
// accumulator in registers (online softmax): a new tile rescales them by exp(m_old - m_new), so
// S = QK^T is never written to memory. Each lane scores one key of the tile at a time; for the
// output each lane owns head_dim / 32 columns. Plain on purpose (no tensor cores, no pipelining):
// it is the starting point a student replaces, not a fast kernel.
#include <cmath>

#include "fabench/user_variant.hpp"

namespace {

constexpr int kWarpSize = 32;
constexpr int kMaxHeadDim = 128;                    // seed 001 task 4's bound
constexpr int kColsPerLane = kMaxHeadDim / kWarpSize;

// What the kernel reads of the problem: kernels know nothing of fa-bench's Problem.
struct AttentionShape {
  int heads, kv_heads, seq_q, seq_k, head_dim;
  bool causal;
  float scale;
};

// Shared memory: the K and V tiles (a row padded by one float, so the 32 lanes scoring 32 keys
// read 32 different banks), then each warp's query row and its tile of probabilities.
std::size_t shared_bytes(int block_rows, int block_keys, int head_dim) {
  const std::size_t kv = 2 * static_cast<std::size_t>(block_keys) * (head_dim + 1);
  const std::size_t per_warp = static_cast<std::size_t>(block_rows) * (head_dim + block_keys);
  return (kv + per_warp) * sizeof(float);
}

__device__ float warp_max(float x) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}
__device__ float warp_sum(float x) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

// Keys 0 .. visible_keys(i) - 1 are visible to query row i: all of them, or under causal masking
// those up to the diagonal aligned to the bottom right (fa-bench's convention when seq_q != seq_k).
__device__ int visible_keys(const AttentionShape& s, int i) {
  if (!s.causal) return s.seq_k;
  const long long diagonal = static_cast<long long>(i) + s.seq_k - s.seq_q + 1;  // int could overflow
  return static_cast<int>(min(max(diagonal, 0LL), static_cast<long long>(s.seq_k)));
}

template <class T>
__global__ void attention_simple_kernel(const T* q, const T* k, const T* v, T* o, float* lse, AttentionShape s,
                                        int block_keys) {
  extern __shared__ float smem[];
  const int block_rows = blockDim.x / kWarpSize;
  const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
  const int d = s.head_dim, stride = d + 1;
  float* k_tile = smem;
  float* v_tile = k_tile + block_keys * stride;
  float* q_row = v_tile + block_keys * stride + warp * d;
  float* p_row = v_tile + block_keys * stride + block_rows * d + warp * block_keys;

  const int head = blockIdx.y, batch = blockIdx.z;
  const int kv_head = head / (s.heads / s.kv_heads);  // grouped-query attention
  const int first_row = blockIdx.x * block_rows;
  const int row = first_row + warp;
  const bool has_row = row < s.seq_q;
  const std::size_t q_head = (static_cast<std::size_t>(batch) * s.heads + head) * s.seq_q;
  const std::size_t kv_offset = (static_cast<std::size_t>(batch) * s.kv_heads + kv_head) * s.seq_k * d;
  const T* k_head = k + kv_offset;
  const T* v_head = v + kv_offset;

  for (int c = lane; c < d; c += kWarpSize)
    q_row[c] = has_row ? static_cast<float>(q[(q_head + row) * d + c]) : 0.0f;
  const int row_keys = has_row ? visible_keys(s, row) : 0;
  // The tile's last row sees the most keys; tiles past them are skipped by the whole block.
  const int block_keys_needed = visible_keys(s, min(first_row + block_rows, s.seq_q) - 1);

  float m = -INFINITY, l = 0.0f;
  float acc[kColsPerLane] = {};
  for (int tile = 0; tile < block_keys_needed; tile += block_keys) {
    const int n = min(block_keys, block_keys_needed - tile);
    __syncthreads();  // every warp is done with the previous tile
    for (int i = threadIdx.x; i < n * d; i += blockDim.x) {
      const int r = i / d, c = i % d;
      k_tile[r * stride + c] = static_cast<float>(k_head[static_cast<std::size_t>(tile + r) * d + c]);
      v_tile[r * stride + c] = static_cast<float>(v_head[static_cast<std::size_t>(tile + r) * d + c]);
    }
    __syncthreads();
    if (!has_row || tile >= row_keys) continue;  // no __syncthreads below: a warp may skip the rest

    // Scores of this tile, the lanes taking keys in turn; masked keys score -inf.
    float tile_max = -INFINITY;
    for (int j = lane; j < block_keys; j += kWarpSize) {
      float score = -INFINITY;
      if (j < n && tile + j < row_keys) {
        float dot = 0.0f;
        for (int c = 0; c < d; ++c) dot += q_row[c] * k_tile[j * stride + c];
        score = s.scale * dot;
      }
      p_row[j] = score;
      tile_max = fmaxf(tile_max, score);
    }
    tile_max = warp_max(tile_max);  // finite: this row sees the tile's first key at least

    // Online softmax: rescale what the earlier tiles summed to the new maximum.
    const float m_new = fmaxf(m, tile_max);
    const float rescale = expf(m - m_new);  // 0 on the first tile (m = -inf)
    float tile_sum = 0.0f;
    for (int j = lane; j < block_keys; j += kWarpSize) {
      const float p = expf(p_row[j] - m_new);  // 0 for masked keys
      p_row[j] = p;
      tile_sum += p;
    }
    l = l * rescale + warp_sum(tile_sum);
    m = m_new;
    __syncwarp();  // p_row was written by all lanes and is read whole by each below
    for (int t = 0; t < kColsPerLane; ++t) acc[t] *= rescale;
    for (int j = 0; j < n; ++j) {
      const float p = p_row[j];
      for (int t = 0; t < kColsPerLane; ++t) {
        const int c = lane + t * kWarpSize;
        if (c < d) acc[t] += p * v_tile[j * stride + c];
      }
    }
    __syncwarp();  // the next tile's scores overwrite p_row
  }

  if (!has_row) return;
  // A row that sees no key (causal, seq_q > seq_k) is all zeros with lse = -inf: l is 0 there.
  const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
  for (int t = 0; t < kColsPerLane; ++t) {
    const int c = lane + t * kWarpSize;
    if (c < d) o[(q_head + row) * d + c] = T(acc[t] * inv_l);
  }
  if (lane == 0) lse[q_head + row] = l > 0.0f ? m + logf(l) : -INFINITY;
}

AttentionShape shape_of(const fabench::Problem& p) {
  return {static_cast<int>(p.heads),    static_cast<int>(p.kv_heads), static_cast<int>(p.seq_q),
          static_cast<int>(p.seq_k),    static_cast<int>(p.head_dim), p.causal,
          static_cast<float>(p.effective_scale())};
}

void launch_attention_simple(const fabench::LaunchArgs& la) {
  using namespace fabench;
  const Problem& p = la.problem;
  const int block_rows = static_cast<int>(la.params.at("block_rows"));
  const int block_keys = static_cast<int>(la.params.at("block_keys"));
  const std::size_t smem = shared_bytes(block_rows, block_keys, static_cast<int>(p.head_dim));
  const dim3 grid(static_cast<unsigned>((p.seq_q + block_rows - 1) / block_rows), static_cast<unsigned>(p.heads),
                  static_cast<unsigned>(p.batch));
  dispatch_storage(p.dtype, [&](auto zero) {
    using T = decltype(zero);
    // Over 48 KiB of shared memory a block must opt in (`supports` checked the device allows it).
    if (smem > 48 * 1024)
      cudaFuncSetAttribute(attention_simple_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(smem));
    attention_simple_kernel<T><<<grid, block_rows * kWarpSize, smem, la.stream>>>(
        input<T>(la, attention_tensors::q), input<T>(la, attention_tensors::k), input<T>(la, attention_tensors::v),
        output<T>(la, attention_tensors::o), output<float>(la, attention_tensors::lse), shape_of(p), block_keys);
  });
}

// What the launch cannot do is said here, so the case is an `unsupported` row with the reason.
std::optional<std::string> attention_simple_supports(const fabench::Problem& p, const fabench::Params& params,
                                                     const fabench::DeviceCaps& caps) {
  if (p.head_dim > kMaxHeadDim) return "head_dim " + std::to_string(p.head_dim) + " > 128 (one warp's registers)";
  if (p.heads > 65535 || p.batch > 65535) return std::string("heads or batch > 65535 (grid.y, grid.z)");
  if (p.seq_q >= (std::int64_t{1} << 31) || p.seq_k >= (std::int64_t{1} << 31)) return std::string("seq >= 2^31");
  const std::size_t smem = shared_bytes(static_cast<int>(params.at("block_rows")),
                                        static_cast<int>(params.at("block_keys")), static_cast<int>(p.head_dim));
  if (smem > caps.smem_per_block_optin)
    return "needs " + std::to_string(smem) + " bytes of shared memory, the device allows " +
           std::to_string(caps.smem_per_block_optin);
  return std::nullopt;
}

}  // namespace

FABENCH_USER_VARIANTS(attention_simple) {
  using namespace fabench;
  Variant v;
  v.name = "user.attention_simple";
  v.op = OpKind::attention;
  v.backend = Backend::gpu;
  v.summary = "template (examples/user_kernels): seed 001 task 4's FlashAttention-2 forward, a warp per query row, "
              "K/V tiles in shared memory, online softmax in float";
  v.dtypes = {DType::fp32, DType::fp16, DType::bf16};
  v.head_dims = {};  // any up to 128: checked in supports
  v.params = {{"block_rows", 8, {4, 8, 16}, "query rows per block, a warp each (the seed's B_r)"},
              {"block_keys", 32, {32, 64}, "keys per shared-memory tile of K and V (the seed's B_c)"}};
  v.constraints = "head_dim <= 128; GQA and causal (bottom-right) supported; writes the log-sum-exp";
  v.supports = attention_simple_supports;
  v.launch = launch_attention_simple;
  registry.add(std::move(v));
}
