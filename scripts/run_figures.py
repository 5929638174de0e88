#!/usr/bin/env python3
"""The figures a results folder's README entry quotes that `fa-bench compare` does not give,
recomputed from the folder's files (standard library only). Run from anywhere:

  run_figures.py density DIR   each sparse variant's time against density x its full time on the
                               random masks of DIR's sparse-<seq>*.csv (fa-bench's, one per sequence
                               length, and peers' over the same plan, e.g. sparse-8k-flex.csv), and
                               its density 1 against attn.wgmma at the same dense shape
  run_figures.py clocks DIR    each case's median, minimum, standard deviation and samples in
                               DIR/run*/*.json (one process each), and the spells of clock-event
                               reasons in DIR/clocks.csv and DIR/reasons.csv (nvidia-smi, every
                               50 ms: --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,... and
                               timestamp,clocks_event_reasons.active) with the lowest SM clock and
                               highest power in each
  run_figures.py decode DIR    decode.split_kv's rows of DIR/decode-ceiling.csv against the read
                               ceiling of DIR/calibration.json and cuDNN's rows over the same plan
                               in DIR/decode-peers.csv (scripts/peers.py --peers cudnn)
  run_figures.py ab DIR A B    per case, build A's median time over build B's from DIR/<kind>_A1,
                               <kind>_A2, <kind>_B1, <kind>_B2 (each a fa-bench output folder; the
                               runs taken in turn), best of two over best of two (or one over one
                               where only round 1 ran), for each kind present (sparse, dense, then
                               any other, e.g. a decode config's); after a sparse kind, per build
                               the random masks' time against density x the density 1 time, best
                               of the runs
  run_figures.py keys DIR      dense attention with few keys: per variant of DIR/short_keys/*.csv,
                               or DIR/*.csv where DIR has no short_keys/ (fa-bench and
                               scripts/peers.py over the same plan), each seq_k's time
                               against seq_k / the longest x the longest's time, the cost a query
                               tile pays beyond its key steps
  run_figures.py scaling DIR   every CSV under DIR: the cases that differ only in batch, their time
                               fitted as a + b x batch, what a launch costs beyond its batches

Each prints to standard output; the folders keep what it printed (density.txt, clocks.txt,
ratios.txt, ab_ratios.txt, keys.txt, scaling.txt)."""
import argparse
import csv
import glob
import json
import os
import sys


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def random_by_problem(rows):
    """Random masks shared by all heads, by problem (the key without its density segment), each
    problem's rows by density: what "time tracks density" compares."""
    groups = {}
    for r in rows:
        if r["op"] == "sparse_attention" and r.get("pattern") == "random" and r.get("mask_per_head", "false") != "true":
            problem = "/".join(seg for seg in r["key"].split("/") if not seg.startswith("random-density"))
            groups.setdefault(problem, []).append(r)
    return {p: sorted(g, key=lambda r: float(r["density"])) for p, g in groups.items()}


def is_full(row):
    return abs(float(row["density"]) - 1) < 1e-3


def over_share(t, share):
    """A time (ms) against its share (ms): the ratio, and how many us it takes beyond the share (what
    "time tracks density" bounds: 1.1x allows a tenth of the share)."""
    return t / share, 1000 * (t - share)


def density(folder):
    files = sorted(glob.glob(os.path.join(folder, "sparse-*.csv")), key=lambda p: (len(p), p))  # 8k before 16k
    if not files:
        sys.exit(f"run_figures.py: no sparse-*.csv in {folder}")
    for path in files:
        rows = rows_of(path)
        name = os.path.basename(path)[len("sparse-"):-len(".csv")].split("-")[0]  # sparse-8k-flex.csv: 8k
        for random in random_by_problem(rows).values():
            full_row = next((r for r in random if is_full(r)), None)
            if full_row is None:
                sys.exit(f"run_figures.py: {path} has no random mask at density 1")
            full = float(full_row["time_ms_median"])
            variant = full_row.get("variant") or "sparse"
            print(f"seq {name}, random masks, {variant}: time / (density x the density 1 time); what the time "
                  f"takes beyond that share, us (1.1x allows a tenth of the share)")
            for r in random:
                t, dens = float(r["time_ms_median"]), float(r["density"])
                ratio, beyond = over_share(t, dens * full)
                print(f"  density {dens:.4f}: {t:.4f} ms, {float(r['tflops']):.1f} TFLOP/s, {ratio:.3f}; "
                      f"{beyond:.1f} us beyond {1000 * dens * full:.1f}")
            same_shape = ("dtype", "seq_q", "seq_k", "head_dim")  # the dense run of this problem's shape
            for r in rows:
                if (r["op"] == "attention" and r["causal"] == "false"
                        and all(r.get(c) == full_row.get(c) for c in same_shape)):
                    t = float(r["time_ms_median"])
                    print(f"  attn.wgmma at density 1's shape: {t:.4f} ms, {float(r['tflops']):.1f} TFLOP/s; "
                          f"{variant} takes {full / t:.3f}x its time")


def clocks(folder):
    runs = [p for p in glob.glob(os.path.join(folder, "run*")) if os.path.basename(p)[3:].isdigit() and os.path.isdir(p)]
    runs.sort(key=lambda p: int(os.path.basename(p)[3:]))
    for run in runs:
        for path in glob.glob(os.path.join(run, "*.json")):
            with open(path) as f:
                for row in json.load(f)["rows"]:
                    what = row["variant"] + (f" density {row['density']}" if row.get("density") is not None else "")
                    print(f"{os.path.basename(run)}  {what:28s} median {row['time_ms_median']:.4f}  "
                          f"min {row['time_ms_min']:.4f}  std {row['time_ms_std']:.4f}  samples {row['samples']}")
    clock_rows = rows_of(os.path.join(folder, "clocks.csv"))
    reason_rows = rows_of(os.path.join(folder, "reasons.csv"))
    # Columns by position: nvidia-smi names them with units and leading spaces.
    samples = []
    for r in clock_rows:
        v = list(r.values())
        if len(v) > 3 and v[1].strip().endswith("MHz"):
            samples.append((v[0].split()[1], float(v[1].split()[0]), float(v[3].split()[0])))
    reasons = [(list(r.values())[0].split()[1], list(r.values())[1].strip()) for r in reason_rows if len(r) > 1]
    spells, start, prev = [], None, None
    for ts, v in reasons + [("99:99:99.999", "end")]:
        if v != prev:
            if prev not in (None, "0x0000000000000000"):
                spells.append((start, ts, prev))
            start, prev = ts, v
    print()
    print("throttle spells (nvidia-smi, 50 ms): start, end, reasons, lowest SM clock, highest power in it")
    for a, b, v in spells:
        inside = [(mhz, w) for ts, mhz, w in samples if a <= ts < b]
        low = min((m for m, _ in inside), default=float("nan"))
        high = max((w for _, w in inside), default=float("nan"))
        print(f"  {a} - {b}  {v}  {low:.0f} MHz  {high:.0f} W")


def decode(folder):
    with open(os.path.join(folder, "calibration.json")) as f:
        ceiling = next(iter(json.load(f).values()))["read_gbps"]
    ours = rows_of(os.path.join(folder, "decode-ceiling.csv"))
    peers = {r["key"].rsplit("/", 1)[0]: r for r in rows_of(os.path.join(folder, "decode-peers.csv"))}
    print(f"read ceiling {ceiling:.0f} GB/s (calibration.json); bytes = the K and V read plus q and o")
    print(f"{'case':22s}{'MB':>8s}{'ours us':>10s}{'GB/s':>8s}{'% ceil':>8s}{'cuDNN us':>10s}{'% ceil':>8s}"
          f"{'cuDNN/ours':>12s}")
    for r in ours:
        p = peers[r["key"].rsplit("/", 2)[0]]
        t, tp = float(r["time_ms_median"]), float(p["time_ms_median"])
        gbps = float(r["gbps"])
        mb = gbps * t
        print(f"b{r['batch']:>2s} x {int(r['seq_k']) // 1024:>3d}k{'':10s}{mb:8.1f}{t * 1e3:10.2f}{gbps:8.0f}"
              f"{100 * gbps / ceiling:8.1f}{tp * 1e3:10.2f}{100 * mb / tp / ceiling:8.1f}{tp / t:12.3f}")


def timed(row):
    """A row with a time: status ok (where the file has the column) and a median."""
    return row.get("status", "ok") == "ok" and bool(row.get("time_ms_median"))


def print_density_ratios(runs, builds):
    """Per build and problem (random_by_problem): each density's best time over density x the best time
    at density 1 (issue 18's "time tracks density"). Rows without a time in every run are left out."""
    lines = []
    for x in builds:
        timed_rows = [r for k, r in runs[x][0].items() if all(k in run and timed(run[k]) for run in runs[x])]
        for random in random_by_problem(timed_rows).values():
            best = {r["key"]: min(float(run[r["key"]]["time_ms_median"]) for run in runs[x]) for r in random}
            full = next((r for r in random if is_full(r)), None)
            if full is None:
                continue
            parts = [f"{float(r['density']):.4f} {best[r['key']] / (float(r['density']) * best[full['key']]):.3f}"
                     for r in random if r is not full]
            lines.append(f"{x} seq {full['seq_q']} (density 1: {best[full['key']]:.4f} ms): " + ", ".join(parts))
    if lines:
        print("== random masks: time / (density x the density 1 time), best of the runs")
        print("\n".join(lines))


def scaling(folder):
    """Every CSV under folder: cases that differ only in batch, their median time fitted as a + b x batch
    (least squares): b is a batch's time, a what a launch costs beyond its batches."""
    paths = sorted(glob.glob(os.path.join(folder, "**", "*.csv"), recursive=True))
    groups = {}
    for path in paths:
        where = os.path.relpath(os.path.dirname(path), folder)  # each run folder fitted apart
        for r in rows_of(path):
            if "status" not in r or not timed(r) or not r.get("batch") or not r.get("variant"):
                continue
            shape = "/".join(seg for seg in r["key"].split("/") if not (seg.startswith("b") and seg[1:].isdigit()))
            shape = shape if where == "." else f"{where}: {shape}"
            groups.setdefault(shape, []).append((int(r["batch"]), float(r["time_ms_median"])))
    print("case (batch left out): batches; ms a batch; us a launch beyond its batches; largest residual, us")
    shown = 0
    for shape, points in groups.items():
        batches = sorted({b for b, _ in points})
        if len(batches) < 2:
            continue
        n = len(points)
        mx, my = sum(b for b, _ in points) / n, sum(t for _, t in points) / n
        slope = sum((b - mx) * (t - my) for b, t in points) / sum((b - mx) ** 2 for b, _ in points)
        icpt = my - slope * mx
        worst = max(abs(t - icpt - slope * b) for b, t in points)
        print(f"{shape}: {','.join(map(str, batches))}; {slope:.4f}; {icpt * 1e3:.1f}; {worst * 1e3:.1f}")
        shown += 1
    if not shown:
        sys.exit(f"run_figures.py: no cases under {folder} that differ only in batch")


def ab(folder, a, b):
    def load(run):
        paths = glob.glob(os.path.join(folder, run, "*.csv"))
        if not paths:
            sys.exit(f"run_figures.py: no CSV in {os.path.join(folder, run)}")
        return {r["key"]: r for r in rows_of(paths[0])}

    def label_of(r):
        if r.get("op") == "decode":
            label = f"decode b{r['batch']} kv{r['kv_heads']} c{r['seq_k']}"
            label += f" d{r['head_dim']}" if r.get("head_dim") not in (None, "", "128") else ""  # d 128 the default
            label += f" {r['lengths']}" if r.get("lengths") not in (None, "", "equal") else ""
            return label + (f" page{r['page_size']}" if r.get("page_size") not in (None, "", "0") else "")
        label = f"{r.get('pattern') or 'dense'} {(r.get('density') or '')[:6]} seq {r['seq_q']}"
        label += " causal" if r["causal"] in ("true", "1") else ""
        label += f" window {r['window']}" if r.get("window") else ""
        return label + (" per-head" if r.get("mask_per_head") == "true" else "")

    # Kinds: the prefixes with a round-1 folder of both builds, sparse and dense first.
    if not os.path.isdir(folder):
        sys.exit(f"run_figures.py: {folder} is not a folder")
    suffix = f"_{a}1"
    named = sorted(e[: -len(suffix)] for e in os.listdir(folder) if e.endswith(suffix))
    kinds = [k for k in ("sparse", "dense") if k in named] + [k for k in named if k not in ("sparse", "dense")]
    found = False
    for kind in kinds:
        rounds = [i for i in (1, 2) if all(os.path.isdir(os.path.join(folder, f"{kind}_{x}{i}")) for x in (a, b))]
        if 1 not in rounds:
            continue
        found = True
        runs = {x: [load(f"{kind}_{x}{i}") for i in rounds] for x in (a, b)}
        each = "two runs each" if len(rounds) == 2 else "one run each"
        print(f"== {kind}: case; ms of {a}, {b} ({each}); {a} / {b}; samples set aside ({a}, {b})")
        for key, r in runs[a][0].items():
            label = label_of(r)
            every = [run.get(key) for x in (a, b) for run in runs[x]]
            if not all(row and timed(row) for row in every):  # no ratio without a time in every run
                states = " ".join(row.get("status") or "?" if row else "missing" for row in every)
                print(f"{label:38s} no time in every run: {states}")
                continue
            t = {x: [float(run[key]["time_ms_median"]) for run in runs[x]] for x in (a, b)}
            aside = {x: sum(int(run[key].get("throttled_samples") or 0) for run in runs[x]) for x in (a, b)}
            times = "  ".join(" ".join(f"{v:.4f}" for v in t[x]) for x in (a, b))
            print(f"{label:38s} {times}  {min(t[a]) / min(t[b]):.3f}  {aside[a]} {aside[b]}")
        if kind == "sparse":
            print_density_ratios(runs, (a, b))
    if not found:  # a run named otherwise (ab_main1) would otherwise print nothing at all
        sys.exit(f"run_figures.py: {folder} holds no run folders sparse_{a}1 and sparse_{b}1, nor dense_{a}1 and "
                 f"dense_{b}1, nor any other <kind>_{a}1 and <kind>_{b}1 (a second round: ..2)")


def keys(folder):
    nested = os.path.join(folder, "short_keys")
    where = nested if os.path.isdir(nested) else folder
    paths = sorted(glob.glob(os.path.join(where, "*.csv")))
    if not paths:
        sys.exit(f"run_figures.py: no CSV in {where}")
    by_variant = {}
    for path in paths:
        for r in rows_of(path):
            by_variant.setdefault(r["variant"], []).append(r)
    print("variant; seq_k: ms, TFLOP/s, time / (seq_k / longest x the longest's time), what the time takes "
          "beyond that share (us); clock MHz, samples kept and set aside")
    for variant, rows in by_variant.items():
        rows.sort(key=lambda r: int(r["seq_k"]))
        longest = rows[-1]
        k_long = int(longest["seq_k"])
        t_long = float(longest["time_ms_median"]) if longest["status"] == "ok" else None
        print(variant + ("" if t_long else f" (no time at seq_k {k_long}: {longest['status']}, so no ratio)"))
        for r in rows:
            k = int(r["seq_k"])
            if r["status"] != "ok":
                print(f"  seq_k {k:6d}: {r['status']} ({r['reason']})")
                continue
            t = float(r["time_ms_median"])
            ratio = "{:.3f}, {:.1f} us".format(*over_share(t, k / k_long * t_long)) if t_long else "-"
            n, aside = int(r["samples"]), int(r.get("throttled_samples") or 0)
            kept = f"all {n} samples below the clock bar (their statistics)" if aside == n > 0 else \
                f"{n} kept, {aside} set aside"
            print(f"  seq_k {k:6d}: {t:.4f} ms, {float(r['tflops']):6.1f} TFLOP/s, {ratio}; "
                  f"{float(r['sm_clock_mhz'] or 0):.0f} MHz, {kept}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    for name in ("density", "clocks", "decode", "keys", "scaling"):
        sub.add_parser(name).add_argument("folder")
    q = sub.add_parser("ab")
    q.add_argument("folder")
    q.add_argument("a")
    q.add_argument("b")
    args = p.parse_args()
    if args.what == "density":
        density(args.folder)
    elif args.what == "clocks":
        clocks(args.folder)
    elif args.what == "decode":
        decode(args.folder)
    elif args.what == "keys":
        keys(args.folder)
    elif args.what == "scaling":
        scaling(args.folder)
    else:
        ab(args.folder, args.a, args.b)


if __name__ == "__main__":
    main()
