#!/usr/bin/env python3
"""main's median time over branch ws-step-ticket's (tkt), each run twice in turn (best of two over best
of two), for the sparse A/B of this folder (the dense one did not run): main 3972cff, tkt 7a262bc. Standard library
only: python3 ab_ratios.py > ab_ratios.txt"""
import csv, glob, os

here = os.path.dirname(os.path.abspath(__file__))
builds = ('main', 'tkt')

def load(run):
    path = glob.glob(os.path.join(here, run, '*.csv'))[0]
    return {r['key']: r for r in csv.DictReader(open(path))}

for kind in ('sparse',):
    runs = {b: [load(f'{kind}_{b}{i}') for i in (1, 2)] for b in builds}
    print(f'== {kind}: case; ms of main, tkt (two runs each); main / tkt; samples set aside (main, tkt)')
    for key, r in runs['main'][0].items():
        t = {b: [float(x[key]['time_ms_median']) for x in runs[b]] for b in builds}
        aside = {b: sum(int(x[key]['throttled_samples'] or 0) for x in runs[b]) for b in builds}
        label = f"{r.get('pattern') or 'dense'} {(r.get('density') or '')[:6]} seq {r['seq_q']}"
        label += ' causal' if r['causal'] in ('true', '1') else ''
        label += f" window {r['window']}" if r.get('window') else ''
        times = '  '.join(f'{t[b][0]:.4f} {t[b][1]:.4f}' for b in builds)
        print(f"{label:38s} {times}  {min(t['main']) / min(t['tkt']):.3f}  {aside['main']} {aside['tkt']}")
