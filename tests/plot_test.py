#!/usr/bin/env python3
"""plot.py on a committed CSV makes every figure; a CSV missing a column fails with a clear message."""
import csv
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
plot = os.path.join(here, "..", "scripts", "plot.py")
sample = os.path.join(here, "data", "sample_results.csv")

with tempfile.TemporaryDirectory() as out:
    run = subprocess.run([sys.executable, plot, sample, "--out", out, "--baseline", "softmax_matmul.naive"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    files = sorted(os.listdir(out))
    for expected in ["softmax_matmul-fp32-tflops.png", "softmax_matmul-fp32-memory.pdf",
                     "softmax_matmul-fp32-time.png", "softmax_matmul-fp32-speedup.png",
                     "softmax-fp32-masknone_dropout0_scale1-cols4096-gbps.png",
                     "softmax-fp32-masknone_dropout0_scale1-cols4096-time.pdf"]:
        assert expected in files, (expected, files)
    for name in files:
        assert os.path.getsize(os.path.join(out, name)) > 1000, name

    # A file with an op's extra columns after the base ones plots the same figures.
    extra = os.path.join(out, "extra.csv")
    with open(sample, newline="") as f, open(extra, "w", newline="") as g:
        reader = csv.DictReader(f)
        w = csv.DictWriter(g, fieldnames=reader.fieldnames + ["fake_cache_len", "fake_ratio"])
        w.writeheader()
        for r in reader:
            w.writerow({**r, "fake_cache_len": "4096", "fake_ratio": ""})
    extra_out = os.path.join(out, "extra")
    run = subprocess.run([sys.executable, plot, extra, "--out", extra_out, "--baseline", "softmax_matmul.naive"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert sorted(os.listdir(extra_out)) == files, (sorted(os.listdir(extra_out)), files)

    broken = os.path.join(out, "broken.csv")
    with open(sample, newline="") as f, open(broken, "w", newline="") as g:
        reader = csv.DictReader(f)
        cols = [c for c in reader.fieldnames if c != "gbps"]
        w = csv.DictWriter(g, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in reader:
            w.writerow(r)
    run = subprocess.run([sys.executable, plot, broken, "--out", out], capture_output=True, text=True)
    assert run.returncode != 0
    assert "lacks required column(s): gbps" in (run.stderr + run.stdout), run.stderr
    # calibrate's read floor: exact at its sizes, linear between them, the nearest size's excess over
    # the rate outside them; a calibration file without the rows' GPU is an error that says so.
    sys.path.insert(0, os.path.dirname(plot))
    import plot as plot_module
    ceilings = {"read_gbps": 4000.0, "read_floor_us": {"8388608": 6.0, "33554432": 12.0}}
    assert abs(plot_module.read_floor_ms(8388608, ceilings) - 0.006) < 1e-12
    assert abs(plot_module.read_floor_ms((8388608 + 33554432) // 2, ceilings) - 0.009) < 1e-12
    excess_us = 12.0 - 33554432 / 4e6
    assert abs(plot_module.read_floor_ms(2 * 33554432, ceilings) - (excess_us + 2 * 33554432 / 4e6) / 1e3) < 1e-12
    assert abs(plot_module.read_floor_ms(0, ceilings) - (6.0 - 8388608 / 4e6) / 1e3) < 1e-12
    assert plot_module.read_floor_ms(1 << 20, {"read_gbps": 4000.0}) is None
    calibration = os.path.join(out, "calibration.json")
    for gpu, ok in (("NVIDIA H200", True), ("NVIDIA H100 80GB HBM3", False)):  # the sample's rows are an H200's
        with open(calibration, "w") as f:
            f.write('{"%s": {"copy_gbps": 4000, "read_gbps": 4500, "read_floor_us": {"8388608": 6.0}}}' % gpu)
        run = subprocess.run([sys.executable, plot, sample, "--out", os.path.join(out, "cal"), "--calibration",
                              calibration], capture_output=True, text=True)
        if ok:
            assert run.returncode == 0, run.stderr
        else:
            assert run.returncode != 0 and "holds no ceilings for NVIDIA H200" in run.stderr, run.stderr

    # sparse_attention: every (variant, pattern) line looks different (colour by pattern, style and
    # marker by variant), with 2 variants x 6 patterns as a sweep with FlexAttention has and with 12.
    for n_patterns in (6, 12):
        patterns = [f"p{i}" for i in range(n_patterns)]
        styles = plot_module.sparse_line_styles(["sparse.wgmma", "torch.flex_attention"], patterns)
        looks = {(st["color"], str(st["linestyle"]), st["marker"]) for st in styles.values()}
        assert len(styles) == 2 * n_patterns and len(looks) == len(styles), (n_patterns, looks)
        assert len({styles[("sparse.wgmma", p)]["marker"] for p in patterns}) == 1  # a variant keeps its marker
        grey = plot_module.plt.get_cmap("tab10").colors[7]  # the density x full lines' colour
        assert all(st["color"] != grey for st in styles.values())
        assert styles[("sparse.wgmma", "p0")]["color"] != styles[("sparse.wgmma", "p1")]["color"]
    # ... and a committed sweep with its FlexAttention rows draws time and TFLOP/s against density.
    sweep = os.path.join(here, "..", "results", "h200", "head_sweep_620bc14db103", "sweep")
    run = subprocess.run([sys.executable, plot, os.path.join(sweep, "sparse-8k.csv"), os.path.join(sweep, "flex8k.csv"),
                          "--out", os.path.join(out, "sparse")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for kind in ("time", "tflops"):
        name = os.path.join(out, "sparse", f"sparse_attention-bf16-s8192x8192_d128_blk128-{kind}.png")
        assert os.path.getsize(name) > 1000, name
print("plot tests passed")
