"""Stub variants of sparse_attention and attention_bwd for tests/user_kernels_test.py (plain torch, no
Triton): the mask forms the runner passes are consistent with fa-bench's mask (stub.sparse_elements
reads the element mask, stub.sparse_blocks the per-query-block list and block kinds), and kernels that
are wrong are mismatch rows (a kernel that ignores the mask, that drops the lse, that scales dK, that
forgets to sum dK and dV over a GQA group, that returns two gradients)."""
import math

import torch

from fabench_user import variant


def masked_attention(q, k, v, scale, keep):
    """O and lse over keep [masks or 1, seq_q, seq_k] (bool, per (b, h) or shared), in float32."""
    batch, heads = q.shape[:2]
    group = heads // k.shape[1]
    kk = k.float().repeat_interleave(group, dim=1)
    vv = v.float().repeat_interleave(group, dim=1)
    s = (q.float() @ kk.transpose(-2, -1)) * scale
    keep = keep.reshape(-1, *keep.shape[-2:])
    keep = keep.reshape(batch, heads, *keep.shape[-2:]) if keep.shape[0] > 1 else keep[None]
    s = s.masked_fill(~keep, -math.inf)
    lse = torch.logsumexp(s, dim=-1)
    p = torch.exp(s - torch.where(torch.isfinite(lse), lse, 0.0)[..., None])
    return (p @ vv).to(q.dtype), lse.float()


@variant("stub.sparse_elements", op="sparse_attention", dtypes=["fp32", "fp16"])
def sparse_elements(q, k, v, scale, mask):
    return masked_attention(q, k, v, scale, mask != 0)


@variant("stub.sparse_blocks", op="sparse_attention", dtypes=["fp32", "fp16"])
def sparse_blocks(q, k, v, scale, block, seq_q, seq_k, block_kind, kv_num_blocks, kv_indices, mask):
    """The kept scores from the list: listed blocks only, whole when full, the element mask when partial."""
    masks, nq, nk = block_kind.shape
    keep = torch.zeros(masks, nq * block, nk * block, dtype=torch.bool)
    padded = torch.zeros(masks, nq * block, nk * block, dtype=torch.bool)
    padded[:, :seq_q, :seq_k] = mask.cpu() != 0
    for m in range(masks):
        for i in range(nq):
            listed = kv_indices[m, i, :int(kv_num_blocks[m, i])].tolist()
            assert all(x >= 0 for x in listed) and (kv_indices[m, i, len(listed):] == -1).all()
            assert sorted(listed) == listed and all(int(block_kind[m, i, j]) != 0 for j in listed)
            for j in listed:
                rows, cols = slice(i * block, (i + 1) * block), slice(j * block, (j + 1) * block)
                keep[m, rows, cols] = True if int(block_kind[m, i, j]) == 1 else padded[m, rows, cols]
    return masked_attention(q, k, v, scale, keep[:, :seq_q, :seq_k].to(q.device))


@variant("stub.sparse_ignores_mask", op="sparse_attention", dtypes=["fp32"])
def sparse_ignores_mask(q, k, v, scale, seq_q, seq_k):
    return masked_attention(q, k, v, scale, torch.ones(1, seq_q, seq_k, dtype=torch.bool, device=q.device))


@variant("stub.sparse_no_lse", op="sparse_attention", dtypes=["fp32"])
def sparse_no_lse(q, k, v, scale, mask):
    return masked_attention(q, k, v, scale, mask != 0)[0]


def autograd_bwd(q, k, v, do, scale, causal):
    """dQ, dK, dV through autograd over a float32 naive forward (GQA by repeat_interleave)."""
    qf, kf, vf = (x.detach().float().requires_grad_() for x in (q, k, v))
    group = q.shape[1] // k.shape[1]
    s = (qf @ kf.repeat_interleave(group, dim=1).transpose(-2, -1)) * scale
    if causal:
        sq, sk = q.shape[2], k.shape[2]
        s = s.masked_fill(torch.ones(sq, sk, dtype=torch.bool, device=q.device).triu(sk - sq + 1), -math.inf)
    p = torch.nan_to_num(torch.softmax(s, dim=-1))  # a query that sees no key: P = 0
    o = p @ vf.repeat_interleave(group, dim=1)
    return torch.autograd.grad(o, (qf, kf, vf), grad_outputs=do.float())


@variant("stub.bwd_autograd", op="attention_bwd", dtypes=["fp32", "fp16"])
def bwd_autograd(q, k, v, o, do, lse, scale, causal):
    return tuple(g.to(q.dtype) for g in autograd_bwd(q, k, v, do, scale, causal))


@variant("stub.bwd_scaled_dk", op="attention_bwd", dtypes=["fp32"])
def bwd_scaled_dk(q, k, v, o, do, lse, scale, causal):
    dq, dk, dv = autograd_bwd(q, k, v, do, scale, causal)
    return dq, dk * 1.05, dv


@variant("stub.bwd_one_head", op="attention_bwd", dtypes=["fp32"])
def bwd_one_head(q, k, v, o, do, lse, scale, causal):
    """dK and dV of the group's first query head only (no sum over GQA's group)."""
    group = q.shape[1] // k.shape[1]
    heads = torch.arange(0, q.shape[1], group)
    dq, _, _ = autograd_bwd(q, k, v, do, scale, causal)
    _, dk, dv = autograd_bwd(q[:, heads], k, v, do[:, heads], scale, causal)
    return dq, dk, dv


@variant("stub.bwd_two", op="attention_bwd", dtypes=["fp32"])
def bwd_two(q, k, v, o, do, lse, scale, causal):
    return autograd_bwd(q, k, v, do, scale, causal)[:2]
