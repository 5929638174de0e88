#!/usr/bin/env python3
"""The diagnostic's figures from its files (standard library only; run from this folder:
python3 clocks.py > clocks.txt): per run, each case's median, minimum, standard deviation and
sample count (run1..run5/density_clocks.json); and from nvidia-smi's logs (every 50 ms) the spells
of throttle reasons (0x4: SW power cap) with the lowest SM clock and highest power in each."""
import csv
import json
import os

for r in [r for r in range(1, 6) if os.path.exists(f"run{r}")]:
    for row in json.load(open(f'run{r}/density_clocks.json'))['rows']:
        what = f"{row['variant']} density {row['density']}" if row.get('density') is not None else row['variant']
        print(f"run {r}  {what:28s} median {row['time_ms_median']:.4f}  min {row['time_ms_min']:.4f}  "
              f"std {row['time_ms_std']:.4f}  samples {row['samples']}")

clocks = [(r[0].split()[1], float(r[1].split()[0]), float(r[3].split()[0])) for r in list(csv.reader(open('clocks.csv')))[1:]
          if len(r) > 3 and r[1].strip().endswith('MHz')]
reasons = [(r[0].split()[1], r[1].strip()) for r in list(csv.reader(open('reasons.csv')))[1:] if len(r) > 1]
spells, start, prev = [], None, None
for ts, v in reasons + [('99:99:99.999', 'end')]:
    if v != prev:
        if prev not in (None, '0x0000000000000000'):
            spells.append((start, ts, prev))
        start, prev = ts, v
print()
print('throttle spells (nvidia-smi, 50 ms): start, end, reasons, lowest SM clock, highest power in it')
for a, b, v in spells:
    inside = [(mhz, w) for ts, mhz, w in clocks if a <= ts < b]
    low = min((m for m, _ in inside), default=float('nan'))
    high = max((w for _, w in inside), default=float('nan'))
    print(f'  {a} - {b}  {v}  {low:.0f} MHz  {high:.0f} W')
