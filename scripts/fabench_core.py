#!/usr/bin/env python3
"""The timing and validation core shared by scripts/peers.py (PyTorch's peers) and
scripts/user_kernels.py (a user's Python and Triton kernels): both run over `fa-bench plan` output
and write rows in fa-bench's CSV schema and keys, so their rows and fa-bench's sit in one table.

- inputs: make_inputs, seeded from the problem's seed (never zeros);
- validation: validate, a float64 reference over sampled rows (every row up to the plan's max_rows),
  the plan's tolerance, NaN never passing; attention's log-sum-exp by fa-bench's rule (check_lse);
  softmax with scale, mask and fa-bench's Philox4x32-10 dropout (softmax_reference_rows);
- timing: time_call, fa-bench's timer in PyTorch: warm-up, then per sample a spin kernel holds the
  stream while the L2 flush (L2Flusher: cold = write then read a second buffer, so the L2 is left
  clean; dirty = write only; hot = none), start event, call and stop event are queued, until the
  plan's stopping rule (sampling_done) is met or its time limit runs out;
- timing over phases: time_phases (attention_fwd_bwd: forward then backward, each phase its own
  spin, flush and events);
- the clock rule (ClockWatch, fa-bench's timing.max_clock_drop): each spin, a known count of SM
  cycles, is timed by events of its own, which gives the clock before each sample; a sample whose
  clock (the lower of its own spins' and the next sample's first) is more than max_clock_drop below
  the highest seen is set aside;
- rows: blank_row, fill_timing (median, mean, std, min, samples, status timeout, TFLOP/s, GB/s and
  percent of the calibrated peaks), allow_tf32, load_ceilings, resumed_keys.
Nothing here imports torch at module level: callers pass the module in."""
import csv
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fabench_port import make_sequence_lengths  # noqa: E402

# The calibration ceiling an op's pct_peak_bw divides by, as fa-bench's OpSpec::bandwidth_ceiling:
# decode and generate read far more than they write (the read ceiling), the others move as much as
# a copy.
BANDWIDTH_CEILING = {"decode": "read_gbps", "generate": "read_gbps"}
BACKWARD_OPS = ("attention_bwd", "attention_fwd_bwd")


def torch_dtype(torch, name):
    return {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def distinct_problems(plan):
    """The first case of each problem key, in plan order: its row, timing and validation settings."""
    seen, out = set(), []
    for case in plan["cases"]:
        if case["problem_key"] not in seen:
            seen.add(case["problem_key"])
            out.append(case)
    return out


def decode_lengths(case):
    """The current length of each sequence of a decode case, from the problem's seed."""
    row = case["row"]
    return make_sequence_lengths(row["lengths"] == "mixed", row["batch"], row["seq_q"], row["seq_k"], int(case["seed"]))


def decode_visible(case):
    """visible[b][i]: how many cache tokens query i of sequence b sees (L_b - q_len + i + 1)."""
    q_len = case["row"]["seq_q"]
    return [[length - q_len + i + 1 for i in range(q_len)] for length in decode_lengths(case)]


def make_inputs(torch, case, device="cuda"):
    """Seeded random inputs on `device` (normal, std 1), never zeros. A masked softmax also gets its
    mask ("tensor": uint8 [rows, cols], 1 = kept, about 80% ones, every 7th row (r % 7 == 3) fully
    masked; "lengths": int32 [rows] in [0, cols], 0 on every 7th row): fa-bench's rules drawn from
    torch's generator (the same rule, not the same bits), after x, so x is the plain case's x."""
    row = case["row"]
    gen = torch.Generator(device=device)
    gen.manual_seed(int(case["seed"]) & 0x7FFFFFFFFFFFFFFF)
    dt = torch_dtype(torch, row["dtype"])

    def randn(*shape):
        return torch.randn(*shape, generator=gen, device=device, dtype=torch.float32).to(dt)

    if row["op"] in ("attention", "sparse_attention") + BACKWARD_OPS:
        b, h, kv, sq, sk, d = (row[k] for k in ("batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim"))
        t = {"q": randn(b, h, sq, d), "k": randn(b, kv, sk, d), "v": randn(b, kv, sk, d)}
        if row["op"] in BACKWARD_OPS:  # the output's gradient, seeded as fa-bench's dO
            t["do"] = randn(b, h, sq, d)
        return t
    if row["op"] == "decode":
        b, h, kv, sq, sk, d = (row[k] for k in ("batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim"))
        max_len = row["max_len"]
        t = {"q": randn(b, h, sq, d), "k": randn(b, kv, max_len, d), "v": randn(b, kv, max_len, d)}
        if row["lengths"] == "mixed":
            # An input the caller holds, as the lengths and page table are fa-bench's: made here,
            # outside the timed call, and counted with the inputs. [b, 1, q_len, cache_len], True
            # where query i of sequence b sees token j (j < L_b - q_len + i + 1).
            visible = torch.tensor(decode_visible(case), dtype=torch.int64, device=device)
            t["mask"] = (torch.arange(sk, device=device) < visible[:, :, None])[:, None]
        return t
    if row["op"] == "softmax":
        t = {"x": randn(row["rows"], row["cols"])}
        if row["mask"] in ("tensor", "lengths"):
            every7 = torch.arange(row["rows"], device=device) % 7 == 3
        if row["mask"] == "tensor":
            keep = torch.rand(row["rows"], row["cols"], generator=gen, device=device) < 0.8
            t["mask"] = (keep & ~every7[:, None]).to(torch.uint8)
        elif row["mask"] == "lengths":
            lengths = torch.randint(0, row["cols"] + 1, (row["rows"],), generator=gen, device=device)
            t["lengths"] = torch.where(every7, 0, lengths).to(torch.int32)
        return t
    return {"x": randn(row["batch"], row["rows"], row["cols"]), "v": randn(row["batch"], row["cols"], row["d3"])}


def first_line(e):
    text = str(e).strip()
    for line in text.splitlines():  # Inductor wraps the cause: keep its most telling line
        if "Error" in line or "divisible" in line or "out of resource" in line.lower():
            return line.strip()[:300]
    return (text.splitlines() or [type(e).__name__])[0][:300]


def sampled_rows(total, max_rows, seed):
    """Up to max_rows distinct row indices spread over the whole [0, total) range, seeded."""
    import random

    n = min(total, max_rows)
    if n == total:
        return list(range(total))
    rng = random.Random(seed)
    stride = total / n
    return sorted({min(total - 1, int(i * stride + rng.random() * stride)) for i in range(n)})


def group_sampled_rows(groups, rows_per_group, max_rows, seed):
    """fa-bench's sample_rows (src/ops/validation.cpp): every row when there are at most max_rows,
    else from each group (batch x head) its first and last row and seeded others, about max_rows in
    all (at least two a group, so every group is covered). Python's generator, not fa-bench's: the
    same rule, not the same rows."""
    import random

    total = groups * rows_per_group
    if total <= max_rows:
        return list(range(total))
    per_group = min(max(min(max_rows // groups, rows_per_group), 2), rows_per_group)
    rng = random.Random(seed ^ 0xA5A5A5A5)
    out = []
    for g in range(groups):
        picked = {0, rows_per_group - 1}
        while len(picked) < per_group:
            picked.add(rng.randrange(rows_per_group))
        out.extend(g * rows_per_group + r for r in sorted(picked))
    return out


def validation_rows(case, total):
    """The flat output rows a case's validation checks."""
    row, v = case["row"], case["validation"]
    if row["op"] == "decode":
        return group_sampled_rows(row["batch"] * row["heads"], row["seq_q"], v["max_rows"], int(case["seed"]))
    return sampled_rows(total, v["max_rows"], int(case["seed"]))


def decode_reference_rows(torch, case, t, rows):
    """float64 decode output of the given flat rows (b, head, query i): softmax over the first
    L_b - q_len + i + 1 cache tokens of the head's KV head. K and V are widened once per
    (sequence, KV head), not per row."""
    row = case["row"]
    h, sq, scale = row["heads"], row["seq_q"], row["scale"]
    group = h // row["kv_heads"]
    lengths = decode_lengths(case)
    by_cache = {}
    for at, r in enumerate(rows):
        b, hi, i = r // (h * sq), (r // sq) % h, r % sq
        by_cache.setdefault((b, hi // group), []).append((at, hi, i))
    out = [None] * len(rows)
    for (b, kvh), queries in by_cache.items():
        length = lengths[b]
        k = t["k"][b, kvh, :length].double()
        v = t["v"][b, kvh, :length].double()
        for at, hi, i in queries:
            visible = length - sq + i + 1
            s = (k[:visible] @ t["q"][b, hi, i].double()) * scale
            out[at] = torch.softmax(s, dim=0) @ v[:visible]
    return torch.stack(out)


PHILOX_MUL = (0xD2511F53, 0xCD9E8D57)
PHILOX_WEYL = (0x9E3779B9, 0xBB67AE85)


def philox4x32_10(counter, seed):
    """fa-bench's Philox4x32-10 (kernels/common/philox.h) over a numpy uint64 array of counters:
    c0, c1 = the counter's low and high words, c2 = c3 = 0, key = the seed's words. Returns the four
    uint32 words as uint64 arrays."""
    import numpy as np

    m32 = np.uint64(0xFFFFFFFF)
    counter = np.asarray(counter, dtype=np.uint64)
    c0, c1 = counter & m32, counter >> np.uint64(32)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)
    a, b = np.uint64(PHILOX_MUL[0]), np.uint64(PHILOX_MUL[1])
    for _ in range(10):
        p0, p1 = a * c0, b * c2  # < 2^64: exact in uint64
        hi0, lo0 = p0 >> np.uint64(32), p0 & m32
        hi1, lo1 = p1 >> np.uint64(32), p1 & m32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + np.uint64(PHILOX_WEYL[0])) & m32
        k1 = (k1 + np.uint64(PHILOX_WEYL[1])) & m32
    return c0, c1, c2, c3


def dropout_threshold(p):
    """round(p * 65536), as fa-bench's dropout_threshold: an element is dropped under it."""
    if p <= 0:
        return 0
    t = p * 65536.0 + 0.5
    return 65536 if t >= 65536.0 else int(t)


def dropout_keep(seed, elements, p):
    """fa-bench's dropout decisions (kernels/common/philox.h) for a numpy array of flat element
    indices r * cols + c: element i reads Philox(counter = i / 8), word (i % 8) / 2, its low 16 bits
    for even i and high 16 for odd i, and is kept when they are >= round(p * 65536)."""
    import numpy as np

    elements = np.asarray(elements, dtype=np.uint64)
    words = np.stack(philox4x32_10(elements >> np.uint64(3), int(seed)))
    word = words[(elements >> np.uint64(1)) & np.uint64(3), np.arange(elements.size)]
    bits = np.where(elements & np.uint64(1), word >> np.uint64(16), word & np.uint64(0xFFFF))
    return bits >= np.uint64(dropout_threshold(p))


def softmax_reference_rows(torch, case, t, rows):
    """float64 softmax rows as fa-bench's softmax_reference_row (src/reference/softmax_reference.cpp):
    y = dropout(softmax(scale * x)) over the kept columns (mask none; causal: c <= r mod cols;
    tensor: mask[r, c] != 0; lengths: c < lengths[r]), a row that keeps nothing all zeros, dropout
    by fa-bench's Philox stream from the problem's seed, kept values scaled by 1 / (1 - p)."""
    import numpy as np

    row = case["row"]
    cols, kind, p = row["cols"], row["mask"], float(row["dropout"] or 0)
    x = t["x"].reshape(-1, cols)[rows].double() * float(row["scale"])
    index = torch.tensor(rows, dtype=torch.int64, device=x.device)
    c = torch.arange(cols, device=x.device)
    if kind == "causal":
        keep = c[None, :] <= (index % cols)[:, None]
    elif kind == "tensor":
        keep = t["mask"].reshape(-1, cols)[rows] != 0
    elif kind == "lengths":
        keep = c[None, :] < t["lengths"].reshape(-1)[rows].to(torch.int64)[:, None]
    else:
        keep = torch.ones_like(x, dtype=torch.bool)
    y = torch.softmax(x.masked_fill(~keep, -math.inf), dim=-1)
    y = torch.where(keep.any(dim=-1, keepdim=True), y, torch.zeros_like(y))
    if p > 0:
        elements = (np.asarray(rows, dtype=np.uint64)[:, None] * np.uint64(cols) + np.arange(cols, dtype=np.uint64)[None, :])
        kept = torch.from_numpy(dropout_keep(int(case["seed"]), elements.reshape(-1), p).reshape(len(rows), cols))
        y = torch.where(kept.to(y.device), y / (1.0 - p), torch.zeros_like(y))
    return y


def reference_rows(torch, case, t, rows):
    """float64 reference output for the given flat row indices, as a [len(rows), cols] tensor."""
    row = case["row"]
    if row["op"] == "decode":
        return decode_reference_rows(torch, case, t, rows)
    if row["op"] == "attention":
        b, h, kv, sq, sk, d = (row[k] for k in ("batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim"))
        group = h // kv
        out = []
        for r in rows:
            bi, hi, qi = r // (h * sq), (r // sq) % h, r % sq
            q = t["q"][bi, hi, qi].double()
            k = t["k"][bi, hi // group].double()
            v = t["v"][bi, hi // group].double()
            s = (k @ q) * row["scale"]
            if row["causal"]:
                visible = qi + sk - sq  # keys j <= visible are seen
                s[max(0, visible + 1):] = -math.inf
                if visible < 0:
                    out.append(torch.zeros(d, dtype=torch.float64, device=q.device))
                    continue
            out.append(torch.softmax(s, dim=0) @ v)
        return torch.stack(out)
    if row["op"] == "softmax":
        return softmax_reference_rows(torch, case, t, rows)
    d1 = row["rows"]
    out = []
    for r in rows:
        bi, i = r // d1, r % d1
        out.append(torch.softmax(t["x"][bi, i].double(), dim=0) @ t["v"][bi].double())
    return torch.stack(out)


def output_rows(case, out, rows):
    row = case["row"]
    if row["op"] in ("attention", "decode"):
        return out.reshape(-1, row["head_dim"])[rows]
    if row["op"] == "softmax":
        return out.reshape(-1, row["cols"])[rows]
    return out.reshape(-1, row["d3"])[rows]


def attention_reference_lse(torch, case, t, rows):
    """float64 log-sum-exp of scale * q k^T over each flat row's visible keys (causal: bottom-right
    aligned), -inf where no key is visible, as fa-bench's attention_reference_row."""
    row = case["row"]
    h, sq, sk = row["heads"], row["seq_q"], row["seq_k"]
    group = h // row["kv_heads"]
    out = []
    for r in rows:
        bi, hi, qi = r // (h * sq), (r // sq) % h, r % sq
        visible = qi + sk - sq + 1 if row["causal"] else sk
        if visible <= 0:
            out.append(-math.inf)
            continue
        s = (t["k"][bi, hi // group, :visible].double() @ t["q"][bi, hi, qi].double()) * row["scale"]
        out.append(torch.logsumexp(s, dim=0).item())
    return torch.tensor(out, dtype=torch.float64)


def check_lse(torch, case, t, lse, rows):
    """Attention's log-sum-exp by fa-bench's rule (check_lse in src/ops/validation.cpp): wrong where
    the reference is -inf and it is not -inf, or where it is not finite; else its relative L2 error
    over the sampled rows against the tolerance. Returns (rel_l2, reason)."""
    row, tol = case["row"], case["validation"]["tolerance"]
    expect = (row["batch"], row["heads"], row["seq_q"])
    if tuple(lse.shape) != expect:
        return math.inf, f"lse shape {list(lse.shape)}, expected {list(expect)}"
    got = lse.reshape(-1)[rows].double().cpu()
    ref = attention_reference_lse(torch, case, t, rows)
    idle = torch.isinf(ref)
    bad = int((idle & ~(torch.isinf(got) & (got < 0))).sum().item()) + int((~idle & ~torch.isfinite(got)).sum().item())
    if bad:
        return math.inf, f"lse wrong in {bad} of {len(rows)} checked rows (NaN, or finite where no key is visible)"
    diff, base = (got[~idle] - ref[~idle]).norm().item(), ref[~idle].norm().item()
    rel = diff / base if base > 0 else (0.0 if diff == 0 else math.inf)
    return rel, "" if rel <= tol else f"lse rel_l2 {rel:.3g} > tolerance {tol:.3g} over {len(rows)} rows"


def validate(torch, case, t, out, lse=None):
    """O of attention, decode, softmax and softmax_matmul (and attention's log-sum-exp when given)
    against float64 over the sampled rows: (rel_l2, max_abs, reason), reason empty when it passes."""
    v = case["validation"]
    row = case["row"]
    rows = validation_rows(case, out.numel() // out.shape[-1])
    got = output_rows(case, out, rows).double()
    ref = reference_rows(torch, case, t, rows)
    if not torch.isfinite(out).all():
        return math.inf, math.inf, "output holds NaN or inf"
    diff = got - ref
    ref_norm = ref.norm().item()
    rel = diff.norm().item() / ref_norm if ref_norm > 0 else diff.norm().item()
    max_abs = diff.abs().max().item()
    reason = "" if rel <= v["tolerance"] else f"{row['op']} output rel_l2 {rel:.3g} > tolerance {v['tolerance']:.3g} over {len(rows)} rows"
    if lse is not None and not reason:
        lse_rel, reason = check_lse(torch, case, t, lse, rows)
        rel = max(rel, lse_rel)
    return rel, max_abs, reason


class RunningSamples:
    """Count, sum, mean and squared deviations kept as samples arrive (Welford), as fa-bench's
    timer keeps them: the stopping rule is checked after every sample, so it must not rescan."""

    def __init__(self):
        self.n, self.total, self.mean, self.m2 = 0, 0.0, 0.0, 0.0

    def add(self, x):
        self.n += 1
        self.total += x
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def relative_noise(self):
        """Standard error of the mean over the mean; inf below two samples."""
        if self.n < 2 or self.mean <= 0:
            return math.inf
        return math.sqrt(self.m2 / (self.n - 1)) / (self.mean * math.sqrt(self.n))


def sampling_done(timing, stats):
    """fa-bench's stopping rule: enough samples, enough measured time and little enough noise."""
    return (stats.n >= timing["min_samples"] and stats.total / 1000.0 >= timing["min_time_s"]
            and stats.relative_noise() <= timing["max_noise"])


def l2_mode(timing):
    """A plan case's timing.l2: "hot" when it does not flush; the plan names only "dirty" (so that
    plans of cold sweeps stayed as they were), so a flush without a name is "cold"."""
    if not timing["flush_l2"]:
        return "hot"
    return timing.get("l2", "cold")


class L2Flusher:
    """fa-bench's L2 flush (src/run/timer.hpp). dirty: write twice the L2 (as fa-bench did before,
    and do_bench does), which leaves the L2 full of dirty lines the timed call pays to write back.
    cold: the same write, then a sum over a second buffer of twice the L2, which reads all of it:
    the dirty lines are written back during the flush and the L2 holds clean lines."""

    def __init__(self, torch, l2_bytes):
        self.torch = torch
        size = max(2 * l2_bytes, 1 << 20)
        self.written = torch.empty(size, dtype=torch.uint8, device="cuda")
        self.read = torch.zeros(size // 4, dtype=torch.int32, device="cuda")
        self.total = torch.zeros((), dtype=torch.int64, device="cuda")
        self.value = 0

    def flush(self, mode):
        if mode == "hot":
            return
        self.value ^= 1  # alternate the value so no write can be elided as a repeat
        self.written.fill_(self.value)
        if mode == "cold":
            self.torch.sum(self.read, dim=0, out=self.total)  # into a kept tensor: nothing allocated per sample


SPIN_CYCLES = 200_000  # ~0.1 ms at 2 GHz: enough for an SDPA call's host side


def spin_cycles(host_seconds):
    """How long the spin kernel holds the stream: at least SPIN_CYCLES and three times the host time
    a call takes to queue its work (at 2 GHz; capped at 20 ms), so that a call with a heavier host side
    (torch.compile'd flex_attention checks its guards on every call) is queued before the GPU reaches
    the start event, and its launch cost stays out of the sample as SDPA's does."""
    return int(min(max(SPIN_CYCLES, 3 * host_seconds * 2e9), 40_000_000))


DEFAULT_MAX_CLOCK_DROP = 0.03  # fa-bench's TimingSettings::max_clock_drop; plans name it only when not this
HOLD_CYCLES = 100_000  # ~50 us at 2 GHz: the spin before the timed spin (time_phases)
THROTTLE_PAUSE_S = 0.05  # fa-bench's kThrottlePause (src/run/timer.cpp): idle after a throttled sample


class ClockWatch:
    """fa-bench's ClockWatch (src/run/timer.hpp): the highest SM clock seen in this process, and
    whether a sample's clock is more than max_drop below it. A clock of 0 (not measured) is never
    throttled."""

    def __init__(self):
        self.reference = 0.0

    def seen(self, mhz):
        self.reference = max(self.reference, mhz)

    def throttled(self, mhz, max_drop):
        return 0 < mhz < (1.0 - max_drop) * self.reference


CLOCK_WATCH = ClockWatch()  # one for the process, as fa-bench's


class Timed:
    """A timed case: per kept sample the ms of each phase, whether the time limit cut sampling
    short, the median SM clock of the kept samples (MHz; 0 when not measured) and how many samples
    were set aside for a lowered clock. If every sample was, they are all kept and `throttled`
    counts them, as fa-bench does."""

    def __init__(self, samples, limited, sm_clock_mhz=0.0, throttled=0):
        self.samples, self.limited, self.sm_clock_mhz, self.throttled = samples, limited, sm_clock_mhz, throttled


def clocked(samples, clocks, limited, watch, max_drop):
    """fa-bench's summarize_clocked over samples and their clocks: a Timed of the kept samples."""
    keep = [i for i, c in enumerate(clocks) if not watch.throttled(c, max_drop)]
    if not keep:
        keep = list(range(len(samples)))
        throttled = len(samples)
    else:
        throttled = len(samples) - len(keep)
    mhz = summary([clocks[i] for i in keep])[0] if keep else 0.0
    return Timed([samples[i] for i in keep], limited, mhz, throttled)


def time_phases(torch, phases, timing, flusher, watch=None):
    """fa-bench's timer, in PyTorch (see the module docstring), over a launch of one or more phases
    run in order (attention_fwd_bwd: the forward, then the backward): per sample each phase gets
    its own spin, L2 flush and events, as fa-bench's fwd_bwd pipelines flush between the phases as
    before the first. The stopping rule sees each kept sample's total. Returns a Timed whose
    samples are [ms of each phase] a sample."""
    watch = CLOCK_WATCH if watch is None else watch
    max_drop = timing.get("max_clock_drop", DEFAULT_MAX_CLOCK_DROP)
    host = 0.0
    for i in range(timing["warmup"]):
        for phase in phases:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            phase()
            if i > 0 or timing["warmup"] == 1:
                host = max(host, time.perf_counter() - t0)
    torch.cuda.synchronize()
    spin = spin_cycles(host)
    mode = l2_mode(timing)
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in phases]
    spun = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in phases]

    def spin_mhz(begin, end):  # spin cycles over the spin's own events' ms
        ms = begin.elapsed_time(end)
        return spin / (ms * 1e3) if ms > 0 else 0.0

    samples, clocks, kept, t0 = [], [], RunningSamples(), time.monotonic()
    limited = False

    while not sampling_done(timing, kept):
        if time.monotonic() - t0 >= timing["max_time_s"] and samples:
            limited = True
            break
        for phase, (start, stop), (spin_begin, spin_end) in zip(phases, events, spun):
            # A short spin first, so that the timed spin is queued before the GPU reaches its begin
            # event: otherwise the host's time between the event and the launch (Python, several
            # microseconds) entered the spin's time, and with it 5-10% of noise in the clock.
            torch.cuda._sleep(HOLD_CYCLES)
            spin_begin.record()
            torch.cuda._sleep(spin)  # the GPU spins while the host queues what follows
            spin_end.record()
            flusher.flush(mode)
            start.record()
            phase()
            stop.record()
        events[-1][1].synchronize()
        before = [spin_mhz(b, e) for b, e in spun]
        reference = watch.reference
        for c in before:
            watch.seen(c)
        samples.append([start.elapsed_time(stop) for start, stop in events])
        clocks.append(min(before))
        # The stopping rule counts the samples the clock rule keeps. The previous sample is judged
        # again with this one's first spin, which ran right after it; when that or a higher
        # reference sets aside a sample already counted, the count is made anew.
        recount = watch.reference != reference
        if len(clocks) > 1 and before[0] < clocks[-2]:
            recount |= not watch.throttled(clocks[-2], max_drop) and watch.throttled(before[0], max_drop)
            clocks[-2] = before[0]
        throttled = watch.throttled(clocks[-1], max_drop)
        if recount:
            kept = RunningSamples()
            for sample, c in zip(samples, clocks):
                if not watch.throttled(c, max_drop):
                    kept.add(sum(sample))
        elif not throttled:
            kept.add(sum(samples[-1]))
        if throttled:
            time.sleep(THROTTLE_PAUSE_S)  # let the power cap's average come down, as fa-bench does
    return clocked(samples, clocks, limited, watch, max_drop)


def time_call(torch, call, timing, flusher, watch=None):
    """fa-bench's timer over one call: a Timed whose samples are ms."""
    timed = time_phases(torch, [call], timing, flusher, watch)
    timed.samples = [s[0] for s in timed.samples]
    return timed


def blank_row(columns, case, peer):
    row = {c: "" for c in columns}
    for k, v in case["row"].items():  # written as fa-bench writes them (bools lower case, reals %.6g)
        if v is None:
            row[k] = ""
        elif isinstance(v, bool):
            row[k] = "true" if v else "false"
        elif isinstance(v, float):
            row[k] = f"{v:.6g}"
        else:
            row[k] = str(v)
    row["variant"] = peer
    row["params"] = ""
    row["key"] = f"{case['problem_key']}/{peer}"
    row["tolerance"] = f"{case['validation']['tolerance']:.6g}"
    return row


def summary(samples):
    """Median, mean, standard deviation (n - 1) and minimum of a list of samples, as fa-bench's."""
    xs = sorted(samples)
    n = len(xs)
    median = xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return median, mean, sd, xs[0]


def fill_timing(row, case, timed, ceilings):
    """The timing, throughput and percent-of-peak columns of a row from a Timed whose samples are
    ms: status ok, or timeout when the time limit came before the minimum sample count; the clock
    columns where the plan has them; a reason where every sample was throttled. FLOPs and bytes are
    the plan's (fa-bench's models)."""
    samples, limited = timed.samples, timed.limited
    median, mean, sd, low = summary(samples)
    n = len(samples)
    if timed.sm_clock_mhz > 0 and "sm_clock_mhz" in row:
        row.update(sm_clock_mhz=f"{timed.sm_clock_mhz:.6g}", throttled_samples=str(timed.throttled))
    row.update(status="timeout" if limited and n < case["timing"]["min_samples"] else "ok",
               time_ms_median=f"{median:.6g}", time_ms_mean=f"{mean:.6g}", time_ms_std=f"{sd:.6g}",
               time_ms_min=f"{low:.6g}", samples=str(n))
    if row["status"] == "timeout":
        row["reason"] = f"{n} samples in {case['timing']['max_time_s']} s"
    elif timed.throttled > 0 and timed.throttled == n:  # statistics of throttled samples: said, as fa-bench does
        drop = case["timing"].get("max_clock_drop", DEFAULT_MAX_CLOCK_DROP)
        row["reason"] = f"every sample ran over {100 * drop:g}% below the highest SM clock seen (timing.max_clock_drop)"
    seconds = median / 1000.0
    tflops, gbps = case["flops"] / seconds / 1e12, case["bytes"] / seconds / 1e9
    row["tflops"], row["gbps"] = f"{tflops:.6g}", f"{gbps:.6g}"
    if ceilings:
        ceiling = ceilings.get(BANDWIDTH_CEILING.get(case["row"]["op"], "copy_gbps"))
        if ceiling:
            row["pct_peak_bw"] = f"{100 * gbps / ceiling:.6g}"
        peak = ceilings.get("gemm_tflops", {}).get(case["row"]["dtype"])
        if peak:
            row["pct_peak_flops"] = f"{100 * tflops / peak:.6g}"
    return row


def allow_tf32(torch, dtype):
    """TF32 matmuls (cuBLAS and cuDNN) exactly when fa-bench's dtype is tf32."""
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    torch.backends.cudnn.allow_tf32 = dtype == "tf32"


def percentile(xs, q):
    """Linear interpolation between closest ranks (numpy's default), as fa-bench's generate columns."""
    xs = sorted(xs)
    pos = q / 100 * (len(xs) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (pos - lo) * (xs[hi] - xs[lo])


def load_ceilings(path, gpu_name, prog="peers.py"):
    """The calibrated ceilings of this GPU, or None (no file yet, or none for this GPU). A file that
    is empty, as fa-bench leaves none but `mktemp` does, counts as no calibration; one that is not
    JSON is named in a warning rather than losing the run."""
    if not path or not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    try:
        with open(path) as f:
            return json.load(f).get(gpu_name)
    except (ValueError, AttributeError) as e:
        print(f"{prog}: ignoring calibration {path}: not a fa-bench calibration file ({e})", file=sys.stderr)
        return None


def resumed_keys(path, columns, prog="peers.py"):
    """--resume: the keys of the rows an earlier run wrote to `path` (none when it does not exist), so
    they are not run again and new rows are appended. A file with other columns (another plan, other
    peers' extra columns) is an error, not a silent mix."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return set()
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != columns:
            sys.exit(f"{prog}: --resume: {path} has other columns than this run writes "
                     "(another plan or other peers): give another --output")
        return {r["key"] for r in reader}


# Host stand-ins for a run without a GPU (user_kernels.py --device cpu, the peers' CPU tests):
# events timed on the host clock, and no L2 flush.
class HostEvent:
    def __init__(self, enable_timing=True):
        self.at = 0.0

    def record(self):
        self.at = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, other):
        return (other.at - self.at) * 1e3


class NoFlush:
    def flush(self, mode):
        pass
