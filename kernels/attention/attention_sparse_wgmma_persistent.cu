// sparse.wgmma version 2: version 1's tiles and key loop (attention_sparse_wgmma.cu) in a
// persistent kernel, so a query tile's prologue is hidden behind the previous tile's last steps.
//
// What changes against version 1. Version 1 runs a block per query tile, one block an SM (161 KiB
// of shared memory at d128): each tile starts with its Q and its first K/V tiles in flight and
// nothing to compute, and ends with its output stores and a block exit. At density 0.1 a query
// tile has about six key tiles, and that fixed cost was 1.3x density x the full time (H200,
// results/h200/checks_aa2876db7679). Here a block stays on its SM and walks query tiles (items)
// one after another as one stream of key steps: the K and V of step g + 2 are fetched while step
// g is computed whatever tiles they belong to, and a tile's Q arrives with its first step's K in
// one of two Q buffers (193 KiB at d128). Step g + 2's tile is at most two tiles past step g's,
// whose Q buffer is free by then: the loads are issued after step g's last use of shared memory.
//
// Work is handed out in version 1's launch order (head by head, last tiles first), a tile at a
// time: block b takes item b first, then draws the next from a device counter, so blocks that
// drew short key lists draw more (as the hardware's block scheduler balances version 1). Thread 0
// draws an item one tile ahead of its use and publishes it in shared memory a step later, so the
// atomic's round trip is hidden (a tile without key blocks, which only writes its empty rows, is
// the exception and waits for it). The counters are a zero-initialised device array that the
// last block to draw past the end resets: launches of this kernel must not overlap (fa-bench runs
// one launch at a time), and a launch must run to its end.
#include "kernels/attention/attention_sparse.h"
#include "kernels/attention/attention_wgmma.cuh"

namespace fabench {

namespace {

// [0]: items handed out past the first gridDim.x; [1]: blocks that drew past the last item.
__device__ unsigned sparse_item_counters[2];

// Thread 0's draw of its block's next item; the last block to draw past the end zeroes the
// counters (every block has then made its last draw).
__device__ __forceinline__ int draw_item(int items) {
  const int item = static_cast<int>(atomicAdd(&sparse_item_counters[0], 1u) + gridDim.x);
  if (item >= items && atomicAdd(&sparse_item_counters[1], 1u) == gridDim.x - 1) {
    sparse_item_counters[0] = 0;
    sparse_item_counters[1] = 0;
  }
  return item;
}

// A key step in flight: its key tile, kind (kKeysFull or a partial tile), item and flags.
struct KeyStep {
  int kt = 0, kind = kKeysFull, item = -1, flags = 0;
  static constexpr int kValid = 1, kFirst = 2, kLast = 4, kSlot = 8;  // kSlot: Q buffer 1
  __device__ __forceinline__ bool valid() const { return flags & kValid; }
  __device__ __forceinline__ bool first() const { return flags & kFirst; }
  __device__ __forceinline__ bool last() const { return flags & kLast; }
  __device__ __forceinline__ int slot() const { return (flags & kSlot) ? 1 : 0; }
};

// Where item `item` of the launch order lies (version 1's order without causal masking: query
// tiles from the last, head by head), in 32-bit arithmetic (items stay below 2^31).
struct ItemPlace {
  std::int64_t bh, i0, kv;  // slice, first query row, K/V head (batch * kv_heads + kv head)
};
template <int BM>
__device__ __forceinline__ ItemPlace place_of(const AttentionArgs& a, const AttentionSchedule& s, int item) {
  const int tiles = static_cast<int>(s.tiles), heads = static_cast<int>(a.heads);
  const int slice = item / tiles, tile_from_last = item - slice * tiles;
  const int b = slice / heads, h = slice - b * heads;
  const int kv = b * static_cast<int>(a.kv_heads) + h / (heads / static_cast<int>(a.kv_heads));
  return {slice, static_cast<std::int64_t>(tiles - 1 - tile_from_last) * BM, kv};
}

template <class T, int D, int BN, int WGS>
struct PersistentTraits {
  using Tr = WgTraits<T, D, BN, WGS>;
  static constexpr std::size_t kSmemBytes = Tr::kSmemBytes + Tr::kQBytes;  // a second Q buffer
};

// The empty rows of a query tile with no key block: O = 0 and lse = -inf, by all threads.
template <class Tr, class T>
__device__ __forceinline__ void store_empty_rows(const AttentionArgs& a, std::int64_t bh, std::int64_t i0) {
  const int rows = static_cast<int>(a.seq_q - i0 < Tr::kBM ? a.seq_q - i0 : Tr::kBM);
  uint4* out = reinterpret_cast<uint4*>(static_cast<T*>(a.o) + (bh * a.seq_q + i0) * Tr::kD);
  for (int e = static_cast<int>(threadIdx.x); e < rows * Tr::kChunks; e += Tr::kThreads) out[e] = make_uint4(0, 0, 0, 0);
  for (int r = static_cast<int>(threadIdx.x); r < rows; r += Tr::kThreads) a.lse[bh * a.seq_q + i0 + r] = -INFINITY;
}

template <class T, int D, int BN, int WGS>
__global__ void __launch_bounds__(WGS * 128, 1)
    sparse_wgmma_persistent_kernel(AttentionArgs a, AttentionSchedule sched, SparseBlockArgs mask, int items) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Tr = WgTraits<T, D, BN, WGS>;
  constexpr int kBM = Tr::kBM;
  extern __shared__ unsigned char smem_raw[];
  __shared__ int queued_item;  // the block's next item, published by thread 0
  const std::uint32_t q_s = (smem_address(smem_raw) + 1023u) & ~1023u;  // two Q buffers
  const std::uint32_t k_s = q_s + 2 * Tr::kQBytes;                      // two K buffers
  const std::uint32_t v_s = k_s + 2 * Tr::kTileBytes;                   // two V buffers
  const int wg = static_cast<int>(threadIdx.x) / 128, warp = (static_cast<int>(threadIdx.x) / 32) % 4;
  const int lane = static_cast<int>(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
  const bool drawer = threadIdx.x == 0;
  const float scale_log2 = a.scale * 1.4426950408889634f;

  // ---- the load side: the item whose key steps are being fetched, two steps ahead of the MMAs.
  // The next step's key tile and kind are read a step before its loads are issued (as version 1
  // reads its list ahead). An item is resolved (its mask row read, its first step peeked) at the
  // load point that fetches the previous item's last step, and started (its Q fetched into the
  // other buffer) at the next one, whose step is its first: no load point waits on the list but
  // after an item of one step.
  int pending = 0;  // thread 0: its latest draw, published into queued_item once a step
  int l_item = -1, l_step = 0, l_steps = 0, l_slot = 1, l_kt = 0, l_kind = kKeysFull;
  int r_item = -1, r_steps = 0;        // the resolved item, not started yet (r_item < 0: none)
  bool l_done = false, fresh = true;   // fresh: queued_item was published since the last take
  std::int64_t l_kv = 0;               // the started item's K and V head, in elements from a.k and a.v
  MaskRow<BN> l_row(mask, 0, 0);       // the started item's row, then the resolved one's
  // Resolves the queued item: the next with key blocks (empty ones get their rows written here),
  // or the load side is done.
  auto resolve_item = [&]() {
    while (true) {
      const int item = queued_item;
      fresh = false;
      if (drawer && item < items) pending = draw_item(items);
      if (item >= items) {
        l_done = true;
        return;
      }
      const ItemPlace at = place_of<kBM>(a, sched, item);
      l_row = MaskRow<BN>(mask, at.bh, at.i0);
      r_steps = l_row.steps();
      if (r_steps > 0) {
        r_item = item;
        l_kt = l_row.key_tile(0);
        l_kind = l_row.kind(0);
        return;
      }
      store_empty_rows<Tr, T>(a, at.bh, at.i0);
      __syncthreads();  // every thread has read queued_item
      if (drawer) queued_item = pending;  // waits for the draw: only after an empty tile
      __syncthreads();
    }
  };
  // Fetches global step gs into buffer gs % 2 (K, then V, one commit group each; empty groups
  // past the last step keep the waits' counts) and says what it is.
  auto fetch_step = [&](int gs) {
    KeyStep st;
    if (!l_done && l_step == l_steps) {
      if (r_item < 0) resolve_item();
      if (!l_done) {  // start the resolved item: its Q joins its first step's K group
        const ItemPlace at = place_of<kBM>(a, sched, r_item);
        l_item = r_item, l_steps = r_steps, l_step = 0, l_slot ^= 1, r_item = -1;
        l_kv = at.kv * a.seq_k * D;
        const T* q = static_cast<const T*>(a.q) + (at.bh * a.seq_q + at.i0) * D;
        wg_load_tile<Tr, kBM>(q_s + l_slot * Tr::kQBytes, q, a.seq_q - at.i0);
      }
    }
    if (!l_done) {
      st.kt = l_kt;
      st.kind = l_kind;
      st.item = l_item;
      st.flags = KeyStep::kValid | (l_step == 0 ? KeyStep::kFirst : 0) | (l_step == l_steps - 1 ? KeyStep::kLast : 0) |
                 (l_slot ? KeyStep::kSlot : 0);
    }
    // Whole tiles (all but a sequence's last) take one stride and no bounds; a key tile wholly
    // past seq_k (the last block's second half) is loaded as zeros from the head's first row, as
    // in version 1.
    const std::int64_t r0 = static_cast<std::int64_t>(st.kt) * BN;
    const std::uint32_t buf = (gs % 2) * Tr::kTileBytes;
    const T *k_src = static_cast<const T*>(a.k) + l_kv, *v_src = static_cast<const T*>(a.v) + l_kv;
    if (st.valid() && r0 + BN <= a.seq_k) {
      wg_load_whole_rows<BN, Tr::kChunks, Tr::kThreads>(k_s + buf, k_src + r0 * D);
      cp_async_commit();
      wg_load_whole_rows<BN, Tr::kChunks, Tr::kThreads>(v_s + buf, v_src + r0 * D);
      cp_async_commit();
    } else {
      const bool past = r0 >= a.seq_k;
      const std::int64_t from = past ? 0 : r0 * D, rows_left = past ? 0 : a.seq_k - r0;
      if (st.valid()) wg_load_tile<Tr, BN>(k_s + buf, k_src + from, rows_left);
      cp_async_commit();
      if (st.valid()) wg_load_tile<Tr, BN>(v_s + buf, v_src + from, rows_left);
      cp_async_commit();
    }
    if (st.valid()) {
      if (++l_step < l_steps) {
        l_kt = l_row.key_tile(l_step);
        l_kind = l_row.kind(l_step);
      } else if (fresh) {
        resolve_item();  // the item's steps are all fetched: l_row is free for the next
      }
    }
    return st;
  };

  // ---- the MMA side: step gs of the stream, in the item it belongs to. Iterations -2 and -1 only
  // fetch steps 0 and 1 (fetch_step is inlined once: the loop is the kernel's only copy of it).
  // An item's steps are the inner loop, its output the code after it: inside one loop body ptxas
  // predicated the output's stores and the state's reset into every step (30% more instructions
  // a step at density 1, H200).
  float o[Tr::kNb][Tr::kN / 2] = {};
  float s[BN / 2];
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  float rescale[2];
  std::uint32_t p[BN / 16][4];
  std::int64_t bh = 0, lane_row = 0;
  MaskRow<BN> c_row(mask, 0, 0);  // the item's row, for its partial tiles' bytes
  KeyStep now, ahead;
  if (drawer) queued_item = static_cast<int>(blockIdx.x);
  __syncthreads();
  int gs = -2;
  while (true) {
    bool item_done = false;
    do {
      if (gs >= 0) {
        if (!now.valid()) break;
        if (now.first()) {
          const ItemPlace at = place_of<kBM>(a, sched, now.item);
          bh = at.bh;
          lane_row = at.i0 + 64 * wg + 16 * warp + g;
          c_row = MaskRow<BN>(mask, at.bh, at.i0);
        }
        cp_async_wait<3>();  // K of step gs (and its Q) landed; V_gs, K and V of gs + 1 may be in flight
        fence_proxy_async();
        __syncthreads();
        issue_scores<Tr, T, D, BN>(s, q_s + now.slot() * Tr::kQBytes + wg * 64 * 128,
                                   k_s + (gs % 2) * Tr::kTileBytes);
        wgmma_wait<0>();
        wgmma_pin(s);
        if (now.kind >= 0) apply_partial_tile<BN>(s, c_row, now.kind, now.kt, 64 * wg + 16 * warp + g, 2 * t);
        const TileRows rows{lane_row, static_cast<std::int64_t>(now.kt) * BN, a.seq_k, 0, false, t};
        const bool crosses_end = now.kind < 0 && static_cast<std::int64_t>(now.kt + 1) * BN > a.seq_k;
        // An item's first step finds row_max at -inf: its rescale factor 0 clears O and the sums.
        softmax_tile<BN>(s, rows, crosses_end, scale_log2, row_max, row_sum, rescale);
        rescale_output<Tr>(o, rescale);
        pack_p<T, BN>(p, s);
        cp_async_wait<2>();  // V of step gs landed
        fence_proxy_async();
        __syncthreads();
        issue_pv<Tr, T, BN>(o, p, v_s + (gs % 2) * Tr::kTileBytes);
        wgmma_wait<0>();
#pragma unroll
        for (int nb = 0; nb < Tr::kNb; ++nb) wgmma_pin(o[nb]);
        item_done = now.last();
      }
      // Every thread is past the last take_item's read (two barriers ago, or the barrier just
      // below before step 1's fetch); the draw made there has had this step's MMAs to return.
      if (gs == -1) __syncthreads();
      if (drawer && gs >= -1) queued_item = pending;
      __syncthreads();  // every warpgroup is done with buffer gs % 2 and, if this step ends an item, its Q
      fresh = gs >= -1;
      const KeyStep next = fetch_step(gs + 2);
      now = ahead;
      ahead = next;
      ++gs;
    } while (!item_done);
    if (!item_done) break;  // the stream ended
    store_output<Tr, T>(a, o, row_sum, row_max, lane_row, bh, t);  // behind the next steps' loads
    row_max[0] = row_max[1] = -INFINITY;
  }
  cp_async_wait<0>();
#endif  // sm_90a: elsewhere the kernel is empty and attention_sparse_wgmma_persistent refuses to launch it
}

template <class T, int D, int BN, int WGS>
bool launch_persistent(const AttentionArgs& a, const SparseBlockArgs& m, cudaStream_t stream) {
  using Tr = WgTraits<T, D, BN, WGS>;
  constexpr std::size_t kSmem = PersistentTraits<T, D, BN, WGS>::kSmemBytes;
  constexpr auto kernel = sparse_wgmma_persistent_kernel<T, D, BN, WGS>;
  if (a.causal || m.block % Tr::kBM != 0 || m.block % BN != 0) return false;
  static const bool smem_granted =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)) == cudaSuccess;
  if (!smem_granted) return false;
  static const AttentionResidency residency = attention_residency(kernel, Tr::kThreads, kSmem);
  const AttentionSchedule sched = attention_schedule(a, Tr::kBM, AttentionResidency{}, false);
  const std::int64_t items = sched.tiles * sched.slices;
  if (items >= (std::int64_t{1} << 31) - (std::int64_t{1} << 20) || residency.blocks <= 0) return false;
  const auto grid = static_cast<unsigned>(std::min(items, residency.blocks));
  kernel<<<grid, Tr::kThreads, kSmem, stream>>>(a, sched, m, static_cast<int>(items));
  return true;
}

// The tiles version 2 is compiled for: version 1's defaults for blocks of 128 (d64 2 x 64, d128
// 2 x 128), where one block holds an SM.
#define FA_SPARSE_PERSISTENT_CONFIGS(X) \
  X(f16, __half, 64, 64, 2)             \
  X(f16, __half, 128, 128, 2)           \
  X(bf16, __nv_bfloat16, 64, 64, 2)     \
  X(bf16, __nv_bfloat16, 128, 128, 2)

}  // namespace

std::vector<AttentionTile> attention_sparse_wgmma_persistent_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST(E, T, D, BN, WGS)                                                                              \
  out.push_back({D, 64 * WGS, BN, PersistentTraits<T, D, BN, WGS>::kSmemBytes, 4 * WGS, KernelElem::E, 2, false, \
                 1});
  FA_SPARSE_PERSISTENT_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_sparse_wgmma_persistent(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                                       cudaStream_t stream) {
  if (!attention_wgmma_compiled()) return false;
#define FA_DISPATCH(E, T, D, BN, WGS)                                                                   \
  if (a.elem == KernelElem::E && a.head_dim == D && tile.block_m == 64 * WGS && tile.block_n == BN) \
    return launch_persistent<T, D, BN, WGS>(a, m, stream);
  FA_SPARSE_PERSISTENT_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
  return false;
}

}  // namespace fabench
