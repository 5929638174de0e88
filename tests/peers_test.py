#!/usr/bin/env python3
"""scripts/peers.py without a GPU: it reads `fa-bench plan` output, writes rows in fa-bench's
columns and keys, refuses files that are not plans, and samples validation rows as promised.
Usage: peers_test.py FA_BENCH_BINARY"""
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile

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
    blank = peers.blank_row(plan["columns"], cases[0], "torch.generate_loop")
    check(blank["key"] == cases[0]["problem_key"] + "/torch.generate_loop" and blank["steps"] == "5",
          f"generate blank row: {blank['key']}")
    xs = [float(x) for x in range(1, 9)]
    check(abs(peers.percentile(xs, 90) - 7.3) < 1e-12 and peers.percentile(xs, 50) == 4.5,
          "percentile interpolates between ranks, as fa-bench's generate columns")

print("peers_test:", "FAILED" if failures else "passed")
sys.exit(1 if failures else 0)
