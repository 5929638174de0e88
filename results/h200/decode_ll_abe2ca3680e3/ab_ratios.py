#!/usr/bin/env python3
"""Best of two medians per binary (ab_<binary><run>/<config>.csv) and main's time over each other's.
Usage: python3 ab_ratios.py [folder]  (this folder, or flagged_2c4a7b3147e3). Standard library only."""
import csv, glob, os, re, sys

folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
runs = {}
for path in sorted(glob.glob(os.path.join(folder, "ab_*", "*.csv"))):
    if path.endswith("-peers.csv"):
        continue
    name = re.fullmatch(r"ab_(.+?)(\d)", os.path.basename(os.path.dirname(path))).group(1)
    for r in csv.DictReader(open(path)):
        runs.setdefault(name, {}).setdefault(r["key"], []).append(r)
others = [n for n in runs if n != "main"]
print(f"{'case (best of two medians, us)':52s}{'main':>9s}" + "".join(f"{n:>9s}" for n in others)
      + "".join(f"  main/{n}" for n in others))
for key, rows in runs["main"].items():
    r = rows[0]
    best = {n: min(float(x["time_ms_median"]) for x in runs[n][key]) * 1000 for n in runs}
    assert all(x["status"] == "ok" for n in runs for x in runs[n][key]), key
    label = f"{r['variant']} b{r['batch']} kv{r['kv_heads']} d{r['head_dim']} {r['dtype']} c{r['seq_k']} {r['lengths']} p{r['page_size']}"
    print(f"{label:52s}{best['main']:9.2f}" + "".join(f"{best[n]:9.2f}" for n in others)
          + "".join(f"  {best['main'] / best[n]:>{5 + len(n)}.3f}" for n in others))
