#!/usr/bin/env python3
"""scripts/run_figures.py over made-up results folders: the ratios it prints are the ones the rows
imply (time over density x the full time, A's best of two over B's or one over one, cuDNN over ours,
a few keys' time over their share of the longest's), and a folder
without its files is one line naming what is missing."""
import csv
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
tool = os.path.join(here, "..", "scripts", "run_figures.py")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED:", what)


def run(*args):
    return subprocess.run([sys.executable, tool, *args], capture_output=True, text=True)


def write_csv(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


base = dict(key="", op="sparse_attention", pattern="random", mask_per_head="false", density="1", tflops="600",
            time_ms_median="2.0", causal="false", seq_q="8192", window="", throttled_samples="0")
with tempfile.TemporaryDirectory() as d:
    write_csv(os.path.join(d, "sweep", "sparse-8k.csv"), [
        dict(base, key="s/random-density0.1/shared", density="0.1", time_ms_median="0.3"),
        dict(base, key="s/random-density1/shared", density="1", time_ms_median="2.0"),
        dict(base, key="s/random-density0.1/per-head", density="0.1", time_ms_median="9.9", mask_per_head="true"),
        dict(base, key="d", op="attention", pattern="", density="", time_ms_median="1.6"),
        dict(base, key="e", op="attention", pattern="", density="", time_ms_median="6.4", seq_q="16384")])
    write_csv(os.path.join(d, "sweep", "sparse-8k-flex.csv"), [
        dict(base, key="f/random-density0.1/flex", density="0.1", time_ms_median="0.44", variant="torch.flex_attention"),
        dict(base, key="f/random-density1/flex", density="1", time_ms_median="4.0", variant="torch.flex_attention")])
    out = run("density", os.path.join(d, "sweep"))
    check(out.returncode == 0 and "density 0.1000: 0.3000 ms, 600.0 TFLOP/s, 1.500; 100.0 us beyond 200.0" in out.stdout
          and "takes 1.250x its time" in out.stdout and "9.9" not in out.stdout and "6.4" not in out.stdout,
          f"density: 0.3 / (0.1 x 2.0), per-head masks left out, 2.0 / 1.6 (the dense row of another seq left "
          f"out): {out.stdout} {out.stderr}")
    check("seq 8k, random masks, torch.flex_attention: time" in out.stdout
          and "density 0.1000: 0.4400 ms, 600.0 TFLOP/s, 1.100; 40.0 us beyond 400.0" in out.stdout and "8k-flex" not in out.stdout,
          f"density: a peer's sparse-8k-flex.csv by its variant under seq 8k, 0.44 / (0.1 x 4.0): {out.stdout}")

    for run_name, t in (("sparse_main1", "1.10"), ("sparse_main2", "1.00"), ("sparse_ref1", "0.80"), ("sparse_ref2", "0.90")):
        write_csv(os.path.join(d, "ab", run_name, "x.csv"), [dict(base, key="k", time_ms_median=t, throttled_samples="2")])
    out = run("ab", os.path.join(d, "ab"), "main", "ref")
    check(out.returncode == 0 and "1.250  4 4" in out.stdout and "== dense" not in out.stdout,
          f"ab: best of two 1.00 over best of two 0.80, samples set aside summed: {out.stdout} {out.stderr}")

    for run_name, t in (("dense_main1", "1.20"), ("dense_ref1", "1.00")):
        write_csv(os.path.join(d, "ab1", run_name, "x.csv"), [dict(base, key="k", pattern="", time_ms_median=t)])
    out = run("ab", os.path.join(d, "ab1"), "main", "ref")
    check(out.returncode == 0 and "one run each" in out.stdout and "1.2000  1.0000  1.200" in out.stdout,
          f"ab with one round: its one time each, 1.20 / 1.00: {out.stdout} {out.stderr}")

    # ab's density lines: per build, random masks (not per-head) against density x its density 1 time.
    for run_name, t01, t1 in (("sparse_main1", "0.30", "2.0"), ("sparse_main2", "0.28", "2.2"),
                              ("sparse_ref1", "0.26", "2.0"), ("sparse_ref2", "0.27", "2.0")):
        write_csv(os.path.join(d, "abd", run_name, "x.csv"), [
            dict(base, key="s/d64/random-density0.1", density="0.1", time_ms_median=t01, status="ok"),
            dict(base, key="s/d64/random-density1", density="1", time_ms_median=t1, status="ok"),
            dict(base, key="s/d128/random-density0.1", density="0.1", time_ms_median="0.5", status="ok"),
            dict(base, key="s/d128/random-density1", density="1", time_ms_median="4.0", status="ok"),
            dict(base, key="s/d128/random-density0.25", density="0.25", time_ms_median="", status="timeout"),
            dict(base, key="ph", density="0.1", time_ms_median="9.0", mask_per_head="true", status="ok")])
    out = run("ab", os.path.join(d, "abd"), "main", "ref")
    check(out.returncode == 0 and "main seq 8192 (density 1: 2.0000 ms): 0.1000 1.400" in out.stdout
          and "ref seq 8192 (density 1: 2.0000 ms): 0.1000 1.300" in out.stdout
          and "main seq 8192 (density 1: 4.0000 ms): 0.1000 1.250" in out.stdout
          and "45.000" not in out.stdout and "0.2500 " not in out.stdout.split("== random")[1]
          and "no time in every run: timeout timeout timeout timeout" in out.stdout,
          f"ab's density lines: per problem (d64: best 0.28 / (0.1 x best 2.0); d128: 0.5 / (0.1 x 4.0)), per-head "
          f"and rows not ok left out (the table says so): {out.stdout} {out.stderr}")

    # scaling: a + b x batch over the cases that differ only in batch; a case at one batch is left out.
    write_csv(os.path.join(d, "scaling", "deep", "s.csv"), [
        dict(base, key=f"sparse_attention/bf16/b{b}/h16/blk128/random-density0.1", batch=str(b), status="ok",
             variant="v", time_ms_median=str(0.02 + 0.1 * b)) for b in (1, 2, 4)] + [
        dict(base, key="attention/bf16/b2/h16/x", batch="2", status="ok", variant="v", time_ms_median="1.0")])
    write_csv(os.path.join(d, "scaling", "other", "s.csv"), [  # another run of the same keys: its own fit
        dict(base, key=f"sparse_attention/bf16/b{b}/h16/blk128/random-density0.1", batch=str(b), status="ok",
             variant="v", time_ms_median=str(0.03 + 0.2 * b)) for b in (1, 2)])
    out = run("scaling", os.path.join(d, "scaling"))
    check(out.returncode == 0
          and "deep: sparse_attention/bf16/h16/blk128/random-density0.1: 1,2,4; 0.1000; 20.0; 0.0" in out.stdout
          and "other: sparse_attention/bf16/h16/blk128/random-density0.1: 1,2; 0.2000; 30.0; 0.0" in out.stdout
          and "attention/bf16/h16/x" not in out.stdout,
          f"scaling: 0.02 ms + 0.1 ms a batch under one subfolder, 0.03 + 0.2 under another: {out.stdout} {out.stderr}")
    write_csv(os.path.join(d, "one_batch", "s.csv"), [
        dict(base, key="attention/bf16/b2/h16/x", batch="2", status="ok", variant="v", time_ms_median="1.0")])
    out = run("scaling", os.path.join(d, "one_batch"))
    check(out.returncode != 0 and "differ only in batch" in out.stderr, f"scaling without such cases: {out.stderr}")

    # Any other kind of run folder (a decode config's), its rows labelled by batch, KV heads, cache and
    # a head dim other than 128.
    decode_row = dict(key="dk", op="decode", batch="16", kv_heads="8", seq_k="8192", lengths="equal", page_size="0",
                      head_dim="128", status="ok", time_ms_median="", throttled_samples="0")
    for run_name, t in (("one_main1", "0.126"), ("one_main2", "0.125"), ("one_wide1", "0.124"), ("one_wide2", "0.125")):
        write_csv(os.path.join(d, "abdec", run_name, "x.csv"),
                  [dict(decode_row, time_ms_median=t), dict(decode_row, key="dk64", head_dim="64", time_ms_median=t)])
    out = run("ab", os.path.join(d, "abdec"), "main", "wide")
    check(out.returncode == 0 and "== one:" in out.stdout and "decode b16 kv8 c8192 " in out.stdout
          and "decode b16 kv8 c8192 d64 " in out.stdout and "d128" not in out.stdout and "1.008" in out.stdout,
          f"ab over a decode kind: best of two 0.125 over best of two 0.124, d 64 named: {out.stdout} {out.stderr}")

    write_csv(os.path.join(d, "ab2", "ab_main1", "x.csv"), [dict(base, key="k", time_ms_median="1.0")])
    out = run("ab", os.path.join(d, "ab2"), "main", "ref")
    check(out.returncode != 0 and "no run folders sparse_main1 and sparse_ref1" in out.stderr,
          f"ab over a folder without its runs says which folders it looked for: {out.stdout} {out.stderr}")

    key_row = dict(base, variant="attn.wgmma", seq_k="8192", time_ms_median="1.6", status="ok", reason="",
                   sm_clock_mhz="1980", samples="30")
    write_csv(os.path.join(d, "keys", "short_keys", "a.csv"), [
        key_row, dict(key_row, seq_k="1024", time_ms_median="0.25")])
    write_csv(os.path.join(d, "keys", "short_keys", "peers.csv"), [
        dict(key_row, variant="torch.sdpa_flash", seq_k="1024", time_ms_median="0.4", throttled_samples="30"),
        dict(key_row, variant="torch.sdpa_flash", seq_k="8192", time_ms_median="", status="timeout", reason="slow")])
    out = run("keys", os.path.join(d, "keys"))
    check(out.returncode == 0 and "0.2500 ms,  600.0 TFLOP/s, 1.250, 50.0 us;" in out.stdout
          and "torch.sdpa_flash (no time at seq_k 8192: timeout, so no ratio)" in out.stdout
          and "timeout (slow)" in out.stdout and "all 30 samples below the clock bar" in out.stdout,
          f"keys: 0.25 / (1024 / 8192 x 1.6), a peer without its longest time gives no ratio, a row of throttled "
          f"samples only says so: {out.stdout} {out.stderr}")
    out = run("keys", os.path.join(d, "keys", "short_keys"))
    check(out.returncode == 0 and "0.2500 ms,  600.0 TFLOP/s, 1.250" in out.stdout,
          f"keys over a folder of the CSVs themselves: the same figures: {out.stdout} {out.stderr}")
    os.makedirs(os.path.join(d, "no_keys"))
    out = run("keys", os.path.join(d, "no_keys"))
    check(out.returncode != 0 and "no CSV in " + os.path.join(d, "no_keys") in out.stderr,
          f"keys without a CSV names the folder: {out.stderr}")

    os.makedirs(os.path.join(d, "decode"))
    with open(os.path.join(d, "decode", "calibration.json"), "w") as f:
        json.dump({"gpu": {"read_gbps": 4000.0}}, f)
    ours = dict(key="decode/x/decode.split_kv/v3", batch="1", seq_k="8192", time_ms_median="0.02", gbps="2000")
    write_csv(os.path.join(d, "decode", "decode-ceiling.csv"), [ours])
    write_csv(os.path.join(d, "decode", "decode-peers.csv"), [dict(key="decode/x/torch.sdpa_cudnn", time_ms_median="0.025")])
    out = run("decode", os.path.join(d, "decode"))
    check(out.returncode == 0 and "40.0       1.250" in out.stdout and "50.0" in out.stdout,
          f"decode: 40 MB at 2000 GB/s is 50% of 4000, cuDNN 0.025 / 0.02: {out.stdout} {out.stderr}")

    out = run("density", os.path.join(d, "nothing"))
    check(out.returncode != 0 and out.stderr.strip().count("\n") == 0 and "no sparse-*.csv" in out.stderr,
          f"a folder without its files: one line: {out.stderr}")

if failures:
    sys.exit(f"run_figures_test: {len(failures)} failed")
print("run_figures_test: passed")
