#!/usr/bin/env python3
"""PyTorch peers for fa-bench: the same cases, timed the same way, written in fa-bench's CSV schema.

    fa-bench plan --config configs/attention.json -o plan.json
    python3 scripts/peers.py --plan plan.json --output results/attention/peers.csv
    fa-bench report results/attention/attention.csv results/attention/peers.csv --baseline torch.sdpa_flash

The shapes come from `fa-bench plan` (never re-derived here), one peer row per distinct problem
and peer, keyed like fa-bench's own rows (problem key / peer name). Peers:
  attention:       torch.sdpa_flash, torch.sdpa_cudnn, torch.sdpa_efficient, torch.sdpa_math
                   (scaled_dot_product_attention pinned to one backend each)
  softmax:         torch.softmax (plain softmax only: torch has no fused scale/mask/dropout with
                   fa-bench's Philox stream, so those cases are rows with status unsupported)
  softmax_matmul:  torch.softmax_matmul (torch.softmax(x) @ v)
  decode:          torch.sdpa_flash, torch.sdpa_cudnn (see decode below)
  generate:        torch.generate_loop (seed 001's prefill + decode loop: torch.matmul projections,
                   SDPA over the prompt, SDPA over a preallocated cache per step; self-timed like
                   fa-bench's generate.loop, see run_generate_peer; paged cases are unsupported
                   rows, as decode's)
  sparse_attention: torch.flex_attention (torch.compile(flex_attention) over a block mask of the
                   problem's own mask; see sparse_attention below)
  attention_bwd, attention_fwd_bwd: torch.sdpa_flash, torch.sdpa_cudnn, torch.sdpa_efficient,
                   torch.sdpa_math (SDPA's backward through autograd) and torch.naive_attention (seed
                   004's naive path); see attention_bwd below
Timing follows fa-bench's timer: warm-up, then per sample a spin kernel holds the stream while the
L2 flush (the plan's mode: cold = write then read a second buffer, so the L2 is left clean; dirty
= write only; hot = none), start event, call and stop event are queued (launch latency stays out of the sample:
the spin lasts at least three times the host time of a warm-up call), and
sampling stops by the plan's rule (samples, measured time, relative standard error, time limit).
Each output is validated against a float64 reference over sampled rows with the plan's tolerance.
Peak memory is what the allocator held during one call (inputs and outputs included).
Requires PyTorch with CUDA; runs on the GPU machine.

decode (q_len new tokens per sequence against a KV cache; fa-bench's seq_q = q_len, seq_k =
cache_len): q [batch, heads, q_len, d] and a contiguous cache K, V [batch, kv_heads, max_len, d],
seeded as for attention. Sequence b holds L_b tokens and its query i sees tokens t <= L_b - q_len + i;
GQA through enable_gqa. Equal lengths: SDPA over the views k[:, :, :L], v[:, :, :L], no copy, as a
user would slice a cache (flash and cuDNN both take the strided view when L < max_len: checked with
PyTorch 2.11 on an H200, so no .contiguous() anywhere), with causal_lower_right(q_len, L) when
q_len > 1. Mixed lengths: fa-bench's own lengths (a port of its splitmix64 make_sequence_lengths,
from the problem's seed), the cache sliced to the longest (cache_len) and a boolean attn_mask
[batch, 1, q_len, cache_len] (True = attend: padding and the causal part), made with the inputs,
outside the timed call. SDPA then reads every sequence to cache_len, while the plan's bytes count
the current lengths, so a mixed row's GB/s shows what the padding costs. A backend that takes no
mask (flash) refuses: an unsupported row with its message. Paged caches (page_size > 0) are
unsupported rows: SDPA has no paged KV cache. SDPA returns no log-sum-exp, so only O is validated
(fa-bench's decode checks O and lse), over the first and last query row of every batch x head and
seeded others. Bytes and FLOPs are the plan's (fa-bench's models), and pct_peak_bw divides by the
calibration's streaming-read ceiling (read_gbps), as fa-bench's decode rows do; empty without one.

sparse_attention (torch.flex_attention): the mask is fa-bench's, rebuilt by scripts/fabench_port.py
(the same seeded draws, every pattern; the .npy of pattern file read with fa-bench's rules, from the
path the plan names, so run from the directory fa-bench ran in), and a case whose rebuilt mask keeps
another number of scores than the plan's FLOPs count is a mismatch row that runs nothing. A mask_mod
computes the mask from indices or indexes a small tensor (documents, random blocks, files);
create_block_mask builds Flex's block mask at the case's block (64 or 128) once untimed and once
timed (mask_build_ms), eagerly up to 2^29 mask elements and compiled above (the first build
compiles); torch.compile(flex_attention, dynamic=False) is called once with that mask, the plan's
scale, enable_gqa when kv_heads < heads and the log-sum-exp requested (compile_ms: that first
call's wall time, outside the samples); Flex's default tile when it does not divide 64-token
blocks is retried with BLOCK_M = 64, then BLOCK_M = BLOCK_N = 64 (noted). O and lse
are validated against float64 over every batch x head's first, last and seeded rows, plus rows that
keep nothing (fa-bench's convention: O = 0 and lse = -inf; a finite lse there is a mismatch). The
file gains columns compile_ms, mask_build_ms and notes. Bytes and FLOPs are the plan's (kept
scores, as fa-bench counts them).

attention_bwd (the backward alone): Q, K, V (requires_grad) and dO seeded; the peer's forward runs
once outside the samples (SDPA pinned to the backend, causal as the attention peers express it:
is_causal when seq_q == seq_k, else causal_lower_right; enable_gqa when kv_heads < heads; or the
naive path: S = Q K^T * scale materialised, masked, softmax, P V, GQA by repeat_interleave), then
each sample is torch.autograd.grad(O, (Q, K, V), dO, retain_graph=True) under the timer above.
Flash and cuDNN take bf16/fp16 (PyTorch refuses fp32: an unsupported row in its words, "forward:
..."), efficient and math fp32; tf32 runs math and naive with TF32 matmuls, and efficient is
refused (no TF32 mode). dQ (query rows), dK and dV (key rows), each over every batch x head resp.
batch x KV head, are validated against float64 gradients from Q, K, V and dO with fa-bench's rule
(relative L2 per output, NaN or Inf anywhere fails, the first failing output named: "dk: dk rel_l2
..."). attention_fwd_bwd: each launch runs the forward (a new graph) and its backward, each phase
with its own spin, L2 flush and events; forward_ms and backward_ms (with _std) are the phases'
medians, time_ms_* the totals'; forward_peak_MiB, backward_peak_MiB and saved_activations_MiB come
from the allocator on the validated launch (see run_fwd_bwd_peer); fwd_bwd_status keeps
oom(forward) and oom(backward) apart, and after oom(backward) the forward is still timed. O is
validated before the gradients. FLOPs and bytes are the plan's.
"""
import argparse
import csv
import json
import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fabench_port import MaskFileError, SparseMaskPort, SplitMix64, make_sequence_lengths  # noqa: E402,F401
import fabench_core  # noqa: E402
# The timing and validation core, shared with scripts/user_kernels.py (fabench_core.py).
from fabench_core import (BACKWARD_OPS, BANDWIDTH_CEILING, SPIN_CYCLES, L2Flusher, RunningSamples,  # noqa: E402,F401
                          allow_tf32, blank_row, decode_lengths, decode_reference_rows, decode_visible,
                          distinct_problems, fill_timing, first_line, group_sampled_rows, l2_mode, load_ceilings,
                          output_rows, percentile, reference_rows, resumed_keys, sampled_rows, sampling_done,
                          spin_cycles, summary, Timed, time_call, time_phases, torch_dtype, validation_rows)

ATTENTION_PEERS = {
    "torch.sdpa_flash": "FLASH_ATTENTION",
    "torch.sdpa_cudnn": "CUDNN_ATTENTION",
    "torch.sdpa_efficient": "EFFICIENT_ATTENTION",
    "torch.sdpa_math": "MATH",
}
SOFTMAX_PEERS = ["torch.softmax"]
SOFTMAX_MATMUL_PEERS = ["torch.softmax_matmul"]
DECODE_PEERS = ["torch.sdpa_flash", "torch.sdpa_cudnn"]
GENERATE_PEERS = ["torch.generate_loop"]
FLEX_PEERS = ["torch.flex_attention"]
# attention_bwd and attention_fwd_bwd: SDPA's four backends (their backward through autograd) and
# seed 004's naive attention (S = Q K^T * scale materialised, masked, softmax, P V; autograd's
# backward through it).
NAIVE_PEER = "torch.naive_attention"
BACKWARD_PEERS = list(ATTENTION_PEERS) + [NAIVE_PEER]
TF32_EFFICIENT_REASON = ("SDPA's efficient backend has no TF32 mode (its fp32 kernel keeps fp32 accuracy): "
                         "see its fp32 row; torch.sdpa_math and torch.naive_attention run tf32 with TF32 matmuls")
# Columns a file holding FlexAttention rows adds after the plan's (fa-bench's report and compare read
# columns by name and pass over these): the first call's compile time, the block mask's build time,
# and notes (the first build of the block mask, eager or compiling create_block_mask; kernel options).
FLEX_COLUMNS = ["compile_ms", "mask_build_ms", "notes"]
PAGED_REASON = "PyTorch SDPA has no paged KV cache; compare with the contiguous case"
def peers_for(op):
    """The PyTorch peers of an op; none for the others (kv_append), whose cases are passed over."""
    return {"attention": list(ATTENTION_PEERS), "softmax": SOFTMAX_PEERS, "softmax_matmul": SOFTMAX_MATMUL_PEERS,
            "decode": DECODE_PEERS, "generate": GENERATE_PEERS, "sparse_attention": FLEX_PEERS,
            "attention_bwd": BACKWARD_PEERS, "attention_fwd_bwd": BACKWARD_PEERS}.get(op, [])


class Unsupported(Exception):
    pass


def refusal(case, peer):
    """Why a peer cannot run a case at all (before any input is made), or None."""
    row = case["row"]
    if row["op"] == "softmax" and (row["mask"] != "none" or row["dropout"] > 0 or row["scale"] != 1):
        return "torch.softmax peer runs plain softmax only (no fused scale, mask or Philox dropout)"
    if row["op"] in ("decode", "generate") and int(row["page_size"]) > 0:
        return PAGED_REASON
    if row["op"] in BACKWARD_OPS and row["dtype"] == "tf32" and peer == "torch.sdpa_efficient":
        return TF32_EFFICIENT_REASON
    return None


DEVICE = "cuda"  # tests run the FlexAttention and backward paths on "cpu"


def make_inputs(torch, case):
    """Seeded random inputs on DEVICE (fabench_core.make_inputs)."""
    return fabench_core.make_inputs(torch, case, DEVICE)


def sdpa_call(torch, peer, q, k, v, scale, gqa, mask=None, causal=None):
    """A zero-argument function running scaled_dot_product_attention pinned to the peer's backend.
    causal = (seq_q, seq_k) masks causally, aligned to the bottom right as fa-bench's masks are."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    F = torch.nn.functional
    backend = getattr(SDPBackend, ATTENTION_PEERS[peer])
    is_causal = False
    if causal:
        sq, sk = causal
        if sq == sk:
            is_causal = True
        else:  # torch's is_causal is aligned to the top left
            from torch.nn.attention.bias import causal_lower_right

            mask = causal_lower_right(sq, sk)
    kwargs = {"attn_mask": mask, "is_causal": is_causal, "scale": scale}
    if gqa:
        kwargs["enable_gqa"] = True

    def call():
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v, **kwargs)

    return call


def make_call(torch, case, peer, t, extra=None):
    """A zero-argument function running the peer once, or Unsupported with the reason. `extra`
    (a dict) receives columns a peer adds (FlexAttention: compile_ms, mask_build_ms, notes)."""
    row = case["row"]
    reason = refusal(case, peer)
    if reason:
        raise Unsupported(reason)
    if row["op"] == "sparse_attention":
        return flex_call(torch, case, t, {} if extra is None else extra)
    if row["op"] == "attention_bwd":
        return backward_call(torch, case, peer, t)
    if row["op"] == "attention":
        return sdpa_call(torch, peer, t["q"], t["k"], t["v"], row["scale"], row["heads"] != row["kv_heads"],
                         causal=(row["seq_q"], row["seq_k"]) if row["causal"] else None)
    if row["op"] == "decode":
        # Equal lengths: every sequence is cache_len long. Mixed: the longest is, and the mask
        # hides the rest of each shorter one. Either way the cache's first cache_len tokens, a view.
        sq, sk = row["seq_q"], row["seq_k"]
        k, v = t["k"][:, :, :sk], t["v"][:, :, :sk]
        gqa = row["heads"] != row["kv_heads"]
        if row["lengths"] == "mixed":
            return sdpa_call(torch, peer, t["q"], k, v, row["scale"], gqa, mask=t["mask"])
        return sdpa_call(torch, peer, t["q"], k, v, row["scale"], gqa, causal=(sq, sk) if sq > 1 else None)
    if row["op"] == "softmax":
        return lambda: torch.softmax(t["x"], dim=-1)
    return lambda: torch.softmax(t["x"], dim=-1) @ t["v"]


# ---- sparse_attention: torch.flex_attention ------------------------------------------------------
#
# The mask is fa-bench's own, rebuilt in Python (fabench_port.SparseMaskPort: the same seeded draws,
# pinned against fa-bench's masks by tests/sparse_mask_port_test.py) and checked against the plan
# before anything runs: its kept scores must equal the plan's FLOP count / (4 d). A mask_mod
# computes it from indices (window, causal, causal_window, global_window) or indexes a small tensor
# (documents: the document of each key; random and block files: the kept blocks; element files: the
# element mask), and create_block_mask (eager up to EAGER_BLOCK_MASK_ELEMENTS, compiled above, as its
# documentation advises for long sequences) turns it into Flex's block mask at the case's block
# size. The call is torch.compile(flex_attention) with that mask, the plan's scale, enable_gqa where
# kv_heads < heads, and the log-sum-exp returned, so O and lse are both validated, over sampled
# rows of every batch x head and rows that keep nothing.

_port_cache = {}  # problem key -> SparseMaskPort: the last problem's, for the call and its validation
_flex_compiled = {}


def sparse_port(case):
    """The mask port of a sparse_attention case (kept for the last problem only)."""
    key = case["problem_key"]
    if key not in _port_cache:
        _port_cache.clear()
        _port_cache[key] = SparseMaskPort(case["row"], int(case["seed"]))
    return _port_cache[key]


def plan_kept_scores(case):
    """The kept scores fa-bench counted: its FLOPs are 4 d per kept score (src/ops/sparse_attention.cpp)."""
    return round(case["flops"] / (4 * case["row"]["head_dim"]))


def flex_mask_mod(torch, port, device):
    """A FlexAttention mask_mod equal to the port's element mask, and the tensors it reads. Indices
    past seq_q or seq_k (Flex pads the last block) keep nothing and index nothing out of range."""
    sq, sk, off = port.seq_q, port.seq_k, port.seq_k - port.seq_q
    W, G, blk, heads, per_head = port.window, port.global_tokens, port.block, port.heads, port.per_head

    def inside(q, kv):
        return (q < sq) & (kv < sk)

    def mask_index(b, h):
        return b * heads + h if per_head else 0

    if port.source == "ranges":
        def causal(b, h, q, kv):
            return (kv <= q + off) & inside(q, kv)

        def window(b, h, q, kv):
            lo = q + off - W // 2
            return (kv >= lo) & (kv < lo + W) & inside(q, kv)

        def causal_window(b, h, q, kv):
            t = q + off
            return (kv > t - W) & (kv <= t) & inside(q, kv)

        def global_window(b, h, q, kv):
            t = q + off
            lo = t - W // 2
            return (((kv >= lo) & (kv < lo + W)) | (kv < G) | ((t >= 0) & (t < G))) & inside(q, kv)

        return {"causal": causal, "window": window, "causal_window": causal_window,
                "global_window": global_window}[port.pattern], {}
    import numpy as np

    if port.source == "documents":
        doc = torch.from_numpy(np.stack(port.doc_ids)).to(device)  # [masks, seq_k] int32

        def documents(b, h, q, kv):
            t = q + off
            same = doc[mask_index(b, h), t.clamp(0, sk - 1)] == doc[mask_index(b, h), kv.clamp(0, sk - 1)]
            return (t >= 0) & same & inside(q, kv)

        return documents, {"mask_doc_ids": doc}
    bits = torch.from_numpy(np.stack(port.bits).astype(np.uint8)).to(device)  # [masks, rows, cols]
    if port.source == "blocks":
        def blocks(b, h, q, kv):
            kept = bits[mask_index(b, h), q.clamp(0, sq - 1) // blk, kv.clamp(0, sk - 1) // blk]
            return (kept != 0) & inside(q, kv)

        return blocks, {"mask_block_bits": bits}

    def elements(b, h, q, kv):
        return (bits[mask_index(b, h), q.clamp(0, sq - 1), kv.clamp(0, sk - 1)] != 0) & inside(q, kv)

    return elements, {"mask_element_bits": bits}


# create_block_mask runs eagerly (it evaluates the mask_mod over every (query, key) pair at once)
# while that dense mask has at most this many elements a build: compiled, its first call per
# mask_mod took 46 s at seq 8192 and 225 s at 16384 on an H200 (PyTorch 2.11,
# results/h200/sparse_16k_d5324fb9d103), longer than the cases it builds for; eagerly a 16384 x
# 16384 build holds a few GB of the GPU for an instant. Larger builds (longer sequences, or per-head
# masks of batch x heads such) are compiled, as FlexAttention's documentation advises for them. So
# mask_build_ms is an eager build's time up to the limit (3-9 ms at 16384 on an H200) and a compiled
# one's above it (0.2-0.7 ms there, once compiled): the notes say which.
EAGER_BLOCK_MASK_ELEMENTS = 1 << 29


def flex_functions(torch):
    """torch.compile(flex_attention) and torch.compile(create_block_mask), made once: static shapes
    (dynamic=False: each shape gets its own kernel, as a user's fixed-shape model does) and a
    recompile limit far above a sweep's shapes, so no case falls back to the unfused eager path; and
    should one still reach it, an error (an unsupported row) rather than Dynamo's silent fallback to
    eager, which would time flex_attention's unfused reference path."""
    if not _flex_compiled:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                     "accumulated_recompile_limit"):
            if hasattr(torch._dynamo.config, name):
                setattr(torch._dynamo.config, name, 1 << 16)
        if hasattr(torch._dynamo.config, "fail_on_recompile_limit_hit"):
            torch._dynamo.config.fail_on_recompile_limit_hit = True
        _flex_compiled["flex"] = torch.compile(flex_attention, dynamic=False)
        _flex_compiled["block_mask"] = torch.compile(create_block_mask, dynamic=False)
    return _flex_compiled["flex"], _flex_compiled["block_mask"]


def synchronize(torch, device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def flex_call(torch, case, t, extra):
    """Builds the block mask (timed twice: the first call, which compiles create_block_mask where it
    is compiled, then mask_build_ms), compiles flex_attention by calling it once (compile_ms, the
    first call's wall time), and returns the call, whose output is (O, lse). A kernel tile that does
    not divide the mask's block (Flex's default BLOCK_M 128 under 64 x 64 mask blocks) is retried
    with BLOCK_M = 64, then BLOCK_M = BLOCK_N = 64, and the options used are noted."""
    row = case["row"]
    device = t["q"].device
    try:
        port = sparse_port(case)
    except (MaskFileError, ValueError) as e:  # a mask file moved or changed since the plan was made
        raise Unsupported(f"the mask cannot be rebuilt: {e}")
    kept, planned = port.kept_total(), plan_kept_scores(case)
    if kept != planned:
        raise PortMismatch(f"the Python mask keeps {kept} scores where fa-bench's keeps {planned}: "
                           "not the same mask, nothing compared")
    flex, build = flex_functions(torch)
    mask_mod, mask_data = flex_mask_mod(torch, port, device)
    t.update(mask_data)  # inputs, counted with q, k and v
    B, H = (row["batch"], row["heads"]) if port.per_head else (None, None)
    eager_build = port.count * row["seq_q"] * row["seq_k"] <= EAGER_BLOCK_MASK_ELEMENTS
    if eager_build:
        from torch.nn.attention.flex_attention import create_block_mask as build
    notes = []
    try:
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            block_mask = build(mask_mod, B, H, row["seq_q"], row["seq_k"], device=device, BLOCK_SIZE=port.block)
            synchronize(torch, device)
            times.append((time.perf_counter() - t0) * 1e3)
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as e:  # noqa: BLE001 (any compile or build failure is a row, not the end of the sweep)
        raise Unsupported(f"create_block_mask: {first_line(e)}")
    extra["mask_build_ms"] = times[1]
    notes.append(f"create_block_mask eager, first call {times[0]:.0f} ms" if eager_build else
                 f"create_block_mask first call (compiles it) {times[0]:.0f} ms")
    extra["notes"] = "; ".join(notes)
    for x in (block_mask.kv_num_blocks, block_mask.kv_indices, block_mask.full_kv_num_blocks,
              block_mask.full_kv_indices):
        if x is not None:
            t[f"block_mask_{len(t)}"] = x
    kwargs = {"block_mask": block_mask, "scale": row["scale"], "enable_gqa": row["heads"] != row["kv_heads"]}
    try:
        from torch.nn.attention.flex_attention import AuxRequest

        kwargs["return_aux"] = AuxRequest(lse=True)
    except ImportError:  # before PyTorch 2.9: return_lse
        kwargs["return_lse"] = True
    q, k, v = t["q"], t["k"], t["v"]

    def call_with(options):
        def call():
            o, aux = flex(q, k, v, kernel_options=options, **kwargs)
            return o, getattr(aux, "lse", aux)

        return call

    error = None
    for options in (None, {"BLOCK_M": 64}, {"BLOCK_M": 64, "BLOCK_N": 64}):
        call = call_with(options)
        try:
            t0 = time.perf_counter()
            out = call()
            synchronize(torch, device)
            extra["compile_ms"] = (time.perf_counter() - t0) * 1e3
            del out
            if options:
                notes.append(f"kernel_options {options} (the default tile does not divide {port.block} x {port.block} blocks)")
            extra["notes"] = "; ".join(notes)
            return call
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:  # noqa: BLE001
            error = e
            if "divisible by BLOCK_M and BLOCK_N" not in str(e):
                break
    raise Unsupported(f"flex_attention: {first_line(error)}")


class PortMismatch(Exception):
    """The Python mask is not fa-bench's: the row is a mismatch, as nothing it measures is comparable."""


def sparse_validation_rows(case, port):
    """fa-bench's rule for attention-shaped outputs (every batch x head's first and last query row
    and seeded others, about max_rows in all), plus up to two rows a batch x head that keep nothing
    (the first and last such), so the convention for them (O = 0, lse = -inf) is checked too."""
    row = case["row"]
    b, h, sq = row["batch"], row["heads"], row["seq_q"]
    rows = set(group_sampled_rows(b * h, sq, case["validation"]["max_rows"], int(case["seed"])))
    empty = {}
    for g in range(b * h):
        m = port.index(g // h, g % h)
        if m not in empty:
            import numpy as np

            idle = np.flatnonzero(port.row_counts(m) == 0)
            empty[m] = [int(idle[0]), int(idle[-1])] if idle.size else []
        rows.update(g * sq + i for i in empty[m])
    return sorted(rows)


def sparse_reference_rows(torch, case, t, rows, port):
    """float64 O and lse of the given flat rows (b, head, query i) over the row's kept keys; a row that
    keeps nothing gives zeros and -inf. K and V are widened once per (batch, KV head)."""
    row = case["row"]
    h, sq, d, scale = row["heads"], row["seq_q"], row["head_dim"], row["scale"]
    group = h // row["kv_heads"]
    device = t["q"].device
    by_kv = {}
    for at, r in enumerate(rows):
        b, hi, i = r // (h * sq), (r // sq) % h, r % sq
        by_kv.setdefault((b, hi // group), []).append((at, hi, i))
    out = torch.zeros(len(rows), d, dtype=torch.float64, device=device)
    lse = torch.full((len(rows),), -math.inf, dtype=torch.float64, device=device)
    for (b, kvh), queries in by_kv.items():
        k, v = t["k"][b, kvh].double(), t["v"][b, kvh].double()
        for at, hi, i in queries:
            keep = torch.from_numpy(port.row(port.index(b, hi), i)).to(device)
            if not bool(keep.any()):
                continue
            s = (k[keep] @ t["q"][b, hi, i].double()) * scale
            lse[at] = torch.logsumexp(s, dim=0)
            out[at] = torch.softmax(s, dim=0) @ v[keep]
    return out, lse


def validate_sparse(torch, case, t, out):
    """O and lse against float64 over sampled rows, with fa-bench's rule (validate_rows and check_lse
    in src/ops/validation.cpp): an lse is wrong where the reference is -inf and it is not -inf, or
    where it is not finite; rel_l2 is the larger of O's and lse's; NaN or Inf anywhere in O fails."""
    v, row = case["validation"], case["row"]
    o, lse = out
    port = sparse_port(case)
    rows = sparse_validation_rows(case, port)
    bad = (~torch.isfinite(o)).sum().item()
    if bad:
        return math.inf, math.inf, f"{bad} of {o.numel()} o elements are NaN or Inf"
    got_o = o.reshape(-1, row["head_dim"])[rows].double()
    got_lse = lse.reshape(-1)[rows].double()
    ref_o, ref_lse = sparse_reference_rows(torch, case, t, rows, port)
    diff = got_o - ref_o
    ref_norm = ref_o.norm().item()
    out_rel = diff.norm().item() / ref_norm if ref_norm > 0 else (0.0 if diff.norm().item() == 0 else math.inf)
    max_abs = diff.abs().max().item() if len(rows) else 0.0
    idle = torch.isinf(ref_lse)
    lse_bad = int((idle & ~(torch.isinf(got_lse) & (got_lse < 0))).sum().item())
    lse_bad += int((~idle & ~torch.isfinite(got_lse)).sum().item())
    finite = ~idle & torch.isfinite(got_lse)
    lse_diff = (got_lse[finite] - ref_lse[finite]).norm().item()
    lse_ref = ref_lse[finite].norm().item()
    lse_rel = lse_diff / lse_ref if lse_ref > 0 else (0.0 if lse_diff == 0 else math.inf)
    rel = max(out_rel, lse_rel)
    tol = v["tolerance"]
    if lse_bad:
        idle_got = sorted({f"{x:g}" for x in got_lse[idle].tolist()})
        reason = (f"lse wrong in {lse_bad} of {len(rows)} checked rows (NaN, or finite where no key is visible; "
                  f"rows that keep nothing got {', '.join(idle_got[:3]) or '-'})")
    elif out_rel > tol:
        reason = f"o rel_l2 {out_rel:.3g} > tolerance {tol:.3g} over {len(rows)} rows"
    elif lse_rel > tol:
        reason = f"lse rel_l2 {lse_rel:.3g} > tolerance {tol:.3g} over {len(rows)} rows"
    else:
        reason = ""
    return rel, max_abs, reason


def validate(torch, case, t, out):
    if case["row"]["op"] == "sparse_attention":
        return validate_sparse(torch, case, t, out)
    if case["row"]["op"] in BACKWARD_OPS:
        return validate_backward(torch, case, t, None, out)
    return fabench_core.validate(torch, case, t, out)


def run_peer(torch, case, peer, columns, gpu_name, ceilings, flusher):
    row = blank_row(columns, case, peer)
    row["gpu"] = gpu_name
    allow_tf32(torch, case["row"]["dtype"])
    t = None
    try:
        reason = refusal(case, peer)
        if reason:  # before any input is made: a paged decode case may ask for tens of GB
            raise Unsupported(reason)
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        t = make_inputs(torch, case)
        extra = {}
        try:
            call = make_call(torch, case, peer, t, extra)
        finally:
            for k, v in extra.items():  # compile and build times, also on a row that goes no further
                if k in row:
                    row[k] = v if isinstance(v, str) else f"{v:.6g}"
        in_bytes = sum(x.numel() * x.element_size() for x in t.values())
        torch.cuda.reset_peak_memory_stats()
        try:
            out = call()
        except RuntimeError as e:  # a backend that cannot run this case says so here
            if "out of memory" in str(e).lower():
                raise
            raise Unsupported(str(e).strip().splitlines()[0][:300])
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        out_bytes = sum(x.numel() * x.element_size() for x in (out if isinstance(out, tuple) else (out,)))
        row["peak_mem_mib"] = f"{peak / 2**20:.6g}"
        row["workspace_mib"] = f"{max(0, peak - in_bytes - out_bytes) / 2**20:.6g}"
        if case["validation"]["enabled"]:
            rel, max_abs, reason = validate(torch, case, t, out)
            row["rel_l2_err"], row["max_abs_err"] = f"{rel:.6g}", f"{max_abs:.6g}"
            if reason:
                row["status"], row["reason"] = "mismatch", reason
                return row
        del out
        timed = time_call(torch, call, case["timing"], flusher)
    except Unsupported as e:
        row["status"], row["reason"] = "unsupported", str(e)
        return row
    except PortMismatch as e:
        row["status"], row["reason"] = "mismatch", str(e)
        return row
    except torch.cuda.OutOfMemoryError as e:
        row["status"], row["reason"] = "oom", str(e).splitlines()[0][:300]
        return row
    finally:
        t = None
        torch.cuda.empty_cache()
    return fill_timing(row, case, timed, ceilings)


# ---- attention_bwd and attention_fwd_bwd: PyTorch's backward --------------------------------------
#
# The inputs are the attention op's (Q, K, V seeded N(0, 1)) and the output's gradient dO (seeded
# too), made with requires_grad on Q, K and V. attention_bwd: the forward runs once, outside the
# samples (the peer's own O and saved tensors, as autograd keeps them), then each sample is
# torch.autograd.grad(O, (Q, K, V), dO, retain_graph=True): the backward alone, under the other
# peers' timer. attention_fwd_bwd: each launch is the forward (a new graph) and then its backward,
# each phase timed on its own (time_phases), with seed 004's memory columns from the validated launch.
# Validation: dQ over sampled query rows, dK and dV over sampled key rows, each covering every
# (batch, head) resp. (batch, KV head), against float64 gradients computed here from Q, K, V and dO
# (fa-bench's rule, src/ops/attention_bwd.cpp: relative L2 per output over its rows, NaN or Inf
# anywhere fails, the first failing output names itself); attention_fwd_bwd checks the forward's
# O first ("forward o: ...", as fa-bench's), and gradients only after a valid O.


def naive_attention(torch, q, k, v, scale, causal):
    """Seed 004's naive attention: S = Q K^T * scale materialised, the causal mask (bottom right:
    query i sees keys j <= i + seq_k - seq_q) filled with -inf, softmax, P V; GQA by repeating each
    KV head over its group (autograd sums their gradients back). A row that sees no key gives NaN,
    as the plain softmax does."""
    group = q.shape[1] // k.shape[1]
    if group > 1:
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    s = (q @ k.transpose(-2, -1)) * scale
    if causal:
        sq, sk = causal
        hidden = torch.ones(sq, sk, dtype=torch.bool, device=q.device).triu(sk - sq + 1)
        s = s.masked_fill(hidden, -math.inf)
    return torch.softmax(s, dim=-1) @ v


def forward_call(torch, case, peer, t):
    """The peer's forward over t's q, k, v (made to require gradients): SDPA pinned to the peer's
    backend, causal as the forward peers express it (is_causal when seq_q == seq_k, else
    causal_lower_right), enable_gqa when kv_heads < heads; or the naive path."""
    row = case["row"]
    q, k, v = (t[name].requires_grad_() for name in ("q", "k", "v"))
    causal = (row["seq_q"], row["seq_k"]) if row["causal"] else None
    if peer == NAIVE_PEER:
        return lambda: naive_attention(torch, q, k, v, row["scale"], causal)
    return sdpa_call(torch, peer, q, k, v, row["scale"], row["heads"] != row["kv_heads"], causal=causal)


def run_phase(torch, phase, call):
    """Runs one phase; a backend that refuses the case (a RuntimeError other than out of memory)
    becomes Unsupported, an out-of-memory error is raised again with the phase named."""
    try:
        return call()
    except torch.cuda.OutOfMemoryError as e:
        raise torch.cuda.OutOfMemoryError(f"{phase}: {first_line(e)}") from None
    except RuntimeError as e:
        raise Unsupported(f"{phase}: {str(e).strip().splitlines()[0][:300]}") from None


def backward_call(torch, case, peer, t):
    """attention_bwd: the forward once (not timed; its O joins the inputs), then a zero-argument
    function running the backward alone, returning (dQ, dK, dV)."""
    q, k, v, do = t["q"], t["k"], t["v"], t["do"]
    o = run_phase(torch, "forward", forward_call(torch, case, peer, t))
    t["o"] = o

    def backward():
        return torch.autograd.grad(o, (q, k, v), grad_outputs=do, retain_graph=True)

    return lambda: run_phase(torch, "backward", backward)


def gradient_rows(case):
    """The flat rows validation checks: query rows of [batch, heads, seq_q] (O and dQ) and key rows of
    [batch, kv_heads, seq_k] (dK and dV), each every group's first and last row and seeded others."""
    row, v = case["row"], case["validation"]
    seed = int(case["seed"])
    return (group_sampled_rows(row["batch"] * row["heads"], row["seq_q"], v["max_rows"], seed),
            group_sampled_rows(row["batch"] * row["kv_heads"], row["seq_k"], v["max_rows"], seed))


REFERENCE_CHUNK = 1 << 24  # float64 scores per chunk of query rows (128 MiB)


def attention_reference(torch, case, t, q_rows, k_rows):
    """float64 O and dQ of the flat query rows q_rows, dK and dV of the flat key rows k_rows, from
    t's q, k, v and do (seed 004's formulas: P = exp(scale Q K^T - lse), D = rowsum(dO * O),
    dV = P^T dO, dP = dO V^T, dS = P * (dP - D), dQ = scale dS K, dK = scale dS^T Q; a KV head's dK
    and dV sum over the query heads of its group). Per (batch, KV head): the lse and D of all the
    group's query rows in chunks (the costly part, a float64 forward), then the sampled rows. A
    query row that sees no key has O = 0 and dQ = 0 (fa-bench's convention)."""
    row = case["row"]
    B, H, KV, sq, sk, d, scale = (row[x] for x in ("batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim", "scale"))
    group, off, causal = H // KV, sk - sq, bool(row["causal"])
    f64 = torch.float64
    device = t["q"].device
    out = {name: torch.zeros(n, d, dtype=f64, device=device)
           for name, n in (("o", len(q_rows)), ("dq", len(q_rows)), ("dk", len(k_rows)), ("dv", len(k_rows)))}
    q_by, k_by = {}, {}
    for at, r in enumerate(q_rows):  # flat query row -> (batch, KV head), row within the group
        b, h, i = r // (H * sq), (r // sq) % H, r % sq
        q_by.setdefault((b, h // group), []).append((at, (h % group) * sq + i))
    for at, r in enumerate(k_rows):
        q_by.setdefault((r // (KV * sk), (r // sk) % KV), [])
        k_by.setdefault((r // (KV * sk), (r // sk) % KV), []).append((at, r % sk))

    def scores(q, k, q_pos, k_pos):
        """scale q k^T, -inf where the causal mask hides key position k_pos[j] from query q_pos[i]."""
        s = (q @ k.T) * scale
        if causal:
            s = s.masked_fill(k_pos[None, :] > (q_pos[:, None] + off), -math.inf)
        return s

    with torch.no_grad():
        for (b, g), queries in q_by.items():
            qg = t["q"][b, g * group:(g + 1) * group].reshape(group * sq, d).to(f64)
            dog = t["do"][b, g * group:(g + 1) * group].reshape(group * sq, d).to(f64)
            k, v = t["k"][b, g].to(f64), t["v"][b, g].to(f64)
            pos_all = torch.arange(group * sq, device=device) % sq
            keys_all = torch.arange(sk, device=device)
            lse = torch.empty(group * sq, dtype=f64, device=device)
            delta = torch.empty(group * sq, dtype=f64, device=device)
            step = max(1, REFERENCE_CHUNK // sk)
            for lo in range(0, group * sq, step):
                s = scores(qg[lo:lo + step], k, pos_all[lo:lo + step], keys_all)
                m = torch.logsumexp(s, dim=-1)
                lse[lo:lo + step] = m
                p = torch.exp(s - torch.where(torch.isfinite(m), m, 0.0)[:, None])  # 0 where nothing is seen
                delta[lo:lo + step] = (dog[lo:lo + step] * (p @ v)).sum(-1)
            safe = torch.where(torch.isfinite(lse), lse, 0.0)
            if queries:
                ats = [a for a, _ in queries]
                idx = torch.tensor([x for _, x in queries], device=device)
                s = scores(qg[idx], k, pos_all[idx], keys_all)
                p = torch.exp(s - safe[idx][:, None])
                ds = p * ((dog[idx] @ v.T) - delta[idx][:, None])
                out["o"][ats] = p @ v
                out["dq"][ats] = scale * (ds @ k)
            keys = k_by.get((b, g), [])
            if keys:
                ats = [a for a, _ in keys]
                idx = torch.tensor([x for _, x in keys], device=device)
                s = scores(qg, k[idx], pos_all, idx)
                p = torch.exp(s - safe[:, None])  # [group * sq, keys]
                ds = p * ((dog @ v[idx].T) - delta[:, None])
                out["dv"][ats] = p.T @ dog
                out["dk"][ats] = scale * (ds.T @ qg)
    return out


def check_output(torch, name, got, rows, ref, tolerance):
    """fa-bench's validate_rows for one output: NaN or Inf anywhere fails; else relative L2 and max
    abs error over the sampled rows, failing above the tolerance. Returns (rel, max_abs, reason)."""
    bad = int((~torch.isfinite(got)).sum().item())
    if bad:
        return math.inf, math.inf, f"{bad} of {got.numel()} {name} elements are NaN or Inf"
    diff = got.detach().reshape(-1, got.shape[-1])[rows].double() - ref
    diff2, ref2 = float((diff * diff).sum().item()), float((ref * ref).sum().item())
    rel = math.sqrt(diff2 / ref2) if ref2 > 0 else (0.0 if diff2 == 0 else math.inf)
    max_abs = float(diff.abs().max().item()) if len(rows) else 0.0
    reason = f"{name} rel_l2 {rel:.3g} > tolerance {tolerance:.3g} over {len(rows)} rows" if rel > tolerance else ""
    return rel, max_abs, reason


def validate_backward(torch, case, t, o, grads):
    """dQ, dK, dV (and O first when given: attention_fwd_bwd) against attention_reference, folded
    as fa-bench folds them: rel_l2 and max_abs the largest, the reason the first failing output's
    ("dk: dk rel_l2 ... > tolerance ..."). Gradients are judged only after a valid O."""
    tol = case["validation"]["tolerance"]
    q_rows, k_rows = gradient_rows(case)
    ref = attention_reference(torch, case, t, q_rows, k_rows)
    parts = [] if o is None else [("forward o", "o", o, q_rows)]
    parts += [(name, name, g, rows) for name, g, rows in zip(("dq", "dk", "dv"), grads, (q_rows, k_rows, k_rows))]
    rel = max_abs = 0.0
    for what, name, got, rows in parts:
        r, m, reason = check_output(torch, name, got, rows, ref[name], tol)
        rel, max_abs = max(rel, r), max(max_abs, m)
        if reason:
            return rel, max_abs, f"{what}: {reason}"
    return rel, max_abs, ""


def nbytes(*tensors):
    return sum(x.numel() * x.element_size() for x in tensors)


def mib(n):
    return f"{n / 2**20:.6g}"


def run_fwd_bwd_peer(torch, case, peer, columns, gpu_name, ceilings, flusher):
    """attention_fwd_bwd: a launch is the peer's forward (a new autograd graph over Q, K, V) and
    then its backward (torch.autograd.grad with dO, freeing the graph), each phase timed on its own
    by time_phases; time_ms_* are the launches' totals and FLOPs the plan's (forward + backward).
    The validated launch (the first) gives seed 004's memory columns, from the allocator, in fa-bench's
    meaning (ops/attention_fwd_bwd.cpp): forward_peak_MiB = the high-water mark during the forward
    less what was allocated before the inputs were made, less dO (not the forward's): Q, K, V, O and
    what the forward saves or uses; backward_peak_MiB = the same during the backward, everything
    included (Q, K, V, dO, O and the saved tensors, dQ, dK, dV, workspace); saved_activations_MiB =
    allocated after the forward less before it (O and what autograd keeps for the backward).
    fwd_bwd_status: ok, oom(forward) (the inputs or the forward), oom(backward), or the status. When
    the backward runs out of memory the forward is still timed alone, so forward_ms and its memory
    columns are filled, as seed 004's OOM(backward) rows are."""
    row = blank_row(columns, case, peer)
    row["gpu"] = gpu_name
    allow_tf32(torch, case["row"]["dtype"])
    timing = case["timing"]
    t = state = None
    phase = ["forward"]  # the phase running, for an out-of-memory error's column
    backward_oom = ""
    try:
        reason = refusal(case, peer)
        if reason:
            raise Unsupported(reason)
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        t = make_inputs(torch, case)
        fwd = forward_call(torch, case, peer, t)
        q, k, v, do = t["q"], t["k"], t["v"], t["do"]
        state = {}

        def forward():
            phase[0] = "forward"
            state["o"] = fwd()

        def backward():
            phase[0] = "backward"
            return torch.autograd.grad(state.pop("o"), (q, k, v), grad_outputs=do)

        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run_phase(torch, "forward", forward)
        torch.cuda.synchronize()
        forward_peak = torch.cuda.max_memory_allocated() - base
        row["forward_peak_MiB"] = mib(forward_peak - nbytes(do))
        row["saved_activations_MiB"] = mib(torch.cuda.memory_allocated() - before)
        o = state["o"]
        torch.cuda.reset_peak_memory_stats()
        try:
            grads = run_phase(torch, "backward", backward)
        except torch.cuda.OutOfMemoryError as e:
            backward_oom = str(e).splitlines()[0][:300]
        if not backward_oom:
            torch.cuda.synchronize()
            backward_peak = torch.cuda.max_memory_allocated() - base
            row["backward_peak_MiB"] = mib(backward_peak)
            peak = max(forward_peak, backward_peak)
            row["peak_mem_mib"] = mib(peak)
            row["workspace_mib"] = mib(max(0, peak - nbytes(q, k, v, do, o, *grads)))
            if case["validation"]["enabled"]:
                rel, max_abs, reason = validate_backward(torch, case, t, o, grads)
                row["rel_l2_err"], row["max_abs_err"] = f"{rel:.6g}", f"{max_abs:.6g}"
                if reason:
                    row.update(status="mismatch", reason=reason, fwd_bwd_status="mismatch")
                    return row
            del grads
            del o
            timed = time_phases(torch, [forward, backward], timing, flusher)
        else:  # the forward alone, each graph dropped: seed 004 reports its time beside OOM(backward)
            del o
            state.clear()
            torch.cuda.empty_cache()
            timed = time_phases(torch, [lambda: (forward(), state.clear())], timing, flusher)
    except Unsupported as e:
        row.update(status="unsupported", reason=str(e), fwd_bwd_status="unsupported")
        return row
    except torch.cuda.OutOfMemoryError as e:
        text = str(e).splitlines()[0][:300]
        if not text.startswith(phase[0] + ":"):
            text = f"{phase[0]}: {text}"
        row.update(status="oom", reason=text, fwd_bwd_status=f"oom({phase[0]})")
        return row
    finally:
        t = state = None
        torch.cuda.empty_cache()
    samples = timed.samples
    forward_ms = [s[0] for s in samples]
    median, _, sd, _ = summary(forward_ms)
    row["forward_ms"], row["forward_ms_std"] = f"{median:.6g}", f"{sd:.6g}"
    if backward_oom:
        row.update(status="oom", reason=backward_oom, fwd_bwd_status="oom(backward)", samples=str(len(samples)))
        return row
    median, _, sd, _ = summary([s[1] for s in samples])
    row["backward_ms"], row["backward_ms_std"] = f"{median:.6g}", f"{sd:.6g}"
    fill_timing(row, case, Timed([sum(s) for s in samples], timed.limited, timed.sm_clock_mhz, timed.throttled),
                ceilings)
    row["fwd_bwd_status"] = row["status"]
    return row



def generate_inputs(torch, case):
    """generate's inputs: prompt and step embeddings N(0, 1), weights N(0, 1) / sqrt(fan in)."""
    row = case["row"]
    gen = torch.Generator(device="cuda")
    gen.manual_seed(int(case["seed"]) & 0x7FFFFFFFFFFFFFFF)
    dt = torch_dtype(torch, row["dtype"])
    b, h, kv, d, m = (row[k] for k in ("batch", "heads", "kv_heads", "head_dim", "d_model"))
    P, T = row["prompt_len"], row["steps"]

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, device="cuda", dtype=torch.float32) * scale).to(dt)

    return {"x_prompt": randn(b, P, m), "x_steps": randn(b, T, m), "wq": randn(m, h * d, scale=m ** -0.5),
            "wk": randn(m, kv * d, scale=m ** -0.5), "wv": randn(m, kv * d, scale=m ** -0.5),
            "wo": randn(h * d, m, scale=(h * d) ** -0.5)}


def generate_once(torch, row, t, cache):
    """One launch of the loop: the prefill, then T steps, each waited for (as fa-bench's
    generate.loop waits). Returns (ttft_ms, [step_ms], total_ms, last q, last o)."""
    F = torch.nn.functional
    b, h, kv, d, m = (row[k] for k in ("batch", "heads", "kv_heads", "head_dim", "d_model"))
    P, T, scale = row["prompt_len"], row["steps"], row["scale"]
    gqa = {"enable_gqa": True} if h != kv else {}
    k_cache, v_cache = cache
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(T + 2)]
    ev[0].record()
    x = t["x_prompt"]
    q = (x @ t["wq"]).view(b, P, h, d).transpose(1, 2)
    k = (x @ t["wk"]).view(b, P, kv, d).transpose(1, 2)
    v = (x @ t["wv"]).view(b, P, kv, d).transpose(1, 2)
    k_cache[:, :, :P] = k
    v_cache[:, :, :P] = v
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, **gqa)
    y = o.transpose(1, 2).reshape(b, P, h * d) @ t["wo"]  # noqa: F841 (y[:, -1] makes the first token)
    ev[1].record()
    ev[1].synchronize()
    for i in range(T):
        xi = t["x_steps"][:, i]
        q = (xi @ t["wq"]).view(b, h, 1, d)
        k = (xi @ t["wk"]).view(b, kv, d)
        v = (xi @ t["wv"]).view(b, kv, d)
        n = P + i + 1
        k_cache[:, :, n - 1] = k
        v_cache[:, :, n - 1] = v
        o = F.scaled_dot_product_attention(q, k_cache[:, :, :n], v_cache[:, :, :n], scale=scale, **gqa)
        y = o.reshape(b, h * d) @ t["wo"]  # noqa: F841
        ev[i + 2].record()
        ev[i + 2].synchronize()
    steps = [ev[i + 1].elapsed_time(ev[i + 2]) for i in range(T)]
    return ev[0].elapsed_time(ev[1]), steps, ev[0].elapsed_time(ev[-1]), q, o


def run_generate_peer(torch, case, peer, columns, gpu_name, ceilings, flusher):
    """torch.generate_loop: fa-bench's generate op as a PyTorch loop, self-timed as generate.loop is:
    the validated launch, warm-up launches, then launches sampled under the plan's stopping rule (the
    L2 flushed before each, outside its events), each sample the launch's total; the last step's
    attention validated against float64 over the final cache."""
    row = blank_row(columns, case, peer)
    row["gpu"] = gpu_name
    r = case["row"]
    b, h, kv, d = r["batch"], r["heads"], r["kv_heads"], r["head_dim"]
    L = r["prompt_len"] + r["steps"]
    timing, mode = case["timing"], l2_mode(case["timing"])
    reason = refusal(case, peer)
    if reason:  # a paged case: the loop below would run a contiguous cache under the paged key
        row["status"], row["reason"] = "unsupported", reason
        return row
    t = cache = None
    try:
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        t = generate_inputs(torch, case)
        cache = (torch.empty(b, kv, L, d, dtype=t["wq"].dtype, device="cuda"),
                 torch.empty(b, kv, L, d, dtype=t["wq"].dtype, device="cuda"))
        torch.cuda.reset_peak_memory_stats()
        try:
            with torch.no_grad():
                _, _, _, q, o = generate_once(torch, r, t, cache)
        except RuntimeError as e:  # SDPA or a GEMM that cannot run this case says so here
            if "out of memory" in str(e).lower():
                raise
            row["status"], row["reason"] = "unsupported", str(e).strip().splitlines()[0][:300]
            return row
        row["peak_mem_mib"] = f"{(torch.cuda.max_memory_allocated() - base) / 2**20:.6g}"
        if case["validation"]["enabled"]:
            group = h // kv
            qd = q.reshape(b, h, d).double()
            kd, vd = cache[0].double(), cache[1].double()
            ref = torch.stack([torch.softmax((kd[bi, hi // group] @ qd[bi, hi]) * r["scale"], dim=0) @ vd[bi, hi // group]
                               for bi in range(b) for hi in range(h)])
            got = o.reshape(b * h, d).double()
            if not torch.isfinite(got).all():
                rel = max_abs = math.inf
            else:
                diff = got - ref
                rel, max_abs = diff.norm().item() / ref.norm().item(), diff.abs().max().item()
            row["rel_l2_err"], row["max_abs_err"] = f"{rel:.6g}", f"{max_abs:.6g}"
            if not rel <= case["validation"]["tolerance"]:
                row["status"] = "mismatch"
                row["reason"] = f"o_last rel_l2 {rel:.3g} > tolerance {case['validation']['tolerance']:.3g} over {b * h} rows"
                return row
        del q, o

        def launch():
            flusher.flush(mode)
            torch.cuda.synchronize()
            with torch.no_grad():
                return generate_once(torch, r, t, cache)[:3]

        for _ in range(timing["warmup"]):
            launch()
        ttfts, steps, totals, stats, t0, limited = [], [], [], RunningSamples(), time.monotonic(), False
        while not sampling_done(timing, stats):
            if time.monotonic() - t0 >= timing["max_time_s"] and stats.n > 0:
                limited = True
                break
            ttft, step_ms, total = launch()
            ttfts.append(ttft)
            steps.extend(step_ms)
            totals.append(total)
            stats.add(total)
    except torch.cuda.OutOfMemoryError as e:
        row["status"], row["reason"] = "oom", str(e).splitlines()[0][:300]
        return row
    finally:
        t = cache = None
        torch.cuda.empty_cache()
    totals.sort()
    n = len(totals)
    median = percentile(totals, 50)
    mean = sum(totals) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in totals) / (n - 1)) if n > 1 else 0.0
    row.update(status="timeout" if limited and n < timing["min_samples"] else "ok",
               time_ms_median=f"{median:.6g}", time_ms_mean=f"{mean:.6g}", time_ms_std=f"{sd:.6g}",
               time_ms_min=f"{totals[0]:.6g}", samples=str(n))
    if row["status"] == "timeout":
        row["reason"] = f"{n} samples in {timing['max_time_s']} s"
    tbt_mean = sum(steps) / len(steps) if steps else 0.0
    metrics = {"ttft_ms": percentile(ttfts, 50)}
    if steps:
        metrics.update(tbt_ms_mean=tbt_mean, tbt_ms_p50=percentile(steps, 50), tbt_ms_p90=percentile(steps, 90),
                       tbt_ms_p99=percentile(steps, 99))
        if tbt_mean > 0:
            metrics["tokens_per_s"] = b * 1000.0 / tbt_mean
    for k, v in metrics.items():
        if k in row:
            row[k] = f"{v:.6g}"
    seconds = median / 1000.0
    tflops, gbps = case["flops"] / seconds / 1e12, case["bytes"] / seconds / 1e9
    row["tflops"], row["gbps"] = f"{tflops:.6g}", f"{gbps:.6g}"
    if ceilings:
        if ceilings.get("read_gbps"):  # generate's op divides by the read ceiling
            row["pct_peak_bw"] = f"{100 * gbps / ceilings['read_gbps']:.6g}"
        peak = ceilings.get("gemm_tflops", {}).get(r["dtype"])
        if peak:
            row["pct_peak_flops"] = f"{100 * tflops / peak:.6g}"
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", required=True, help="JSON from `fa-bench plan --config FILE`")
    ap.add_argument("--output", required=True, help="CSV to write (fa-bench's columns)")
    ap.add_argument("--peers", default=".", help="only peers whose name matches this regular expression")
    ap.add_argument("--experiments", default=".",
                    help="only problems of the plan's experiments whose name matches this regular expression")
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows already in --output, append the others (runs split by --experiments)")
    ap.add_argument("--calibration", default=os.environ.get("FABENCH_CALIBRATION", ""),
                    help="fa-bench calibration JSON for the percent-of-peak columns")
    args = ap.parse_args(argv)
    with open(args.plan) as f:
        plan = json.load(f)
    for key in ("columns", "cases"):
        if key not in plan:
            sys.exit(f"peers.py: {args.plan} has no \"{key}\": is it the output of `fa-bench plan`?")
    try:
        peer_filter = re.compile(args.peers)
        experiment_filter = re.compile(args.experiments)
    except re.error as e:
        sys.exit(f"peers.py: --peers or --experiments is not a regular expression: {e}")
    import warnings

    from python_deps import require

    torch = require("torch", "peers.py")

    # A backend that cannot run a case warns before it raises; the row's reason already says why.
    warnings.filterwarnings("ignore", message=r".*(not used because|fused kernels require|runtime disabled)")
    if not torch.cuda.is_available():
        sys.exit("peers.py: no CUDA device visible to PyTorch")
    gpu_name = torch.cuda.get_device_name(0)
    ceilings = load_ceilings(args.calibration, gpu_name)
    l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 64 << 20)
    flusher = L2Flusher(torch, l2)
    columns = plan["columns"]
    problems = [c for c in distinct_problems(plan) if experiment_filter.search(c["experiment"])]
    todo = [(c, p) for c in problems for p in peers_for(c["row"]["op"]) if peer_filter.search(p)]
    if any(p in FLEX_PEERS for _, p in todo):
        columns = columns + [c for c in FLEX_COLUMNS if c not in columns]
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    done = resumed_keys(args.output, columns) if args.resume else set()
    todo = [(c, p) for c, p in todo if f"{c['problem_key']}/{p}" not in done]
    with open(args.output, "a" if args.resume else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if f.tell() == 0:
            writer.writeheader()
        f.flush()
        for i, (case, peer) in enumerate(todo, 1):
            run = {"generate": run_generate_peer, "attention_fwd_bwd": run_fwd_bwd_peer}.get(case["row"]["op"], run_peer)
            try:
                row = run(torch, case, peer, columns, gpu_name, ceilings, flusher)
            except Exception as e:  # noqa: BLE001 (a row with the reason; the sweep goes on)
                row = blank_row(columns, case, peer)
                row.update(gpu=gpu_name, status="launch_error", reason=f"{type(e).__name__}: {first_line(e)}")
            writer.writerow(row)
            f.flush()  # like fa-bench: every finished row is on disk
            speed = f" {float(row['tflops']):.1f} TFLOP/s" if row["tflops"] else ""
            print(f"[{i}/{len(todo)}] {peer} {case['problem_key']} {row['status']}{speed} {row['reason']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
