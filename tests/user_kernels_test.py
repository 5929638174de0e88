#!/usr/bin/env python3
"""scripts/user_kernels.py and its module API (scripts/fabench_user.py); exit 77 (skipped) without torch.

- declarations: the decorator and a VARIANTS list, parameter expansion (the cartesian product in the
  order written, fa-bench's NAME=value text), and every bad declaration an error naming the variant
  and the field;
- fabench_core's Philox4x32-10 and dropout decisions against values printed by fa-bench's own
  kernels/common/philox.h;
- the runner over `fa-bench plan` output with stub kernels (tests/data/user_kernels_stubs.py): the
  right status row for a kernel that raises, returns a wrong shape or dtype, wrong values, a wrong
  dropout stream, a wrong lse, raises an OutOfResources- or compile-time-assertion-like error, runs
  out of memory, refuses a case or is not declared for its dtype; keys, columns, --resume, --list;
  the sweep completes;
- sparse_attention and attention_bwd with stub kernels (tests/data/user_kernels_sparse_bwd_stubs.py):
  the mask forms handed over agree with fa-bench's mask, and wrong kernels are mismatch rows;
- with Triton installed, the shipped examples (examples/triton/) in the interpreter (TRITON_INTERPRET=1)
  on small odd shapes: every row ok (bf16 is left out on the CPU: the interpreter's tl.dot
  misreads bf16), and Triton kernels that fail a tl.static_assert are unsupported rows.
With --device cuda (a GPU machine: ctest -L gpu), the same on the GPU, compiled, with bf16, and a
tile too large for shared memory (Triton's real OutOfResources) as an unsupported row.
Usage: user_kernels_test.py FA_BENCH_BINARY [--device cuda]"""
import contextlib
import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout

try:
    import torch
except ImportError:
    print("torch is not installed: skipped")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPTS = os.path.join(ROOT, "scripts")
sys.path.insert(0, SCRIPTS)
import fabench_core  # noqa: E402
import fabench_user  # noqa: E402
import user_kernels  # noqa: E402
from fabench_user import DeclarationError, check_declaration  # noqa: E402

FA_BENCH = sys.argv[1]
DEVICE = "cuda" if "--device" in sys.argv and sys.argv[sys.argv.index("--device") + 1] == "cuda" else "cpu"
if DEVICE == "cuda" and not torch.cuda.is_available():
    print("no CUDA device: skipped")
    sys.exit(77)
from check_tally import check, finish, summary  # noqa: E402


def declaration_error(decl):
    try:
        check_declaration(decl)
    except DeclarationError as e:
        return str(e)
    return ""


# ---- declarations --------------------------------------------------------------------------------
def fa(q, k, v, scale, causal, BLOCK_M, BLOCK_N):
    return q


v = check_declaration({"name": "triton.my_fa2", "op": "attention", "fn": fa, "dtypes": ["bf16", "fp16"],
                       "head_dims": [64, 128], "params": {"BLOCK_M": [64, 128], "BLOCK_N": [16, 32, 64]}})
expanded = v.expand()
check([t for _, t in expanded] == [f"BLOCK_M={m},BLOCK_N={n}" for m in (64, 128) for n in (16, 32, 64)],
      f"parameter expansion: the cartesian product in the order written, the last fastest: {expanded}")
check(expanded[1][0] == {"BLOCK_M": 64, "BLOCK_N": 32}, "expansion gives the parameter values")
check(v.call_keywords({"scale": 0.5, "causal": True, "dtype": "bf16", "seq_q": 3}, {"BLOCK_M": 64, "BLOCK_N": 16})
      == {"scale": 0.5, "causal": True, "BLOCK_M": 64, "BLOCK_N": 16}, "fn gets only the keywords it names")
check(fabench_user.params_text({"a": True, "b": 0.5, "c": "x"}) == "a=true,b=0.5,c=x", "bools lower case, reals %g")
check(check_declaration({"name": "x.plain", "op": "softmax", "fn": lambda x, **kw: x}).expand() == [({}, "")],
      "no parameters: one case, no parameter text")
check(check_declaration({"name": "x.dt", "op": "softmax", "fn": lambda x: x, "dtypes": "fp32"}).dtypes == ["fp32"],
      "a dtype alone is a list of one")

bad = [
    ({"name": "x", "op": "softmax", "fn": fa, "colour": 1}, ["colour", "unknown field"]),
    ({"name": "x", "op": "softmax"}, ["fn", "missing"]),
    ({"op": "softmax", "fn": fa}, ["name", "missing"]),
    ({"name": "bad name/slash", "op": "softmax", "fn": fa}, ["name", "bad name/slash"]),
    ({"name": "x", "op": "convolution", "fn": fa}, ["'x'", "op", "convolution", "attention, softmax, softmax_matmul"]),
    ({"name": "x", "op": "softmax", "fn": 3}, ["fn", "not callable"]),
    ({"name": "x", "op": "softmax", "fn": lambda x: x, "dtypes": ["fp32", "bf17"]}, ["dtypes", "bf17", "fp32, tf32, fp16, bf16"]),
    ({"name": "x", "op": "softmax", "fn": lambda x: x, "dtypes": []}, ["dtypes", "non-empty"]),
    ({"name": "x", "op": "softmax", "fn": lambda x: x, "head_dims": [64]}, ["head_dims", "only attention"]),
    ({"name": "x", "op": "attention", "fn": fa, "head_dims": [64, -1],
      "params": {"BLOCK_M": [1], "BLOCK_N": [1]}}, ["head_dims", "positive ints"]),
    ({"name": "x", "op": "attention", "fn": fa, "params": {"BLOCK_M": [], "BLOCK_N": [16]}}, ["params['BLOCK_M']", "no values"]),
    ({"name": "x", "op": "attention", "fn": fa, "params": {"BLOCK_M": [16], "BLOCK_N": [16], "BLOCK_K": [16]}},
     ["params['BLOCK_K']", "fa() takes no argument 'BLOCK_K'"]),
    ({"name": "x", "op": "attention", "fn": fa, "params": {"BLOCK_M": [16]}},
     ["fn", "fa() needs 'BLOCK_N'", "neither one of attention's values"]),
    ({"name": "x", "op": "attention", "fn": lambda q, k, v, scale, **kw: q, "params": {"scale": [1.0]}},
     ["params['scale']", "already one of attention's inputs"]),
    ({"name": "x", "op": "attention", "fn": fa, "params": {"BLOCK_M": [16, 16], "BLOCK_N": [16]}}, ["repeats a value"]),
    ({"name": "x", "op": "attention", "fn": fa, "params": {"BLOCK_M": [[16]], "BLOCK_N": [16]}}, ["not an int, float"]),
    ({"name": "x", "op": "attention", "fn": fa, "params": {"BLOCK-M": [16], "BLOCK_N": [16]}}, ["identifier"]),
    ({"name": "x", "op": "softmax_matmul", "fn": lambda x: x}, ["fn", "takes 1 positional", "2 tensors (x, v)"]),
    ({"name": "x", "op": "softmax", "fn": lambda x: x, "supports": "yes"}, ["supports", "not callable"]),
    ("triton.fa2", ["a dict of fields"]),
]
for decl, pieces in bad:
    msg = declaration_error(decl)
    check(msg and all(p in msg for p in pieces), f"bad declaration {decl!r}: error {msg!r} should name {pieces}")

with tempfile.TemporaryDirectory() as tmp:
    def module_error(text):
        path = os.path.join(tmp, f"m{abs(hash(text))}.py")
        with open(path, "w") as f:
            f.write(text)
        try:
            user_kernels.load_module(path)
        except DeclarationError as e:
            return str(e)
        return ""

    head = "import torch\nfrom fabench_user import variant\n"
    msg = module_error(head + "@variant('a.b', op='softmax')\ndef f(x): return x\n"
                              "@variant('a.b', op='softmax')\ndef g(x): return x\n")
    check("'a.b'" in msg and "declared twice" in msg, f"duplicate names: {msg}")
    msg = module_error(head + "x = 1\n")
    check("no variants" in msg and ".py" in msg, f"a module without variants: {msg}")
    msg = module_error(head + "VARIANTS = {'name': 'a'}\n")
    check("VARIANTS" in msg and "list" in msg, f"VARIANTS not a list: {msg}")
    msg = module_error(head + "VARIANTS = [{'name': 'a', 'op': 'softmax', 'fn': lambda x: x, 'dtype': 'fp32'}]\n")
    check("'a'" in msg and "dtype" in msg and "unknown field" in msg, f"a typo in VARIANTS: {msg}")
    msg = module_error(head + "@variant('a', op='softmax', params={'B': [1]})\ndef f(x): return x\n")
    check("'a'" in msg and "params['B']" in msg and "f() takes no argument 'B'" in msg, f"decorator errors: {msg}")
    try:
        user_kernels.load_module(os.path.join(tmp, "gone.py"))
        check(False, "a missing module is an error")
    except DeclarationError as e:
        check("gone.py" in str(e) and "no such file" in str(e), f"a missing module: {e}")

# ---- Philox: values printed by fa-bench's kernels/common/philox.h (g++, 20261121 and another seed) --
import numpy as np  # noqa: E402

words = fabench_core.philox4x32_10(np.arange(4, dtype=np.uint64), 20261121)
check([[int(w[i]) for w in words] for i in range(4)] == [
    [4167169612, 2859311998, 2019520112, 1243942326], [2455298359, 372311436, 3717728038, 1369566861],
    [1126460415, 1991299956, 670367040, 3998406489], [2485547847, 965108444, 2291241453, 3364446154]],
    "Philox4x32-10 equals fa-bench's for counters 0..3")
words = fabench_core.philox4x32_10(np.array([(1 << 33) + 5], dtype=np.uint64), 0xFEDCBA9876543210)
check([int(w[0]) for w in words] == [2220995966, 490726072, 3055810259, 2746712824],
      "Philox4x32-10 equals fa-bench's with a 64-bit counter and key")
check("".join(str(int(b)) for b in fabench_core.dropout_keep(20261121, np.arange(64), 0.1))
      == "1111110111000111111111111111111111111111110111101111111101111111", "dropout decisions equal fa-bench's")
check(fabench_core.dropout_threshold(0.1) == 6554 and fabench_core.dropout_threshold(1.0) == 65536, "dropout thresholds")


# ---- the reason of a Triton compile error: its message, not the "at L:C:" line that leads it ---------
class CompileTimeAssertionFailure(Exception):  # the name the runner knows; Triton's str() and message
    error_message = "cols must be a multiple of BLOCK"

    def __str__(self):
        return 'at 2:4:\ndef k(BLOCK: tl.constexpr):\n    tl.static_assert(BLOCK == 1, "...")\n    ^\n' + self.error_message


class CompilationError(Exception):  # how Triton wraps an error raised inside a @triton.jit helper
    error_message = None

    def __str__(self):
        return "at 7:8:\ndef caller(...):\n    helper(BLOCK)\n    ^"


status, reason = user_kernels.classify(torch, CompileTimeAssertionFailure())
check((status, reason) == ("unsupported", "CompileTimeAssertionFailure: cols must be a multiple of BLOCK (at 2:4)"),
      f"a compile error's reason is its message and where: {status} {reason}")
try:
    try:
        raise CompileTimeAssertionFailure()
    except CompileTimeAssertionFailure as inner:
        raise CompilationError() from inner
except CompilationError as wrapped:
    status, reason = user_kernels.classify(torch, wrapped)
check((status, reason) == ("unsupported", "CompileTimeAssertionFailure: cols must be a multiple of BLOCK (at 7:8)"),
      f"a static_assert inside a helper: unsupported, the inner message: {status} {reason}")

# ---- the runner over a plan, with stubs ------------------------------------------------------------
def make_plan(tmp, experiments, name):
    cfg = {"name": name, "seed": 20261121,
           "timing": {"warmup": 1, "min_samples": 2, "min_time_s": 0, "max_noise": 1, "max_time_s": 5},
           "validation": {"max_rows": 64}, "experiments": experiments}
    cfg_path, plan_path = os.path.join(tmp, f"{name}.json"), os.path.join(tmp, f"{name}_plan.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    subprocess.run([FA_BENCH, "plan", "--config", cfg_path, "-o", plan_path], check=True, stdout=subprocess.DEVNULL)
    with open(plan_path) as f:
        return plan_path, json.load(f)


def run(argv):
    out = io.StringIO()
    with redirect_stdout(out):
        code = user_kernels.main(argv)
    return code, out.getvalue()


def read_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def sparse_bwd_experiments(dtypes):
    """Odd shapes: seq not a multiple of the block, GQA, queries that see nothing (seq_q > seq_k
    under causal patterns), shared and per-head masks, empty block rows (random)."""
    base = {"op": "sparse_attention", "variants": ["sparse.block_skip"], "dtype": dtypes, "batch": 2, "heads": 4,
            "kv_heads": 2, "seq_q": [100, 70], "seq_k": [70, 100], "zip": [["seq_q", "seq_k"]], "head_dim": 64,
            "block": 64}
    return [dict(base, name="sp_causal", pattern="causal"),
            dict(base, name="sp_cwin", pattern="causal_window", window=30),
            dict(base, name="sp_docs", pattern="documents", documents={"random": 3}, mask_per_head=True),
            dict(base, name="sp_random", pattern="random", density=0.3, mask_per_head=True),
            dict(base, name="sp_b128", pattern="global_window", window=40, global_tokens=5, block=128,
                 seq_q=[150], seq_k=[150], zip=[], heads=2, kv_heads=1),
            {"name": "bwd", "op": "attention_bwd", "variants": ["bwd.naive"], "dtype": dtypes, "batch": 2,
             "heads": 4, "kv_heads": [4, 2], "seq_q": [37, 70], "seq_k": [70, 37], "zip": [["seq_q", "seq_k"]],
             "head_dim": 64, "causal": [False, True]}]


class RunnerProcesses:
    """Runner processes, at most one a core at a time (more would only slow each: the interpreter's
    samples would pass the plan's time limit), started as they are added and as others end; each
    one's output and errors go to files beside its CSV."""

    def __init__(self, tmp, env):
        self.tmp, self.env, self.limit = tmp, env, max(2, os.cpu_count() or 2)
        self.names, self.pending, self.running, self.results = [], [], {}, {}
        self.t0 = time.time()

    def add(self, name, argv):
        self.names.append(name)
        self.pending.append((name, argv))
        self._fill()

    def _fill(self):
        while self.pending and len(self.running) < self.limit:
            name, argv = self.pending.pop(0)
            with open(os.path.join(self.tmp, f"{name}.out"), "w") as out, \
                    open(os.path.join(self.tmp, f"{name}.err"), "w") as err:
                self.running[name] = subprocess.Popen(argv, env=self.env, stdout=out, stderr=err)

    def wait_all(self):
        """{name: (exit code, its standard error, its CSV)} once every process has ended."""
        while self.running:
            for name, proc in list(self.running.items()):
                if proc.poll() is None:
                    continue
                del self.running[name]
                with open(os.path.join(self.tmp, f"{name}.err")) as f:
                    err = f.read()
                self.results[name] = (proc.returncode, err, os.path.join(self.tmp, f"{name}.csv"))
                print(f"  {name}: exit {proc.returncode} after {time.time() - self.t0:.0f} s", flush=True)
                self._fill()
            time.sleep(0.2)
        return self.results


def start_triton_runs(tmp):
    """Start the shipped Triton examples (and Triton stubs that cannot run) as separate runner
    processes, all at once and before the in-process checks, so that their compiling overlaps: a
    run's wall time is mostly Triton compiling each kernel setting on one core (hundreds of settings
    on the GPU). Returns (processes, the dense examples' runs, the sparse/backward runs), or None
    without Triton."""
    if importlib.util.find_spec("triton") is None:
        print("triton is not installed: the shipped examples are not run")
        return None
    dtypes_dot = ["fp32", "fp16"] + (["bf16", "tf32"] if DEVICE == "cuda" else ["tf32"])
    env = dict(os.environ, PYTHONPATH=SCRIPTS)
    if DEVICE == "cpu":
        env["TRITON_INTERPRET"] = "1"
    runner = [sys.executable, os.path.join(SCRIPTS, "user_kernels.py"), "--device", DEVICE]
    procs = RunnerProcesses(tmp, env)

    def start(name, plan_path, extra):
        procs.add(name, runner + ["--plan", plan_path, "--output", os.path.join(tmp, f"{name}.csv")] + extra)

    example = lambda f: ["--module", os.path.join(ROOT, "examples", "triton", f)]  # noqa: E731
    # The dense examples; on the GPU rows of 20000 columns too (softmax v4 and v5 split them into 3
    # parts of 8192 that wait for each other, with a padding slot, v7 into 5 of 4096 with 3 padding
    # slots; the interpreter refuses that).
    plan_path, _ = make_plan(tmp, [
        {"name": "softmax", "op": "softmax", "variants": ["softmax.cpu_reference"],
         "dtype": ["fp32", "fp16"] + (["bf16"] if DEVICE == "cuda" else []),
         "rows": 21, "cols": [1, 300, 4100] + ([20000] if DEVICE == "cuda" else []), "scale": [1, 0.5],
         "mask": ["none", "causal", "tensor", "lengths"], "dropout": [0, 0.1], "zip": [["scale", "dropout"]]},
        {"name": "smm", "op": "softmax_matmul", "variants": ["softmax_matmul.naive"], "dtype": dtypes_dot,
         "batch": 2, "d1": 37, "d2": [50, 16], "d3": 24},
        {"name": "attn", "op": "attention", "variants": ["attn.cpu_reference"], "dtype": dtypes_dot, "batch": 2,
         "heads": 4, "kv_heads": [4, 2], "seq_q": [37, 70, 37], "seq_k": [70, 37, 37], "zip": [["seq_q", "seq_k"]],
         "head_dim": [24, 64], "causal": [False, True]}], "examples")
    runs = {f"softmax_v{v}": example("softmax.py") + ["--params", f"^version={v}$"] for v in range(1, 8)}
    runs["softmax_matmul"] = example("softmax_matmul.py") + (
        ["--params", "^BLOCK=(16|64),version=[12]$"] if DEVICE == "cpu" else [])
    # a few tile settings of each attention kernel (the interpreter is slow; the GPU compiles each)
    fa2_tiles = ["BLOCK_M=64,BLOCK_N=64,num_warps=4"] + (["BLOCK_M=128,BLOCK_N=64,num_warps=8"] if DEVICE == "cuda" else [])
    for i, tile in enumerate(fa2_tiles):
        runs[f"fa2_{i}"] = example("attention.py") + ["--variants", "^triton.fa2$", "--params", f"^{tile}$"]
    runs["fa1"] = example("attention.py") + ["--variants", "^triton.fa1$", "--params", "^BLOCK_M=32,BLOCK_N=32$"]
    for name, extra in runs.items():
        start(name, plan_path, extra)

    # triton.sparse and triton.fa2_bwd over the same odd shapes (seed 000 task 3, seed 004's bonus),
    # a run for each dtype and setting
    if DEVICE == "cpu":  # one tile setting of each sparse version in the interpreter, two of the backward's
        sparse_params = ["version=1,num_warps=4", "version=2,num_warps=4"]
        bwd_params = ["version=1,BLOCK_M=32,BLOCK_N=64,num_warps=4", "version=1,BLOCK_M=64,BLOCK_N=32,num_warps=4"]
    else:  # the GPU compiles every setting: a few
        sparse_params = ["version=1,num_warps=4", "version=1,num_warps=8", "version=2,num_warps=4"]
        bwd_params = [f"version=1,BLOCK_M={m},BLOCK_N=64,num_warps={w}" for m, w in ((32, 4), (64, 4), (128, 8))]
    for dtype in ["fp32", "fp16"] + (["bf16"] if DEVICE == "cuda" else []):
        plan_path, _ = make_plan(tmp, sparse_bwd_experiments([dtype]), f"triton_sparse_bwd_{dtype}")
        for i, params in enumerate(sparse_params):
            start(f"sparse_{dtype}_{i}", plan_path, example("sparse.py") + ["--params", f"^{params}$"])
        for i, params in enumerate(bwd_params):
            start(f"fa2_bwd_{dtype}_{i}", plan_path, example("attention_bwd.py") + ["--params", f"^{params}$"])
    sparse_bwd = [name for name in procs.names if name.startswith(("sparse_", "fa2_bwd_"))]

    # Triton kernels that cannot run
    plan_path, _ = make_plan(tmp, [{"name": "sm", "op": "softmax", "variants": ["softmax.cpu_reference"],
                                    "dtype": "fp32", "rows": 3, "cols": 40}], "tstubs")
    start("stubs", plan_path, ["--module", os.path.join(HERE, "data", "user_kernels_triton_stubs.py")]
          + (["--variants", "static_assert"] if DEVICE == "cpu" else []))  # the interpreter has no shared memory
    return procs, list(runs), sparse_bwd


with (contextlib.nullcontext(os.environ["USER_KERNELS_TEST_KEEP"]) if os.environ.get("USER_KERNELS_TEST_KEEP")
      else tempfile.TemporaryDirectory()) as tmp:  # USER_KERNELS_TEST_KEEP=DIR: the runs' plans and CSVs stay there
    triton_runs = start_triton_runs(tmp)
    plan_path, plan = make_plan(tmp, [
        {"name": "sm", "op": "softmax", "variants": ["softmax.cpu_reference"], "dtype": ["fp32", "fp16"], "rows": 37,
         "cols": [1, 100], "scale": 0.5, "mask": ["none", "causal", "tensor", "lengths"], "dropout": [0, 0.1]},
        {"name": "attn", "op": "attention", "variants": ["attn.cpu_reference"], "dtype": "fp32", "batch": 2, "heads": 4,
         "kv_heads": 2, "seq_q": [37, 20, 33], "seq_k": [37, 33, 20], "zip": [["seq_q", "seq_k"]], "head_dim": 16,
         "causal": [False, True]},
        {"name": "smm", "op": "softmax_matmul", "variants": ["softmax_matmul.naive"], "dtype": "fp32", "batch": 2,
         "d1": 19, "d2": 33, "d3": 8}], "stubs")
    stubs = os.path.join(HERE, "data", "user_kernels_stubs.py")
    out_csv = os.path.join(tmp, "user.csv")
    code, text = run(["--module", stubs, "--plan", plan_path, "--output", out_csv, "--device", DEVICE])
    check(code == 0, f"the sweep completes with exit 0 ({code})")
    columns, rows = read_rows(out_csv)
    check(columns == plan["columns"] + ["compile_ms", "notes"], f"columns: the plan's, then compile_ms, notes: {columns}")
    problems = fabench_core.distinct_problems(plan)
    by_key = {r["key"]: r for r in rows}
    check(len(by_key) == len(rows), "keys are unique")
    mod = sys.modules[[m for m in sys.modules if m.endswith("user_kernels_stubs")][0]]
    declared = user_kernels.fabench_user._registry
    n_expected = sum(len(v.expand()) for v in declared if v.fn.__module__ == mod.__name__ for c in problems
                     if c["row"]["op"] == v.op) + sum(1 for c in problems if c["row"]["op"] == "softmax_matmul")
    check(len(rows) == n_expected, f"one row per problem x variant x parameter setting: {len(rows)} != {n_expected}")

    def rows_of(name):
        return [r for r in rows if r["variant"] == name]

    for name, (status, piece) in mod.EXPECTED.items():
        for r in rows_of(name):
            if name == "stub.wrong_values" and r["cols"] == "1":
                continue  # a one-column softmax is 1 (or 0): flipping it changes nothing
            if r["status"] == "unsupported" and "takes dtypes" in r["reason"]:
                continue
            check(r["status"] == status and piece in r["reason"], f"{name}: {r['key']}: {r['status']} {r['reason']!r}"
                  f" (expected {status} with {piece!r})")
    for r in rows_of("stub.good"):
        check(r["key"] == f"{r['key'].split('/stub.good/')[0]}/stub.good/{r['params']}" and r["params"] in ("BLOCK=16", "BLOCK=32"),
              f"key problem/variant/params: {r['key']}")
        if r["dtype"] == "fp32":
            check(r["status"] == "ok" and float(r["rel_l2_err"]) < 1e-6 and int(r["samples"]) >= 2
                  and float(r["time_ms_median"]) > 0 and r["compile_ms"] != "" and r["tolerance"] == "0.0001"
                  and r["gpu"] == ("cpu" if DEVICE == "cpu" else torch.cuda.get_device_name(0)),
                  f"an ok row has errors, samples, times and compile_ms: {r}")
    check(all(r["status"] == "unsupported" and "takes dtypes fp16, not fp32" in r["reason"]
              for r in rows_of("stub.wrong_dtype") if r["dtype"] == "fp32"), "an undeclared dtype: unsupported")
    for r in rows_of("stub.wrong_dropout"):
        expect = "mismatch" if r["dropout"] != "0" else "ok"
        check(r["status"] == expect, f"torch's dropout stream is not fa-bench's: {r['key']} {r['status']} {r['reason']}")
    for r in rows_of("stub.refuses"):
        expect = ("ok", "") if r["mask"] == "none" and r["dropout"] == "0" else ("unsupported", "no masks or dropout")
        check(r["status"] == expect[0] and expect[1] in r["reason"], f"Unsupported raised by the kernel: {r['key']} {r['status']} {r['reason']}")
    for r in rows_of("stub.supports"):
        expect = "ok" if int(r["cols"]) <= int(r["params"].split("=")[1]) else "unsupported"
        check(r["status"] == expect and (expect == "ok" or f"cols {r['cols']} > BLOCK" in r["reason"]),
              f"supports(): {r['key']} {r['status']} {r['reason']}")
    for r in rows_of("stub.attention_no_lse"):
        check(r["status"] == "ok" and "no lse returned" in r["notes"], f"O without lse: ok with a note: {r}")
    for r in rows_of("stub.attention_lse"):
        expect = ("ok", "") if r["params"] == "lse_offset=0" else ("mismatch", "lse rel_l2")
        check(r["status"] == expect[0] and expect[1] in r["reason"] and r["notes"] == "",
              f"lse validated: {r['key']} {r['status']} {r['reason']}")
    check(any(r["seq_q"] == "33" and r["seq_k"] == "20" and r["causal"] == "true" and r["status"] == "ok"
              for r in rows_of("stub.attention_lse")), "queries that see no key (lse -inf) pass")
    check("stub.raises" in text and "launch_error" in text, "progress lines name variant and status")

    # --resume: nothing run again; a row removed is run again and appended
    with open(out_csv, newline="") as f:
        lines = f.read().splitlines()
    with open(out_csv, "w", newline="") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    code, text = run(["--module", stubs, "--plan", plan_path, "--output", out_csv, "--device", DEVICE, "--resume"])
    _, resumed = read_rows(out_csv)
    check(code == 0 and len(resumed) == len(rows) and text.count("\n") == 1, f"--resume runs only the missing row: {text}")
    code, text = run(["--module", stubs, "--plan", plan_path, "--output", out_csv, "--device", DEVICE,
                      "--variants", "stub.good", "--params", "BLOCK=32", "--experiments", "sm"])
    _, some = read_rows(out_csv)
    check(len(some) == 32 and all(r["params"] == "BLOCK=32" for r in some), "--variants, --params, --experiments filter")
    code, text = run(["--module", stubs, "--list"])
    check("stub.good" in text and "BLOCK=16|32" in text and "stub.listed" in text and "declared in VARIANTS" in text,
          f"--list: {text}")

    # a fault (CUDA's sticky error): the row, then the rest in a fresh process (--resume), exit 0
    plan_path, plan = make_plan(tmp, [{"name": "sm", "op": "softmax", "variants": ["softmax.cpu_reference"],
                                       "dtype": "fp32", "rows": [5, 6, 7], "cols": 40}], "fault")
    out_csv = os.path.join(tmp, "fault.csv")
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, "user_kernels.py"), "--plan", plan_path, "--output",
                           out_csv, "--device", DEVICE, "--module", os.path.join(HERE, "data", "user_kernels_fault_stub.py")],
                          capture_output=True, text=True)
    _, rows = read_rows(out_csv)
    check(proc.returncode == 0 and [r["variant"] for r in rows] == ["fstub.fault", "fstub.good"] * 3
          and all(r["status"] == ("fault" if r["variant"] == "fstub.fault" else "ok") for r in rows)
          and "illegal memory access" in rows[0]["reason"] and proc.stderr.count("fresh process") == 3,
          f"a fault is a row and the sweep goes on in a fresh process: {[(r['variant'], r['status']) for r in rows]} "
          f"{proc.stderr[-1500:]}")

    # ---- sparse_attention and attention_bwd: the mask forms, and wrong kernels as mismatch rows ------
    print(f"stub runs done: {summary()}; sparse and backward stubs next", flush=True)
    plan_path, plan = make_plan(tmp, sparse_bwd_experiments(["fp32", "fp16"]), "sparse_bwd")
    out_csv = os.path.join(tmp, "sparse_bwd.csv")
    code, text = run(["--module", os.path.join(HERE, "data", "user_kernels_sparse_bwd_stubs.py"), "--plan", plan_path,
                      "--output", out_csv, "--device", DEVICE])
    _, rows = read_rows(out_csv)
    check(code == 0 and len(rows) == 18 * 4 + 16 * 4, f"sparse/bwd stubs: every row written ({len(rows)})")
    by = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    for name in ("stub.sparse_elements", "stub.sparse_blocks", "stub.bwd_autograd"):
        bad = [(r["key"], r["status"], r["reason"]) for r in by.get(name, []) if r["status"] != "ok"]
        check(not bad and len(by.get(name, [])) in (18, 16), f"{name}: every row ok: {bad[:3]}")
    check(any(r["experiment"] in ("sp_causal", "sp_docs") and r["seq_q"] == "100" for r in by["stub.sparse_elements"]),
          "sparse rows with queries that keep nothing ran")
    for name, piece in (("stub.sparse_ignores_mask", ""), ("stub.sparse_no_lse", "returned no lse"),
                        ("stub.bwd_scaled_dk", "dk: dk rel_l2"), ("stub.bwd_two", "returned 2 values")):
        got = [(r["status"], r["reason"]) for r in by[name] if r["dtype"] == "fp32"]
        check(got and all(s == "mismatch" and piece in why for s, why in got), f"{name}: mismatch rows: {got[:3]}")
    for r in by["stub.bwd_one_head"]:
        if r["dtype"] == "fp32":
            expect = "ok" if r["kv_heads"] == r["heads"] else "mismatch"
            check(r["status"] == expect, f"dK, dV not summed over the GQA group: {r['key']} {r['status']} {r['reason']}")

    # ---- the shipped Triton examples, and Triton kernels that cannot run ----------------------------
    if triton_runs:
        procs, examples, sparse_bwd = triton_runs
        print(f"in-process checks done: {summary()}; waiting for the Triton runs",
              flush=True)
        results = procs.wait_all()

        def rows_of(names):
            rows = []
            for name in names:
                code, err, out = results[name]
                check(code == 0, f"{name}: exit {code}: {err[-2000:]}")
                got = read_rows(out)[1] if os.path.exists(out) else []
                check(got, f"{name}: no rows (a --params or --variants filter that matches nothing?): {err[-500:]}")
                rows += got
            return rows

        rows = rows_of(examples)
        names = {r["variant"] for r in rows}
        check(names == {"triton.softmax", "triton.softmax_matmul", "triton.fa2", "triton.fa1"}, f"every example ran: {names}")
        for r in rows:
            ok = r["status"] == "ok" or (r["status"] == "unsupported" and DEVICE == "cuda" and "OutOfResources" in r["reason"])
            check(ok, f"example {r['key']}: {r['status']} {r['reason']} (rel_l2 {r['rel_l2_err']})")
        print(f"examples: {sum(r['status'] == 'ok' for r in rows)} of {len(rows)} rows ok", flush=True)
        check(len(rows) > 100, f"the examples ran over every shape ({len(rows)} rows)")
        if DEVICE == "cuda":
            for v in (4, 5, 7):
                parted = [r for r in rows if r["variant"] == "triton.softmax" and r["cols"] == "20000"
                          and r["params"] == f"version={v}" and r["status"] == "ok"]
                check(len(parted) == 24, f"softmax v{v} ran rows split into parts ({len(parted)} of 24 ok)")

        rows = rows_of(sparse_bwd)
        names = {r["variant"] for r in rows}
        check(names == {"triton.sparse", "triton.fa2_bwd"}, f"triton.sparse and triton.fa2_bwd ran: {names}")
        for r in rows:
            # sparse v1 refuses fp32 on blocks of 128 (minutes of compiling), naming version 2
            refused = (r["variant"] == "triton.sparse" and r["dtype"] == "fp32" and r["block"] == "128"
                       and r["params"].startswith("version=1,") and "version 2 tiles the block by 64" in r["reason"])
            ok = r["status"] == "ok" or (r["status"] == "unsupported" and (
                refused or (DEVICE == "cuda" and "OutOfResources" in r["reason"])))
            check(ok, f"example {r['key']}: {r['status']} {r['reason']} (rel_l2 {r['rel_l2_err']})")
        n_sparse = sum(r["variant"] == "triton.sparse" for r in rows)
        n_bwd = sum(r["variant"] == "triton.fa2_bwd" for r in rows)
        check(n_sparse >= 18 and n_bwd >= 32, f"sparse/bwd examples over every shape ({n_sparse} and {n_bwd} rows)")
        print(f"sparse/bwd examples: {sum(r['status'] == 'ok' for r in rows)} of {len(rows)} rows ok", flush=True)

        code, err, out = results["stubs"]
        _, rows = read_rows(out)
        for r in rows:
            piece = "cols must be a multiple of BLOCK" if "static_assert" in r["variant"] else "OutOfResources"
            check(r["status"] == "unsupported" and piece in r["reason"], f"{r['variant']}: {r['status']} {r['reason']}")
        check(code == 0 and len(rows) == (2 if DEVICE == "cuda" else 1), f"Triton stubs: {err[-1500:]}")

finish()
