"""Stub variants for tests/user_kernels_test.py: one per way a user's kernel can go right or wrong.
Each row's expected status is in EXPECTED (variant name -> status and a piece of the reason)."""
import math

import torch

import fabench_core
from fabench_user import Unsupported, variant


class OutOfResources(Exception):
    """Named as Triton's (triton.runtime.errors.OutOfResources): matched by name."""


class CompileTimeAssertionFailure(Exception):
    """Named as Triton's compile-time assertion (triton.compiler.errors)."""


def reference_softmax(x, scale, mask_kind, mask, lengths, dropout, seed):
    """softmax in torch with fa-bench's masks and Philox dropout (fabench_core.dropout_keep)."""
    rows, cols = x.shape
    s = x.float() * scale
    c = torch.arange(cols, device=x.device)
    r = torch.arange(rows, device=x.device)
    keep = torch.ones(rows, cols, dtype=torch.bool, device=x.device)
    if mask_kind == "causal":
        keep = c[None, :] <= (r % cols)[:, None]
    elif mask_kind == "tensor":
        keep = mask != 0
    elif mask_kind == "lengths":
        keep = c[None, :] < lengths.long()[:, None]
    y = torch.softmax(s.masked_fill(~keep, -math.inf), dim=-1)
    y = torch.where(keep.any(-1, keepdim=True), y, torch.zeros_like(y))
    if dropout > 0:
        kept = fabench_core.dropout_keep(seed, torch.arange(rows * cols).numpy(), dropout).reshape(rows, cols)
        y = torch.where(torch.from_numpy(kept).to(y.device), y / (1 - dropout), torch.zeros_like(y))
    return y.to(x.dtype)


@variant("stub.good", op="softmax", dtypes=["fp32", "fp16"], params={"BLOCK": [16, 32]})
def good(x, scale, mask_kind, mask, lengths, dropout, seed, BLOCK):
    """torch's softmax with fa-bench's mask and dropout: every row ok."""
    return reference_softmax(x, scale, mask_kind, mask, lengths, dropout, seed)


@variant("stub.raises", op="softmax")
def raises(x):
    raise RuntimeError("kernel exploded\nsecond line")


@variant("stub.wrong_shape", op="softmax")
def wrong_shape(x):
    return x[:, :-1].clone()


@variant("stub.wrong_dtype", op="softmax", dtypes=["fp16"])
def wrong_dtype(x):
    return torch.softmax(x.float(), dim=-1)


@variant("stub.wrong_values", op="softmax")
def wrong_values(x, scale):
    return torch.softmax(x * scale, dim=-1).flip(-1).contiguous()


@variant("stub.wrong_dropout", op="softmax")
def wrong_dropout(x, scale, mask_kind, mask, lengths, dropout, seed):
    """The right masks with torch's own dropout stream, not fa-bench's: a mismatch."""
    y = reference_softmax(x, scale, mask_kind, mask, lengths, 0.0, seed)
    if dropout > 0:
        y = torch.nn.functional.dropout(y, dropout)
    return y


@variant("stub.out_of_resources", op="softmax", params={"BLOCK": [64]})
def out_of_resources(x, BLOCK):
    raise OutOfResources(f"out of resource: shared memory, Required: {BLOCK * 4096}, Hardware limit: 232448")


@variant("stub.static_assert", op="softmax")
def static_assert(x):
    raise CompileTimeAssertionFailure("at 3:4: d2 % BLOCK_2 != 0")


@variant("stub.oom", op="softmax")
def oom(x):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")


@variant("stub.refuses", op="softmax")
def refuses(x, scale, mask_kind, dropout):
    if mask_kind != "none" or dropout > 0:
        raise Unsupported("no masks or dropout in this kernel")
    return torch.softmax(x.float() * scale, dim=-1).to(x.dtype)


def only_small(problem, BLOCK):
    return None if problem["cols"] <= BLOCK else f"cols {problem['cols']} > BLOCK {BLOCK}"


@variant("stub.supports", op="softmax", params={"BLOCK": [8, 1024]}, supports=only_small)
def supports(x, scale, mask_kind, mask, lengths, dropout, seed, BLOCK):
    return reference_softmax(x, scale, mask_kind, mask, lengths, dropout, seed)


def attention_float64(q, k, v, scale, causal):
    """O and lse in float64 torch, causal aligned to the bottom right."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1).double(), v.repeat_interleave(group, 1).double()
    s = (q.double() @ k.transpose(-1, -2)) * scale
    if causal:
        sq, sk = s.shape[-2:]
        s = s.masked_fill(torch.ones(sq, sk, dtype=torch.bool, device=q.device).triu(sk - sq + 1), -math.inf)
    lse = torch.logsumexp(s, -1)
    o = torch.nan_to_num(torch.softmax(s, -1) @ v)  # a query that sees no key: O = 0, lse = -inf
    return o.to(q.dtype), lse.float()


@variant("stub.attention_no_lse", op="attention", dtypes=["fp32"])
def attention_no_lse(q, k, v, scale, causal):
    """O only: validated alone, with a note."""
    return attention_float64(q, k, v, scale, causal)[0]


@variant("stub.attention_lse", op="attention", dtypes=["fp32"], params={"lse_offset": [0.0, 0.5]})
def attention_lse(q, k, v, scale, causal, lse_offset):
    """O and lse; lse_offset 0.5 makes the lse wrong: a mismatch."""
    o, lse = attention_float64(q, k, v, scale, causal)
    return o, lse + lse_offset


VARIANTS = [
    {"name": "stub.listed", "op": "softmax_matmul", "fn": lambda x, v: torch.softmax(x, -1) @ v,
     "description": "declared in VARIANTS"},
]

EXPECTED = {
    "stub.good": ("ok", ""),
    "stub.raises": ("launch_error", "RuntimeError: kernel exploded"),
    "stub.wrong_shape": ("mismatch", "output shape"),
    "stub.wrong_dtype": ("mismatch", "output dtype float32, expected float16"),
    "stub.wrong_values": ("mismatch", "rel_l2"),
    "stub.out_of_resources": ("unsupported", "OutOfResources: out of resource: shared memory"),
    "stub.static_assert": ("unsupported", "CompileTimeAssertionFailure"),
    "stub.oom": ("oom", "out of memory"),
    "stub.listed": ("ok", ""),
}
