"""triton.softmax: row softmax with scale, mask and dropout (seed 000 task 1), in Triton.

    y = dropout(softmax(scale * x)) over each row's kept columns; a row that keeps nothing is zeros.

Versions (the `version` parameter; numbers never change meaning):
  v1  one program per row, the whole row in registers (BLOCK = the next power of two >= cols):
      one read of x, one write of y; num_warps grows with the row (4 up to 1k columns, 8 up to 4k,
      16 above). Rows over 32768 columns are refused (they do not fit in one program's registers;
      compiled for sm_90, 32768 bf16 columns with a lengths mask and dropout already spill 2.6 KiB
      a thread: v2 is the version for long rows).
  v3  v1 made persistent (the Triton tutorial's design): a few programs per SM (4 x SMs, at most one
      per row) each loop over rows start, start + programs, ..., with the loop software-pipelined
      (tl.range, 2 stages) so the next row's load is in flight while the current row is reduced and
      written; fewer, longer programs than v1's one per row. The same row-length limit as v1.
  v2  for long rows: one program per row loops over the row in chunks of 4096 columns, keeping a
      running max and sum (online softmax), then a second loop writes y: x is read twice, so about
      1.5x v1's traffic, but any row length runs. Measured at 3a7427f on an H200: 63% of the
      calibrated copy at 1024 x 131072 fp32 (v1 reaches 97% up to 32768 columns).
  v4  long rows read once: a row is cut into parts of V4_BLOCK columns, a program per part holds its
      part in registers, publishes the part's (max, sum of exponentials) and waits for the row's
      other parts to publish theirs, then writes its part of y from the row's combined max and sum.
      One read and one write, as v1, for rows too long for one program's registers. The wait needs
      every part of a row resident at once: a row's programs are consecutive in the grid and blocks
      start in grid order, so at most one row's parts wait for a peer not yet started (a row has at
      most V4_MAX_PARTS parts, fewer than the programs one GPU holds). Each part publishes its two
      floats packed into one 64-bit atomic exchange, so no fence is needed between data and flag; the
      slots start at zero (a legal pair never packs to 0: a part keeping anything has sum >= 1, one
      keeping nothing has max = -inf). The interpreter runs programs one after another, so there a
      row of more than one part is refused.
      Measured at 36a55e8 on an H200 (fp32, clean L2; results/h200/triton_36a55e8): 1024 x 131072
      at 3519 GB/s, 83% of the calibrated copy (v2 63%, torch.softmax 49%; fa-bench's CUDA
      softmax.fused, with clusters, 82-86%); parts of 4096 columns 79%, of 16384 at 16 warps 81%;
      polling with volatile loads and publishing by a plain store instead of atomics 69-71%.
      Below 8192 columns (one part, no wait) 94-98%.
  v5  v4 made persistent, so that a part's wait is hidden: as many programs as the GPU holds at
      once (counted from the compiled kernel's registers and shared memory, a multiple of the parts
      a row has), each looping over the rows start, start + row slots, ... for its part; the next
      row's part is loaded before this row's parts meet, so the load is in flight during the wait
      and the write. Every program must be resident (a row's parts wait for each other), hence the
      grid from the occupancy and not from the rows.
      Measured at 36a55e8 on an H200: slower than v4 everywhere, 68% at 1024 x 131072 (parts of
      4096 to 16384, 4 to 16 warps: 48-72%) and 72% at 4096 x 32768: the GPU holds one or two of
      these programs an SM, and one part in flight each is not enough loads for the HBM; v4's
      many short programs keep more in flight.
  v6  v2 (two passes over a row, online max and sum, then y) made persistent with few programs,
      so that the second pass reads the row from L2 instead of HBM: programs = L2 size / (2 x a
      row's bytes) (at most 4 a SM, at most the rows), each looping over rows pid, pid + programs,
      ...; the first pass loads with evict_last, the second with evict_first and stores y with
      evict_first, so that y and spent rows leave the L2 to the rows still being read. HBM then
      sees one read and one write per element, as v1 and v4, for rows of any length, without
      parts that wait for each other. Compiled for sm_90 (tests/triton_compile_test.py), fp32 at
      4096-column steps: 164 registers and 32 KiB of shared memory at 8 warps, so one program an
      SM: about 50 SMs stream at once on an H200 (50 MB of L2, 512 KiB rows).
      Measured at 2d6f4ba on an H200 (results/h200/triton_v6_2d6f4ba, softmax_tune_v6.py there):
      slower. At 1024 x 131072 the L2-sized grid runs at 1182 GB/s (28% of copy); over steps of
      4096-16384 columns, 2-4 stages, 4-16 warps and 32-264 programs the best is 2633 GB/s (62%),
      with the most programs. Fewer programs than SMs cannot keep enough loads in flight, and
      with enough to fill the GPU their rows no longer fit in the L2 (v2's 63%). v4 (82%) stayed
      the fastest at long rows until v7; steps, stages, warps and programs remain module settings.
  v7  v4 with a cheaper meeting of a row's parts, in parts of V7_BLOCK = 4096 columns at 4 warps:
      - every atomic of the exchange relaxed: a part's pair travels in the atomic itself, so
        nothing needs ordering, and v4's default acq_rel put a fence.acq_rel.gpu around every poll;
      - a part's exponentials computed before the wait (relative to its own max), so after the
        meeting y is one multiply an element (by exp(part max - row max) / row sum), not an exp.
      Measured on an H200 (fp32, clean L2, scripts/fabench_core.py's timer; the experiments in
      results/h200/triton_v7_*): at 1024 x 131072 v4 82.7% of the copy, relaxed atomics alone
      86.0-88.2%, with the early exponentials 94.5-95.1%; 4096 x 32768 97.3-97.7% (v4 86.8%),
      2048 x 65536 97.1-97.2% (v4 86.1%). Parts of 8192 at 8 warps 92.6-95.4%, of 4096 at 2 warps
      94.4-98.1%. Tried and not kept: nanosleep between polls (0.1 us +0.6% to 3 us -21%), polling
      one arrival count a row before the slots (one scalar atomic a poll: 86.7-94.6%), slots kept
      across calls in two parities, each part zeroing its slot of the other, instead of zeroed
      each call (93.4-93.5% at 1024 x 131072: it lifted the late exponentials from 86-88% to 93%).
Mask kinds as fa-bench's: none, causal (column c of row r kept when c <= r mod cols), tensor (uint8
[rows, cols], 1 = kept), lengths (int32 [rows]: c < lengths[r]). Dropout reproduces fa-bench's
Philox stream exactly (kernels/common/philox.h; Triton's tl.philox is the same Philox4x32-10):
element i = r * cols + c reads Philox(key = the problem's seed, counter = i / 8), 16 bits of word
(i % 8) / 2, and is dropped when they fall under round(p * 65536); each element calls Philox itself
(8x the work of one call per group of 8, which fa-bench's CUDA kernels share).
"""
import os

import torch
import triton
import triton.language as tl

from fabench_user import Unsupported, variant

MASKS = {"none": 0, "causal": 1, "tensor": 2, "lengths": 3}
V1_MAX_COLS = 32768
V2_CHUNK = 4096
V4_BLOCK = 8192  # columns a program holds: 32 floats a thread at V4_WARPS = 8
V6_BLOCK = 4096  # columns a step of a pass
V6_STAGES = 3  # steps in flight (Triton's software pipelining, through shared memory)
V6_WARPS = 8
V6_PROGRAMS = None  # None: from the L2 size (v6_programs); a number overrides it (for tuning)
V4_WARPS = 8
V4_MAX_PARTS = 64
V7_BLOCK = 4096  # columns a v7 part holds: 32 floats a thread at V7_WARPS = 4
V7_WARPS = 4
V7_MAX_PARTS = 128
EMPTY_PART = (0xFF800000 << 32) - (1 << 64)  # _pack(-inf, 0.0) as a signed int64


@triton.jit
def _keep(row, cols, n_cols, mask_ptr, stride_m, len_ptr, MASK: tl.constexpr):
    """Which columns of the row the mask keeps (and those inside the row)."""
    keep = cols < n_cols
    if MASK == 1:
        keep = keep & (cols <= row % n_cols)
    if MASK == 2:
        m = tl.load(mask_ptr + row * stride_m + cols, mask=cols < n_cols, other=0)
        keep = keep & (m != 0)
    if MASK == 3:
        keep = keep & (cols < tl.load(len_ptr + row))
    return keep


@triton.jit
def _dropout(y, row, cols, n_cols, seed, threshold, keep_scale):
    """fa-bench's dropout: element i = row * n_cols + col, Philox(counter = i >> 3), 16 bits of word
    (i >> 1) & 3 (low half for even i), dropped under the threshold."""
    e = cols.to(tl.int64) + row * n_cols  # int64 (no mixed-sign arithmetic)
    counter = e >> 3
    c0 = (counter & 0xFFFFFFFF).to(tl.uint32)
    c1 = (counter >> 32).to(tl.uint32)
    zero = tl.zeros_like(c0)
    r0, r1, r2, r3 = tl.philox(seed, c0, c1, zero, zero)
    w = (e >> 1) & 3
    word = tl.where(w == 0, r0, tl.where(w == 1, r1, tl.where(w == 2, r2, r3)))
    bits = tl.where((e & 1) == 1, word >> 16, word & 0xFFFF)
    return tl.where(bits.to(tl.int32) >= threshold, y * keep_scale, 0.0)


@triton.jit
def _whole_row(x, row, cols, n_cols, mask_ptr, stride_m, len_ptr, scale, y_row, seed, threshold, keep_scale,
               MASK: tl.constexpr, DROPOUT: tl.constexpr):
    """y of a row held whole in registers (v1, v3): kept columns, max, exponentials, sum, dropout."""
    keep = _keep(row, cols, n_cols, mask_ptr, stride_m, len_ptr, MASK)
    s = tl.where(keep, x * scale, float("-inf"))
    m = tl.max(s, 0)
    e = tl.where(keep, tl.exp(s - m), 0.0)
    total = tl.sum(e, 0)
    y = e * tl.where(total > 0, 1.0 / total, 0.0)
    if DROPOUT:
        y = _dropout(y, row, cols, n_cols, seed, threshold, keep_scale)
    tl.store(y_row + cols, y.to(y_row.dtype.element_ty), mask=cols < n_cols)


@triton.jit
def softmax_v1_kernel(x_ptr, y_ptr, mask_ptr, len_ptr, n_cols, stride_x, stride_y, stride_m, scale,
                      seed, threshold, keep_scale, MASK: tl.constexpr, DROPOUT: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)  # int64 offsets: rows x cols may pass 2^31
    cols = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * stride_x + cols, mask=cols < n_cols, other=0.0).to(tl.float32)
    _whole_row(x, row, cols, n_cols, mask_ptr, stride_m, len_ptr, scale, y_ptr + row * stride_y, seed, threshold,
               keep_scale, MASK, DROPOUT)


@triton.jit
def softmax_v3_kernel(x_ptr, y_ptr, mask_ptr, len_ptr, n_rows, n_cols, stride_x, stride_y, stride_m, scale,
                      seed, threshold, keep_scale, MASK: tl.constexpr, DROPOUT: tl.constexpr, BLOCK: tl.constexpr,
                      NUM_STAGES: tl.constexpr):
    cols = tl.arange(0, BLOCK)
    for row in tl.range(tl.program_id(0).to(tl.int64), n_rows, tl.num_programs(0), num_stages=NUM_STAGES):
        x = tl.load(x_ptr + row * stride_x + cols, mask=cols < n_cols, other=0.0).to(tl.float32)
        _whole_row(x, row, cols, n_cols, mask_ptr, stride_m, len_ptr, scale, y_ptr + row * stride_y, seed, threshold,
                   keep_scale, MASK, DROPOUT)


@triton.jit
def _max_sum_step(x_row, row, start, n_cols, mask_ptr, stride_m, len_ptr, scale, m, total, MASK: tl.constexpr,
                  BLOCK: tl.constexpr, EVICT: tl.constexpr):
    """Columns start .. start + BLOCK of a row into each lane's running max and sum (online softmax)."""
    cols = start + tl.arange(0, BLOCK)
    keep = _keep(row, cols, n_cols, mask_ptr, stride_m, len_ptr, MASK)
    x = tl.load(x_row + cols, mask=cols < n_cols, other=0.0, eviction_policy=EVICT)
    s = tl.where(keep, x.to(tl.float32) * scale, float("-inf"))
    m_new = tl.maximum(m, s)
    m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
    return m_new, total * tl.exp(m - m_ref) + tl.where(keep, tl.exp(s - m_ref), 0.0)


@triton.jit
def _lanes_to_row(m, total):
    """The row's max (0 for a row that keeps nothing) and 1 / its sum (0 then), from the lanes' own."""
    row_max = tl.max(m, 0)
    row_ref = tl.where(row_max == float("-inf"), 0.0, row_max)
    row_sum = tl.sum(total * tl.exp(m - row_ref), 0)
    return row_ref, tl.where(row_sum > 0, 1.0 / row_sum, 0.0)


@triton.jit
def _write_step(x_row, y_row, row, start, n_cols, mask_ptr, stride_m, len_ptr, scale, row_ref, inv, seed, threshold,
                keep_scale, MASK: tl.constexpr, DROPOUT: tl.constexpr, BLOCK: tl.constexpr, EVICT: tl.constexpr):
    """Columns start .. start + BLOCK of y from the row's max and sum (the row read again)."""
    cols = start + tl.arange(0, BLOCK)
    keep = _keep(row, cols, n_cols, mask_ptr, stride_m, len_ptr, MASK)
    x = tl.load(x_row + cols, mask=cols < n_cols, other=0.0, eviction_policy=EVICT)
    y = tl.where(keep, tl.exp(x.to(tl.float32) * scale - row_ref) * inv, 0.0)
    if DROPOUT:
        y = _dropout(y, row, cols, n_cols, seed, threshold, keep_scale)
    tl.store(y_row + cols, y.to(y_row.dtype.element_ty), mask=cols < n_cols, eviction_policy=EVICT)


@triton.jit
def softmax_v2_kernel(x_ptr, y_ptr, mask_ptr, len_ptr, n_cols, stride_x, stride_y, stride_m, scale,
                      seed, threshold, keep_scale, MASK: tl.constexpr, DROPOUT: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_x
    y_row = y_ptr + row * stride_y
    m = tl.full([BLOCK], float("-inf"), tl.float32)
    total = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n_cols, BLOCK):  # pass 1: running max and sum per lane
        m, total = _max_sum_step(x_row, row, start, n_cols, mask_ptr, stride_m, len_ptr, scale, m, total, MASK, BLOCK, "")
    row_ref, inv = _lanes_to_row(m, total)
    for start in range(0, n_cols, BLOCK):  # pass 2: write y
        _write_step(x_row, y_row, row, start, n_cols, mask_ptr, stride_m, len_ptr, scale, row_ref, inv, seed, threshold,
                    keep_scale, MASK, DROPOUT, BLOCK, "")


@triton.jit
def _pack(m, total):
    """(max, sum) as one int64: max's bits high, sum's low."""
    hi = m.to(tl.int32, bitcast=True).to(tl.int64)
    lo = total.to(tl.int32, bitcast=True).to(tl.int64) & 0xFFFFFFFF
    return (hi << 32) | lo


@triton.jit
def _part_stats(s, keep):
    """A part's max and sum of exponentials (relative to that max; an empty part: -inf and 0)."""
    m = tl.max(s, 0)
    m_ref = tl.where(m == float("-inf"), 0.0, m)
    return m, tl.sum(tl.where(keep, tl.exp(s - m_ref), 0.0), 0)


@triton.jit
def _row_stats(row_slots, part, m, total, PARTS: tl.constexpr, SEM: tl.constexpr):
    """Publish this part's (max, sum) in its slot of the row, wait until every slot of the row is
    published (an atomic read of all of them, until none is zero), and return the row's max (0 for
    a row that keeps nothing) and 1 / its sum (0 then). SEM: the atomics' memory order, "acq_rel"
    (Triton's default: v4, v5) or "relaxed" (v7: each pair travels in its atomic, nothing to order)."""
    if PARTS == 1:
        row_max, row_sum = m, total
    else:
        tl.atomic_xchg(row_slots + part, _pack(m, total), sem=SEM)
        peers = tl.arange(0, PARTS)
        packed = tl.atomic_add(row_slots + peers, 0, sem=SEM)
        while tl.min((packed != 0).to(tl.int32), 0) == 0:
            packed = tl.atomic_add(row_slots + peers, 0, sem=SEM)
        part_max = (packed >> 32).to(tl.int32).to(tl.float32, bitcast=True)
        part_sum = packed.to(tl.int32).to(tl.float32, bitcast=True)
        row_max = tl.max(part_max, 0)
        row_sum = tl.sum(part_sum * tl.exp(part_max - tl.where(row_max == float("-inf"), 0.0, row_max)), 0)
    return tl.where(row_max == float("-inf"), 0.0, row_max), tl.where(row_sum > 0, 1.0 / row_sum, 0.0)


@triton.jit
def _part_scores(x, row, cols, n_cols, mask_ptr, stride_m, len_ptr, scale, MASK: tl.constexpr):
    """A part's kept columns, scaled scores (-inf where dropped), max and sum of exponentials."""
    keep = _keep(row, cols, n_cols, mask_ptr, stride_m, len_ptr, MASK)
    s = tl.where(keep, x.to(tl.float32) * scale, float("-inf"))
    m, total = _part_stats(s, keep)
    return keep, s, m, total


@triton.jit
def _part_write(s, keep, row_ref, inv, y_row, row, cols, n_cols, seed, threshold, keep_scale, DROPOUT: tl.constexpr):
    """A part of y from its scores and the row's max and 1 / sum."""
    y = tl.where(keep, tl.exp(s - row_ref) * inv, 0.0)
    if DROPOUT:
        y = _dropout(y, row, cols, n_cols, seed, threshold, keep_scale)
    tl.store(y_row + cols, y.to(y_row.dtype.element_ty), mask=cols < n_cols)


@triton.jit
def softmax_v4_kernel(x_ptr, y_ptr, mask_ptr, len_ptr, slots_ptr, n_parts, n_cols, stride_x, stride_y, stride_m, scale,
                      seed, threshold, keep_scale, MASK: tl.constexpr, DROPOUT: tl.constexpr, BLOCK: tl.constexpr,
                      PARTS: tl.constexpr):  # PARTS: n_parts rounded up to a power of two (the slots a row has)
    pid = tl.program_id(0)
    row = (pid // n_parts).to(tl.int64)
    part = pid % n_parts
    cols = part * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * stride_x + cols, mask=cols < n_cols, other=0.0)
    keep, s, m, total = _part_scores(x, row, cols, n_cols, mask_ptr, stride_m, len_ptr, scale, MASK)
    row_ref, inv = _row_stats(slots_ptr + row * PARTS, part, m, total, PARTS, "acq_rel")
    _part_write(s, keep, row_ref, inv, y_ptr + row * stride_y, row, cols, n_cols, seed, threshold, keep_scale, DROPOUT)


@triton.jit
def softmax_v7_kernel(x_ptr, y_ptr, mask_ptr, len_ptr, slots_ptr, n_parts, n_cols, stride_x, stride_y, stride_m,
                      scale, seed, threshold, keep_scale, MASK: tl.constexpr, DROPOUT: tl.constexpr,
                      BLOCK: tl.constexpr, PARTS: tl.constexpr):
    pid = tl.program_id(0)
    row = (pid // n_parts).to(tl.int64)
    part = pid % n_parts
    cols = part * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * stride_x + cols, mask=cols < n_cols, other=0.0)
    keep = _keep(row, cols, n_cols, mask_ptr, stride_m, len_ptr, MASK)
    s = tl.where(keep, x.to(tl.float32) * scale, float("-inf"))
    m = tl.max(s, 0)
    m_ref = tl.where(m == float("-inf"), 0.0, m)
    e = tl.where(keep, tl.exp(s - m_ref), 0.0)  # the part's exponentials, before the wait
    row_ref, inv = _row_stats(slots_ptr + row * PARTS, part, m, tl.sum(e, 0), PARTS, "relaxed")
    # After the wait one multiply an element (0 for a part that keeps nothing: its e are 0 and its
    # m_ref - row_ref may be large).
    y = e * tl.where(m == float("-inf"), 0.0, tl.exp(m_ref - row_ref) * inv)
    if DROPOUT:
        y = _dropout(y, row, cols, n_cols, seed, threshold, keep_scale)
    tl.store(y_ptr + row * stride_y + cols, y.to(y_ptr.dtype.element_ty), mask=cols < n_cols)


@triton.jit
def softmax_v5_kernel(x_ptr, y_ptr, mask_ptr, len_ptr, slots_ptr, n_rows, n_parts, n_cols, stride_x, stride_y, stride_m,
                      scale, seed, threshold, keep_scale, MASK: tl.constexpr, DROPOUT: tl.constexpr,
                      BLOCK: tl.constexpr, PARTS: tl.constexpr):
    pid = tl.program_id(0)
    part = pid % n_parts
    row_step = tl.num_programs(0) // n_parts  # the grid is a multiple of n_parts
    cols = part * BLOCK + tl.arange(0, BLOCK)
    first = (pid // n_parts).to(tl.int64)
    # Row bounds as [BLOCK] tensors, not scalars: Triton 3.9's interpreter refuses a load mask of a
    # tensor and a scalar comparison combined ("mask has unsupported dtype"); compiled, the same code.
    row_zero = tl.zeros([BLOCK], tl.int64)
    x = tl.load(x_ptr + first * stride_x + cols, mask=(cols < n_cols) & (first + row_zero < n_rows), other=0.0)
    for row in range(first, n_rows, row_step):
        keep, s, m, total = _part_scores(x, row, cols, n_cols, mask_ptr, stride_m, len_ptr, scale, MASK)
        following = row + row_step  # its part is in flight while this row's parts meet and y is written
        x = tl.load(x_ptr + following * stride_x + cols, mask=(cols < n_cols) & (following + row_zero < n_rows),
                    other=0.0)
        row_ref, inv = _row_stats(slots_ptr + row * PARTS, part, m, total, PARTS, "acq_rel")
        _part_write(s, keep, row_ref, inv, y_ptr + row * stride_y, row, cols, n_cols, seed, threshold, keep_scale,
                    DROPOUT)


@triton.jit
def softmax_v6_kernel(x_ptr, y_ptr, mask_ptr, len_ptr, n_rows, n_cols, stride_x, stride_y, stride_m, scale,
                      seed, threshold, keep_scale, MASK: tl.constexpr, DROPOUT: tl.constexpr, BLOCK: tl.constexpr,
                      NUM_STAGES: tl.constexpr):
    for row in range(tl.program_id(0).to(tl.int64), n_rows, tl.num_programs(0)):
        x_row = x_ptr + row * stride_x
        y_row = y_ptr + row * stride_y
        m = tl.full([BLOCK], float("-inf"), tl.float32)
        total = tl.zeros([BLOCK], tl.float32)
        for start in tl.range(0, n_cols, BLOCK, num_stages=NUM_STAGES):  # pass 1, from HBM, kept in L2
            m, total = _max_sum_step(x_row, row, start, n_cols, mask_ptr, stride_m, len_ptr, scale, m, total, MASK,
                                     BLOCK, "evict_last")
        row_ref, inv = _lanes_to_row(m, total)
        for start in tl.range(0, n_cols, BLOCK, num_stages=NUM_STAGES):  # pass 2, from L2; y leaves L2 first
            _write_step(x_row, y_row, row, start, n_cols, mask_ptr, stride_m, len_ptr, scale, row_ref, inv, seed,
                        threshold, keep_scale, MASK, DROPOUT, BLOCK, "evict_first")


def dropout_threshold(p):
    """round(p * 65536), as fa-bench's dropout_threshold."""
    if p <= 0:
        return 0
    t = p * 65536.0 + 0.5
    return 65536 if t >= 65536.0 else int(t)


def v4_parts(cols, version=4):
    return max(1, triton.cdiv(cols, V7_BLOCK if version == 7 else V4_BLOCK))


def supports(problem, version):
    if version in (1, 3) and problem["cols"] > V1_MAX_COLS:
        return f"v{version} keeps a row in registers: at most {V1_MAX_COLS} columns (version 2 loops over longer rows)"
    if version in (4, 5, 7):
        parts = v4_parts(problem["cols"], version)
        most, block = (V7_MAX_PARTS, V7_BLOCK) if version == 7 else (V4_MAX_PARTS, V4_BLOCK)
        if parts > most:
            return f"v{version} holds a row in at most {most} programs of {block} columns (version 2 loops over longer rows)"
        if parts > 1 and os.environ.get("TRITON_INTERPRET") == "1":
            return (f"v{version}'s parts of a row wait for each other, and the interpreter runs programs one by one: "
                    f"at most {block} columns there")
    return None


def meeting_slots(x, rows, parts):
    """The zeroed (max, sum) slots through which each row's parts meet (v4, v5, v7): [rows, parts
    rounded up to a power of two], the padding slots holding an empty part's pair (max -inf, sum 0):
    published, weight 0."""
    pow2 = triton.next_power_of_2(parts)
    slots = torch.zeros((rows, pow2), dtype=torch.int64, device=x.device)
    if pow2 != parts:
        slots[:, parts:] = EMPTY_PART
    return slots


_v5_resident = {}


def v5_row_slots(x, parts, kernel_args, consts):
    """How many rows v5 works on at once: as many as keep every program resident (its parts wait for
    each other, so a program that cannot start would hang the row). From the compiled kernel's
    registers and shared memory, as Triton's fused-softmax tutorial sizes its persistent grid."""
    if x.device.type != "cuda":
        return 4  # the interpreter: a row in one part, nothing waits
    key = (x.device.index, x.dtype, parts, tuple(sorted(consts.items())))
    if key not in _v5_resident:
        compiled = softmax_v5_kernel.warmup(*kernel_args, grid=(1,), **consts)
        compiled._init_handles()
        props = triton.runtime.driver.active.utils.get_device_properties(x.device.index)
        warps = consts["num_warps"]
        regs_per_warp = -(-compiled.n_regs * 32 // 256) * 256  # allocated in units of 256
        per_sm = min(props["max_num_regs"] // (regs_per_warp * warps), 64 // warps)  # 64 warps an SM
        if compiled.metadata.shared:
            per_sm = min(per_sm, props["max_shared_mem"] // compiled.metadata.shared)
        _v5_resident[key] = max(1, per_sm) * props["multiprocessor_count"] // parts
    if _v5_resident[key] < 1:
        raise Unsupported(f"v5: {parts} parts of a row do not fit on the GPU at once")
    return _v5_resident[key]


def v6_programs(x, rows, cols):
    """v6's programs: as many rows in flight as half the L2 holds (the other half for y on its way
    out and for other data), at least one, at most 4 a SM and the rows."""
    if V6_PROGRAMS is not None:
        return max(1, min(rows, V6_PROGRAMS))
    sms = multiprocessors(x)
    l2 = torch.cuda.get_device_properties(x.device).L2_cache_size if x.device.type == "cuda" else 1 << 20
    return max(1, min(rows, 4 * sms, l2 // (2 * cols * x.element_size())))


def multiprocessors(x):
    if x.device.type == "cuda":
        return torch.cuda.get_device_properties(x.device).multi_processor_count
    return 4  # the interpreter (TRITON_INTERPRET=1, tensors on the CPU)


@variant("triton.softmax", op="softmax", dtypes=["fp32", "fp16", "bf16"], params={"version": [1, 2, 3, 4, 5, 6, 7]},
         supports=supports, description="row softmax with scale, mask and fa-bench's Philox dropout (seed 000 task 1)")
def softmax(x, scale, mask_kind, mask, lengths, dropout, seed, version):
    rows, cols = x.shape
    y = torch.empty_like(x)
    if rows == 0:
        return y
    seed = seed & 0xFFFFFFFFFFFFFFFF
    if seed >= 1 << 63:  # a kernel argument is a signed 64-bit int; tl.philox reads its bits
        seed -= 1 << 64
    mask_t = mask if mask is not None else x  # an unused pointer when the mask kind does not read it
    len_t = lengths if lengths is not None else x
    stride_m = mask.stride(0) if mask is not None else 0
    args = (x, y, mask_t, len_t, cols, x.stride(0), y.stride(0), stride_m, float(scale), seed,
            dropout_threshold(dropout), 1.0 / (1.0 - dropout) if dropout > 0 else 1.0)
    if version == 1:
        block = triton.next_power_of_2(cols)
        warps = 4 if block <= 1024 else 8 if block <= 4096 else 16
        softmax_v1_kernel[(rows,)](*args, MASK=MASKS[mask_kind], DROPOUT=dropout > 0, BLOCK=block, num_warps=warps)
    elif version == 3:
        block = triton.next_power_of_2(cols)
        warps = 4 if block <= 1024 else 8 if block <= 4096 else 16
        programs = min(rows, 4 * multiprocessors(x))
        softmax_v3_kernel[(programs,)](args[0], args[1], args[2], args[3], rows, *args[4:], MASK=MASKS[mask_kind],
                                       DROPOUT=dropout > 0, BLOCK=block, NUM_STAGES=2, num_warps=warps)
    elif version == 2:
        softmax_v2_kernel[(rows,)](*args, MASK=MASKS[mask_kind], DROPOUT=dropout > 0,
                                   BLOCK=min(V2_CHUNK, triton.next_power_of_2(cols)), num_warps=8)
    elif version in (4, 5):
        parts = v4_parts(cols)
        block = V4_BLOCK if parts > 1 else triton.next_power_of_2(cols)
        slots = meeting_slots(x, rows, parts)
        pow2 = slots.shape[1]
        pointers = (args[0], args[1], args[2], args[3], slots)
        consts = dict(MASK=MASKS[mask_kind], DROPOUT=dropout > 0, BLOCK=block, PARTS=pow2, num_warps=V4_WARPS)
        if version == 4:
            softmax_v4_kernel[(rows * parts,)](*pointers, parts, *args[4:], **consts)
        else:
            row_slots = min(rows, v5_row_slots(x, parts, (*pointers, rows, parts, *args[4:]), consts))
            softmax_v5_kernel[(row_slots * parts,)](*pointers, rows, parts, *args[4:], **consts)
    elif version == 7:
        parts = v4_parts(cols, 7)
        block = V7_BLOCK if parts > 1 else triton.next_power_of_2(cols)
        pow2 = triton.next_power_of_2(parts)
        slots = meeting_slots(x, rows, parts) if parts > 1 else x  # one part: nothing meets (unused)
        warps = V7_WARPS if parts > 1 else 4 if block <= 1024 else 8
        softmax_v7_kernel[(rows * parts,)](args[0], args[1], args[2], args[3], slots, parts, *args[4:],
                                           MASK=MASKS[mask_kind], DROPOUT=dropout > 0, BLOCK=block, PARTS=pow2,
                                           num_warps=warps)
    elif version == 6:
        programs = v6_programs(x, rows, cols)
        softmax_v6_kernel[(programs,)](args[0], args[1], args[2], args[3], rows, *args[4:], MASK=MASKS[mask_kind],
                                       DROPOUT=dropout > 0, BLOCK=min(V6_BLOCK, triton.next_power_of_2(cols)),
                                       NUM_STAGES=V6_STAGES, num_warps=V6_WARPS)
    else:
        raise Unsupported(f"no version {version}")
    return y
