#!/usr/bin/env python3
"""scripts/fabench_port.py's sparse masks (what the torch.flex_attention peer builds its block masks
from) against fa-bench's own, element for element, without torch: every pattern and parameter of
configs/sparse.json shrunk to small shapes (seq_q = seq_k, seq_q < seq_k, seq_q > seq_k, lengths off
the block, both block sizes, shared and per-head masks, two seeds), explicit document lengths, and
mask files (element and block granularity, shared and [batch, heads], uint8 and bool). For each
problem of `fa-bench plan`: the element mask of every batch x head (tests/tools/sparse_mask_dump
writes fa-bench's), the block classification (empty / full / partial), the kept-score count (the
dump's and the plan's FLOPs / 4d), and that fa-bench and the port refuse the same bad mask files.
A negative control (another seed) must differ, so the comparison can fail.
Usage: sparse_mask_port_test.py FA_BENCH_BINARY SPARSE_MASK_DUMP_BINARY"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import fabench_port  # noqa: E402
from fabench_port import MaskFileError, SparseMaskPort  # noqa: E402

from check_tally import check, finish  # noqa: E402


SEQS = [(200, 200), (150, 333), (333, 150), (64, 64), (1, 130), (129, 257)]


def shrink(experiment):
    """A configs/sparse.json experiment at small shapes: its pattern and parameter values (windows
    and global tokens divided by 64, as its sequences are about 64 x these), over SEQS and both blocks."""
    e = {k: v for k, v in experiment.items() if k not in ("seq_len", "seq_q", "seq_k", "variants", "zip")}
    e.update(variants=["sparse.cpu_reference"], dtype="fp32", batch=2, heads=3, kv_heads=1, head_dim=16,
             block=[64, 128], seq_q=[s[0] for s in SEQS], seq_k=[s[1] for s in SEQS], zip=[["seq_q", "seq_k"]])
    as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    if "window" in e:
        e["window"] = sorted({max(1, w // 64) for w in as_list(e["window"])} | {1, 7})
    if "global_tokens" in e:
        e["global_tokens"] = sorted({max(1, g // 64) for g in as_list(e["global_tokens"])})
    if "documents" in e:  # at most as many documents as the shortest seq_k holds
        e["documents"] = [d for d in as_list(e["documents"]) if d.get("random", 0) <= min(s[1] for s in SEQS)]
    return e


def npy(path, array):
    np.save(path, np.ascontiguousarray(array))
    return path


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


fa_bench, dump = sys.argv[1], sys.argv[2]
with open(os.path.join(ROOT, "configs", "sparse.json")) as f:
    shipped = json.load(f)
shipped_patterns = {e["pattern"] for e in shipped["experiments"]}

with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(5)
    experiments = [shrink(e) for e in shipped["experiments"]]
    experiments.append({"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "batch": 2, "heads": 2,
                        "head_dim": 16, "seq_q": 150, "seq_k": 333, "block": [64, 128], "pattern": "documents",
                        "documents": [[100, 33, 200], [1, 331, 1]], "mask_per_head": [False, True]})
    # Mask files: (seq_q, seq_k, block, array). Elements and blocks, shared and [batch, heads] = [2, 3].
    files = [
        (150, 333, 64, rng.random((150, 333)) < 0.3),
        (150, 333, 64, (rng.random((2, 3, 150, 333)) < 0.5).astype(np.uint8)),
        (150, 333, 64, (rng.random((3, 6)) < 0.5).astype(np.uint8)),
        (333, 150, 128, rng.random((2, 3, 3, 2)) < 0.5),
        (64, 64, 64, np.zeros((64, 64), dtype=np.uint8)),
    ]
    for n, (sq, sk, block, array) in enumerate(files):
        path = npy(os.path.join(tmp, f"mask{n}.npy"), array)
        experiments.append({"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "batch": 2, "heads": 3,
                            "head_dim": 16, "seq_q": sq, "seq_k": sk, "block": block, "pattern": "file",
                            "mask_file": path})
    seeds = [shipped["seed"], 7]
    problems, expected_keys = [], 0
    for seed in seeds:
        config = os.path.join(tmp, f"small{seed}.json")
        with open(config, "w") as f:
            json.dump({"name": "sparse-port", "seed": seed, "experiments": experiments}, f)
        out = os.path.join(tmp, f"dump{seed}")
        os.makedirs(out)
        r = run([fa_bench, "plan", "--config", config, "-o", os.path.join(tmp, "plan.json")])
        check(r.returncode == 0, f"fa-bench plan of the small config: {r.stderr}")
        r2 = run([dump, config, out])
        check(r2.returncode == 0, f"sparse_mask_dump: {r2.stderr}")
        if r.returncode or r2.returncode:
            continue
        with open(os.path.join(tmp, "plan.json")) as f:
            plan = json.load(f)
        index = {}
        with open(os.path.join(out, "index.tsv")) as f:
            for line in f:
                n, key, masks, per_head, kept, elements, blocks = line.rstrip("\n").split("\t")
                index[key] = (int(masks), per_head == "1", int(kept), os.path.join(out, elements),
                              os.path.join(out, blocks))
        seen = set()
        for case in plan["cases"]:
            if case["problem_key"] in seen:
                continue
            seen.add(case["problem_key"])
            problems.append((case, index.get(case["problem_key"])))
        expected_keys += len(seen)

    check(len(problems) == expected_keys and expected_keys > 600, f"{len(problems)} problems compared")
    compared = set()
    for case, dumped in problems:
        key = case["problem_key"]
        if dumped is None:
            check(False, f"{key}: not in the dump")
            continue
        masks, per_head, kept, elements_path, blocks_path = dumped
        port = SparseMaskPort(case["row"], int(case["seed"]))
        elements, blocks = np.load(elements_path), np.load(blocks_path)
        same = (port.count == masks and port.per_head == per_head
                and all(np.array_equal(port.element_mask(m), elements[m].astype(bool)) for m in range(masks)))
        check(same, f"{key}: element masks differ")
        check(all(np.array_equal(port.classify(m), blocks[m]) for m in range(masks)) if same else True,
              f"{key}: block classification differs")
        counts_ok = all(np.array_equal(port.row_counts(m), elements[m].sum(axis=1)) for m in range(masks))
        check(counts_ok, f"{key}: row counts differ from the element mask")
        check(port.kept_total() == kept, f"{key}: kept {port.kept_total()} against fa-bench's {kept}")
        check(round(case["flops"] / (4 * case["row"]["head_dim"])) == kept, f"{key}: the plan's FLOPs are 4 d kept")
        compared.add((case["row"]["pattern"], port.per_head, port.source))

    print(f"{len(problems)} problems compared: {sorted(compared)}")
    patterns = {p for p, _, _ in compared}
    check(patterns == set(fabench_port.PATTERNS), f"every pattern compared: {sorted(patterns)}")
    check(shipped_patterns <= patterns, f"every pattern of configs/sparse.json compared: {sorted(shipped_patterns)}")
    for need in [("random", True, "blocks"), ("documents", True, "documents"), ("file", True, "elements"),
                 ("file", False, "blocks"), ("file", True, "blocks"), ("file", False, "elements")]:
        check(need in compared, f"compared {need}")

    # Negative control: the same problems under another seed give other random blocks and documents,
    # so the comparison above would have failed with a wrong stream.
    differ = 0
    for case, dumped in problems:
        r = case["row"]
        if dumped and (r["pattern"] == "random" or r["pattern"] == "documents" and r["documents"].startswith("random:")):
            other = SparseMaskPort(case["row"], int(case["seed"]) + 1)
            elements = np.load(dumped[3])
            differ += any(not np.array_equal(other.element_mask(m), elements[m].astype(bool))
                          for m in range(dumped[0]))
    check(differ > 50, f"another seed gives other masks ({differ} problems differ)")

    # Bad mask files: fa-bench refuses them (exit 2 naming the file) and so does the port.
    bad = {
        "values.npy": lambda p: npy(p, np.full((64, 64), 2, dtype=np.uint8)),
        "dtype.npy": lambda p: npy(p, np.ones((64, 64), dtype=np.int32)),
        "fortran.npy": lambda p: np.save(p, np.asfortranarray(np.ones((64, 64), dtype=np.uint8))),
        "shape.npy": lambda p: npy(p, np.ones((63, 64), dtype=np.uint8)),
        "heads.npy": lambda p: npy(p, np.ones((2, 2, 64, 64), dtype=np.uint8)),
        "truncated.npy": lambda p: open(p, "wb").write(open(npy(p + ".full.npy", np.ones((64, 64), np.uint8)), "rb").read()[:-5]),
        "trailing.npy": lambda p: open(p, "wb").write(open(npy(p + ".full.npy", np.ones((64, 64), np.uint8)), "rb").read() + b"\0"),
        "text.npy": lambda p: open(p, "w").write("not a mask"),
        "missing.npy": lambda p: None,
    }
    for name, make in bad.items():
        path = os.path.join(tmp, name)
        make(path)
        config = os.path.join(tmp, "bad.json")
        with open(config, "w") as f:
            json.dump({"name": "bad", "experiments": [
                {"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "batch": 2, "heads": 3,
                 "head_dim": 16, "seq_len": 64, "block": 64, "pattern": "file", "mask_file": path}]}, f)
        r = run([fa_bench, "plan", "--config", config])
        check(r.returncode == 2 and path in r.stderr, f"fa-bench refuses {name}: {r.returncode} {r.stderr.strip()}")
        row = {"pattern": "file", "batch": 2, "heads": 3, "seq_q": 64, "seq_k": 64, "block": 64, "window": None,
               "global_tokens": None, "mask_per_head": False, "mask_file": path}
        try:
            SparseMaskPort(row, 1)
            check(False, f"the port refuses {name}")
        except MaskFileError as e:
            check(path in str(e), f"the port's message names the file: {e}")

# The port's own pins: llround halves away from zero, SplitMix64's first draws.
check([fabench_port.llround(x) for x in (0.5, 1.5, 2.5, 0.49999999999999994)] == [1, 2, 3, 0], "llround")
check(fabench_port.SplitMix64(0).next() == 0xE220A8397B1DCDAF, "splitmix64(0)'s first value")

finish()
