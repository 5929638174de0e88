#!/usr/bin/env python3
"""Figures from fa-bench result CSVs (headless; matplotlib: scripts/requirements.txt).

    scripts/plot.py results/h200/softmax/softmax.csv --out results/h200/softmax/figures [--baseline softmax.cudnn]

For each op found it draws, per dtype and option set (mask, dropout, causal, GQA), with the size on x
(softmax rows at each cols, softmax_matmul d2, attention seq_len):
  *-time      median time per variant, log-log;
  *-gbps / *-tflops   throughput per variant with the calibrated ceiling (copy, or cuBLAS GEMM);
  *-memory    peak device memory per variant (softmax_matmul, attention);
  *-speedup   baseline time / variant time, when --baseline names a variant present;
  *-tbt, *-ttft  generate: time between tokens (p50) and to the first token against the prompt length;
  sparse_attention-*  time and TFLOP/s against density per pattern, with density x time at density 1;
  *-heatmap   median time over two tunable parameters (block_m x block_n, threads x cluster...)
              for every variant and shape swept over two parameters.
Ceilings come from the JSON file beside the CSV (its metadata), when there is one, or from a
calibration file (`--calibration calibration.json`: `fa-bench calibrate`'s, the entry of the rows'
GPU). Where they hold `read_floor_us` (calibrate's streaming read timed at a few sizes), decode's
GB/s figure also draws what a bare streaming read of each case's bytes reaches: at small caches that,
not the ceiling, is the bound. PNG and PDF, titled with the GPU and dtype.
"""
import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_deps import require  # noqa: E402

# A python3 without matplotlib (pyenv, conda, a venv) stops here with one line and the install command.
matplotlib = require("matplotlib", "plot.py")
matplotlib.use("Agg")
plt = require("matplotlib.pyplot", "plot.py")
Image = require("PIL.Image", "plot.py")  # matplotlib's own dependency: figures saved with a palette

REQUIRED = ["key", "op", "variant", "dtype", "status", "params", "time_ms_median", "tflops", "gbps", "peak_mem_mib", "gpu"]


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


def calibration_entry(path, gpu):
    """The ceilings a calibration file holds for `gpu` ({} when it has none)."""
    try:
        with open(path) as f:
            return json.load(f).get(gpu) or {}
    except (OSError, ValueError) as e:
        sys.exit(f"plot.py: cannot read calibration file {path}: {e}")


def read_floor_ms(nbytes, ceilings):
    """The time calibrate's streaming read takes over `nbytes` (read_floor_us: its cold event time at
    a few sizes): linear between the measured sizes; outside them, the nearest size's time over
    read_gbps added to nbytes / read_gbps. None without a floor."""
    floor, rate = ceilings.get("read_floor_us") or {}, ceilings.get("read_gbps")
    if not floor or not rate:
        return None
    points = sorted((int(b), float(us)) for b, us in floor.items())
    at_rate = lambda b: b / (rate * 1e3)  # us at read_gbps
    if nbytes <= points[0][0] or nbytes >= points[-1][0]:
        b0, us0 = points[0] if nbytes <= points[0][0] else points[-1]
        return (us0 - at_rate(b0) + at_rate(nbytes)) / 1e3
    for (b0, us0), (b1, us1) in zip(points, points[1:]):
        if b0 <= nbytes <= b1:
            return (us0 + (us1 - us0) * (nbytes - b0) / (b1 - b0)) / 1e3


def draw_read_floor(fig, rows, x_of, ceilings):
    """Adds the GB/s of a bare streaming read of each x's bytes (fa-bench's rows: bytes = GB/s x time)."""
    points = {}
    for r in rows:
        if r["status"] == "ok" and r["gbps"] and not r["variant"].startswith("torch."):
            nbytes = float(r["gbps"]) * float(r["time_ms_median"]) * 1e6
            t = read_floor_ms(nbytes, ceilings)
            if t:
                points[x_of(r)] = nbytes / (t * 1e-3) / 1e9
    if points:
        xs = sorted(points)
        ax = fig.axes[0]
        ax.plot(xs, [points[x] for x in xs], color="gray", linestyle=":", linewidth=1.5,
                label="streaming read of the same bytes (calibrate's floor)")
        ax.legend(fontsize=7, loc="best")


def label(row):
    return row["variant"] + (f" [{row['params']}]" if row["params"] else "")


def compact_png(path):
    """Rewrites a figure's PNG with a palette of 256 colours: a line plot or heatmap keeps every colour
    it shows, at about a quarter of the bytes (results/ travels whole to every GPU run)."""
    with Image.open(path) as im:
        palette = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(path, optimize=True)


def save(fig, out_dir, name, written):
    for ext in ("png", "pdf"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, dpi=130, bbox_inches="tight")
        if ext == "png":
            compact_png(path)
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


def line_figure(groups, title, xlabel, ylabel, log_x=True, ceiling=None, ceiling_label=None, styles=None):
    """styles: name -> plot keyword arguments (colour, line style, marker); circles in the default cycle
    otherwise."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, points in sorted(groups.items()):
        xs, ys = zip(*points)
        ax.plot(xs, ys, label=name, **(styles[name] if styles else {"marker": "o"}))
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
    if r["op"] in ("attention", "attention_bwd", "attention_fwd_bwd"):
        gqa = f" h={r['heads']} kv={r['kv_heads']}" if r["heads"] != r["kv_heads"] else ""  # GQA apart from MHA
        return f"{'causal' if r['causal'] == 'true' else 'non-causal'} d={r['head_dim']}{gqa}"
    if r["op"] in ("decode", "kv_append"):  # seq_q is q_len; the x axis is cache_len (seq_k)
        heads = f"h={r['heads']} " if r["op"] == "decode" else ""
        page = f"page={r.get('page_size')}" if r.get("page_size") not in (None, "", "0") else "contiguous"
        return f"b={r['batch']} {heads}kv={r['kv_heads']} q={r['seq_q']} d={r['head_dim']} {page} {r.get('lengths', '')}".strip()
    if r["op"] == "generate":  # the x axis is the prompt (the context the decode steps attend to)
        page = f"page={r.get('page_size')}" if r.get("page_size") not in (None, "", "0") else "contiguous"
        return f"b={r['batch']} h={r['heads']} kv={r['kv_heads']} d={r['head_dim']} m={r.get('d_model')} t={r.get('steps')} {page}"
    return ""


def size_axis(op):
    """(x value of a row, axis label) for an op."""
    if op == "softmax":
        return (lambda r: int(r["rows"])), "rows"
    if op == "softmax_matmul":
        return (lambda r: int(r["cols"])), "d2"
    if op in ("decode", "kv_append"):
        return (lambda r: int(r["seq_k"])), "cache_len"
    if op == "generate":
        return (lambda r: int(r["prompt_len"])), "prompt_len (context before the first decode step)"
    return (lambda r: int(r["seq_q"])), "seq_len"


def default_params(rows, most_lines=4):
    """Per variant, a line for each parameter setting when it has a few (decode.split_kv's versions
    are different kernels), else the rows of its first setting: sweeps over parameters get their heat map."""
    settings = {}
    for r in rows:
        settings.setdefault(r["variant"], [])
        if r["params"] not in settings[r["variant"]]:
            settings[r["variant"]].append(r["params"])
    return [r for r in rows
            if len(settings[r["variant"]]) <= most_lines or r["params"] == settings[r["variant"]][0]]


def speedup_series(rows, x_of, baseline):
    base = {}
    for r in rows:
        if r["variant"] == baseline and r["status"] == "ok":
            base[problem_of(r)] = float(r["time_ms_median"])
    out = {}
    for r in rows:
        if r["variant"] == baseline or r["status"] != "ok" or problem_of(r) not in base:
            continue
        out.setdefault(label(r), []).append((x_of(r), base[problem_of(r)] / float(r["time_ms_median"])))
    return {k: sorted(v) for k, v in out.items()}


def problem_of(r):
    key = r["key"]
    return key[: key.index("/" + r["variant"])] if "/" + r["variant"] in key else key


def heatmaps(rows, gpu, out_dir, written):
    """Median time over the two parameters a variant was swept over, per shape."""
    by_case = {}
    for r in rows:
        if r["status"] != "ok" or r["params"].count("=") < 2:
            continue
        by_case.setdefault((r["variant"], problem_of(r)), []).append(r)
    for (variant, problem), group in sorted(by_case.items()):
        params = [dict(kv.split("=") for kv in r["params"].split(",")) for r in group]
        names = sorted({k for p in params for k in p if len({q.get(k) for q in params}) > 1})
        if len(names) != 2:
            continue
        xs = sorted({int(p[names[1]]) for p in params})
        ys = sorted({int(p[names[0]]) for p in params})
        grid = [[float("nan")] * len(xs) for _ in ys]
        for p, r in zip(params, group):
            grid[ys.index(int(p[names[0]]))][xs.index(int(p[names[1]]))] = float(r["time_ms_median"])
        fig, ax = plt.subplots(figsize=(6, 4.5))
        im = ax.imshow(grid, cmap="viridis_r", origin="lower", aspect="auto")
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_yticks(range(len(ys)), [str(y) for y in ys])
        ax.set_xlabel(names[1])
        ax.set_ylabel(names[0])
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                if v == v:
                    ax.text(j, i, f"{v:.3g}", ha="center", va="center", color="white", fontsize=7)
        fig.colorbar(im, ax=ax, label="median ms (lower is better)")
        shape = problem.split("/", 1)[1] if "/" in problem else problem
        ax.set_title(f"{variant} {shape} - {gpu}", fontsize=8)
        slug = (variant + "-" + shape).replace("/", "_").replace(".", "_")
        save(fig, out_dir, f"heatmap-{slug}", written)


# sparse_attention's lines: a colour per pattern, a line style and marker per variant, so that a
# variant's patterns and a pattern's variants (ours beside FlexAttention) read apart; matplotlib's
# default cycle of ten colours gave two of twelve lines the same look.
SPARSE_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"), ((0, (1, 1)), "P")]


def sparse_line_styles(variants, patterns):
    """(variant, pattern) -> plot keyword arguments: the colour from the pattern's place in `patterns`
    (tab10 without its grey, which the density x full lines take; past nine, tab20's dark shades
    then its light ones, greys left out, so neighbours differ; cycling past 18), line style and
    marker from the variant's place in `variants` (cycling past six)."""
    tab10, tab20 = plt.get_cmap("tab10").colors, plt.get_cmap("tab20").colors
    dark, light = tab20[::2], tab20[1::2]  # the 8th of each (index 7) is a grey
    colors = tab10[:7] + tab10[8:] if len(patterns) <= 9 else dark[:7] + dark[8:] + light[:7] + light[8:]
    out = {}
    for vi, variant in enumerate(variants):
        linestyle, marker = SPARSE_STYLES[vi % len(SPARSE_STYLES)]
        for pi, pattern in enumerate(patterns):
            out[(variant, pattern)] = {"color": colors[pi % len(colors)], "linestyle": linestyle, "marker": marker}
    return out


def sparse_figures(rows, gpu, out_dir, written):
    """sparse_attention: per (dtype, seq, d, block), time and TFLOP/s (on kept scores) against the
    kept fraction, a line per variant (and parameter setting) and pattern, with each one's density x
    its own time at density 1 (a random mask of density 1 in the same shape) drawn thin and grey in
    the variant's line style: what perfect skipping gives."""
    groups = {}
    for r in rows:
        if r["op"] == "sparse_attention" and r["status"] == "ok" and r.get("density"):
            groups.setdefault((r["dtype"], r["seq_q"], r["seq_k"], r["head_dim"], r.get("block", "")), []).append(r)
    for (dtype, sq, sk, d, block), group in sorted(groups.items()):
        if len({r["density"] for r in group}) < 2:
            continue
        tag = f"sparse_attention-{dtype}-s{sq}x{sk}_d{d}_blk{block}"
        title = f"sparse_attention {dtype}, seq {sq}x{sk} d={d} block {block} - {gpu}"
        # A variant run with several parameter settings (sparse.wgmma's pipelines) is a line per setting.
        settings = {}
        for r in group:
            settings.setdefault(r["variant"], set()).add(r["params"])
        name = {id(r): label(r) if len(settings[r["variant"]]) > 1 else r["variant"] for r in group}
        full = {name[id(r)]: float(r["time_ms_median"]) for r in group if float(r["density"]) > 0.999}
        variants = sorted({name[id(r)] for r in group})
        styles = {f"{v} [{p}]": st for (v, p), st in
                  sparse_line_styles(variants, sorted({r["pattern"] for r in group})).items()}
        for column, what in (("time_ms_median", "median time, ms"), ("tflops", "TFLOP/s on kept scores")):
            lines = {}
            for r in group:
                lines.setdefault(f"{name[id(r)]} [{r['pattern']}]", []).append((float(r["density"]), float(r[column])))
            fig = line_figure({k: sorted(v) for k, v in lines.items()}, title, "density (kept fraction of the scores)",
                              what, log_x=False, styles=styles)
            if column == "time_ms_median":  # what perfect skipping gives: thin, grey, the variant's line style
                for variant, t in sorted(full.items()):
                    linestyle = SPARSE_STYLES[variants.index(variant) % len(SPARSE_STYLES)][0]
                    fig.axes[0].plot([0, 1], [0, t], color="grey", linewidth=1, linestyle=linestyle,
                                     label=f"density x {variant} at 1")
            fig.axes[0].legend(fontsize=6, loc="best")
            save(fig, out_dir, f"{tag}-{'time' if column == 'time_ms_median' else 'tflops'}", written)


def plot_all(rows, ceilings, out_dir, baseline=None):
    written = []
    gpu = next((r["gpu"] for r in rows if r["gpu"] and r["gpu"] != "cpu"), "cpu")
    sparse_figures(rows, gpu, out_dir, written)
    groups = {}
    for r in rows:
        if r["op"] == "sparse_attention":
            continue  # sparse_figures
        groups.setdefault((r["op"], r["dtype"], options_key(r)), []).append(r)
    for (op, dtype, opts), group in sorted(groups.items()):
        slug = "-".join(x for x in (op, dtype, opts.replace(" ", "_").replace("=", "")) if x)
        x_of, x_label = size_axis(op)
        # softmax: one set of figures per column count, rows on x
        subsets = {}
        for r in default_params(group):
            subsets.setdefault(r["cols"] if op == "softmax" else "", []).append(r)
        for cols, sub in sorted(subsets.items()):
            tag = f"{slug}-cols{cols}" if cols else slug
            what = f"softmax {dtype} x {cols} cols" if op == "softmax" else f"{op} {dtype}"
            title = f"{what}{', ' + opts if opts else ''} - {gpu}"
            times = series(sub, x_of, "time_ms_median")
            if not times:
                continue
            fig = line_figure(times, title, x_label, "median time, ms")
            fig.axes[0].set_yscale("log")
            save(fig, out_dir, f"{tag}-time", written)
            if op == "softmax":
                fig = line_figure(series(sub, x_of, "gbps"), title, x_label, "GB/s (read + write + mask)",
                                  ceiling=ceilings.get("copy_gbps"), ceiling_label="calibrated copy")
                save(fig, out_dir, f"{tag}-gbps", written)
            elif op in ("decode", "kv_append"):  # memory-bound: decode reads its cache (the read ceiling)
                read = op == "decode"
                fig = line_figure(series(sub, x_of, "gbps"), title, x_label,
                                  "GB/s (K and V read, q, o)" if read else "GB/s (new K and V read + written)",
                                  ceiling=ceilings.get("read_gbps" if read else "copy_gbps"),
                                  ceiling_label="calibrated streaming read" if read else "calibrated copy")
                if read:
                    draw_read_floor(fig, sub, x_of, ceilings)
                save(fig, out_dir, f"{tag}-gbps", written)
            elif op == "generate":  # the loop's own columns: time between tokens and to the first token
                for column, what in (("tbt_ms_p50", "time between tokens, p50, ms"), ("ttft_ms", "time to first token, ms")):
                    fig = line_figure(series(sub, x_of, column), title, x_label, what)
                    fig.axes[0].set_yscale("log")
                    save(fig, out_dir, f"{tag}-{column.split('_')[0]}", written)
            else:
                peak = (ceilings.get("gemm_tflops") or {}).get(dtype)
                fig = line_figure(series(sub, x_of, "tflops"), title, x_label, "TFLOP/s", ceiling=peak,
                                  ceiling_label=f"cuBLAS GEMM {dtype}")
                save(fig, out_dir, f"{tag}-tflops", written)
                mem = series(sub, x_of, "peak_mem_mib")
                if mem:
                    fig = line_figure(mem, title + " peak memory", x_label, "MiB")
                    fig.axes[0].set_yscale("log", base=2)
                    save(fig, out_dir, f"{tag}-memory", written)
            if baseline:
                speed = speedup_series(sub, x_of, baseline)
                if speed:
                    fig = line_figure(speed, title, x_label, f"speedup over {baseline} (its time / variant time)",
                                      ceiling=1.0, ceiling_label=baseline)
                    save(fig, out_dir, f"{tag}-speedup", written)
    heatmaps(rows, gpu, out_dir, written)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+", help="fa-bench result CSV files")
    ap.add_argument("--out", required=True, help="folder for the figures")
    ap.add_argument("--baseline", help="a variant to draw every other variant's speedup against")
    ap.add_argument("--calibration", help="ceilings from this calibration file (fa-bench calibrate's) "
                                          "instead of the results' metadata")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows, ceilings = [], {}
    for path in args.csv:
        rows += read_rows(path)
        ceilings = ceilings or ceilings_for(path)
    if args.calibration:
        gpu = next((r["gpu"] for r in rows if r["gpu"] and r["gpu"] != "cpu"), "")
        ceilings = calibration_entry(args.calibration, gpu)
        if not ceilings:
            sys.exit(f"plot.py: {args.calibration} holds no ceilings for {gpu or 'these rows'}")
    written = plot_all(rows, ceilings, args.out, args.baseline)
    if not written:
        sys.exit("plot.py: no ok rows to plot")
    print(f"wrote {len(written)} files to {args.out}")


if __name__ == "__main__":
    main()
