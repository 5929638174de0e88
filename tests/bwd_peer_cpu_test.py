#!/usr/bin/env python3
"""The attention_bwd and attention_fwd_bwd peers of scripts/peers.py on the CPU (exit 77, skipped,
without torch), over problems of `fa-bench plan` (fp32; GQA; seq_q == seq_k, <, >; causal or not):
- the float64 reference (attention_reference: O, dQ, dK, dV of any rows) equals torch.autograd
  through a row-by-row float64 attention, rows that see no key included (O = 0, dQ = 0), GQA's
  dK and dV summed over each group;
- validate_backward passes those gradients and fails a perturbed dK row (also with few sampled rows,
  in the last group: every group is covered), a NaN in dV, a perturbed O (attention_fwd_bwd's
  "forward o"), never judging gradients after a wrong O;
- run_peer (attention_bwd) and run_fwd_bwd_peer end to end with SDPA's CPU backends (flash, math),
  the naive path and the backends the CPU has not (efficient, cuDNN: unsupported rows, reason
  "forward: ..."): status, validation, timing and seed 004's columns filled, with host stand-ins for
  torch.cuda's events and a host allocator (a TorchDispatchMode counting live storages) for its
  memory counters: naive attention saves P (quadratic), flash O and the lse only;
- out of memory (torch.cuda.OutOfMemoryError raised by a stub) in the forward and in the backward:
  rows oom with oom(forward) / oom(backward) kept apart, forward_ms filled beside oom(backward).
Usage: bwd_peer_cpu_test.py FA_BENCH_BINARY"""
import contextlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings
import weakref

try:
    import torch
except ImportError:
    print("torch is not installed: skipped")
    sys.exit(77)
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("peers", os.path.join(HERE, "..", "scripts", "peers.py"))
peers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peers)
peers.DEVICE = "cpu"
warnings.filterwarnings("ignore")

from check_tally import check, finish  # noqa: E402


def plan_of(experiments, **top):
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "c.json")
        with open(config, "w") as f:
            json.dump(dict({"name": "bwd-cpu", "experiments": experiments}, **top), f)
        return json.loads(subprocess.run([sys.argv[1], "plan", "--config", config], check=True, capture_output=True,
                                         text=True).stdout)


FAST = {"warmup": 1, "min_samples": 3, "min_time_s": 0.001, "max_noise": 1.0, "max_time_s": 5}
shapes = {"batch": 2, "heads": 4, "kv_heads": [4, 2], "head_dim": 64, "seq_q": [17, 13, 29], "seq_k": [17, 29, 13],
          "zip": [["seq_q", "seq_k"]], "causal": [False, True], "dtype": "fp32"}
plan = plan_of([dict(shapes, op="attention_bwd", variants=["bwd.cpu_reference"]),
                dict(shapes, op="attention_fwd_bwd", variants=["fwd_bwd.cpu_reference"])],
               validation={"max_rows": 100000}, timing=FAST)
problems = peers.distinct_problems(plan)
check(len(problems) == 24, f"24 problems, got {len(problems)}")
check(all(peers.peers_for(c["row"]["op"]) == peers.BACKWARD_PEERS for c in problems)
      and peers.BACKWARD_PEERS == ["torch.sdpa_flash", "torch.sdpa_cudnn", "torch.sdpa_efficient", "torch.sdpa_math",
                                   "torch.naive_attention"], "the four SDPA backends and the naive path")


def autograd_truth(case, t):
    """O, dQ, dK, dV by torch.autograd through a float64 attention computed row by row (query i of
    head h sees keys j <= i + seq_k - seq_q when causal, none: O = 0), independent of peers.py."""
    row = case["row"]
    B, H, KV, sq, sk = (row[x] for x in ("batch", "heads", "kv_heads", "seq_q", "seq_k"))
    group = H // KV
    q, k, v = (t[x].detach().double().requires_grad_() for x in ("q", "k", "v"))
    do = t["do"].double()
    rows = []
    for b in range(B):
        for h in range(H):
            for i in range(sq):
                seen = i + sk - sq + 1 if row["causal"] else sk
                if seen <= 0:
                    rows.append(torch.zeros(row["head_dim"], dtype=torch.float64))
                    continue
                s = (k[b, h // group, :seen] @ q[b, h, i]) * row["scale"]
                rows.append(torch.softmax(s, dim=0) @ v[b, h // group, :seen])
    o = torch.stack(rows).reshape(q.shape)
    dq, dk, dv = torch.autograd.grad((o * do).sum(), (q, k, v))
    return o.detach(), dq, dk, dv


truths = {}
for case in problems:
    key, row = case["problem_key"], case["row"]
    t = peers.make_inputs(torch, case)
    check(set(t) == {"q", "k", "v", "do"} and t["do"].shape == t["q"].shape and t["q"].dtype == torch.float32,
          f"{key}: q, k, v and dO, seeded, in the storage type")
    o, dq, dk, dv = autograd_truth(case, t)
    truths[key] = (t, o, dq, dk, dv)
    q_rows, k_rows = peers.gradient_rows(case)
    n_q, n_k = row["batch"] * row["heads"] * row["seq_q"], row["batch"] * row["kv_heads"] * row["seq_k"]
    check(q_rows == list(range(n_q)) and k_rows == list(range(n_k)), f"{key}: max_rows covers every row")
    ref = peers.attention_reference(torch, case, t, q_rows, k_rows)
    d = row["head_dim"]
    worst = max((ref[name] - want.reshape(-1, d)).abs().max().item() / want.abs().max().item()
                for name, want in (("o", o), ("dq", dq), ("dk", dk), ("dv", dv)))
    check(worst < 1e-12, f"{key}: the float64 reference equals autograd's O, dQ, dK, dV ({worst:.2g})")
    if row["causal"] and row["seq_q"] > row["seq_k"]:
        blind = [r for r in q_rows if r % row["seq_q"] < row["seq_q"] - row["seq_k"]]
        check(blind and ref["o"][blind].abs().max().item() == 0 and ref["dq"][blind].abs().max().item() == 0,
              f"{key}: rows that see no key have O = 0 and dQ = 0")

# Validation: autograd's gradients (in fp32, as a peer returns them) pass; a perturbed output fails,
# named as fa-bench names it; gradients are not judged after a wrong O.
for case in problems[:6]:
    key = case["problem_key"]
    t, o, dq, dk, dv = truths[key]
    grads = tuple(x.float() for x in (dq, dk, dv))
    rel, max_abs, reason = peers.validate_backward(torch, case, t, o.float(), grads)
    check(reason == "" and rel < 1e-6, f"{key}: autograd's gradients pass: {rel} {reason}")
    bad = grads[1].clone()
    bad.view(-1, 64)[5] += 0.5
    reason = peers.validate_backward(torch, case, t, None, (grads[0], bad, grads[2]))[2]
    check(reason.startswith("dk: dk rel_l2") and "> tolerance 0.0001" in reason, f"{key}: a perturbed dK fails: {reason}")
    tol = case["validation"]["tolerance"]
    rel, _, reason = peers.validate_backward(torch, case, t, None, (grads[0], grads[1] * (1 + tol / 3), grads[2]))
    check(reason == "" and abs(rel - tol / 3) < tol / 10, f"{key}: dK off by a third of the tolerance passes: {rel} {reason}")
    rel, _, reason = peers.validate_backward(torch, case, t, None, (grads[0], grads[1], grads[2] * (1 + 3 * tol)))
    check(reason.startswith("dv: dv rel_l2 0.0003") and abs(rel - 3 * tol) < tol / 10,
          f"{key}: dV off by three times the tolerance fails: {rel} {reason}")
    bad = grads[2].clone()
    bad.view(-1)[7] = math.nan
    rel, _, reason = peers.validate_backward(torch, case, t, None, (grads[0], grads[1], bad))
    check(reason.startswith("dv: 1 of") and "NaN" in reason and rel == math.inf, f"{key}: a NaN in dV fails: {reason}")
    bad_o = o.float().clone()
    bad_o.view(-1, 64)[-1] += 0.5  # the last query row sees every key
    bad = grads[1].clone()
    bad.view(-1, 64)[5] += 0.5
    reason = peers.validate_backward(torch, case, t, bad_o, (grads[0], bad, grads[2]))[2]
    check(reason.startswith("forward o: o rel_l2"), f"{key}: a wrong O fails first, as the forward's: {reason}")

# Few sampled rows: each (batch, KV head) still checked; a wrong last key row of the last group fails.
few = plan_of([dict(shapes, op="attention_bwd", variants=["bwd.cpu_reference"], kv_heads=2, causal=False)],
              validation={"max_rows": 8}, timing=FAST)
case = peers.distinct_problems(few)[1]
q_rows, k_rows = peers.gradient_rows(case)
check(len(k_rows) == 8 and k_rows[-1] == 2 * 2 * case["row"]["seq_k"] - 1 and len(q_rows) == 16,
      f"two rows a group (first and last): {k_rows}")
t = peers.make_inputs(torch, case)
_, dq, dk, dv = autograd_truth(case, t)
check(peers.validate_backward(torch, case, t, None, (dq.float(), dk.float(), dv.float()))[2] == "",
      "autograd's gradients pass over the sampled rows")
bad = dk.float().clone()
bad.view(-1, 64)[-1] += 1.0
reason = peers.validate_backward(torch, case, t, None, (dq.float(), bad, dv.float()))[2]
check(reason.startswith("dk: dk rel_l2") and "over 8 rows" in reason, f"the last group's last key row is checked: {reason}")

# Host stand-ins for torch.cuda: events timed on the host, no L2 flush, and an allocator: live bytes
# of the storages made under a TorchDispatchMode (views share theirs), its high-water mark since the
# last reset.
class HostAllocator(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.live, self.now, self.peak = {}, 0, 0

    def _free(self, key):
        n, refs = self.live[key]
        if refs == 1:
            del self.live[key]
            self.now -= n
        else:
            self.live[key] = (n, refs - 1)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for x in tree_flatten(out)[0]:
            if isinstance(x, torch.Tensor):
                storage = x.untyped_storage()
                key = storage.data_ptr()
                n, refs = self.live.get(key, (storage.nbytes(), 0))
                if refs == 0:
                    self.now += n
                    self.peak = max(self.peak, self.now)
                self.live[key] = (n, refs + 1)
                weakref.finalize(x, self._free, key)
        return out


allocator = HostAllocator()
cuda = torch.cuda
cuda.empty_cache = cuda.synchronize = lambda: None
cuda.reset_peak_memory_stats = lambda: setattr(allocator, "peak", allocator.now)
cuda.memory_allocated = lambda: allocator.now
cuda.max_memory_allocated = lambda: allocator.peak
cuda.Event, cuda._sleep = peers.fabench_core.HostEvent, lambda cycles: None
columns = plan["columns"]
for column in ("forward_ms", "forward_ms_std", "backward_ms", "backward_ms_std", "forward_peak_MiB",
               "backward_peak_MiB", "saved_activations_MiB", "fwd_bwd_status"):
    check(column in columns, f"the plan carries attention_fwd_bwd's column {column}")


def tracked(case):
    """Whether the host allocator can watch a case: SDPA's causal_lower_right (seq_q != seq_k) is a
    tensor subclass that cannot be made under a TorchDispatchMode."""
    r = case["row"]
    return not (r["causal"] and r["seq_q"] != r["seq_k"])


def run(case, peer):
    fn = peers.run_fwd_bwd_peer if case["row"]["op"] == "attention_fwd_bwd" else peers.run_peer
    with allocator if tracked(case) else contextlib.nullcontext():
        return fn(torch, case, peer, columns, "cpu", None, peers.fabench_core.NoFlush())


def ge(mib_bytes, want):
    """a >= b for a MiB column (6 significant digits) read back in bytes."""
    return mib_bytes >= want * (1 - 1e-5)


for case in problems:
    key, r = case["problem_key"], case["row"]
    blind = r["causal"] and r["seq_q"] > r["seq_k"]  # rows that see no key: the naive softmax gives NaN
    for peer in peers.BACKWARD_PEERS:
        row = run(case, peer)
        what = f"{key} {peer}: {row['status']} {row['reason']}"
        check(list(row) == columns and row["key"] == f"{key}/{peer}" and row["variant"] == peer, f"{what}: the row's key")
        if peer in ("torch.sdpa_cudnn", "torch.sdpa_efficient"):  # no such backend on the CPU
            check(row["status"] == "unsupported" and row["reason"].startswith("forward: No viable backend"), what)
            if r["op"] == "attention_fwd_bwd":
                check(row["fwd_bwd_status"] == "unsupported", what)
            continue
        if peer == peers.NAIVE_PEER and blind:
            check(row["status"] == "mismatch" and "NaN" in row["reason"], f"{what}: naive softmax over no key is NaN")
            continue
        ok = (row["status"] == "ok" and float(row["rel_l2_err"]) < 1e-5 and int(row["samples"]) >= 3
              and float(row["tflops"]) > 0 and float(row["time_ms_median"]) > 0
              and (float(row["peak_mem_mib"]) > 0 or not tracked(case)))
        check(ok, f"{what}: validated and timed")
        if r["op"] == "attention_fwd_bwd":
            check(all(row[c] != "" for c in ("forward_peak_MiB", "backward_peak_MiB", "saved_activations_MiB")),
                  f"{what}: seed 004's memory columns filled")
            filled = all(row[c] != "" and float(row[c]) >= 0 for c in ("forward_ms", "forward_ms_std", "backward_ms",
                                                                        "backward_ms_std"))
            check(filled and float(row["forward_ms"]) > 0 and float(row["backward_ms"]) > 0
                  and row["fwd_bwd_status"] == "ok", f"{what}: seed 004's time columns filled")
            if not tracked(case):
                continue
            mb = 2 ** 20
            qb = r["batch"] * r["heads"] * r["seq_q"] * r["head_dim"] * 4
            kb = r["batch"] * r["kv_heads"] * r["seq_k"] * r["head_dim"] * 4
            pb = r["batch"] * r["heads"] * r["seq_q"] * r["seq_k"] * 4
            fwd, bwd, saved = (float(row[c]) * mb for c in ("forward_peak_MiB", "backward_peak_MiB", "saved_activations_MiB"))
            check(ge(fwd, 2 * qb + 2 * kb) and ge(bwd, 3 * qb + 4 * kb) and ge(bwd, fwd - qb) and ge(saved, qb),
                  f"{what}: forward peak holds Q, K, V, O ({fwd:.0f}); backward's Q, K, V, dO, dQ, dK, dV ({bwd:.0f}); "
                  f"saved at least O ({saved:.0f})")
            if peer == peers.NAIVE_PEER:
                check(ge(saved, qb + pb), f"{what}: the naive path saves P ({saved:.0f} >= O + P = {qb + pb})")
            if peer == "torch.sdpa_flash":
                lse = r["batch"] * r["heads"] * r["seq_q"] * 4
                check(ge(saved, qb) and saved <= qb + lse + 4096, f"{what}: flash saves O and the lse ({saved:.0f})")

# A long enough case that P dominates: naive's saved activations grow with seq_q x seq_k, flash's not.
long_plan = plan_of([{"op": "attention_fwd_bwd", "variants": ["fwd_bwd.cpu_reference"], "dtype": "fp32", "batch": 1,
                      "heads": 2, "head_dim": 64, "seq_len": [128, 512]}], timing=FAST, validation={"max_rows": 64})
saved = {(c["row"]["seq_q"], p): float(run(c, p)["saved_activations_MiB"]) for c in peers.distinct_problems(long_plan)
         for p in ("torch.sdpa_flash", peers.NAIVE_PEER)}
check(saved[512, peers.NAIVE_PEER] > 10 * saved[128, peers.NAIVE_PEER] and
      saved[512, "torch.sdpa_flash"] < 5 * saved[128, "torch.sdpa_flash"] and
      saved[512, "torch.sdpa_flash"] < saved[512, peers.NAIVE_PEER] / 4,
      f"naive's saved activations quadratic in seq, flash's linear: {saved}")

# Out of memory, simulated: the forward (naive path) or the backward (autograd.grad) raises
# torch.cuda.OutOfMemoryError. The sweep goes on with a row; the phase is kept apart.
fwd_bwd_case = next(c for c in problems if c["row"]["op"] == "attention_fwd_bwd" and not c["row"]["causal"])
bwd_case = next(c for c in problems if c["row"]["op"] == "attention_bwd" and not c["row"]["causal"])


def oom(*args, **kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB")


naive, grad = peers.naive_attention, torch.autograd.grad
try:
    peers.naive_attention = oom
    row = run(fwd_bwd_case, peers.NAIVE_PEER)
    check(row["status"] == "oom" and row["fwd_bwd_status"] == "oom(forward)" and row["reason"].startswith("forward: CUDA out")
          and row["forward_ms"] == row["backward_ms"] == row["time_ms_median"] == "",
          f"oom in the forward: oom(forward), no times: {row['status']} {row['fwd_bwd_status']} {row['reason']}")
    row = run(bwd_case, peers.NAIVE_PEER)
    check(row["status"] == "oom" and row["reason"].startswith("forward: CUDA out"),
          f"attention_bwd: oom in its forward says so: {row['reason']}")
    peers.naive_attention = naive
    torch.autograd.grad = oom
    for peer in (peers.NAIVE_PEER, "torch.sdpa_math"):
        row = run(fwd_bwd_case, peer)
        check(row["status"] == "oom" and row["fwd_bwd_status"] == "oom(backward)"
              and row["reason"].startswith("backward: CUDA out") and float(row["forward_ms"]) > 0
              and row["forward_ms_std"] != "" and float(row["forward_peak_MiB"]) > 0
              and float(row["saved_activations_MiB"]) > 0 and row["backward_ms"] == row["backward_peak_MiB"] == ""
              and row["time_ms_median"] == row["tflops"] == "",
              f"{peer}: oom in the backward: oom(backward), the forward still timed: {row}")
        row = run(bwd_case, peer)
        check(row["status"] == "oom" and row["reason"].startswith("backward: CUDA out") and row["time_ms_median"] == "",
              f"{peer}: attention_bwd's backward oom is a row: {row['status']} {row['reason']}")
finally:
    peers.naive_attention, torch.autograd.grad = naive, grad
row = run(fwd_bwd_case, peers.NAIVE_PEER)
check(row["status"] == "ok", f"the stubs are gone: {row['status']} {row['reason']}")

finish()
