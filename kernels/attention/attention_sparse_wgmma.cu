// sparse.wgmma: attn.wgmma's kernel (attention_wgmma.cuh) with a block mask in its key loop
// (attention_keys.cuh, attention_sparse.h), fp16 and bf16 on sm_90a.
//
// v1: sparse.block_skip's list on the warpgroup MMA. Step j of the key loop is the list's key
//    tile; K and V of step j + 2 are fetched into buffer j % 2 while step j + 1 is computed, as
//    attn.wgmma fetches tile j + 2, and the key tiles of steps j + 1 and j + 2 are already in
//    registers when their loads are issued (step j + 2's is read at the top of step j, behind S),
//    so the list costs the loop two cached 4-byte loads a step and no wait. Full blocks run
//    attn.wgmma's tile unchanged (the seq_k bound only on a tile that crosses it); partial blocks
//    drop scores by their byte tile (16-bit loads, a row half at a time) before the softmax. The
//    dense kernel's one-tile-in-flight loop (pipeline 1), a block per query tile, last tiles first.
//    Measured on an H200 at 9de0466 (bf16 d128, batch 2, 16 heads, blocks of 128;
//    results/h200/sparse_9de046644854): at density 1, 404 and 414 TFLOP/s at seq 8k and 16k,
//    0.98x attn.wgmma; random masks at 8k 255 / 310 / 368 / 386 / 397 TFLOP/s on the kept
//    scores at density 0.05 / 0.1 / 0.25 / 0.5 / 0.75, 0.97-1.01x FlexAttention (causal 0.95x);
//    below density 0.25 the time is 1.3-1.6x density x the full time (a block's Q load and the
//    first K/V tiles are no longer hidden behind a long list).
//    Tried and not kept (branch sparse-persistent, results/h200/sparse_persistent_4e376cdd79eb):
//    a persistent version of v1 walking query tiles as one stream of key steps, the next tile's Q and
//    K/V fetched behind the current one's last steps, tiles drawn from a device counter. At
//    4e376cd on an H200 it was 0.96-0.99x v1 (random density 1: 389 against 406
//    TFLOP/s, 0.05: 252 / 255; causal 346 / 376): fitting time = steps x c + tiles x f to
//    densities 0.05 and 1 gives both versions the same f (about 5.4 us a query tile), so what a
//    tile costs beyond its steps is not the prologue it hid. Its first versions ran 30% more
//    instructions a step (ncu) until whole K/V tiles were copied without per-row bounds.
// v2: a partial step's bytes are copied into shared memory with its K (cp.async, two stages, rows
//    padded to BN + 16 bytes so a warp's 16-bit reads hit different banks) instead of read from
//    global memory behind S; whole K/V tiles are copied without row bounds (wg_load_whole_rows).
//    Measured on an H200 at 00f4327 (results/h200/sparse_00f4327f7eb9: bf16 d128, batch 2, 16
//    heads, seq 8k, blocks of 128), against FlexAttention in the same run (v1 against the Flex
//    run of 91f109f in results/h200/sparse_persistent_4e376cdd79eb): documents 1.00-1.02x (v1
//    0.90-0.95x), window 0.95-0.98x (0.89-0.93x), causal + window 0.97x (0.91-0.93x), global +
//    window 0.96-0.99x (0.86-0.89x), causal 0.97x (0.95x), random 0.99-1.02x (0.98-1.01x); 408
//    TFLOP/s at density 1 (v1 406). At density 0.1 the time is still 1.30x density x the full time.
//    A partial step now costs about what a full one does: in that run a window of 2048 (17 steps a
//    query tile, 2 of them partial) against random density 0.25 (16 steps, none partial) is 349
//    against 372 TFLOP/s on kept scores, 1.066x, where the window edges' computed but uncredited
//    half blocks alone make 17/16 = 1.0625x (window 4096 against density 0.5: 1.032x for 33/32).
//    At seq 16k (results/h200/sparse_16k_107e53633eca, fa-bench 107e536, same kernel): 0.96-0.98x
//    FlexAttention on the patterns with partial blocks, 1.02-1.04x on random masks.
// v3 (pipeline 3, the default where block_m 128 divides the mask's block): the warp-specialized
//    persistent loop (attention_wgmma_ws.cuh): a producer warpgroup loads each step's K, V and
//    partial-block bytes into a two-buffer ring that runs on across query tiles, two consumer
//    warpgroups compute and meet it at mbarriers, one block an SM draws query tiles from a device
//    counter. What v1 and v2 do at three block barriers a step the warpgroups now do apart, so one
//    consumer's softmax runs beside the other's GEMMs.
//    Measured on an H200 at ada9027 (results/h200/sparse_ws_ada90270c118: bf16 d128, batch 2, 16
//    heads, blocks of 128, v2 and FlexAttention in the same run): 1.21-1.28x v2 on every pattern
//    and density at seq 8k and 16k, 505 / 514 TFLOP/s at density 1 (v2 412 / 419, Flex 399 / 406);
//    against FlexAttention 1.16-1.27x at 8k (window 1.16-1.20x, causal 1.19x, documents 1.24-1.26x,
//    global + window 1.20-1.26x, random 1.23-1.27x) and 1.17-1.28x at 16k. Time against density x
//    the full time: 1.28 at density 0.1 and 1.09 at 0.25 (seq 8k), 1.10 at 0.1 (16k).
//    Steps along the way (results/h200/sparse_ws_07e99e8e3ccf, at 07e99e8): one block a query tile
//    (not persistent) was 1.07-1.33x v2, more at high density (1.32x at density 1) and less at low
//    (1.07x at 0.05: a tile's loads and its consumers' first S were not hidden); a ping-pong schedule
//    (the consumers' GEMM phases in turn by named barriers, FlashAttention-3's) was 0.86-0.92x the
//    plain warp-specialized loop and was dropped. The producer's loads are written lean (one address
//    pair a thread, constant strides): with the block-wide load helpers its 40 registers spilled
//    450 bytes.
//    Tried and reverted (80eafe8, results/h200/sparse_ws_q2_80eafe80fc03, H200, against 88523c6 in
//    the same run): each consumer its own 64-row Q part in two stages with its own full and empty
//    mbarriers, loaded a tile ahead, so that the consumers start a tile apart and its Q is there
//    early (the mask stages unpadded, XOR-swizzled, to fit: 224 KiB). Validated (every row ok,
//    memcheck, racecheck, synccheck), but 0.99-1.00x the shared Q on every case at 8k and 16k
//    (seq 8k, density 0.1: 1.285x density x full, 1.270x without): a tile's Q load is not what the
//    per-tile cost at low density waits for.
//    Where a tile's time goes (results/h200/ws_trace_857a3705a206, globaltimer stamps of a
//    diagnostic build, seq 8k, density 0.1): 2.16 us a key step, and 3.3 us a tile outside its
//    steps, 2.05 of them in store_output (32 four-byte stores a lane, each warp store spread over 8
//    rows), 0.5 reading the tile's mask row, 0.26 each on the slot and the first K/V; Q was always
//    there. Changed after it (results/h200/ws_epilogue_exp_beb811bf6d25, experiments 7b8c1d4 and
//    beb811b on an H200, each against the old epilogue in the same run): the output stored by lane
//    pairs, 8 bytes a lane (store_output in attention_wgmma.cuh), and the next tile's slot read and
//    its mask row prefetched into L1 before the stores: seq 8k density 0.1 0.282 -> 0.268 ms
//    (1.27 -> 1.21x density x the full time), 0.25 1.03x, window 1024 1.06x, documents 1.04x,
//    density 1 1.005x; seq 16k density 0.1 1.03x. Tried there and not kept: 16-byte stores after a
//    4 x 4 transpose by shuffles in each quad (0.98-1.02x: the shuffles cost what the stores save),
//    and each tile's first S issued before the previous tile's stores, with the mask row's range
//    handed over by the producer (1.02x at density 1 but 0.97-0.99x at low density, where the
//    next tile's Q, loaded once both consumers' last S is done, is then waited for in the open).
//    Tried and reverted (bf2c29d, branch ws-q2-overlap, results/h200/ws_q2_overlap_bf2c29dbebf4):
//    that first-S-early order with each consumer's Q part in two stages a tile ahead (80eafe8's
//    layout) and the ticket. Validated (memcheck, racecheck, every row ok) but 0.92x at 8k density
//    0.1 and 0.98-0.99x at density 1 against this version in the same run.
//    The producer's Q, K and V by the copy engine (TMA tensor maps, tensor_map.h), so the
//    consumers' steps no longer begin with a proxy fence (MEMBAR.ALL.CTA, which waited for the
//    thread's outstanding memory operations, the previous tile's output stores at a tile's first
//    step). Measured on an H200 at d8a2f7d against 303a183 in one run, each twice, alternately
//    (results/h200/ws_tma_d8a2f7d87333): 1.10-1.13x on every case, seq 8k random density 0.1 /
//    0.25 / 1 1.102 / 1.126 / 1.120 (0.243 / 0.522 / 1.952 ms), 16k 1.118 / 1.129 / 1.096, window
//    1024 / 4096 1.114 / 1.133, documents 1.119. Density 0.1 at 8k is still 1.24x density x the
//    full time: the steps got faster, a tile's cost outside them did not.
//    Each slice's query tiles taken heaviest first (BlockLayout::order, heaviest_first_item in
//    attention_mask_row.h), so that the tiles still running when the draws run out are the short
//    ones. Measured on an H200 at 80aba55 against 9fb3b33's kernel in one run, each twice,
//    alternately (results/h200/sparse_lpt_80aba5501762): random density 0.1 / 0.25 1.018 / 1.024
//    at 8k, 0.1 1.017 at 16k, per-head masks 1.010, documents random:8 / random:2 1.010 / 1.011,
//    global + window 1.012; causal, causal + window and density 1 unchanged (0.998-1.001; causal
//    tiles already ran last first), window 1024 0.993. Seq 8k density 0.1: 0.2388 against 1.9229
//    ms at density 1, 1.24x density x the full time (1.27x for the launch order in that run).
//    FlexAttention on the same GPU right after (flex/ there, seq 8k): 1.45 / 1.47 / 1.44x at
//    density 0.1 / 0.25 / 1, causal 1.36x, causal + window 1.35x, window 1.37x, documents 1.43x,
//    global + window 1.38x.
//    The consumers overlap S of step j + 1 with P V of step j and run step j + 1's softmax while
//    P V runs (attention_wgmma_ws.cuh; attn.wgmma's overlapped loop does the same), K and V on
//    barriers of their own. Validated on an H200 at e862a6c (the [sparse] GPU test, memcheck,
//    racecheck, synccheck over configs/sanitize_sparse.json) and timed against 5b9855a in one
//    run, each twice, alternately (results/h200/sparse_overlap_e862a6c41151): seq 8k random
//    density 0.1 / 0.25 / 1 1.00 / 1.05 / 1.09x (0.2385 / 0.4834 / 1.7578 ms), 16k 0.1 / 1 1.04 /
//    1.05x, causal 1.06x, causal + window 1.01x, documents random:8 / random:2 1.01 / 1.06x,
//    global + window 1.02x, per-head 1.00x, window 1024 0.97x. Density 0.1 at 8k is now 1.36x
//    density x the full time (1.24x before): the steps got faster, a tile's cost outside them
//    did not. Tried and not kept (f76270d, peel/ in the same folder, a later run): the last
//    step's P V run alone after the loop instead of beside an S whose scores are dropped;
//    validated the same way, but 0.96-1.03x 5b9855a off density 1 (density 0.1 0.99x, window
//    1024 0.96x) where the loop above is 0.97-1.06x, and its two density 1 runs 7-9% apart (the
//    GPU's power cap: under the timer's clock rule the same peel gained, kept since 9585a8c).
//    Every pattern and density of configs/sparse.json at 6a1fcaa, FlexAttention over the same plan
//    in the same run (results/h200/sparse_sweep_6a1fcaa57805: compare_flex_*.md, density.txt):
//    1.28-1.55x Flex at seq 8k (random 1.41-1.55x, 357-620 TFLOP/s on the kept scores; window
//    1.28-1.41x, causal 1.42x, documents 1.41-1.48x, global + window 1.34-1.40x) and 1.35-1.55x at
//    16k; at density 1 1.49x attn.wgmma at 8k (620 against 417 TFLOP/s) and 1.32x at 16k. Time
//    against density x the full time at 8k: 1.35 at density 0.1, 1.10 at 0.25, 1.03 at 0.5; at 16k
//    1.01 at 0.1. Tried and not kept (9e71b14, results/h200/ws_early_draw_9e71b14682a5): the
//    producer drawing the next tile a tile ahead by another thread (its atomic, the slot and the
//    next mask row's prefetch off thread 0's copies); validated the same way, 0.97-1.04x this loop
//    (density 0.1 0.99x, causal 0.97x, window 1024 1.04x).
//    At a69ebf7 the consumers no longer build the next tile's block to prefetch its mask-row
//    offsets (the producer's read of them for that tile's loads brings them into L1 steps
//    earlier); that construction beside the live output was the kernel's 12-byte spill (ptxas -v,
//    CUDA 13.0; none now). Validated on an H200 (the [sparse] GPU test, memcheck, racecheck,
//    synccheck over configs/sanitize_sparse.json) and timed against 164eec7 in one run, each twice,
//    alternately (results/h200/sparse_prefetch_a69ebf77b53d): 1.01-1.03x on every case (seq 8k
//    random density 0.1 / 0.25 1.030 / 1.015, 16k 0.1 / 1 1.022 / 1.012, window 1024 1.032,
//    documents random:8 1.028, global + window 1.027, causal 1.009) but seq 8k density 1, 0.987
//    (the branch's two runs there 1.790 and 1.931 ms apart). Density 0.1 at 8k: 0.2296-0.2311 ms,
//    1.19-1.29x density x the full time by the branch's two density 1 runs.
//    Nsight Compute's warp-stall samples at 32598f0 (results/h200/ncu_ws_decode_32598f0aed90, seq
//    8k, density 0.1): tensor pipe 54.5% active, issue slots 40% busy; the consumers' once-a-tile
//    instructions (1425 a warp) drew a quarter of their samples against three quarters for the
//    steps (6.4 a tile): the output's normalisation, packing and stores about 37% of that quarter,
//    the first step's S wait and softmax about 26%, building the tile's block and mask row 6%.
//    After it (ee28200): the consumers build a tile's slice, first row and key tiles in 32-bit
//    arithmetic (ws_tile, attention_wgmma_ws.cuh) instead of AttentionBlock's 64-bit divisions
//    before the tile's first S, and store_output takes 1 / l by __frcp_rn and the log-sum-exp by
//    the hardware log. Validated on an H200 at 0d66362 (the [sparse] and odd-shape GPU tests,
//    memcheck, racecheck, synccheck) and timed against 32598f0 in one run, each twice, in turn
//    (results/h200/ws_lean_tile_0d66362e1c2c): 1.002-1.010x on the sparse cases (seq 8k random
//    density 0.1 / 0.25 1.007 / 1.006, window 1024 1.010, documents 1.005; 16k 0.99-1.00x),
//    1.000-1.013x attn.wgmma pipeline 3. Seq 8k density 0.1: 0.228 ms, 1.24-1.33x density x the
//    full time (its density 1 runs 1.72-1.83 ms apart in that run). That spread was the H200's
//    power cap, not this kernel: under the timer's clock rule (e92973c, same kernel, results/h200/
//    clock_watch_e92973c48151) density 1 takes 1.744 ms at seq 8k in every run (1.041x attn.wgmma)
//    and 6.818 ms at 16k, so density 0.1 is 1.32x density x the full time at 8k and 1.13x at 16k;
//    FlexAttention, timed by the same rule, takes 1.36-1.59x this kernel's time on every case.
//    Against the state of the art (results/h200/ws_pingpong_42ff2f1a99ab/keys.txt, H200, dense, seq_q
//    8k): with 768 keys (6 key tiles, as density 0.1 has 6.4) cuDNN takes 1.17x 768 / 8192 of its
//    8192-key time and attn.wgmma 1.27x; with 1024, 1.12x and 1.20x. NVIDIA's kernel pays about one
//    key step a query tile beyond its steps, this loop about 1.6 (2.3 with a block mask); issue 18's
//    1.1x at density 0.1 allows 0.64.
//    Since e214e79 the consumers take turns at the tensor cores (ping-pong by named barriers) where
//    a query block lists at most 48 key blocks on average (sparse_ws_turns; an instance of the loop
//    each way, attention_wgmma_ws.cuh). Measured on an H200 against 3972cff in one run, each twice,
//    in turn (results/h200/pingpong_gated_e214e79a35f7): 0.998-1.045x on the sparse cases (window
//    1024 1.045x, seq 8k density 0.1 1.013x, density 1 1.000x: 1.048x attn.wgmma's time in that
//    run, 1.7313 against 1.6523 ms). Seq 8k density 0.1 is then 1.31x density x the full time
//    (0.2270 ms), 16k 1.12x (0.7571 against 6.7414 ms).
//    Since 9585a8c the last step's P V runs alone after the loop instead of beside an S whose scores
//    are dropped (kLastAlone, attention_wgmma_ws.cuh): 0.999-1.029x on the sparse cases against
//    cb0561f (seq 8k density 0.1 1.029x, 16k 1.018x; results/h200/ws_peel_99ba319af6c9).
//    Since b6d929c the launch's last slices are drawn rank by rank (every slice's heaviest tile, then
//    every one's next: heaviest_first_item's tail window, attention_mask_row.h), where each slice
//    went lightest last on its own and the heaviest tiles of the last slices started among the last
//    draws. A launch at seq 8k, density 0.1 takes about 23 us beyond its tiles' share (batch 1-8
//    in one run, results/h200/ws_tail_order_b6d929cd3d95/scaling_620bc14db103: 0.1220, 0.2217,
//    0.4188, 0.8171 ms, 0.0993 ms a batch), and a build stamping each block's start and end (a211ea6,
//    stamps_a211ea6ff9d4 there) put the mean block's end 12-15 us before the last one's at seq 8k,
//    8 us at 16k. Measured on an H200 at b6d929c against 620bc14 in one run, each twice, in turn
//    (results/h200/ws_tail_order_b6d929cd3d95): global + window 1.112x, documents 1.064 / 1.065x,
//    causal 1.046x, causal + window 1.019x, per-head 1.008x, window 1024 1.007x, seq 8k random
//    density 0.05 / 0.1 / 0.25 / 1 1.039 / 1.018 / 0.996 / 0.999x, 16k density 0.05 / 0.1 / 1
//    0.987 / 0.999 / 0.999x. Against a window of one draw a block (window/ there, a later run):
//    causal 0.988x, documents 0.997 / 0.989x, global + window 0.947x (this version's time over
//    that one's); against four: global + window 1.058x but random masks 0.987-0.994x. Two it is.
//    Since fb5fc8f a block's first tile is its index and a drawn tile's Q is asked into the L2 at
//    once (attention_wgmma_ws.cuh says what it measured: sparse 1.000-1.010x against b6d929c). The
//    whole of configs/sparse.json at seq 8k and 16k at fb5fc8f (results/h200/
//    ws_q_prefetch_fb5fc8f6d471/sweep): density 0.1 1.234x density x the full time at 8k (0.2182
//    against 1.7668 ms), 1.099x at 16k; density 1 1.050 / 1.047x attn.wgmma's time.
//    The target at seq 8k density 0.1 (time at most 1.1 x density x the density 1 time) allows a
//    launch 17.4 us beyond its share. At 99232bf on an H200, two rounds in one lease (results/h200/
//    density_limit_99232bf24ac0), this kernel spends 40.5-41.2 us beyond it (1.233-1.236x; 15.6 us of
//    it a launch's cost beyond its batches), sparse.block_skip 60.9 (1.172x), FlexAttention 71.6-72.9
//    (1.258-1.264x), and the dense kernels with 768 keys and no mask: cuDNN 23.4-23.9 (1.155-1.159x),
//    FlashAttention-2 28.9 (1.101x, its steps 1.8x slower), attn.wgmma 40.8-41.2 (1.261-1.264x).
//    Nsight Compute in that lease (results/h200/ncu_keys_99232bf24ac0, dense, 768 and 8192 keys):
//    issue slots as busy as cuDNN's (39-43%), but a query tile's work outside its steps 2.2x
//    cuDNN's instructions (about 5300 against 2400 a tile) and a step 3.9% more.
//    cuDNN with 768 keys (dense, results/h200/pingpong_gated_e214e79a35f7/arg_c2140e576de0/
//    ncu_cudnn_768.txt) runs one persistent kernel of 132 blocks of 384 threads (168 registers, 232
//    KiB of shared memory), named for tiles of 64 x 128 x 128: 64 query rows a tile where this
//    loop's two consumers share 128.
#include "kernels/attention/attention_sparse.h"
#include "kernels/attention/attention_wgmma.cuh"
#include "kernels/attention/attention_wgmma_ws.cuh"

namespace fabench {

namespace {

// attn.wgmma's shared memory and two stages of partial-block bytes.
template <class T, int D, int BN, int WGS>
constexpr std::size_t sparse_smem_bytes() {
  return WgTraits<T, D, BN, WGS>::kSmemBytes + 2 * MaskStage<64 * WGS, BN>::kBytes;
}

// Whether a kernel tile of bm query rows and bn keys runs the case: no causal flag (causal is a
// pattern), and a mask block that both divide.
inline bool tile_fits_mask(const AttentionArgs& a, const SparseBlockArgs& m, int bm, int bn) {
  return !a.causal && m.block % bm == 0 && m.block % bn == 0;
}

template <class T, int D, int BN, int WGS>
bool launch_sparse_wgmma(const AttentionArgs& a, const SparseBlockArgs& m, cudaStream_t stream) {
  using Tr = WgTraits<T, D, BN, WGS>;
  constexpr std::size_t kSmem = sparse_smem_bytes<T, D, BN, WGS>();
  constexpr auto kernel = attention_wgmma_kernel<T, D, BN, WGS, false, SparseKeys>;
  if (!tile_fits_mask(a, m, Tr::kBM, BN)) return false;
  static const bool smem_granted =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)) == cudaSuccess;
  if (!smem_granted) return false;
  const AttentionSchedule sched = attention_schedule(a, Tr::kBM, AttentionResidency{}, false);
  kernel<<<sched.grid, Tr::kThreads, kSmem, stream>>>(a, sched, m);
  return true;
}

// v3 (pipeline 3): the warp-specialized persistent loop (attention_wgmma_ws.cuh), two consumer
// warpgroups of 64 query rows and a producer warpgroup, one block an SM.
template <class T, int D, int BN>
bool launch_sparse_wgmma_ws(const AttentionArgs& a, const SparseBlockArgs& m, cudaStream_t stream) {
  if (!tile_fits_mask(a, m, WsTraits<T, D, BN>::Tr::kBM, BN)) return false;
  const std::int64_t masks = m.per_head ? a.batch * a.heads : 1;
  return launch_wgmma_ws<T, D, BN, SparseKeys>(a, m, sparse_ws_turns(m, masks), stream);
}

// The warp-specialized tiles: (element, head_dim, block_n), block_m 128, pipeline 3; listed first,
// so they are the default at d128 for blocks of 128. ptxas -v (CUDA 13.0), either instance (turns or
// not): 168 registers at launch
// (384 threads), 40 for the producer and 232 for the consumers by setmaxnreg, no spills.
#define FA_SPARSE_WGMMA_WS_CONFIGS(X) \
  X(f16, __half, 128, 128)            \
  X(bf16, __nv_bfloat16, 128, 128)

// The compiled tiles: (element, head_dim, block_n, warpgroups); block_m = 64 x warpgroups. The first
// that fits the mask's block is the default after the warp-specialized ones: attn.wgmma's defaults
// where a block of 128 holds them
// (d64 2 x 64, d128 2 x 128), one warpgroup over 64 keys for blocks of 64. ptxas -v (CUDA 13.0), no
// spills: d128 2 x 128 231 registers (attn.wgmma's 224), 1 x 64 191; d64 2 x 64 120 (110), 1 x 64 133.
// At low density a query tile has few steps and its prologue (Q and the first K/V) is not hidden
// when one block holds the SM (2 x 128 at d128: 161 KiB); block_m 64 / block_n 64 runs two a SM,
// but measured on an H200 at aa2876d (results/h200/checks_aa2876db7679) it hides no more: equal
// at density 0.05, 2-5% slower at 0.1-1 and on causal, window, documents and global masks.
#define FA_SPARSE_WGMMA_CONFIGS(X)       \
  X(f16, __half, 64, 64, 2)              \
  X(f16, __half, 64, 64, 1)              \
  X(f16, __half, 128, 128, 2)            \
  X(f16, __half, 128, 64, 1)             \
  X(bf16, __nv_bfloat16, 64, 64, 2)      \
  X(bf16, __nv_bfloat16, 64, 64, 1)      \
  X(bf16, __nv_bfloat16, 128, 128, 2)    \
  X(bf16, __nv_bfloat16, 128, 64, 1)

}  // namespace

std::vector<AttentionTile> attention_sparse_wgmma_configs() {
  std::vector<AttentionTile> out;
#define FA_LIST_WS(E, T, D, BN) \
  out.push_back({D, 128, BN, WsTraits<T, D, BN>::kSmemBytes, kWsThreads / 32, KernelElem::E, 2, false, 3});
  FA_SPARSE_WGMMA_WS_CONFIGS(FA_LIST_WS)
#undef FA_LIST_WS
#define FA_LIST(E, T, D, BN, WGS) \
  out.push_back({D, 64 * WGS, BN, sparse_smem_bytes<T, D, BN, WGS>(), 4 * WGS, KernelElem::E, 2, false, 1});
  FA_SPARSE_WGMMA_CONFIGS(FA_LIST)
#undef FA_LIST
  return out;
}

bool attention_sparse_wgmma(const AttentionArgs& a, const SparseBlockArgs& m, const AttentionTile& tile,
                            cudaStream_t stream) {
  if (!attention_wgmma_compiled()) return false;
#define FA_DISPATCH(E, T, D, BN, WGS)                                                                       \
  if (a.elem == KernelElem::E && a.head_dim == D && tile.block_m == 64 * WGS && tile.block_n == BN && \
      tile.pipeline == 1)                                                                             \
    return launch_sparse_wgmma<T, D, BN, WGS>(a, m, stream);
  FA_SPARSE_WGMMA_CONFIGS(FA_DISPATCH)
#undef FA_DISPATCH
#define FA_DISPATCH_WS(E, T, D, BN)                                                                         \
  if (a.elem == KernelElem::E && a.head_dim == D && tile.block_m == 128 && tile.block_n == BN &&           \
      tile.pipeline == 3)                                                                                 \
    return launch_sparse_wgmma_ws<T, D, BN>(a, m, stream);
  FA_SPARSE_WGMMA_WS_CONFIGS(FA_DISPATCH_WS)
#undef FA_DISPATCH_WS
  return false;
}

}  // namespace fabench
