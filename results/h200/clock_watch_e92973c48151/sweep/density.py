#!/usr/bin/env python3
"""What `fa-bench compare` does not give for this run (standard library only): sparse.wgmma v3's
time against density x its full time on the random masks, and its density 1 against attn.wgmma
at the same dense shape. The FlexAttention ratios: compare_flex_8k.md and compare_flex_16k.md
(`fa-bench compare sparse-8k.csv flex8k.csv --by-problem`; A/B is our time over Flex's).
Run from this folder: python3 density.py > density.txt"""
import csv

for seq in ('8k', '16k'):
    rows = list(csv.DictReader(open(f'sparse-{seq}.csv')))
    random = [r for r in rows if r['op'] == 'sparse_attention' and r['pattern'] == 'random']
    full = next(float(r['time_ms_median']) for r in random if abs(float(r['density']) - 1) < 1e-3)
    print(f'seq {seq}, random masks: time / (density x the density 1 time)')
    for r in random:
        t, dens = float(r['time_ms_median']), float(r['density'])
        print(f"  density {dens:.4f}: {t:.4f} ms, {float(r['tflops']):.1f} TFLOP/s, {t / (dens * full):.3f}")
    for r in rows:
        if r['op'] == 'attention' and r['causal'] == 'false':
            t = float(r['time_ms_median'])
            print(f"  attn.wgmma at density 1's shape: {t:.4f} ms, {float(r['tflops']):.1f} TFLOP/s; "
                  f"sparse.wgmma v3 takes {full / t:.3f}x its time")
