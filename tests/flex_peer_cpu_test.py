#!/usr/bin/env python3
"""The torch.flex_attention peer of scripts/peers.py on the CPU (exit 77, skipped, without torch):
for sparse_attention problems of `fa-bench plan` (every pattern, per-head masks, GQA, seq_q != seq_k,
lengths off the block, blocks of 64 and 128):
- each mask_mod, evaluated by Flex's create_mask, equals the port's element mask, and
  create_block_mask's empty blocks are the port's empty blocks (its full blocks are full);
- compiled flex_attention (no lse: Inductor's CPU flex has none) gives O equal to the float64
  reference over the validation rows, rows that keep nothing included (O = 0 there);
- validate_sparse passes that O with the reference lse, and fails a wrong lse where no key is
  visible (0 instead of -inf), a perturbed O, a NaN, a perturbed lse;
- make_call turns what cannot run into Unsupported (the CPU's missing lse, a mask file gone) and a
  mask that is not fa-bench's (the plan's FLOPs changed) into PortMismatch, never an exception;
- run_peer makes a row end to end (eager flex_attention, which returns the lse on the CPU, and
  host stand-ins for torch.cuda's events and memory counters).
Usage: flex_peer_cpu_test.py FA_BENCH_BINARY"""
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings

try:
    import torch
except ImportError:
    print("torch is not installed: skipped")
    sys.exit(77)
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("peers", os.path.join(HERE, "..", "scripts", "peers.py"))
peers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peers)
peers.DEVICE = "cpu"
warnings.filterwarnings("ignore")

from check_tally import check, finish  # noqa: E402


base = {"op": "sparse_attention", "variants": ["sparse.cpu_reference"], "batch": 2, "heads": 4, "kv_heads": 2,
        "head_dim": 16, "seq_q": [150, 200], "seq_k": [333, 130], "zip": [["seq_q", "seq_k"]]}
with tempfile.TemporaryDirectory() as tmp:
    mask_path = os.path.join(tmp, "m.npy")
    np.save(mask_path, np.random.default_rng(3).random((2, 4, 150, 333)) < 0.4)
    experiments = [
        dict(base, pattern="random", density=0.4, mask_per_head=True, block=64),
        dict(base, pattern="causal", block=128),
        dict(base, pattern="window", window=37, block=64),
        dict(base, pattern="causal_window", window=70, block=128),
        dict(base, pattern="global_window", window=20, global_tokens=9, block=64),
        dict(base, pattern="documents", documents={"random": 5}, mask_per_head=True, block=128),
        dict(base, pattern="file", mask_file=mask_path, seq_q=150, seq_k=333, zip=[], block=64),
    ]
    config = os.path.join(tmp, "c.json")
    with open(config, "w") as f:
        json.dump({"name": "flex-cpu", "validation": {"max_rows": 64}, "experiments": experiments}, f)
    plan = json.loads(subprocess.run([sys.argv[1], "plan", "--config", config], check=True, capture_output=True,
                                     text=True).stdout)
    problems = peers.distinct_problems(plan)
    check(len(problems) == 13, f"13 problems, got {len(problems)}")
    check(all(peers.peers_for(c["row"]["op"]) == ["torch.flex_attention"] for c in problems), "the sparse peer")

    from torch.nn.attention.flex_attention import create_block_mask, create_mask

    flex, _ = peers.flex_functions(torch)  # the peer's compiled flex_attention, its recompile limits raised
    check(torch._dynamo.config.fail_on_recompile_limit_hit and torch._dynamo.config.recompile_limit >= 1 << 16,
          "no silent fallback to eager flex_attention: the limit is far away, and an error when reached")
    compiled = 0
    for case in problems:
        row, key = case["row"], case["problem_key"]
        port = peers.sparse_port(case)
        mask_mod, _ = peers.flex_mask_mod(torch, port, "cpu")
        B, H = (row["batch"], row["heads"]) if port.per_head else (1, 1)
        dense = create_mask(mask_mod, B, H, row["seq_q"], row["seq_k"], "cpu")
        check(all(np.array_equal(dense[g // H, g % H].numpy(), port.element_mask(port.index(g // H, g % H)))
                  for g in range(B * H)), f"{key}: mask_mod equals the port's element mask")
        bm = create_block_mask(mask_mod, B if port.per_head else None, H if port.per_head else None,
                               row["seq_q"], row["seq_k"], device="cpu", BLOCK_SIZE=row["block"])
        dense_blocks = bm.to_dense()  # [B, H, q_blocks, k_blocks]: 1 where Flex computes the block
        kinds_ok = True
        for g in range(B * H):
            kinds = port.classify(port.index(g // H, g % H))
            kinds_ok &= np.array_equal(dense_blocks[g // H, g % H].numpy() != 0, kinds != 0)
        check(kinds_ok, f"{key}: Flex computes exactly the port's non-empty blocks")

        t = peers.make_inputs(torch, case)
        # compiled flex_attention (a compile takes 3-20 s here)
        compiled += 1
        t0 = time.time()
        o = flex(t["q"], t["k"], t["v"], block_mask=bm, scale=row["scale"], enable_gqa=row["heads"] != row["kv_heads"])
        print(f"{key}: compiled and ran in {time.time() - t0:.1f} s")
        rows = peers.sparse_validation_rows(case, port)
        ref_o, ref_lse = peers.sparse_reference_rows(torch, case, t, rows, port)
        idle = torch.isinf(ref_lse)
        lse = torch.zeros(row["batch"], row["heads"], row["seq_q"])
        lse.view(-1)[rows] = ref_lse.float()
        rel, max_abs, reason = peers.validate_sparse(torch, case, t, (o, lse))
        check(reason == "" and rel < 1e-5, f"{key}: Flex's O with the reference lse passes: {rel} {reason}")
        check(all(torch.all(o.reshape(-1, row["head_dim"])[r] == 0) for r, i in zip(rows, idle) if i),
              f"{key}: rows that keep nothing give O = 0")
        if bool(idle.any()):
            wrong = lse.clone()
            wrong.view(-1)[[r for r, i in zip(rows, idle) if i]] = 0.0
            reason = peers.validate_sparse(torch, case, t, (o, wrong))[2]
            check(reason.startswith("lse wrong in"), f"{key}: a finite lse where no key is visible fails: {reason}")
        bad = o.clone()
        bad.view(-1, row["head_dim"])[rows[len(rows) // 2]] += 1.0
        check("o rel_l2" in peers.validate_sparse(torch, case, t, (bad, lse))[2], f"{key}: a perturbed O fails")
        bad.view(-1)[0] = math.nan
        check("NaN" in peers.validate_sparse(torch, case, t, (bad, lse))[2], f"{key}: NaN fails")
        wrong = lse.clone()
        wrong.view(-1)[[r for r, i in zip(rows, idle) if not i]] += 0.5
        check("lse rel_l2" in peers.validate_sparse(torch, case, t, (o, wrong))[2], f"{key}: a perturbed lse fails")
    check(compiled == len(problems), f"flex_attention compiled and checked on {compiled} problems")

    # What the sweep sees: Unsupported for a case Flex cannot run here (no lse on the CPU), with the
    # compile and build times kept; PortMismatch when the plan's mask is not the port's.
    case = problems[0]
    t = peers.make_inputs(torch, case)
    extra = {}
    try:
        peers.make_call(torch, case, "torch.flex_attention", t, extra)
        check(False, "make_call on the CPU: Unsupported expected (no lse)")
    except peers.Unsupported as e:
        check("flex_attention" in str(e), f"the reason names flex_attention: {e}")
    check(extra.get("mask_build_ms", -1) >= 0 and "create_block_mask eager" in extra.get("notes", ""),
          f"the block mask's build time is kept: {extra}")
    tampered = dict(case, flops=case["flops"] + 4 * case["row"]["head_dim"], problem_key="tampered")
    try:
        peers.make_call(torch, tampered, "torch.flex_attention", peers.make_inputs(torch, tampered), {})
        check(False, "a mask other than fa-bench's must not run")
    except peers.PortMismatch as e:
        check("keeps" in str(e), f"the reason gives both counts: {e}")

    moved = dict(problems[-1], problem_key="moved", row=dict(problems[-1]["row"], mask_file=mask_path + ".moved"))
    try:
        peers.make_call(torch, moved, "torch.flex_attention", peers.make_inputs(torch, moved), {})
        check(False, "a mask file gone since the plan must be a row, not an exception")
    except peers.Unsupported as e:
        check("cannot be rebuilt" in str(e) and ".moved" in str(e), f"the reason names the file: {e}")

    # run_peer end to end (inputs, mask, compile and build times, validation of O and lse, timing, the
    # row) with eager flex_attention, whose CPU path returns the lse, and host stand-ins for torch.cuda.
    from torch.nn.attention.flex_attention import flex_attention

    cuda = torch.cuda
    cuda.empty_cache = cuda.synchronize = cuda.reset_peak_memory_stats = lambda: None
    cuda.memory_allocated = cuda.max_memory_allocated = lambda: 0
    cuda.Event, cuda._sleep = peers.fabench_core.HostEvent, lambda cycles: None
    peers._flex_compiled["flex"] = flex_attention
    columns = plan["columns"] + [c for c in peers.FLEX_COLUMNS if c not in plan["columns"]]  # mask_build_ms is both fa-bench's and the peer's
    for case in problems[:2] + problems[-3:]:
        case = dict(case, timing={"warmup": 1, "min_samples": 3, "min_time_s": 0.001, "max_noise": 1.0,
                                  "max_time_s": 5, "flush_l2": True})
        row = peers.run_peer(torch, case, "torch.flex_attention", columns, "cpu", None, peers.fabench_core.NoFlush())
        check(row["status"] == "ok" and float(row["rel_l2_err"]) < 1e-5 and int(row["samples"]) >= 3
              and float(row["tflops"]) > 0 and float(row["compile_ms"]) > 0 and float(row["mask_build_ms"]) > 0
              and row["key"] == case["problem_key"] + "/torch.flex_attention" and list(row) == columns,
              f"run_peer end to end: {row}")

finish()
