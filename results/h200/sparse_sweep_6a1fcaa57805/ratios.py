#!/usr/bin/env python3
"""Ratios of this run (standard library only): sparse.wgmma v3 against FlexAttention over the same
plan, time against density x the full time (random masks), and density 1 against attn.wgmma at the
same dense shape. Run from this folder: python3 ratios.py > ratios.txt"""
import csv


def rows(path):
    return list(csv.DictReader(open(path)))


for seq in ('8k', '16k'):
    ours = rows(f'sparse-{seq}.csv')
    flex = {r['key'].split('/torch.flex_attention')[0]: r for r in rows(f'flex{seq}.csv')}
    sparse = [r for r in ours if r['op'] == 'sparse_attention']
    full = next(float(r['time_ms_median']) for r in sparse
                if r['pattern'] == 'random' and abs(float(r['density']) - 1) < 1e-3)
    print(f'seq {seq}: sparse.wgmma v3 (ms, TFLOP/s on kept scores) | FlexAttention | Flex time / ours')
    for r in sparse:
        f = flex[r['key'].split('/sparse.wgmma')[0]]
        t, ft, dens = float(r['time_ms_median']), float(f['time_ms_median']), float(r['density'])
        line = (f"  {r['pattern']:14s} {r['window']:>5s} {r['documents']:>10s} density {dens:.4f} {r['status']} "
                f"{t:8.4f} ms {float(r['tflops']):6.1f} | {f['status']} {ft:8.4f} ms {float(f['tflops']):6.1f} | {ft / t:.3f}")
        if r['pattern'] == 'random':
            line += f"  time / (density x full) {t / (dens * full):.3f}"
        print(line)
    for r in ours:
        if r['op'] == 'attention':
            t = float(r['time_ms_median'])
            line = f"  attn.wgmma causal {r['causal']}: {r['status']} {t:.4f} ms {float(r['tflops']):.1f}"
            if r['causal'] in ('false', '0', 'False'):
                line += f"  (sparse density 1 time / attn.wgmma time {full / t:.3f})"
            print(line)
