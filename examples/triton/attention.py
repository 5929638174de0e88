"""triton.fa2 and triton.fa1: FlashAttention forward in Triton (seeds 000, 002, 004), O and the log-sum-exp.

    q [batch, heads, seq_q, d], k and v [batch, kv_heads, seq_k, d] -> o like q, lse [batch, heads, seq_q] fp32

As fa-bench's attention: GQA (query head h reads KV head h // (heads / kv_heads)), causal masking
aligned to the bottom right (query i sees keys j <= i + seq_k - seq_q; a query that sees none gets
O = 0 and lse = -inf), lse the natural log-sum-exp of scale * q k^T. Any seq_q, seq_k and d (d is
padded to a power of two >= 16 and masked). fp32 uses IEEE fp32 products in tl.dot (Triton's fp32
default is TF32, ~1e-3 off), tf32 uses TF32, fp16/bf16 the tensor cores with fp32 accumulation.

triton.fa2, FlashAttention-2's forward (Dao, 2023), one version so far:
  v1  one program per (BLOCK_M query rows, batch x head), grid (cdiv(seq_q, BLOCK_M), batch * heads);
      Q in registers, a loop over BLOCK_N-key tiles of K and V with the online softmax: running max
      m and sum l per row, the accumulator rescaled by exp(m_old - m_new), 1/l applied once at the
      end; exp2 with log2(e) folded into the scale. The loop runs in two phases: the tiles every row
      of the block sees whole, with no masks, then the tiles on the causal diagonal or past seq_k,
      masked; under causal, tiles no row sees are never loaded. Parameters BLOCK_M, BLOCK_N and
      num_warps; num_stages 3 for d <= 128, else 2 (tiles that need more shared memory than the GPU
      has fail with OutOfResources: an `unsupported` row).

triton.fa1, the FlashAttention paper's Algorithm 1 (Dao et al., 2022; seed 002), as written:
  v1  the loops in the paper's order: K/V tiles outer (j, loaded once into SRAM), query tiles inner
      (i): each step reads Q_i, O_i, l_i and m_i from HBM, updates them and writes them back. O, l and
      m start in HBM as 0, 0 and -inf (step 2, made by the wrapper inside the timed call), and the
      wrapper turns O into the output dtype and m + log(l) into the lse at the end. One program per
      batch x head walks every (j, i), so there is no parallelism over the sequence and O crosses
      HBM seq_k / BLOCK_N times: the paper's IO analysis made visible, and what FA2 fixes by
      swapping the loops.
"""
import math

import torch
import triton
import triton.language as tl

from fabench_user import Unsupported, variant

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453
PRECISION = {"fp32": "ieee", "tf32": "tf32", "fp16": None, "bf16": None}  # None: tl.dot's default


@triton.jit
def _fa2_tile(acc, m_i, l_i, q, k_base, v_base, skn, svn, start_n, offs_m, offs_n, offs_d, seq_k, diag, d_mask,
              MASKED: tl.constexpr, CAUSAL: tl.constexpr, EVEN_D: tl.constexpr, PRECISION: tl.constexpr,
              qk_scale):
    """One BLOCK_N tile of keys: scores in the log2 domain, the online softmax, acc += P V. The tile's
    pointers are made here from scalar bases (a [BLOCK_N, D] pointer tensor carried through the loop
    costs 2 registers an element: 255 registers and spills at d 128)."""
    keys = start_n + offs_n
    k_ptrs = k_base + keys[:, None] * skn + offs_d[None, :]
    v_ptrs = v_base + keys[:, None] * svn + offs_d[None, :]
    if MASKED:
        kv_mask = (keys < seq_k)[:, None]
        if not EVEN_D:
            kv_mask = kv_mask & d_mask[None, :]
        k = tl.load(k_ptrs, mask=kv_mask, other=0.0)
        v = tl.load(v_ptrs, mask=kv_mask, other=0.0)
    elif EVEN_D:
        k = tl.load(k_ptrs)
        v = tl.load(v_ptrs)
    else:
        k = tl.load(k_ptrs, mask=d_mask[None, :], other=0.0)
        v = tl.load(v_ptrs, mask=d_mask[None, :], other=0.0)
    s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
    if MASKED:
        seen = (keys < seq_k)[None, :]
        if CAUSAL:
            seen = seen & (keys[None, :] <= offs_m[:, None] + diag)
        s = tl.where(seen, s, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(s, 1))
    m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)  # a row that has seen nothing yet
    alpha = tl.math.exp2(m_i - m_ref)
    p = tl.math.exp2(s - m_ref[:, None])
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
    return acc, m_new, l_i


@triton.jit
def fa2_v1_kernel(q_ptr, k_ptr, v_ptr, o_ptr, lse_ptr,
                  sqb, sqh, sqm, skb, skh, skn, svb, svh, svn, sob, soh, som, slb, slh,
                  heads, group, seq_q, seq_k, qk_scale,
                  HEAD_DIM: tl.constexpr, D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  CAUSAL: tl.constexpr, PRECISION: tl.constexpr):
    start_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // heads).to(tl.int64)
    h = bh % heads
    kvh = (h // group).to(tl.int64)
    h = h.to(tl.int64)
    EVEN_D: tl.constexpr = HEAD_DIM == D
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D)
    d_mask = offs_d < HEAD_DIM
    q_mask = (offs_m < seq_q)[:, None]
    if not EVEN_D:
        q_mask = q_mask & d_mask[None, :]
    q = tl.load(q_ptr + b * sqb + h * sqh + offs_m[:, None] * sqm + offs_d[None, :], mask=q_mask, other=0.0)
    k_base = k_ptr + b * skb + kvh * skh
    v_base = v_ptr + b * svb + kvh * svh
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, D], tl.float32)
    diag = seq_k - seq_q  # query i sees keys j <= i + diag under causal
    # Phase 1: tiles every row of the block sees whole (no masks). Phase 2: the rest up to hi.
    full_end = (seq_k // BLOCK_N) * BLOCK_N
    hi = seq_k
    if CAUSAL:
        first_row_sees = start_m * BLOCK_M + diag + 1  # keys [0, first_row_sees) seen by every row
        full_end = tl.minimum(full_end, tl.maximum(first_row_sees, 0) // BLOCK_N * BLOCK_N)
        hi = tl.minimum(seq_k, tl.maximum((start_m + 1) * BLOCK_M + diag, 0))
    for start_n in range(0, full_end, BLOCK_N):
        acc, m_i, l_i = _fa2_tile(acc, m_i, l_i, q, k_base, v_base, skn, svn, start_n, offs_m, offs_n, offs_d,
                                  seq_k, diag, d_mask, False, CAUSAL, EVEN_D, PRECISION, qk_scale)
    for start_n in range(full_end, hi, BLOCK_N):
        acc, m_i, l_i = _fa2_tile(acc, m_i, l_i, q, k_base, v_base, skn, svn, start_n, offs_m, offs_n, offs_d,
                                  seq_k, diag, d_mask, True, CAUSAL, EVEN_D, PRECISION, qk_scale)
    seen = l_i > 0
    acc = acc * tl.where(seen, 1.0 / l_i, 0.0)[:, None]
    lse = tl.where(seen, (m_i + tl.math.log2(tl.where(seen, l_i, 1.0))) * 0.6931471805599453, float("-inf"))
    row_in = offs_m < seq_q
    o_mask = row_in[:, None]
    if not EVEN_D:
        o_mask = o_mask & d_mask[None, :]
    tl.store(o_ptr + b * sob + h * soh + offs_m[:, None] * som + offs_d[None, :], acc.to(o_ptr.dtype.element_ty),
             mask=o_mask)
    tl.store(lse_ptr + b * slb + h * slh + offs_m, lse, mask=row_in)


def _check(q, k, v):
    if q.stride(-1) != 1 or k.stride(-1) != 1 or v.stride(-1) != 1:
        raise Unsupported("the last dimension of q, k and v must be contiguous")
    if q.shape[1] % k.shape[1]:
        raise Unsupported("heads must be a multiple of kv_heads")


@variant("triton.fa2", op="attention", dtypes=["fp32", "tf32", "fp16", "bf16"],
         params={"BLOCK_M": [64, 128], "BLOCK_N": [64, 128], "num_warps": [4, 8]},
         description="FlashAttention-2 forward: Q tile in registers, online softmax over K/V tiles, causal, GQA, lse")
def fa2(q, k, v, scale, causal, dtype, BLOCK_M, BLOCK_N, num_warps):
    _check(q, k, v)
    batch, heads, seq_q, d = q.shape
    seq_k = k.shape[2]
    o = torch.empty_like(q)
    lse = torch.empty(batch, heads, seq_q, dtype=torch.float32, device=q.device)
    D = max(16, triton.next_power_of_2(d))
    grid = (triton.cdiv(seq_q, BLOCK_M), batch * heads)
    fa2_v1_kernel[grid](q, k, v, o, lse, q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
                        v.stride(0), v.stride(1), v.stride(2), o.stride(0), o.stride(1), o.stride(2),
                        lse.stride(0), lse.stride(1), heads, heads // k.shape[1], seq_q, seq_k, scale * LOG2E,
                        HEAD_DIM=d, D=D, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, CAUSAL=bool(causal),
                        PRECISION=PRECISION[dtype], num_warps=num_warps, num_stages=3 if D <= 128 else 2)
    return o, lse


@triton.jit
def fa1_v1_kernel(q_ptr, k_ptr, v_ptr, o_ptr, l_ptr, m_ptr,
                  sqb, sqh, sqm, skb, skh, skn, svb, svh, svn, sob, soh, som,
                  heads, group, seq_q, seq_k, scale,
                  HEAD_DIM: tl.constexpr, D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  CAUSAL: tl.constexpr, PRECISION: tl.constexpr):
    bh = tl.program_id(0)
    b = (bh // heads).to(tl.int64)
    h = bh % heads
    kvh = (h // group).to(tl.int64)
    h = h.to(tl.int64)
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D)
    d_mask = offs_d < HEAD_DIM
    diag = seq_k - seq_q
    q_base = q_ptr + b * sqb + h * sqh
    o_base = o_ptr + b * sob + h * soh  # fp32 [seq_q, D] workspace of this head (contiguous)
    lm_base = bh.to(tl.int64) * seq_q
    for start_n in range(0, seq_k, BLOCK_N):  # line 5: for 1 <= j <= T_c (outer)
        keys = start_n + offs_n
        kv_mask = (keys < seq_k)[:, None] & d_mask[None, :]
        k = tl.load(k_ptr + b * skb + kvh * skh + keys[:, None] * skn + offs_d[None, :], mask=kv_mask, other=0.0)
        v = tl.load(v_ptr + b * svb + kvh * svh + keys[:, None] * svn + offs_d[None, :], mask=kv_mask, other=0.0)
        first_i = 0
        if CAUSAL:  # query tiles whose rows all end before this key tile see none of it
            first_i = tl.maximum(start_n - diag, 0) // BLOCK_M * BLOCK_M
        for start_m in range(first_i, seq_q, BLOCK_M):  # line 7: for 1 <= i <= T_r (inner)
            rows = start_m + offs_m
            row_in = rows < seq_q
            q = tl.load(q_base + rows[:, None] * sqm + offs_d[None, :], mask=row_in[:, None] & d_mask[None, :],
                        other=0.0)
            o = tl.load(o_base + rows[:, None] * som + offs_d[None, :], mask=row_in[:, None], other=0.0)
            l_old = tl.load(l_ptr + lm_base + rows, mask=row_in, other=0.0)
            m_old = tl.load(m_ptr + lm_base + rows, mask=row_in, other=float("-inf"))
            s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale  # line 9
            seen = (keys < seq_k)[None, :]
            if CAUSAL:
                seen = seen & (keys[None, :] <= rows[:, None] + diag)
            s = tl.where(seen, s, float("-inf"))
            m_tile = tl.max(s, 1)  # line 10: m~, P~ = exp(S - m~), l~ = rowsum(P~)
            p = tl.exp(s - tl.where(m_tile == float("-inf"), 0.0, m_tile)[:, None])
            l_tile = tl.sum(p, 1)
            m_new = tl.maximum(m_old, m_tile)  # line 11
            m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
            a = tl.exp(m_old - m_ref)
            c = tl.exp(m_tile - m_ref)
            l_new = a * l_old + c * l_tile
            pv = tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
            inv = tl.where(l_new > 0, 1.0 / l_new, 0.0)
            o = ((l_old * a)[:, None] * o + c[:, None] * pv) * inv[:, None]  # line 12
            tl.store(o_base + rows[:, None] * som + offs_d[None, :], o, mask=row_in[:, None])
            tl.store(l_ptr + lm_base + rows, l_new, mask=row_in)  # line 13
            tl.store(m_ptr + lm_base + rows, m_new, mask=row_in)
            tl.debug_barrier()  # O_i, l_i, m_i are read back by other threads at the next j


@variant("triton.fa1", op="attention", dtypes=["fp32", "tf32", "fp16", "bf16"],
         params={"BLOCK_M": [32, 64], "BLOCK_N": [32, 64]},
         description="FlashAttention-1, the paper's Algorithm 1: K/V tiles outer, Q tiles inner, O/l/m through HBM")
def fa1(q, k, v, scale, causal, dtype, BLOCK_M, BLOCK_N):
    _check(q, k, v)
    batch, heads, seq_q, d = q.shape
    seq_k = k.shape[2]
    D = max(16, triton.next_power_of_2(d))
    o = torch.zeros(batch, heads, seq_q, D, dtype=torch.float32, device=q.device)  # line 2: O = 0, l = 0, m = -inf
    l = torch.zeros(batch, heads, seq_q, dtype=torch.float32, device=q.device)
    m = torch.full((batch, heads, seq_q), -math.inf, dtype=torch.float32, device=q.device)
    fa1_v1_kernel[(batch * heads,)](q, k, v, o, l, m, q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1),
                                    k.stride(2), v.stride(0), v.stride(1), v.stride(2), o.stride(0), o.stride(1),
                                    o.stride(2), heads, heads // k.shape[1], seq_q, seq_k, scale,
                                    HEAD_DIM=d, D=D, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, CAUSAL=bool(causal),
                                    PRECISION=PRECISION[dtype], num_warps=4)
    lse = torch.where(l > 0, m + torch.log(l), torch.full_like(l, -math.inf))
    return o[..., :d].to(q.dtype), lse
