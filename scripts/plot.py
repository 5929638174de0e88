#!/usr/bin/env python3
"""Figures from fa-bench result CSVs (headless; Debian's python3-matplotlib).

    scripts/plot.py results/h200/softmax/softmax.csv --out results/h200/softmax/figures

For each op found it draws, per dtype and option set (mask, dropout, causal):
  softmax        GB/s against rows x cols per variant, with the calibrated copy ceiling;
  softmax_matmul TFLOP/s against d2 per variant, and peak device memory against d2;
  attention      TFLOP/s against seq_len per variant, and peak memory against seq_len.
Ceilings come from the JSON file beside the CSV (its metadata), when there is one. PNG and PDF.
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REQUIRED = ["op", "variant", "dtype", "status", "params", "time_ms_median", "tflops", "gbps", "peak_mem_mib", "gpu"]


def read_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"plot.py: {path} lacks required column(s): {', '.join(missing)}")
        return list(reader)


def ceilings_for(csv_path):
    json_path = os.path.splitext(csv_path)[0] + ".json"
    try:
        with open(json_path) as f:
            return json.load(f)["metadata"].get("ceilings") or {}
    except (OSError, ValueError, KeyError):
        return {}


def label(row):
    return row["variant"] + (f" [{row['params']}]" if row["params"] else "")


def save(fig, out_dir, name, written):
    for ext in ("png", "pdf"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, dpi=130, bbox_inches="tight")
        written.append(path)
    plt.close(fig)


def series(rows, x_of, y_of):
    """variant label -> sorted [(x, y)] over ok rows."""
    out = {}
    for r in rows:
        if r["status"] != "ok" or not r[y_of]:
            continue
        out.setdefault(label(r), []).append((x_of(r), float(r[y_of])))
    return {k: sorted(v) for k, v in out.items()}


def line_figure(groups, title, xlabel, ylabel, log_x=True, ceiling=None, ceiling_label=None):
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, points in sorted(groups.items()):
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", label=name)
    if ceiling:
        ax.axhline(ceiling, color="black", linestyle="--", linewidth=1, label=ceiling_label)
    if log_x:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def options_key(r):
    if r["op"] == "softmax":
        return f"mask={r['mask']} dropout={r['dropout']} scale={r['scale']}"
    if r["op"] == "attention":
        return f"{'causal' if r['causal'] == 'true' else 'non-causal'} d={r['head_dim']}"
    return ""


def plot_all(rows, ceilings, out_dir):
    written = []
    gpu = next((r["gpu"] for r in rows if r["gpu"] and r["gpu"] != "cpu"), "cpu")
    groups = {}
    for r in rows:
        groups.setdefault((r["op"], r["dtype"], options_key(r)), []).append(r)
    for (op, dtype, opts), group in sorted(groups.items()):
        slug = "-".join(x for x in (op, dtype, opts.replace(" ", "_").replace("=", "")) if x)
        if op == "softmax":
            # x: elements per row-set, labelled rows x cols; one line per variant and column count
            by_cols = {}
            for r in group:
                by_cols.setdefault(r["cols"], []).append(r)
            for cols, sub in by_cols.items():
                data = series(sub, lambda r: int(r["rows"]), "gbps")
                if not data:
                    continue
                fig = line_figure(data, f"softmax {dtype} x {cols} cols, {opts} - {gpu}", "rows", "GB/s (read + write + mask)",
                                  ceiling=ceilings.get("copy_gbps"), ceiling_label="calibrated copy")
                save(fig, out_dir, f"{slug}-cols{cols}-gbps", written)
        elif op == "softmax_matmul":
            data = series(group, lambda r: int(r["cols"]), "tflops")
            if data:
                peak = (ceilings.get("gemm_tflops") or {}).get(dtype)
                fig = line_figure(data, f"softmax(X) @ V {dtype} - {gpu}", "d2", "TFLOP/s", ceiling=peak,
                                  ceiling_label=f"cuBLAS GEMM {dtype}")
                save(fig, out_dir, f"{slug}-tflops", written)
            mem = series(group, lambda r: int(r["cols"]), "peak_mem_mib")
            if mem:
                fig = line_figure(mem, f"softmax(X) @ V {dtype} peak device memory - {gpu}", "d2", "MiB")
                ax = fig.axes[0]
                ax.set_yscale("log", base=2)
                save(fig, out_dir, f"{slug}-memory", written)
        elif op == "attention":
            data = series(group, lambda r: int(r["seq_q"]), "tflops")
            if data:
                peak = (ceilings.get("gemm_tflops") or {}).get(dtype)
                fig = line_figure(data, f"attention {dtype} {opts} - {gpu}", "seq_len", "TFLOP/s", ceiling=peak,
                                  ceiling_label=f"cuBLAS GEMM {dtype}")
                save(fig, out_dir, f"{slug}-tflops", written)
            mem = series(group, lambda r: int(r["seq_q"]), "peak_mem_mib")
            if mem:
                fig = line_figure(mem, f"attention {dtype} {opts} peak memory - {gpu}", "seq_len", "MiB")
                fig.axes[0].set_yscale("log", base=2)
                save(fig, out_dir, f"{slug}-memory", written)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+", help="fa-bench result CSV files")
    ap.add_argument("--out", required=True, help="folder for the figures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows, ceilings = [], {}
    for path in args.csv:
        rows += read_rows(path)
        ceilings = ceilings or ceilings_for(path)
    written = plot_all(rows, ceilings, args.out)
    if not written:
        sys.exit("plot.py: no ok rows to plot")
    print(f"wrote {len(written)} files to {args.out}")


if __name__ == "__main__":
    main()
