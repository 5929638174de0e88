#!/usr/bin/env python3
"""Markdown tables of one variant against a baseline, from one fa-bench result CSV (stdlib only).

    scripts/headline.py results/h200/softmax/softmax.csv --variant softmax.fused --baseline softmax.cudnn

One row per problem the variant ran: its median time, GB/s and % of the calibrated copy
(softmax) or TFLOP/s and % of the GEMM ceiling (others), the baseline's figure, and the speed
ratio baseline_time / variant_time (> 1: the variant is faster). Problems are joined on the
CSV's case key with the variant and parameters removed, so both rows describe the same shape.
--params picks one parameter setting of the variant (default: its first).
"""
import argparse
import csv
import sys


def shape_of(r):
    if r["op"] == "softmax":
        opts = [f"scale {r['scale']}"] if r["scale"] not in ("1", "") else []
        opts += [f"mask {r['mask']}"] if r["mask"] != "none" else []
        opts += [f"dropout {r['dropout']}"] if r["dropout"] != "0" else []
        return f"{r['dtype']} {r['rows']}x{r['cols']}" + (f" ({', '.join(opts)})" if opts else "")
    if r["op"] == "softmax_matmul":
        return f"{r['dtype']} b{r['batch']} {r['rows']}x{r['cols']} @ {r['cols']}x{r['d3']}"
    if r["op"] in ("decode", "kv_append"):  # seq_q / seq_k hold q_len / cache_len
        heads = f"h{r['heads']}/{r['kv_heads']}" if r["op"] == "decode" else f"kv{r['kv_heads']}"
        page = f" page{r['page_size']}" if r.get("page_size") not in (None, "", "0") else ""
        mixed = " mixed" if r.get("lengths") == "mixed" else ""
        return f"{r['dtype']} b{r['batch']} {heads} q{r['seq_q']} c{r['seq_k']} d{r['head_dim']}{page}{mixed}"
    causal = " causal" if r["causal"] == "true" else ""
    return f"{r['dtype']} b{r['batch']} h{r['heads']}/{r['kv_heads']} s{r['seq_q']}x{r['seq_k']} d{r['head_dim']}{causal}"


def problem_of(row):
    key = row["key"]
    return key[: key.index("/" + row["variant"])]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--variant", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--params", help="e.g. block=64; default: whichever setting comes first")
    args = ap.parse_args()
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "key" not in rows[0]:
        sys.exit(f"headline.py: {args.csv} is not an fa-bench result CSV")
    mine, base = {}, {}
    for r in rows:
        if r["status"] != "ok":
            continue
        if r["variant"] == args.variant and (args.params is None or r["params"] == args.params):
            mine.setdefault(problem_of(r), r)
        elif r["variant"] == args.baseline:
            base.setdefault(problem_of(r), r)
    if not mine:
        sys.exit(f"headline.py: no ok rows of {args.variant}{' with ' + args.params if args.params else ''}")
    op = next(iter(mine.values()))["op"]
    softmax = op == "softmax"
    memory_bound = op in ("softmax", "decode", "kv_append")  # judged by bandwidth, as fa-bench's console does
    metric, pct, unit = ("gbps", "pct_peak_bw", "GB/s") if memory_bound else ("tflops", "pct_peak_flops", "TFLOP/s")
    head = ["shape", "median ms", unit, "% of ceiling"] + ([] if softmax else ["workspace MiB"])
    if args.baseline:
        head += [f"{args.baseline} {unit}", "speedup"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for problem, r in mine.items():
        cells = [shape_of(r), f"{float(r['time_ms_median']):.4f}", f"{float(r[metric]):.1f}",
                 f"{float(r[pct]):.1f}%" if r[pct] else "-"]
        if not softmax:
            cells.append(f"{float(r['workspace_mib']):.0f}")
        if args.baseline:
            b = base.get(problem)
            if b:
                cells += [f"{float(b[metric]):.1f}", f"{float(b['time_ms_median']) / float(r['time_ms_median']):.2f}x"]
                if not softmax:
                    cells[-2] += f" ({float(b['workspace_mib']):.0f} MiB)"
            else:
                cells += ["-", "-"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
