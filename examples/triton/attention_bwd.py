"""triton.fa2_bwd: FlashAttention-2 backward in Triton (seed 004 bonus): dQ, dK, dV from Q, K, V, O, dO, lse.

    q, o, do [batch, heads, seq_q, d], k, v [batch, kv_heads, seq_k, d], lse [batch, heads, seq_q] fp32
    -> dq like q, dk and dv like k (input dtype)

As fa-bench's attention_bwd: causal aligned to the bottom right (query i sees keys j <= i + seq_k -
seq_q; a query that sees none, lse = -inf, contributes nothing and gets dQ = 0), GQA (a KV head's dK
and dV sum over the heads of its group), any seq_q, seq_k and d (d padded to a power of two >= 16 and
masked). With P = exp(scale Q K^T - lse) recomputed tile by tile from the forward's lse:
D = rowsum(dO * O), dV = P^T dO, dP = dO V^T, dS = P * (dP - D), dQ = scale dS K, dK = scale dS^T Q.
fp32 uses IEEE fp32 products in tl.dot, tf32 TF32, fp16/bf16 the tensor cores, fp32 accumulation.

Versions:
  v1  three kernels, no atomics (deterministic):
      1. D = rowsum(dO * O) per query row, fp32 (one program per BLOCK_M rows of a batch x head);
      2. dK, dV: one program per (BLOCK_N keys, batch x KV head), the key tile's K and V in
         registers, a loop over the group's query heads and their BLOCK_M query tiles (under causal,
         from the first tile that sees the key tile), dK and dV accumulated in fp32 and written once
         (so GQA needs no atomics: the program owns the KV head's tile);
      3. dQ: a second kernel, one program per (BLOCK_M queries, batch x head), Q, dO, lse, D in
         registers, a loop over the key tiles it sees (under causal, up to the diagonal), dQ
         accumulated in fp32 and written once. P and dS are recomputed there rather than dQ being
         added with atomics from kernel 2: twice the Q K^T products, no fp32 dQ buffer, no atomics.
      Parameters BLOCK_M, BLOCK_N (both kernels' tiles) and num_warps.
      Validated in Triton's interpreter (TRITON_INTERPRET=1, CPU, fp32 and fp16) and on an H200 at 36a55e8
      (fp32, fp16, bf16: every odd shape of tests/user_kernels_test.py at three tile settings ok;
      results/h200/triton_36a55e8/gpu_test_runs). Not yet timed against the peers.
"""
import torch
import triton
import triton.language as tl

from fabench_user import Unsupported, variant

LOG2E = 1.4426950408889634
PRECISION = {"fp32": "ieee", "tf32": "tf32", "fp16": None, "bf16": None}  # None: tl.dot's default


@triton.jit
def bwd_preprocess_kernel(o_ptr, do_ptr, delta_ptr, sob, soh, som, sdb, sdh, sdm, heads, seq_q,
                          HEAD_DIM: tl.constexpr, D: tl.constexpr, BLOCK_M: tl.constexpr):
    """delta[b, h, i] = sum_d dO[b, h, i, d] * O[b, h, i, d] (fp32; delta contiguous [batch, heads, seq_q])."""
    bh = tl.program_id(1)
    b = (bh // heads).to(tl.int64)
    h = (bh % heads).to(tl.int64)
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D)
    mask = (offs_m < seq_q)[:, None] & (offs_d < HEAD_DIM)[None, :]
    o = tl.load(o_ptr + b * sob + h * soh + offs_m[:, None] * som + offs_d[None, :], mask=mask, other=0.0)
    do = tl.load(do_ptr + b * sdb + h * sdh + offs_m[:, None] * sdm + offs_d[None, :], mask=mask, other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    tl.store(delta_ptr + bh.to(tl.int64) * seq_q + offs_m, delta, mask=offs_m < seq_q)


@triton.jit
def bwd_dkdv_kernel(q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dk_ptr, dv_ptr,
                    sqb, sqh, sqm, skb, skh, skn, svb, svh, svn, sdb, sdh, sdm, slb, slh,
                    sdkb, sdkh, sdkn, sdvb, sdvh, sdvn,
                    heads, kv_heads, group, seq_q, seq_k, scale, qk_scale,
                    HEAD_DIM: tl.constexpr, D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    CAUSAL: tl.constexpr, PRECISION: tl.constexpr):
    start_n = tl.program_id(0) * BLOCK_N
    bkv = tl.program_id(1)
    b = (bkv // kv_heads).to(tl.int64)
    kvh = (bkv % kv_heads).to(tl.int64)
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_m0 = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D)
    d_mask = offs_d < HEAD_DIM
    key_in = offs_n < seq_k
    kv_mask = key_in[:, None] & d_mask[None, :]
    k = tl.load(k_ptr + b * skb + kvh * skh + offs_n[:, None] * skn + offs_d[None, :], mask=kv_mask, other=0.0)
    v = tl.load(v_ptr + b * svb + kvh * svh + offs_n[:, None] * svn + offs_d[None, :], mask=kv_mask, other=0.0)
    dk = tl.zeros([BLOCK_N, D], tl.float32)
    dv = tl.zeros([BLOCK_N, D], tl.float32)
    diag = seq_k - seq_q  # query i sees keys j <= i + diag under causal
    lo = 0
    if CAUSAL:  # the first query tile with a row that sees key start_n
        lo = tl.maximum(start_n - diag, 0) // BLOCK_M * BLOCK_M
    for g in range(0, group):
        h = kvh * group + g
        q_base = q_ptr + b * sqb + h * sqh
        do_base = do_ptr + b * sdb + h * sdh
        row_base = (b * heads + h) * seq_q  # delta's offset; lse through its strides
        for start_m in range(lo, seq_q, BLOCK_M):
            offs_m = start_m + offs_m0
            row_in = offs_m < seq_q
            qd_mask = row_in[:, None] & d_mask[None, :]
            q = tl.load(q_base + offs_m[:, None] * sqm + offs_d[None, :], mask=qd_mask, other=0.0)
            do = tl.load(do_base + offs_m[:, None] * sdm + offs_d[None, :], mask=qd_mask, other=0.0)
            lse = tl.load(lse_ptr + b * slb + h * slh + offs_m, mask=row_in, other=float("-inf"))
            delta = tl.load(delta_ptr + row_base + offs_m, mask=row_in, other=0.0)
            lse2 = tl.where(lse == float("-inf"), float("inf"), lse * 1.4426950408889634)  # sees nothing: P = 0
            s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
            seen = row_in[:, None] & key_in[None, :]
            if CAUSAL:
                seen = seen & (offs_n[None, :] <= offs_m[:, None] + diag)
            p = tl.where(seen, tl.math.exp2(s - lse2[:, None]), 0.0)
            dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
            dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
            ds = p * (dp - delta[:, None])
            dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=PRECISION)
    dk = dk * scale
    tl.store(dk_ptr + b * sdkb + kvh * sdkh + offs_n[:, None] * sdkn + offs_d[None, :], dk.to(dk_ptr.dtype.element_ty),
             mask=kv_mask)
    tl.store(dv_ptr + b * sdvb + kvh * sdvh + offs_n[:, None] * sdvn + offs_d[None, :], dv.to(dv_ptr.dtype.element_ty),
             mask=kv_mask)


@triton.jit
def bwd_dq_kernel(q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr,
                  sqb, sqh, sqm, skb, skh, skn, svb, svh, svn, sdb, sdh, sdm, slb, slh, sdqb, sdqh, sdqm,
                  heads, group, seq_q, seq_k, scale, qk_scale,
                  HEAD_DIM: tl.constexpr, D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  CAUSAL: tl.constexpr, PRECISION: tl.constexpr):
    start_m = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1)
    b = (bh // heads).to(tl.int64)
    h = bh % heads
    kvh = (h // group).to(tl.int64)
    h = h.to(tl.int64)
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_n0 = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, D)
    d_mask = offs_d < HEAD_DIM
    row_in = offs_m < seq_q
    qd_mask = row_in[:, None] & d_mask[None, :]
    q = tl.load(q_ptr + b * sqb + h * sqh + offs_m[:, None] * sqm + offs_d[None, :], mask=qd_mask, other=0.0)
    do = tl.load(do_ptr + b * sdb + h * sdh + offs_m[:, None] * sdm + offs_d[None, :], mask=qd_mask, other=0.0)
    lse = tl.load(lse_ptr + b * slb + h * slh + offs_m, mask=row_in, other=float("-inf"))
    delta = tl.load(delta_ptr + bh.to(tl.int64) * seq_q + offs_m, mask=row_in, other=0.0)
    lse2 = tl.where(lse == float("-inf"), float("inf"), lse * 1.4426950408889634)
    k_base = k_ptr + b * skb + kvh * skh
    v_base = v_ptr + b * svb + kvh * svh
    dq = tl.zeros([BLOCK_M, D], tl.float32)
    diag = seq_k - seq_q
    hi = seq_k
    if CAUSAL:  # keys past the block's last row's diagonal are seen by none of its rows
        hi = tl.minimum(seq_k, tl.maximum(start_m + BLOCK_M + diag, 0))
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + offs_n0
        key_in = offs_n < seq_k
        kv_mask = key_in[:, None] & d_mask[None, :]
        k = tl.load(k_base + offs_n[:, None] * skn + offs_d[None, :], mask=kv_mask, other=0.0)
        v = tl.load(v_base + offs_n[:, None] * svn + offs_d[None, :], mask=kv_mask, other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
        seen = row_in[:, None] & key_in[None, :]
        if CAUSAL:
            seen = seen & (offs_n[None, :] <= offs_m[:, None] + diag)
        p = tl.where(seen, tl.math.exp2(s - lse2[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
    dq = dq * scale
    tl.store(dq_ptr + b * sdqb + h * sdqh + offs_m[:, None] * sdqm + offs_d[None, :], dq.to(dq_ptr.dtype.element_ty),
             mask=qd_mask)


@variant("triton.fa2_bwd", op="attention_bwd", dtypes=["fp32", "tf32", "fp16", "bf16"],
         params={"version": [1], "BLOCK_M": [32, 64, 128], "BLOCK_N": [32, 64, 128], "num_warps": [4, 8]},
         description="FlashAttention-2 backward: D = rowsum(dO*O), dK/dV per key tile (GQA: over the group), dQ by a second kernel")
def fa2_bwd(q, k, v, o, do, lse, scale, causal, dtype, version, BLOCK_M, BLOCK_N, num_warps):
    for name, x in (("q", q), ("k", k), ("v", v), ("o", o), ("do", do)):
        if x.stride(-1) != 1:
            raise Unsupported(f"the last dimension of {name} must be contiguous")
    if q.shape[1] % k.shape[1]:
        raise Unsupported("heads must be a multiple of kv_heads")
    batch, heads, seq_q, d = q.shape
    kv_heads, seq_k = k.shape[1], k.shape[2]
    group = heads // kv_heads
    D = max(16, triton.next_power_of_2(d))
    prec = PRECISION[dtype]
    delta = torch.empty(batch, heads, seq_q, dtype=torch.float32, device=q.device)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    bwd_preprocess_kernel[(triton.cdiv(seq_q, BLOCK_M), batch * heads)](
        o, do, delta, o.stride(0), o.stride(1), o.stride(2), do.stride(0), do.stride(1), do.stride(2), heads, seq_q,
        HEAD_DIM=d, D=D, BLOCK_M=BLOCK_M, num_warps=num_warps)
    strides = (q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
               v.stride(0), v.stride(1), v.stride(2), do.stride(0), do.stride(1), do.stride(2),
               lse.stride(0), lse.stride(1))
    bwd_dkdv_kernel[(triton.cdiv(seq_k, BLOCK_N), batch * kv_heads)](
        q, k, v, do, lse, delta, dk, dv, *strides, dk.stride(0), dk.stride(1), dk.stride(2),
        dv.stride(0), dv.stride(1), dv.stride(2), heads, kv_heads, group, seq_q, seq_k, scale, scale * LOG2E,
        HEAD_DIM=d, D=D, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, CAUSAL=bool(causal), PRECISION=prec,
        num_warps=num_warps, num_stages=2)
    bwd_dq_kernel[(triton.cdiv(seq_q, BLOCK_M), batch * heads)](
        q, k, v, do, lse, delta, dq, *strides, dq.stride(0), dq.stride(1), dq.stride(2),
        heads, group, seq_q, seq_k, scale, scale * LOG2E,
        HEAD_DIM=d, D=D, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, CAUSAL=bool(causal), PRECISION=prec,
        num_warps=num_warps, num_stages=2)
    return dq, dk, dv
