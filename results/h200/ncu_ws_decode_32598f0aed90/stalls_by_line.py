#!/usr/bin/env python3
"""Warp-stall samples by CUDA source line from `ncu --page source --csv --print-source cuda,sass`."""
import csv, sys, collections
rows = list(csv.reader(open(sys.argv[1], newline='')))
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
file = None; head = None; out = []
for r in rows:
    if len(r) >= 2 and r[0] == 'File Path': file = r[1].split('/')[-1]; continue
    if len(r) >= 2 and r[0] == 'Line No': head = r; continue
    if head is None or len(r) != len(head) or r[0] == '': continue
    S = head.index('Warp Stall Sampling (All Samples)')
    reasons = [i for i, h in enumerate(head) if h.startswith('stall_') and '(' not in h]
    rs = sorted(((float(r[i] or 0), head[i][6:]) for i in reasons if r[i] not in ('', '0', '-')), reverse=True)[:3]
    out.append((float(r[S] or 0), f"{file}:{r[0]}", r[1].strip()[:70], rs, float(r[head.index('Instructions Executed')] or 0)))
tot = sum(o[0] for o in out)
print('samples', tot)
for s, loc, text, rs, ex in sorted(out, key=lambda o: -o[0])[:n]:
    print(f"{s:7.0f} {100*s/tot:5.1f}% {loc:34s} {text:70s} {[(int(a), b) for a, b in rs]}")
