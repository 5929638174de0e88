#!/usr/bin/env python3
"""Your own Python and Triton kernels in fa-bench's tables: validated and timed as fa-bench's own.

    fa-bench plan --config configs/softmax_matmul.json -o plan.json
    python3 scripts/user_kernels.py --module examples/triton/softmax_matmul.py --plan plan.json --output user.csv
    fa-bench report results/softmax_matmul/softmax_matmul.csv user.csv

A module declares variants (scripts/fabench_user.py: `@variant(name, op, dtypes, head_dims, params)`
on a function from torch tensors to the op's outputs, or a VARIANTS list of dicts). For every
distinct problem of the plan whose op a variant declares, and every combination of its parameters,
one row in fa-bench's CSV schema, keyed `problem key/variant/NAME=value,...` as fa-bench keys its
own rows, so `fa-bench report`, `compare --by-problem` and scripts/plot.py put them beside
fa-bench's and the PyTorch peers' (scripts/peers.py), with which this runner shares its timing and
validation core (scripts/fabench_core.py):
- seeded inputs (the same tensors peers.py times for the same problem);
- the first call's wall time is `compile_ms` (Triton compiles on a kernel's first call with new
  constexprs; a warm Triton cache, ~/.triton/cache or TRITON_CACHE_DIR, makes it a load), outside
  the samples; the second call is the validated one, its peak memory above the inputs' the row's
  `peak_mem_mib` (inputs and outputs included, as peers.py counts);
- validation against a float64 reference over sampled rows with the plan's tolerance, and the
  log-sum-exp where the kernel returns it (attention);
- timing as fa-bench's timer: warm-up, then per sample a spin kernel holds the stream while the L2
  flush (the plan's mode), start event, call and stop event are queued; the plan's stopping rule.
Nothing stops the sweep: a dtype or head dim not declared, supports() or an `Unsupported` raised by
the kernel, Triton's OutOfResources and compile-time assertions are `unsupported` rows with the
reason; out of memory `oom`; a wrong output shape or dtype, or a result over tolerance, `mismatch`;
any other exception `launch_error`; a CUDA error that poisons the context (an illegal address) is
a `fault` row, and the runner goes on in a fresh process with --resume, as fa-bench does.

Ops: attention, softmax, softmax_matmul, sparse_attention (fa-bench's mask of the problem rebuilt by
fabench_port and handed over as block kinds, the per-query-block list and the element mask;
validated as peers.py's torch.flex_attention) and attention_bwd (o and lse from a float32 forward
made outside the timed call; dQ, dK, dV validated as peers.py's backward peers); what fn receives
and returns: scripts/fabench_user.py, OPS.

`--device cpu` checks a module without a GPU (Triton kernels under TRITON_INTERPRET=1): the same
inputs, validation and rows, timed by the host clock with no L2 flush (the times say nothing).
"""
import argparse
import csv
import importlib.util
import json
import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fabench_core as core  # noqa: E402
import fabench_user  # noqa: E402
from fabench_user import OPS, DeclarationError, Unsupported  # noqa: E402

PROG = "user_kernels.py"
# Columns a file of these rows adds after the plan's (fa-bench's report and compare read columns by
# name): the first call's wall time and notes (what was not validated).
USER_COLUMNS = ["compile_ms", "notes"]
# Exceptions that say the kernel cannot run this configuration (Triton: too much shared memory or
# too many registers; a tl.static_assert on a block size): unsupported, not an error. Matched by
# class name so Triton need not be importable.
UNSUPPORTED_ERRORS = ("OutOfResources", "CompileTimeAssertionFailure", "OutOfResourcesError")
# A CUDA error after which the context is unusable (the next call fails too).
STICKY = re.compile(r"illegal memory access|illegal address|misaligned address|unspecified launch failure|"
                    r"illegal instruction|device-side assert|hardware exception", re.I)


class Fault(Exception):
    pass


def patch_triton_interpreter():
    """Triton 3.6's interpreter (TRITON_INTERPRET=1) turns a loop bound into an int with
    int(ndarray of shape (1,)), which NumPy 2.4 refuses ("only 0-dimensional arrays can be converted
    to Python scalars"): every `for i in range(0, n, BLOCK)` over a runtime n fails. Reads the one
    element instead. Only under TRITON_INTERPRET=1; nothing changes when the interpreter is fine."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        return
    try:
        import triton.runtime.interpreter as interpreter
    except ImportError:
        return
    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None or getattr(original, "fabench_fixed", False):
        return

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))

    patched.fabench_fixed = True
    interpreter._patch_lang_tensor = patched


def load_module(path):
    """Imports a user's module from a file path and returns its variants (DeclarationError names
    what is wrong)."""
    if not os.path.isfile(path):
        raise DeclarationError(f"{path}: no such file")
    name = "fabench_user_module_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)  # a module may import its siblings
    before = len(fabench_user._registry)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        return fabench_user.collect(module, before)
    except DeclarationError as e:
        raise DeclarationError(f"{path}: {e}") from None


def problem_values(case, t=None):
    """The keywords a variant's fn may take: the problem's values (and, given the inputs, softmax's
    mask tensors)."""
    row = case["row"]
    op = row["op"]
    common = {"dtype": row["dtype"]}
    if op == "attention":
        return dict(common, scale=float(row["scale"]), causal=bool(row["causal"]), batch=row["batch"],
                    heads=row["heads"], kv_heads=row["kv_heads"], seq_q=row["seq_q"], seq_k=row["seq_k"],
                    head_dim=row["head_dim"])
    if op == "softmax":
        t = t or {}
        return dict(common, scale=float(row["scale"]), mask_kind=row["mask"], mask=t.get("mask"),
                    lengths=t.get("lengths"), dropout=float(row["dropout"] or 0), seed=int(case["seed"]),
                    rows=row["rows"], cols=row["cols"])
    if op in ("sparse_attention", "attention_bwd"):
        t = t or {}
        out = dict(common, scale=float(row["scale"]), batch=row["batch"], heads=row["heads"], kv_heads=row["kv_heads"],
                   seq_q=row["seq_q"], seq_k=row["seq_k"], head_dim=row["head_dim"])
        if op == "attention_bwd":
            return dict(out, causal=bool(row["causal"]))
        if "mask" in t:
            masks = int(t["mask"].shape[0])
        else:  # for supports(): the port's count (a mask file's shape decides), else the row's
            try:
                import peers

                masks = peers.sparse_port(case).count
            except Exception:  # noqa: BLE001 (the call itself says why the mask cannot be rebuilt)
                masks = row["batch"] * row["heads"] if row["mask_per_head"] and row["pattern"] not in RANGE_PATTERNS else 1
        return dict(out, block=int(row["block"]), masks=masks,
                    block_kind=t.get("block_kind"), kv_num_blocks=t.get("kv_num_blocks"),
                    kv_indices=t.get("kv_indices"), mask=t.get("mask"))
    return dict(common, batch=row["batch"], d1=row["rows"], d2=row["cols"], d3=row["d3"])


RANGE_PATTERNS = ("window", "causal_window", "global_window", "causal")  # one mask for every (batch, head)


def expected_shapes(row):
    """The outputs' shapes, in the order fn returns them (attention's optional lse aside)."""
    op = row["op"]
    if op in ("attention", "sparse_attention"):
        return [(row["batch"], row["heads"], row["seq_q"], row["head_dim"])]
    if op == "attention_bwd":
        kv = (row["batch"], row["kv_heads"], row["seq_k"], row["head_dim"])
        return [(row["batch"], row["heads"], row["seq_q"], row["head_dim"]), kv, kv]
    if op == "softmax":
        return [(row["rows"], row["cols"])]
    return [(row["batch"], row["rows"], row["d3"])]


def sparse_mask_inputs(torch, case, device):
    """The sparse_attention mask in the form fn receives (fabench_user.OPS["sparse_attention"]), from
    fa-bench's mask rebuilt by fabench_port (through peers.py's cache, as the Flex peer builds it):
    a case whose rebuilt mask keeps another number of scores than the plan counts is a mismatch row
    that runs nothing, as the Flex peer's."""
    import numpy as np

    import peers

    try:
        port = peers.sparse_port(case)
    except (peers.MaskFileError, ValueError) as e:  # a mask file moved or changed since the plan was made
        raise Unsupported(f"the mask cannot be rebuilt: {e}") from None
    kept, planned = port.kept_total(), peers.plan_kept_scores(case)
    if kept != planned:
        raise peers.PortMismatch(f"the Python mask keeps {kept} scores where fa-bench's keeps {planned}: "
                                 "not the same mask, nothing compared")
    masks = range(port.count)
    element = np.stack([port.element_mask(m) for m in masks]).astype(np.uint8)
    kind = np.stack([port.classify(m) for m in masks])
    nk = kind.shape[-1]
    order = np.where(kind != 0, np.arange(nk)[None, None, :], nk)
    order.sort(axis=-1)
    indices = np.where(order < nk, order, -1).astype(np.int32)
    return {"mask": torch.from_numpy(element).to(device), "block_kind": torch.from_numpy(kind).to(device),
            "kv_num_blocks": torch.from_numpy((kind != 0).sum(-1).astype(np.int32)).to(device),
            "kv_indices": torch.from_numpy(indices).to(device)}


def attention_forward(torch, q, k, v, scale, causal):
    """attention_bwd's o (input dtype) and lse (float32, -inf where a query sees no key, whose o is 0):
    a float32 forward in chunks of query rows, made outside the timed call."""
    batch, heads, seq_q, d = q.shape
    seq_k, group = k.shape[2], heads // k.shape[1]
    o = torch.empty_like(q)
    lse = torch.empty(batch, heads, seq_q, dtype=torch.float32, device=q.device)
    step = max(1, (1 << 26) // max(seq_k, 1))
    keys = torch.arange(seq_k, device=q.device)
    for b in range(batch):
        for h in range(heads):
            kf, vf = k[b, h // group].float(), v[b, h // group].float()
            for lo in range(0, seq_q, step):
                s = (q[b, h, lo:lo + step].float() @ kf.T) * scale
                if causal:
                    rows = torch.arange(lo, min(seq_q, lo + step), device=q.device)
                    s = s.masked_fill(keys[None, :] > rows[:, None] + (seq_k - seq_q), -math.inf)
                m = torch.logsumexp(s, dim=-1)
                p = torch.exp(s - torch.where(torch.isfinite(m), m, 0.0)[:, None])
                lse[b, h, lo:lo + step] = m
                o[b, h, lo:lo + step] = (p @ vf).to(q.dtype)
    return o, lse


def op_inputs(torch, case, device):
    """The op's tensors (fabench_core.make_inputs, then sparse_attention's mask or attention_bwd's o
    and lse)."""
    t = core.make_inputs(torch, case, device)
    row = case["row"]
    if row["op"] == "sparse_attention":
        t.update(sparse_mask_inputs(torch, case, device))
    elif row["op"] == "attention_bwd":
        t["o"], t["lse"] = attention_forward(torch, t["q"], t["k"], t["v"], float(row["scale"]), bool(row["causal"]))
    return t


def validate(torch, case, t, outs, lse):
    """(rel_l2, max_abs, reason): sparse_attention as the torch.flex_attention peer (O and lse),
    attention_bwd as the backward peers (dQ, dK, dV), the others by fabench_core."""
    import peers

    op = case["row"]["op"]
    if op == "sparse_attention":
        return peers.validate_sparse(torch, case, t, (outs[0], lse))
    if op == "attention_bwd":
        return peers.validate_backward(torch, case, t, None, outs)
    return core.validate(torch, case, t, outs[0], lse)


def refusal(case, v, params):
    """Why variant v cannot run the case at all (before any input is made), or None."""
    row = case["row"]
    if row["dtype"] not in v.dtypes:
        return f"{v.name} takes dtypes {', '.join(v.dtypes)}, not {row['dtype']}"
    if v.head_dims is not None and row["head_dim"] not in v.head_dims:
        return f"{v.name} takes head dims {', '.join(map(str, v.head_dims))}, not {row['head_dim']}"
    if v.supports is not None:
        reason = v.supports(problem_values(case), **params)
        if reason:
            return str(reason)
    return None


WANTS = {"attention": "o or (o, lse)", "sparse_attention": "(o, lse)", "attention_bwd": "(dq, dk, dv)"}


def split_outputs(torch, case, result):
    """([outputs], lse or None) from what fn returned, or a mismatch reason."""
    row = case["row"]
    op = row["op"]
    lse = None
    n = 3 if op == "attention_bwd" else 1
    takes_lse = op in ("attention", "sparse_attention")
    if isinstance(result, (tuple, list)):
        result = list(result)
        if takes_lse and len(result) == 2:
            result, lse = result[:1], result[1]
        elif len(result) != n:
            return None, None, f"returned {len(result)} values; {op} returns {WANTS.get(op, 'one tensor')}"
    else:
        result = [result]
    if op == "sparse_attention" and lse is None:
        return None, None, "returned no lse; sparse_attention returns (o, lse)"
    if len(result) != n:
        return None, None, f"returned 1 value; {op} returns {WANTS.get(op, 'one tensor')}"
    want = core.torch_dtype(torch, row["dtype"])
    names = ("dq", "dk", "dv") if op == "attention_bwd" else ("output",)
    for name, x, expect in zip(names, result, expected_shapes(row)):
        if not isinstance(x, torch.Tensor):
            return None, None, f"returned {type(x).__name__}, not a torch tensor"
        if tuple(x.shape) != expect:
            return None, None, f"{name} shape {list(x.shape)}, expected {list(expect)}"
        if x.dtype != want:
            return None, None, f"{name} dtype {str(x.dtype).replace('torch.', '')}, expected {str(want).replace('torch.', '')}"
    if lse is not None and (not isinstance(lse, torch.Tensor) or lse.dtype != torch.float32):
        return None, None, "lse is not a float32 tensor"
    return result, lse, ""


def cause_chain(e):
    """e, then the exceptions it was raised from (Triton wraps an error inside a @triton.jit helper
    as a CompilationError raised from it), at most 8 deep."""
    chain = []
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__
    return chain


def error_text(e, chain=None):
    """What an exception says, in a line. Triton's compile errors (a tl.static_assert that fails, a
    type error) print where ("at 2:4:"), the source and a caret before their message, so their
    first line alone names no cause: the innermost message in the chain then, and where e is."""
    chain = cause_chain(e) if chain is None else chain
    messages = [m for m in (getattr(x, "error_message", None) for x in chain) if isinstance(m, str) and m.strip()]
    if not messages:
        return core.first_line(e)
    lines = str(e).strip().splitlines()
    where = lines[0].rstrip(":") if lines else ""
    return messages[-1].strip().splitlines()[0][:300] + (f" ({where})" if where.startswith("at ") else "")


def classify(torch, e):
    """(status, reason) of an exception a kernel raised."""
    names = {c.__name__ for c in type(e).__mro__}
    chain = cause_chain(e)
    text = error_text(e, chain)
    # the innermost error that says the kernel cannot run this configuration (also one raised
    # inside a @triton.jit helper, which Triton wraps in a CompilationError)
    cannot = next((x for x in reversed(chain) if {c.__name__ for c in type(x).__mro__} & set(UNSUPPORTED_ERRORS)),
                  None)
    if isinstance(e, Unsupported):
        return "unsupported", str(e) or "unsupported"
    if "PortMismatch" in names:  # the Python mask is not fa-bench's: nothing comparable to measure
        return "mismatch", text
    if cannot is not None:
        return "unsupported", f"{type(cannot).__name__}: {text}"
    if "InterpreterError" in names and isinstance(e.__cause__, AssertionError):  # tl.static_assert, interpreted
        return "unsupported", f"compile-time assertion: {core.first_line(e.__cause__) or 'AssertionError'}"
    if isinstance(e, getattr(torch.cuda, "OutOfMemoryError", ())) or "out of memory" in str(e).lower():
        return "oom", text
    if STICKY.search(str(e)):
        return "fault", f"{type(e).__name__}: {text}"
    return "launch_error", f"{type(e).__name__}: {text}"


def run_case(torch, case, v, params, ptext, columns, gpu_name, ceilings, flusher, device="cuda"):
    """One row: the variant v with one combination of its parameters on one problem."""
    row = core.blank_row(columns, case, v.name)
    row["params"] = ptext
    row["key"] = f"{case['problem_key']}/{v.name}" + (f"/{ptext}" if ptext else "")
    row["gpu"] = gpu_name
    core.allow_tf32(torch, case["row"]["dtype"])
    t = None
    notes = []
    try:
        reason = refusal(case, v, params)
        if reason:
            row["status"], row["reason"] = "unsupported", reason
            return row
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        t = op_inputs(torch, case, device)
        args = [t[name] for name in OPS[v.op]["tensors"]]
        kw = v.call_keywords(problem_values(case, t), params)

        def call():
            return v.fn(*args, **kw)

        torch.cuda.synchronize()
        t0 = time.perf_counter()
        call()  # compiles (Triton: on the first call with new constexprs)
        torch.cuda.synchronize()
        row["compile_ms"] = f"{(time.perf_counter() - t0) * 1e3:.6g}"
        torch.cuda.reset_peak_memory_stats()
        result = call()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        row["peak_mem_mib"] = f"{peak / 2**20:.6g}"
        outs, lse, reason = split_outputs(torch, case, result)
        if reason:
            row["status"], row["reason"] = "mismatch", reason
            return row
        moved = sum(x.numel() * x.element_size() for x in list(t.values()) + outs + ([lse] if lse is not None else []))
        row["workspace_mib"] = f"{max(0, peak - moved) / 2**20:.6g}"
        if v.op == "attention" and lse is None:
            notes.append("no lse returned: O validated alone")
        if case["validation"]["enabled"]:
            rel, max_abs, reason = validate(torch, case, t, outs, lse)
            row["rel_l2_err"], row["max_abs_err"] = f"{rel:.6g}", f"{max_abs:.6g}"
            if reason:
                row["status"], row["reason"] = "mismatch", reason
                return row
        result = outs = lse = None
        timed = core.time_call(torch, call, case["timing"], flusher)
    except Exception as e:  # noqa: BLE001 (every failure is a row; the sweep goes on)
        row["status"], row["reason"] = classify(torch, e)
        if row["status"] == "launch_error":
            try:
                torch.cuda.synchronize()
            except Exception as sticky:  # noqa: BLE001
                row["status"], row["reason"] = "fault", f"{type(sticky).__name__}: {core.first_line(sticky)}"
        return row
    finally:
        if "notes" in row:
            row["notes"] = "; ".join(notes)
        t = None
        if row["status"] != "fault":
            torch.cuda.empty_cache()
    return core.fill_timing(row, case, timed, ceilings)


class _HostCuda:
    """torch.cuda's calls the runner makes, on the host: --device cpu (no memory counters)."""
    Event = core.HostEvent
    OutOfMemoryError = MemoryError

    def __getattr__(self, name):
        if name in ("synchronize", "empty_cache", "reset_peak_memory_stats", "_sleep"):
            return lambda *a, **k: None
        if name in ("memory_allocated", "max_memory_allocated"):
            return lambda *a, **k: 0
        raise AttributeError(name)


class HostTorch:
    """torch with torch.cuda's timing and memory calls on the host, for --device cpu."""

    def __init__(self, torch):
        self._torch = torch
        self.cuda = _HostCuda()

    def __getattr__(self, name):
        return getattr(self._torch, name)


def list_variants(variants):
    for v in variants:
        params = " ".join(f"{k}={'|'.join(map(str, vals))}" for k, vals in v.params.items())
        dims = f" head_dims={','.join(map(str, v.head_dims))}" if v.head_dims else ""
        print(f"{v.name:28} {v.op:15} {','.join(v.dtypes)}{dims} {params}".rstrip())
        if v.description:
            print(f"{'':28} {v.description}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", action="append", required=True, help="a Python file declaring variants (repeatable)")
    ap.add_argument("--plan", help="JSON from `fa-bench plan --config FILE`")
    ap.add_argument("--output", help="CSV to write (fa-bench's columns, then compile_ms and notes)")
    ap.add_argument("--list", action="store_true", help="list the modules' variants and exit")
    ap.add_argument("--variants", default=".", help="only variants whose name matches this regular expression")
    ap.add_argument("--params", default="", help="only parameter settings whose text (BLOCK=32,...) matches this regex")
    ap.add_argument("--experiments", default=".",
                    help="only problems of the plan's experiments whose name matches this regular expression")
    ap.add_argument("--resume", action="store_true", help="keep the rows already in --output, append the others")
    ap.add_argument("--calibration", default=os.environ.get("FABENCH_CALIBRATION", ""),
                    help="fa-bench calibration JSON for the percent-of-peak columns")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                    help="cpu: check a module without a GPU (Triton under TRITON_INTERPRET=1); times mean nothing")
    args = ap.parse_args(argv)
    try:
        filters = [re.compile(x) for x in (args.variants, args.params, args.experiments)]
    except re.error as e:
        sys.exit(f"{PROG}: --variants, --params or --experiments is not a regular expression: {e}")
    patch_triton_interpreter()
    try:
        variants = [v for path in args.module for v in load_module(path)]
    except DeclarationError as e:
        sys.exit(f"{PROG}: {e}")
    if args.list:
        list_variants(variants)
        return 0
    if not args.plan or not args.output:
        sys.exit(f"{PROG}: --plan and --output are required (or --list)")
    with open(args.plan) as f:
        plan = json.load(f)
    for key in ("columns", "cases"):
        if key not in plan:
            sys.exit(f"{PROG}: {args.plan} has no \"{key}\": is it the output of `fa-bench plan`?")
    from python_deps import require

    torch = require("torch", PROG)

    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit(f"{PROG}: no CUDA device visible to PyTorch (--device cpu checks a module without one)")
        gpu_name = torch.cuda.get_device_name(0)
        l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 64 << 20)
        flusher = core.L2Flusher(torch, l2)
        runtime = torch
    else:
        gpu_name, flusher, runtime = "cpu", core.NoFlush(), HostTorch(torch)
    ceilings = core.load_ceilings(args.calibration, gpu_name, PROG)
    columns = plan["columns"] + [c for c in USER_COLUMNS if c not in plan["columns"]]
    problems = [c for c in core.distinct_problems(plan) if filters[2].search(c["experiment"])]
    todo = [(c, v, p, text) for c in problems for v in variants if v.op == c["row"]["op"] and filters[0].search(v.name)
            for p, text in v.expand() if not args.params or filters[1].search(text)]
    if not todo:
        ops = sorted({c["row"]["op"] for c in problems})
        print(f"{PROG}: nothing to run: the plan's ops ({', '.join(ops) or 'none'}) and the variants' "
              f"({', '.join(sorted({v.op for v in variants}))}) and filters leave no case", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    done = core.resumed_keys(args.output, columns, PROG) if args.resume else set()

    def key(c, v, text):
        return f"{c['problem_key']}/{v.name}" + (f"/{text}" if text else "")

    todo = [x for x in todo if key(x[0], x[1], x[3]) not in done]
    with open(args.output, "a" if args.resume else "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if f.tell() == 0:
            writer.writeheader()
        f.flush()
        for i, (case, v, params, text) in enumerate(todo, 1):
            try:
                row = run_case(runtime, case, v, params, text, columns, gpu_name, ceilings, flusher, args.device)
            except Exception as e:  # noqa: BLE001 (the runner's own failure is a row too)
                row = core.blank_row(columns, case, v.name)
                row.update(params=text, key=key(case, v, text), gpu=gpu_name, status="launch_error",
                           reason=f"{type(e).__name__}: {core.first_line(e)}")
            writer.writerow(row)
            f.flush()  # like fa-bench: every finished row is on disk
            speed = f" {float(row['tflops']):.1f} TFLOP/s {float(row['gbps']):.0f} GB/s" if row["tflops"] else ""
            print(f"[{i}/{len(todo)}] {v.name} {text} {case['problem_key']} {row['status']}{speed} {row['reason']}",
                  flush=True)
            if row["status"] == "fault" and i < len(todo):
                # The CUDA context is gone: the others run in a fresh process that skips the rows written.
                f.close()
                print(f"{PROG}: CUDA fault; going on in a fresh process with --resume", file=sys.stderr, flush=True)
                argv_next = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--resume"] + ["--resume"]
                os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + argv_next)
    return 0


if __name__ == "__main__":
    sys.exit(main())
