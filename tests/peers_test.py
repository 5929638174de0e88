#!/usr/bin/env python3
"""scripts/peers.py without a GPU: it reads `fa-bench plan` output, writes rows in fa-bench's
columns and keys, refuses files that are not plans, and samples validation rows as promised;
decode's lengths equal fa-bench's, and a decode plan runs end to end through a fake torch.
Usage: peers_test.py FA_BENCH_BINARY"""
import contextlib
import csv
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("peers", os.path.join(HERE, "..", "scripts", "peers.py"))
peers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peers)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED:", what)


binary = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    config = os.path.join(tmp, "c.json")
    with open(config, "w") as f:
        json.dump({"name": "t", "experiments": [
            {"op": "attention", "variants": ["attn.fa2_mma", "attn.cublas"], "dtype": "bf16", "batch": 2,
             "heads": 4, "kv_heads": 2, "seq_len": [100, 300], "head_dim": 64, "causal": [False, True]},
            {"op": "softmax", "variants": ["softmax.fused", "softmax.cudnn"], "rows": 3, "cols": 7,
             "mask": ["none", "causal"]}]}, f)
    plan_path = os.path.join(tmp, "plan.json")
    subprocess.run([binary, "plan", "--config", config, "-o", plan_path], check=True)
    with open(plan_path) as f:
        plan = json.load(f)

    problems = peers.distinct_problems(plan)
    keys = [c["problem_key"] for c in problems]
    check(len(keys) == len(set(keys)) == 4 + 2, f"one entry per problem, got {keys}")
    check(keys == list(dict.fromkeys(c["problem_key"] for c in plan["cases"])), "problems in plan order")

    attn = next(c for c in problems if c["row"]["op"] == "attention")
    row = peers.blank_row(plan["columns"], attn, "torch.sdpa_flash")
    check(list(row) == plan["columns"], "rows carry exactly fa-bench's columns")
    check(row["key"] == attn["problem_key"] + "/torch.sdpa_flash", f"peer key {row['key']}")
    check(row["scale"] == "0.125" and row["kv_heads"] == "2" and row["causal"] in ("true", "false"),
          f"written as fa-bench writes them: {row['scale']} {row['kv_heads']} {row['causal']}")
    check(row["variant"] == "torch.sdpa_flash" and row["params"] == "", "variant and params")
    # An op's extra columns (after the base ones in the plan's columns; in its case rows when they
    # describe the case) are carried as the others are.
    extra = dict(attn, row={**attn["row"], "fake_cache_len": 4096})
    row = peers.blank_row(plan["columns"] + ["fake_cache_len", "fake_ratio"], extra, "torch.sdpa_flash")
    check(list(row)[-2:] == ["fake_cache_len", "fake_ratio"] and row["fake_cache_len"] == "4096"
          and row["fake_ratio"] == "", f"extra columns carried: {row}")
    check(peers.peers_for("attention") == list(peers.ATTENTION_PEERS) and len(peers.ATTENTION_PEERS) == 4,
          "the four SDPA backends")
    check(peers.peers_for("sparse_attention") == ["torch.flex_attention"], "FlexAttention for sparse_attention")
    # --resume: the keys already written; a file of other columns is refused.
    written = os.path.join(tmp, "resume.csv")
    check(peers.resumed_keys(written, plan["columns"]) == set(), "nothing to resume without a file")
    with open(written, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=plan["columns"])
        w.writeheader()
        w.writerow(peers.blank_row(plan["columns"], attn, "torch.sdpa_flash"))
    check(peers.resumed_keys(written, plan["columns"]) == {attn["problem_key"] + "/torch.sdpa_flash"},
          "the written rows' keys")
    try:
        peers.resumed_keys(written, plan["columns"] + ["compile_ms"])
        check(False, "a file of other columns must not be resumed")
    except SystemExit as e:
        check("other columns" in str(e), f"the message says why: {e}")
    check([peers.spin_cycles(x) for x in (0.0, 1e-5, 1e-3, 1.0)] == [200_000, 200_000, 6_000_000, 40_000_000],
          "the spin covers three times a call's host time, within bounds")

    masked = next(c for c in problems if c["row"]["op"] == "softmax" and c["row"]["mask"] == "causal")
    try:
        peers.make_call(None, masked, "torch.softmax", {})
        check(False, "masked softmax must be unsupported for torch.softmax")
    except peers.Unsupported as e:
        check("plain softmax only" in str(e), f"reason names the limit: {e}")

    rows = peers.sampled_rows(10_000, 64, 3)
    check(len(rows) == 64 and rows == sorted(set(rows)) and rows[0] < 157 and rows[-1] >= 10_000 - 157,
          "sampled rows spread over the whole range, distinct")
    check(peers.sampled_rows(5, 64, 3) == list(range(5)), "small cases check every row")

    samples = [1.0, 1.5, 0.9, 1.2, 1.1, 0.95]
    stats = peers.RunningSamples()
    for x in samples:
        stats.add(x)
    mean = sum(samples) / len(samples)
    sd = math.sqrt(sum((x - mean) ** 2 for x in samples) / (len(samples) - 1))
    check(abs(stats.mean - mean) < 1e-12 and abs(stats.relative_noise() - sd / (mean * math.sqrt(6))) < 1e-12,
          "running statistics equal the batch ones")
    rule = {"min_samples": 6, "min_time_s": 0.005, "max_noise": 0.1}
    check(peers.sampling_done(rule, stats), "six samples, 6.65 ms, noise 8% meet the rule")
    check(not peers.sampling_done(dict(rule, max_noise=0.05), stats), "too noisy keeps sampling")
    check(not peers.sampling_done(dict(rule, min_samples=7), stats), "too few samples keeps sampling")
    check(not peers.sampling_done(dict(rule, min_time_s=0.01), stats), "too little time keeps sampling")

    not_plan = os.path.join(tmp, "x.json")
    with open(not_plan, "w") as f:
        json.dump({"cases": []}, f)
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "scripts", "peers.py"), "--plan", not_plan,
                        "--output", os.path.join(tmp, "o.csv")], capture_output=True, text=True)
    check(r.returncode != 0 and "columns" in r.stderr, f"a file that is not a plan is refused: {r.stderr}")

    # Calibration files: an empty one (a fresh mktemp) or one that is not JSON means no ceilings;
    # a real one gives this GPU's.
    calibration = os.path.join(tmp, "cal.json")
    open(calibration, "w").close()
    check(peers.load_ceilings(calibration, "GPU") is None, "an empty calibration file means none")
    with open(calibration, "w") as f:
        f.write("not json")
    check(peers.load_ceilings(calibration, "GPU") is None, "a calibration file that is not JSON means none")
    with open(calibration, "w") as f:
        json.dump({"GPU": {"copy_gbps": 3000}}, f)
    check(peers.load_ceilings(calibration, "GPU") == {"copy_gbps": 3000}, "a calibration gives this GPU's ceilings")
    with open(calibration, "w") as f:
        json.dump({"GPU": {"copy_gbps": 3000, "read_gbps": 3200}}, f)
    check(peers.load_ceilings(calibration, "GPU") == {"copy_gbps": 3000, "read_gbps": 3200},
          "a calibration with the read ceiling loads too")

    # The L2 mode of each case comes from the plan: cold (the default), dirty and hot, each
    # flushed as fa-bench does (a fake torch records the operations).
    l2_config = os.path.join(tmp, "l2.json")
    with open(l2_config, "w") as f:
        json.dump({"name": "l2", "experiments": [
            {"op": "softmax", "variants": ["softmax.fused"], "rows": r, "cols": 7, "timing": timing}
            for r, timing in ((1, {}), (2, {"l2": "dirty"}), (3, {"l2": "hot"}))]}, f)
    l2_plan = json.loads(subprocess.run([binary, "plan", "--config", l2_config], check=True,
                                        capture_output=True, text=True).stdout)
    modes = [peers.l2_mode(c["timing"]) for c in l2_plan["cases"]]
    check(modes == ["cold", "dirty", "hot"], f"L2 modes from the plan: {modes}")

    class FakeTensor:
        def __init__(self, log, name):
            self.log, self.name = log, name

        def fill_(self, value):
            self.log.append(("fill", self.name, value))

    class FakeTorch:
        uint8, int32, int64 = "uint8", "int32", "int64"

        def __init__(self):
            self.log, self.sizes = [], {}

        def empty(self, size, dtype, device):
            self.sizes["written"] = size
            return FakeTensor(self.log, "written")

        def zeros(self, size, dtype, device):
            if size == ():
                return FakeTensor(self.log, "total")
            self.sizes["read"] = size * 4
            return FakeTensor(self.log, "read")

        def sum(self, tensor, dim, out):
            self.log.append(("sum", tensor.name, out.name))

    fake = FakeTorch()
    flusher = peers.L2Flusher(fake, 50 << 20)
    check(fake.sizes == {"written": 100 << 20, "read": 100 << 20}, f"both buffers twice the L2: {fake.sizes}")
    for mode in ("cold", "dirty", "hot"):
        flusher.flush(mode)
    check(fake.log == [("fill", "written", 1), ("sum", "read", "total"), ("fill", "written", 0)],
          f"cold writes then reads the other buffer, dirty only writes, hot does nothing: {fake.log}")


# decode: the Python port of fa-bench's sequence lengths, pinned like the C++ one
# (tests/test_decode_reference.cpp), and its rows run end to end through a fake torch.
check(peers.make_sequence_lengths(True, 6, 4, 1000, 42) == [209, 1000, 447, 123, 593, 71],
      f"mixed lengths equal the pinned C++ ones: {peers.make_sequence_lengths(True, 6, 4, 1000, 42)}")
check(peers.make_sequence_lengths(False, 3, 2, 77, 5) == [77, 77, 77], "equal lengths are all cache_len")
check(all(max(l) == 100 and min(l) >= 1 for l in (peers.make_sequence_lengths(True, 8, 1, 100, s) for s in range(50))),
      "mixed lengths in [q_len, cache_len], one at cache_len")
check(peers.make_sequence_lengths(True, 2, 5, 6, 7) != [6, 6], "two sequences over a range of two are really mixed")
rows = peers.group_sampled_rows(64 * 32, 1, 256, 9)
check(rows == list(range(64 * 32)), "one query row a group: every group's row")
rows = peers.group_sampled_rows(6, 16, 40, 9)
check(len(rows) == 36 and all({g * 16, g * 16 + 15} <= set(rows) for g in range(6)) and len(set(rows)) == 36,
      f"every group's first and last row, max_rows // groups a group: {rows}")
check(peers.group_sampled_rows(4, 3, 12, 9) == list(range(12)), "small cases check every row")


class MetaTensor:
    """A shape and a dtype, no values: enough for peers.py's decode path to run. `zero` marks a
    difference of two tensors (output - reference), whose norms are 0; every other norm is 1."""

    SIZES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "uint8": 1, "bool": 1}

    def __init__(self, shape, dtype="float32", zero=False):
        self.shape, self.dtype, self.zero = tuple(shape), dtype, zero

    def numel(self):
        return math.prod(self.shape)

    def element_size(self):
        return self.SIZES[self.dtype]

    def to(self, dtype):
        return MetaTensor(self.shape, dtype)

    def double(self):
        return MetaTensor(self.shape, "float64", self.zero)

    def reshape(self, *shape):
        known = math.prod(n for n in shape if n != -1)
        return MetaTensor([self.numel() // known if n == -1 else n for n in shape], self.dtype)

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        shape, dim = [], 0
        for i in index:
            if i is None:
                shape.append(1)
                continue
            n = self.shape[dim]
            dim += 1
            if isinstance(i, slice):  # strict: a slice past the end is a bug in peers.py here
                assert i.stop is None or 0 <= i.stop <= n, f"slice {i} of {n}"
                shape.append(len(range(*i.indices(n))))
            elif isinstance(i, list):
                assert all(0 <= x < n for x in i), f"index {i} out of {n}"
                shape.append(len(i))
            else:
                assert 0 <= i < n, f"index {i} out of {n}"
        return MetaTensor(shape + list(self.shape[dim:]), self.dtype)

    @staticmethod
    def broadcast(a, b):
        a, b = (1,) * (len(b) - len(a)) + a, (1,) * (len(a) - len(b)) + b
        assert all(x == y or 1 in (x, y) for x, y in zip(a, b)), f"shapes {a} and {b} do not broadcast"
        return tuple(max(x, y) for x, y in zip(a, b))

    def __lt__(self, other):
        return MetaTensor(self.broadcast(self.shape, other.shape), "bool")

    def __sub__(self, other):
        return MetaTensor(self.broadcast(self.shape, other.shape), self.dtype, zero=True)

    def __mul__(self, scalar):
        return MetaTensor(self.shape, self.dtype)

    def __matmul__(self, other):
        a, b = self.shape, other.shape
        assert a[-1] == b[0 if len(b) == 1 else -2], f"matmul of {a} and {b}"
        return MetaTensor(a[:-1] + b[1:] if len(b) <= 2 else None, self.dtype)

    def norm(self):
        return MetaTensor((), self.dtype, self.zero)

    def abs(self):
        return self

    def max(self):
        return MetaTensor((), self.dtype, self.zero)

    def all(self):
        return True

    def fill_(self, value):
        pass

    def item(self):
        return 0.0 if self.zero else 1.0


class CausalLowerRight:
    def __init__(self, sq, sk):
        self.sq, self.sk = sq, sk


def fake_torch_modules(sdpa_calls):
    """torch, torch.nn, torch.nn.attention and its bias module, faked: SDPA records its calls and,
    like PyTorch, the flash backend refuses a mask tensor."""
    torch = types.ModuleType("torch")
    for name in MetaTensor.SIZES:
        setattr(torch, name, name)
    torch.Generator = lambda device: types.SimpleNamespace(manual_seed=lambda seed: None)
    torch.randn = lambda *shape, generator, device, dtype: MetaTensor(shape, dtype)
    torch.empty = lambda size, dtype, device: MetaTensor((size,), dtype)
    torch.zeros = lambda size, dtype, device: MetaTensor(size if isinstance(size, tuple) else (size,), dtype)
    torch.sum = lambda tensor, dim, out: None

    def tensor(data, dtype, device):
        shape = []
        while isinstance(data, list):
            shape.append(len(data))
            data = data[0]
        return MetaTensor(shape, dtype)

    torch.tensor = tensor
    torch.arange = lambda n, device: MetaTensor((n,), "int64")
    torch.softmax = lambda x, dim: MetaTensor(x.shape, x.dtype)
    torch.stack = lambda xs: MetaTensor((len(xs),) + xs[0].shape, xs[0].dtype)
    torch.isfinite = lambda x: MetaTensor(x.shape, "bool")
    flags = types.SimpleNamespace(allow_tf32=False)
    torch.backends = types.SimpleNamespace(cuda=types.SimpleNamespace(matmul=flags), cudnn=flags)

    class Event:
        def __init__(self, enable_timing):
            pass

        def record(self):
            pass

        def synchronize(self):
            pass

        def elapsed_time(self, other):
            return 1.0  # every sample 1 ms

    torch.cuda = types.SimpleNamespace(
        is_available=lambda: True, get_device_name=lambda i: "FakeGPU",
        get_device_properties=lambda i: types.SimpleNamespace(L2_cache_size=1 << 20),
        empty_cache=lambda: None, memory_allocated=lambda: 0, max_memory_allocated=lambda: 0,
        reset_peak_memory_stats=lambda: None, synchronize=lambda: None, _sleep=lambda cycles: None,
        Event=Event, OutOfMemoryError=MemoryError)

    backend = []
    attention = types.ModuleType("torch.nn.attention")
    attention.SDPBackend = types.SimpleNamespace(FLASH_ATTENTION="flash", CUDNN_ATTENTION="cudnn",
                                                 EFFICIENT_ATTENTION="efficient", MATH="math")

    @contextlib.contextmanager
    def sdpa_kernel(backends):
        backend.append(backends[0])
        yield
        backend.pop()

    attention.sdpa_kernel = sdpa_kernel
    bias = types.ModuleType("torch.nn.attention.bias")
    bias.causal_lower_right = CausalLowerRight

    def sdpa(q, k, v, attn_mask=None, is_causal=False, scale=None, enable_gqa=False):
        sdpa_calls.append(dict(backend=backend[-1], q=q.shape, k=k.shape, v=v.shape, mask=attn_mask,
                               is_causal=is_causal, scale=scale, enable_gqa=enable_gqa))
        if backend[-1] == "flash" and isinstance(attn_mask, MetaTensor):
            raise RuntimeError("No available kernel. Aborting execution.")
        return MetaTensor(q.shape[:-1] + v.shape[-1:], q.dtype)

    nn = types.ModuleType("torch.nn")
    nn.functional = types.SimpleNamespace(scaled_dot_product_attention=sdpa)
    nn.attention = attention
    attention.bias = bias
    torch.nn = nn
    return {"torch": torch, "torch.nn": nn, "torch.nn.attention": attention, "torch.nn.attention.bias": bias}


with tempfile.TemporaryDirectory() as tmp:
    config = os.path.join(tmp, "decode.json")
    fast = {"warmup": 1, "min_samples": 3, "min_time_s": 0.002, "max_noise": 0.5, "max_time_s": 1}
    common = {"op": "decode", "variants": ["decode.simple"], "dtype": "bf16", "batch": 3, "heads": 4,
              "head_dim": 64, "timing": fast}
    with open(config, "w") as f:
        json.dump({"name": "d", "experiments": [
            dict(common, kv_heads=2, cache_len=40, max_len=48, q_len=[1, 3], lengths=["equal", "mixed"]),
            dict(common, kv_heads=4, cache_len=40, q_len=1),
            dict(common, kv_heads=2, cache_len=40, q_len=1, page_size=16),
            {"op": "kv_append", "variants": ["kv_append.simple"], "dtype": "bf16", "kv_heads": 2,
             "head_dim": 64, "batch": 2, "cache_len": 40}]}, f)
    plan_path = os.path.join(tmp, "plan.json")
    subprocess.run([binary, "plan", "--config", config, "-o", plan_path], check=True)
    with open(plan_path) as f:
        plan = json.load(f)
    decode = [c for c in peers.distinct_problems(plan) if c["row"]["op"] == "decode"]
    check(len(decode) == 6, f"six decode problems: {[c['problem_key'] for c in decode]}")
    # fa-bench's FLOP model counts every visible (query, token) pair of its own lengths: the
    # port's lengths give the same count for every case, mixed ones included.
    for c in decode:
        row = c["row"]
        pairs = sum(sum(v) for v in peers.decode_visible(c))
        check(4 * row["heads"] * row["head_dim"] * pairs == c["flops"],
              f"the port's lengths give fa-bench's FLOPs for {c['problem_key']}")
    check(peers.peers_for("decode") == ["torch.sdpa_flash", "torch.sdpa_cudnn"] and peers.peers_for("kv_append") == [],
          "decode has the flash and cuDNN peers, kv_append none")

    calibration = os.path.join(tmp, "cal.json")
    with open(calibration, "w") as f:
        json.dump({"FakeGPU": {"copy_gbps": 3000, "read_gbps": 4000}}, f)
    sdpa_calls = []
    saved = {name: sys.modules.get(name) for name in ("torch", "torch.nn", "torch.nn.attention", "torch.nn.attention.bias")}
    sys.modules.update(fake_torch_modules(sdpa_calls))
    try:
        out_path = os.path.join(tmp, "peers.csv")
        with contextlib.redirect_stdout(io.StringIO()):
            rc = peers.main(["--plan", plan_path, "--output", out_path, "--calibration", calibration])
        check(rc == 0, "peers.py ran the decode plan")
        # Without a read ceiling, decode's pct_peak_bw stays empty (never the copy ceiling).
        with open(calibration, "w") as f:
            json.dump({"FakeGPU": {"copy_gbps": 3000}}, f)
        no_read = os.path.join(tmp, "peers_no_read.csv")
        with contextlib.redirect_stdout(io.StringIO()):
            peers.main(["--plan", plan_path, "--output", no_read, "--calibration", calibration, "--peers", "cudnn"])
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module

    with open(out_path) as f:
        got = {r["key"]: r for r in csv.DictReader(f)}
    with open(out_path) as f:
        check(next(csv.reader(f)) == plan["columns"], "decode peer rows carry exactly fa-bench's columns")
    check(set(got) == {f"{c['problem_key']}/{p}" for c in decode for p in ("torch.sdpa_flash", "torch.sdpa_cudnn")},
          f"one row per decode problem and peer, none for kv_append: {sorted(got)}")

    def peer_row(peer, **want):
        case = next(c for c in decode if all(c["row"][k] == v for k, v in want.items()))
        return case, got[f"{case['problem_key']}/{peer}"]

    for peer in ("torch.sdpa_flash", "torch.sdpa_cudnn"):
        for q_len in (1, 3):
            case, r = peer_row(peer, seq_q=q_len, lengths="equal", kv_heads=2)
            check(r["status"] == "ok" and r["seq_q"] == str(q_len) and r["seq_k"] == "40" and r["max_len"] == "48"
                  and r["lengths"] == "equal" and r["page_size"] == "0" and r["variant"] == peer,
                  f"equal lengths q_len {q_len} runs on {peer}: {r['status']} {r['reason']}")
            gbps = case["bytes"] / 1e-3 / 1e9
            check(r["gbps"] == f"{gbps:.6g}" and r["pct_peak_bw"] == f"{100 * gbps / 4000:.6g}",
                  f"decode's bytes are the plan's and pct_peak_bw is over the read ceiling: {r['gbps']} {r['pct_peak_bw']}")
            check(r["tflops"] == f"{case['flops'] / 1e-3 / 1e12:.6g}" and r["rel_l2_err"] == "0", "FLOPs from the plan, validated")
        case, r = peer_row(peer, page_size=16)
        check(r["status"] == "unsupported" and r["reason"] == peers.PAGED_REASON and r["page_size"] == "16",
              f"paged decode is unsupported on {peer}: {r['status']} {r['reason']}")
    for q_len in (1, 3):
        _, r = peer_row("torch.sdpa_flash", seq_q=q_len, lengths="mixed")
        check(r["status"] == "unsupported" and "No available kernel" in r["reason"],
              f"flash refuses the mixed lengths' mask, in its own words: {r['status']} {r['reason']}")
        _, r = peer_row("torch.sdpa_cudnn", seq_q=q_len, lengths="mixed")
        check(r["status"] == "ok" and r["lengths"] == "mixed", f"cuDNN runs mixed lengths q_len {q_len}: {r['reason']}")
    _, r = peer_row("torch.sdpa_cudnn", kv_heads=4)
    check(r["status"] == "ok" and r["kv_heads"] == "4", "no GQA runs too")

    # What SDPA was given: the cache sliced to cache_len (a view of max_len 48), GQA only when
    # kv_heads < heads, causal_lower_right(q_len, cache_len) for q_len > 1 with equal lengths, and
    # a boolean [batch, 1, q_len, cache_len] mask for mixed ones. No call for a paged case.
    def calls(backend, q_len, kv_heads=2):
        return [c for c in sdpa_calls if c["backend"] == backend and c["q"] == (3, 4, q_len, 64) and c["k"][1] == kv_heads]

    check(all(c["k"] == c["v"] == (3, c["k"][1], 40, 64) for c in sdpa_calls) and sdpa_calls,
          "SDPA sees the first cache_len tokens of the cache")
    check(all(c["enable_gqa"] == (c["k"][1] == 2) for c in sdpa_calls), "enable_gqa exactly when kv_heads < heads")
    check(all(c["scale"] == 0.125 for c in sdpa_calls), "the plan's scale")
    q1 = [c for c in calls("flash", 1) if not isinstance(c["mask"], MetaTensor)]  # equal lengths' calls
    check(q1 and all(c["mask"] is None and not c["is_causal"] for c in q1), "q_len 1, equal lengths: no mask")
    q3 = [c for c in calls("flash", 3) if not isinstance(c["mask"], MetaTensor)]
    check(q3 and all(isinstance(c["mask"], CausalLowerRight) and (c["mask"].sq, c["mask"].sk) == (3, 40) for c in q3),
          "q_len 3, equal lengths: causal_lower_right(3, 40)")
    for q_len in (1, 3):
        masked = [c for c in calls("cudnn", q_len) if isinstance(c["mask"], MetaTensor)]
        check(masked and all(c["mask"].shape == (3, 1, q_len, 40) and c["mask"].dtype == "bool" for c in masked),
              f"mixed lengths q_len {q_len}: a boolean [3, 1, {q_len}, 40] mask")

    with open(no_read) as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    check(rows and all(r["pct_peak_bw"] == "" and r["gbps"] for r in rows),
          "decode without a read ceiling leaves pct_peak_bw empty")

# generate: the plan carries the loop's shape and TTFT/TBT columns; one peer, percentiles as fa-bench's.
with tempfile.TemporaryDirectory() as tmp:
    config = os.path.join(tmp, "g.json")
    with open(config, "w") as f:
        json.dump({"name": "g", "experiments": [
            {"op": "generate", "variants": [{"name": "generate.loop", "params": {"graph": [0, 1]}}],
             "heads": 4, "kv_heads": 2, "head_dim": 64, "prompt_len": 33, "steps": 5}]}, f)
    plan_path = os.path.join(tmp, "plan.json")
    subprocess.run([binary, "plan", "--config", config, "-o", plan_path], check=True)
    with open(plan_path) as f:
        plan = json.load(f)
    for col in ("prompt_len", "steps", "ttft_ms", "tbt_ms_p50", "tbt_ms_p99", "tokens_per_s"):
        check(col in plan["columns"], f"generate plan column {col}")
    cases = peers.distinct_problems(plan)
    check(len(cases) == 1, f"graph 0 and 1 are one problem for the peer: {len(cases)}")
    row = cases[0]["row"]
    check((row["prompt_len"], row["steps"], row["d_model"], row["page_size"]) == (33, 5, 256, 0),
          f"generate row: {row}")
    check(peers.peers_for("generate") == ["torch.generate_loop"], "generate peer")
    paged = json.loads(json.dumps(cases[0]))
    paged["row"]["page_size"] = 16
    r = peers.run_generate_peer(None, paged, "torch.generate_loop", plan["columns"], "gpu", None, None)
    check(r["status"] == "unsupported" and r["reason"] == peers.PAGED_REASON and r["page_size"] == "16",
          f"paged generate is unsupported, not a contiguous loop under the paged key: {r['status']} {r['reason']}")
    blank = peers.blank_row(plan["columns"], cases[0], "torch.generate_loop")
    check(blank["key"] == cases[0]["problem_key"] + "/torch.generate_loop" and blank["steps"] == "5",
          f"generate blank row: {blank['key']}")
    xs = [float(x) for x in range(1, 9)]
    check(abs(peers.percentile(xs, 90) - 7.3) < 1e-12 and peers.percentile(xs, 50) == 4.5,
          "percentile interpolates between ranks, as fa-bench's generate columns")

# attention_bwd and attention_fwd_bwd: the plan's columns and peers, the rows validation samples, the
# phases' timer, and both ops end to end through a fake torch (SDPA, autograd.grad and the
# allocator's counters faked: exact memory columns; out of memory in either phase).
with tempfile.TemporaryDirectory() as tmp:
    config = os.path.join(tmp, "bwd.json")
    fast = {"warmup": 1, "min_samples": 3, "min_time_s": 0.002, "max_noise": 0.5, "max_time_s": 1}
    common = {"batch": 2, "heads": 4, "head_dim": 64, "timing": fast, "validation": {"enabled": False}}
    with open(config, "w") as f:
        json.dump({"name": "b", "experiments": [
            dict(common, op="attention_bwd", variants=["bwd.cpu_reference"], dtype=["fp32", "bf16", "tf32"],
                 kv_heads=[4, 2], seq_len=48, causal=[False, True]),
            dict(common, op="attention_fwd_bwd", variants=["fwd_bwd.cpu_reference"], dtype=["fp32", "bf16"],
                 kv_heads=2, seq_q=[40, 24], seq_k=24, causal=[False, True])]}, f)
    plan_path = os.path.join(tmp, "plan.json")
    subprocess.run([binary, "plan", "--config", config, "-o", plan_path], check=True)
    with open(plan_path) as f:
        plan = json.load(f)
    fwd_bwd_columns = ["forward_ms", "forward_ms_std", "backward_ms", "backward_ms_std", "forward_peak_MiB",
                       "backward_peak_MiB", "saved_activations_MiB", "fwd_bwd_status"]
    check(plan["columns"][-len(fwd_bwd_columns):] == fwd_bwd_columns, f"fwd_bwd's columns in the plan: {plan['columns']}")
    problems = peers.distinct_problems(plan)
    check(len(problems) == 12 + 8, f"20 backward problems: {len(problems)}")
    for op in ("attention_bwd", "attention_fwd_bwd"):
        check(peers.peers_for(op) == list(peers.ATTENTION_PEERS) + ["torch.naive_attention"],
              f"{op}: SDPA's four backends and the naive path")
    tf32 = next(c for c in problems if c["row"]["dtype"] == "tf32")
    check(peers.refusal(tf32, "torch.sdpa_efficient") == peers.TF32_EFFICIENT_REASON
          and peers.refusal(tf32, "torch.sdpa_math") is None
          and all(peers.refusal(c, "torch.sdpa_efficient") is None for c in problems if c["row"]["dtype"] != "tf32"),
          "tf32: efficient refuses with its reason, math runs (TF32 matmuls)")

    # Validation rows: query rows over [batch, heads, seq_q], key rows over [batch, kv_heads, seq_k],
    # every group's first and last.
    gqa = next(c for c in problems if c["row"]["op"] == "attention_fwd_bwd" and c["row"]["seq_q"] == 40)
    sampled = dict(gqa, validation={"enabled": True, "max_rows": 20, "tolerance": 0.01})
    q_rows, k_rows = peers.gradient_rows(sampled)
    check(len(q_rows) == 8 * 2 and all({g * 40, g * 40 + 39} <= set(q_rows) for g in range(8)),
          f"query rows: two of each (batch, head)'s 40: {q_rows}")
    check(len(k_rows) == 4 * 5 and all({g * 24, g * 24 + 23} <= set(k_rows) for g in range(4)) and max(k_rows) < 4 * 24,
          f"key rows: five of each (batch, KV head)'s 24: {k_rows}")
    check(peers.gradient_rows(dict(gqa, validation={"enabled": True, "max_rows": 1000, "tolerance": 0.01}))
          == (list(range(8 * 40)), list(range(4 * 24))), "small cases check every row")

    # The phases' timer: per sample and phase a spin, the flush, the events around the phase; the
    # stopping rule on the totals; time_call is its one-phase case.
    class PhaseEvent:
        clock = [0.0]

        def __init__(self, enable_timing):
            self.at = 0.0

        def record(self):
            self.at = PhaseEvent.clock[0]

        def synchronize(self):
            pass

        def elapsed_time(self, other):
            return other.at - self.at

    log = []
    fake_cuda = types.SimpleNamespace(synchronize=lambda: None, Event=PhaseEvent, _sleep=lambda c: log.append("spin"))
    fake = types.SimpleNamespace(cuda=fake_cuda)

    class LogFlush:
        def flush(self, mode):
            log.append("flush " + mode)

    def phase(name, ms):
        def run():
            log.append(name)
            PhaseEvent.clock[0] += ms
        return run

    timing = {"warmup": 2, "min_samples": 4, "min_time_s": 0.0, "max_noise": 1.0, "max_time_s": 10, "flush_l2": True}
    got = peers.time_phases(fake, [phase("fwd", 2.0), phase("bwd", 5.0)], timing, LogFlush(), peers.fabench_core.ClockWatch())
    check(got.samples == [[2.0, 5.0]] * 4 and not got.limited, f"a sample per launch, each phase's own time: {got.samples}")
    check(got.sm_clock_mhz == 0 and got.throttled == 0, "a spin that takes no time measures no clock")
    check(log[:4] == ["fwd", "bwd", "fwd", "bwd"] and log[4:11] == ["spin", "spin", "flush cold", "fwd", "spin", "spin", "flush cold"]
          and log.count("flush cold") == 8, f"warm-up, then spin and flush before each phase: {log[:12]}")
    one = peers.time_call(fake, phase("x", 3.0), dict(timing, flush_l2=False), LogFlush(), peers.fabench_core.ClockWatch())
    check((one.samples, one.limited) == ([3.0] * 4, False) and "flush hot" in log, "time_call: one phase")

    # The clock rule: each spin's cycles over its events' ms is the clock before a sample. Spins at
    # 1980 MHz except the second and third samples' (1800): the second sample is throttled by its
    # own spin, the first by the second's (which ran right after it), the third by its own; the
    # samples then run 1.0 ms except at the lowered clock (1.1 ms). The stopping rule counts kept
    # samples only (the first uncounted once the second's spin shows its clock), so sampling goes
    # on until four are kept: seven samples.
    clock_of_spin = iter([1980.0, 1800.0, 1800.0] + [1980.0] * 20)
    speed = {"mhz": 1980.0}

    def spin_at(cycles):
        if cycles != peers.fabench_core.HOLD_CYCLES:  # the timed spin; the one before it is not
            speed["mhz"] = next(clock_of_spin)
        PhaseEvent.clock[0] += cycles / (speed["mhz"] * 1e3)

    def work():
        PhaseEvent.clock[0] += 1.0 if speed["mhz"] > 1900 else 1.1

    clocked_cuda = types.SimpleNamespace(synchronize=lambda: None, Event=PhaseEvent, _sleep=spin_at)
    timed = peers.time_call(types.SimpleNamespace(cuda=clocked_cuda), work, dict(timing, warmup=1), LogFlush(),
                            peers.fabench_core.ClockWatch())
    check(timed.samples == [1.0] * 4 and timed.throttled == 3 and abs(timed.sm_clock_mhz - 1980) < 1e-6,
          f"throttled samples set aside, the kept ones' clock: {timed.samples} {timed.throttled} {timed.sm_clock_mhz}")
    watch = peers.fabench_core.ClockWatch()
    keep_all = peers.time_call(types.SimpleNamespace(cuda=clocked_cuda), work, dict(timing, warmup=1, max_clock_drop=1.0),
                               LogFlush(), watch)
    check(keep_all.throttled == 0 and len(keep_all.samples) == 4, "max_clock_drop 1 keeps every sample")
    low = peers.fabench_core.clocked([2.0, 2.2], [1500.0, 1510.0], False, watch, 0.03)
    check(low.samples == [2.0, 2.2] and low.throttled == 2 and low.sm_clock_mhz == 1505.0,
          "every sample throttled: all kept, and counted")
    check(peers.summary([4.0, 1.0, 3.0, 2.0]) == (2.5, 2.5, math.sqrt(5 / 3), 1.0), "median, mean, std, min")
    throttled_case = {"timing": {"min_samples": 2, "max_time_s": 1.0}, "flops": 1e9, "bytes": 1e6, "row": {"op": "attention"}}
    row = {"sm_clock_mhz": "", "throttled_samples": "", "reason": ""}
    peers.fabench_core.fill_timing(row, throttled_case, low, {})
    check(row["status"] == "ok" and row["throttled_samples"] == "2" and row["reason"] ==
          "every sample ran over 3% below the highest SM clock seen (timing.max_clock_drop)",
          f"every sample throttled: the row's reason says so, in fa-bench's words: {row}")
    row = {"sm_clock_mhz": "", "throttled_samples": "", "reason": ""}
    peers.fabench_core.fill_timing(row, throttled_case, timed, {})
    check(row["reason"] == "" and row["throttled_samples"] == "3", f"some samples kept: no reason: {row}")

    # Both ops through main(), faked: flash refuses fp32 as PyTorch does; memory counters move by
    # fixed amounts in SDPA (O + 64 bytes saved, 1000 bytes of workspace) and in autograd.grad (dQ,
    # dK, dV, 3000 bytes of workspace); events give 1 ms a phase. oom: a flag makes the forward or
    # the backward of the seq_q 40 problems raise torch.cuda.OutOfMemoryError.
    sdpa_calls, grad_calls = [], []
    mem = {"now": 0, "peak": 0}
    fail = {"forward": False, "backward": False}
    modules = fake_torch_modules(sdpa_calls)
    torch = modules["torch"]

    def alloc(n, work=0):
        mem["now"] += n
        mem["peak"] = max(mem["peak"], mem["now"] + work)

    def randn(*shape, generator, device, dtype):
        alloc(math.prod(shape) * 4)
        return MetaTensor(shape, dtype)

    torch.randn = randn
    torch.cuda.memory_allocated = lambda: mem["now"]
    torch.cuda.max_memory_allocated = lambda: mem["peak"]
    torch.cuda.reset_peak_memory_stats = lambda: mem.update(peak=mem["now"])
    sdpa = modules["torch.nn"].functional.scaled_dot_product_attention

    def sdpa_fwd(q, k, v, **kwargs):
        if fail["forward"] and q.shape[2] == 40:
            raise MemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if current_backend[-1] == "flash" and q.dtype == "float32":
            raise RuntimeError("No available kernel. Aborting execution.")
        o = sdpa(q, k, v, **kwargs)
        alloc(o.numel() * o.element_size() + 64, 1000)
        return o

    current_backend = []
    kernel = modules["torch.nn.attention"].sdpa_kernel

    @contextlib.contextmanager
    def sdpa_kernel(backends):
        current_backend.append(backends[0])
        with kernel(backends):
            yield
        current_backend.pop()

    modules["torch.nn.attention"].sdpa_kernel = sdpa_kernel
    modules["torch.nn"].functional.scaled_dot_product_attention = sdpa_fwd

    def grad(outputs, inputs, grad_outputs, retain_graph=False):
        grad_calls.append((retain_graph, inputs[0].shape[2]))
        if fail["backward"] and inputs[0].shape[2] == 40:
            raise MemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")
        alloc(sum(x.numel() * x.element_size() for x in inputs), 3000)
        return tuple(MetaTensor(x.shape, x.dtype) for x in inputs)

    torch.autograd = types.SimpleNamespace(grad=grad)
    MetaTensor.requires_grad_ = lambda self: self
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        out_path = os.path.join(tmp, "peers.csv")
        with contextlib.redirect_stdout(io.StringIO()):
            rc = peers.main(["--plan", plan_path, "--output", out_path, "--peers", "sdpa"])
        check(rc == 0, "peers.py ran the backward plan")
        fail.update(forward=True)
        oom_fwd = os.path.join(tmp, "oom_forward.csv")
        with contextlib.redirect_stdout(io.StringIO()):
            peers.main(["--plan", plan_path, "--output", oom_fwd, "--peers", "math", "--experiments", "."])
        fail.update(forward=False, backward=True)
        oom_bwd = os.path.join(tmp, "oom_backward.csv")
        with contextlib.redirect_stdout(io.StringIO()):
            peers.main(["--plan", plan_path, "--output", oom_bwd, "--peers", "math"])
    finally:
        del MetaTensor.requires_grad_
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module

    with open(out_path) as f:
        check(next(csv.reader(f)) == plan["columns"], "backward peer rows carry exactly fa-bench's columns")
    with open(out_path) as f:
        got = {r["key"]: r for r in csv.DictReader(f)}
    check(set(got) == {f"{c['problem_key']}/{p}" for c in problems for p in peers.ATTENTION_PEERS},
          f"a row per problem and SDPA peer: {len(got)}")
    check(all(r["backward_ms"] == r["forward_ms"] == "" for r in got.values() if r["op"] == "attention_bwd"),
          "attention_bwd rows leave fwd_bwd's columns empty")
    check(grad_calls and all(keep == (seq == 48) for keep, seq in grad_calls),
          "attention_bwd keeps its one graph over the samples (retain_graph), fwd_bwd frees each launch's")
    for case in problems:
        r, key = case["row"], case["problem_key"]
        for peer in peers.ATTENTION_PEERS:
            row = got[f"{key}/{peer}"]
            what = f"{key}/{peer}: {row['status']} {row['reason']}"
            if peer == "torch.sdpa_flash" and r["dtype"] in ("fp32", "tf32"):
                check(row["status"] == "unsupported" and row["reason"] == "forward: No available kernel. Aborting execution.",
                      f"{what}: flash refuses fp32 in its forward, in its own words")
                continue
            if peer == "torch.sdpa_efficient" and r["dtype"] == "tf32":
                check(row["status"] == "unsupported" and row["reason"] == peers.TF32_EFFICIENT_REASON, what)
                continue
            check(row["status"] == "ok", what)
            if r["op"] == "attention_bwd":
                check(row["time_ms_median"] == "1" and row["tflops"] == f"{case['flops'] / 1e-3 / 1e12:.6g}", f"{what}: backward timed")
                continue
            check(row["forward_ms"] == row["backward_ms"] == "1" and row["forward_ms_std"] == row["backward_ms_std"] == "0"
                  and row["time_ms_median"] == "2" and row["tflops"] == f"{case['flops'] / 2e-3 / 1e12:.6g}"
                  and row["fwd_bwd_status"] == "ok", f"{what}: each phase timed, the total's throughput")
            if r["dtype"] == "fp32":
                qb = 2 * 4 * r["seq_q"] * 64 * 4
                kb = 2 * 2 * r["seq_k"] * 64 * 4
                want = {"forward_peak_MiB": qb + 2 * kb + qb + 64 + 1000,  # Q, K, V, O, saved, workspace
                        "saved_activations_MiB": qb + 64,
                        "backward_peak_MiB": 2 * qb + 2 * kb + qb + 64 + qb + 2 * kb + 3000}
                check(all(row[c] == f"{n / 2**20:.6g}" for c, n in want.items()),
                      f"{what}: memory columns {[row[c] for c in want]} against {[f'{n / 2**20:.6g}' for n in want.values()]}")
    sdpa_bwd = [c for c in sdpa_calls if c["q"][2] == 48]
    check(sdpa_bwd and all(c["is_causal"] in (True, False) and c["mask"] is None for c in sdpa_bwd),
          "seq_q == seq_k: is_causal, no mask")
    lower = [c for c in sdpa_calls if c["q"][2] == 40 and c["mask"] is not None]
    check(lower and all(isinstance(c["mask"], CausalLowerRight) and (c["mask"].sq, c["mask"].sk) == (40, 24) for c in lower),
          "seq_q != seq_k, causal: causal_lower_right(40, 24)")
    check(all(c["enable_gqa"] == (c["k"][1] != 4) for c in sdpa_calls), "enable_gqa exactly when kv_heads < heads")

    for path, phase_name in ((oom_fwd, "forward"), (oom_bwd, "backward")):
        with open(path) as f:
            rows = list(csv.DictReader(f))
        hit = [r for r in rows if r["seq_q"] == "40"]
        rest = [r for r in rows if r["seq_q"] != "40"]
        check(hit and all(r["status"] == "oom" and r["reason"].startswith(f"{phase_name}: CUDA out of memory") for r in hit),
              f"oom in the {phase_name}: rows with the phase named: {[(r['status'], r['reason']) for r in hit]}")
        check(rest and all(r["status"] == "ok" for r in rest), f"the sweep goes on after an oom in the {phase_name}")
        fb = [r for r in hit if r["op"] == "attention_fwd_bwd"]
        check(fb and all(r["fwd_bwd_status"] == f"oom({phase_name})" and r["backward_ms"] == "" and r["time_ms_median"] == ""
                         for r in fb), f"fwd_bwd_status oom({phase_name})")
        if phase_name == "backward":
            check(all(r["forward_ms"] == "1" and r["forward_peak_MiB"] and r["saved_activations_MiB"] and r["samples"]
                      for r in fb), "oom(backward): the forward still timed and measured, as seed 004 reports it")
        else:
            check(all(r["forward_ms"] == "" for r in fb), "oom(forward): no times")

print("peers_test:", "FAILED" if failures else "passed")
sys.exit(1 if failures else 0)
