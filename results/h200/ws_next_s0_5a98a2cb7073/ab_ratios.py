#!/usr/bin/env python3
"""main's median time over the branch's, each run twice alternately (best of two over best of two),
for the sparse and dense A/B of this folder."""
import csv, glob, os

here = os.path.dirname(os.path.abspath(__file__))

def load(run):
    path = glob.glob(os.path.join(here, run, '*.csv'))[0]
    return {r['key']: r for r in csv.DictReader(open(path))}

for kind in ('sparse', 'dense'):
    main = [load(f'{kind}_main{i}') for i in (1, 2)]
    branch = [load(f'{kind}_branch{i}') for i in (1, 2)]
    print(f'== {kind}: case, main ms (two runs), branch ms (two runs), main / branch')
    for key, r in main[0].items():
        tm = [float(m[key]['time_ms_median']) for m in main]
        tb = [float(b[key]['time_ms_median']) for b in branch]
        label = f"{r.get('pattern') or 'dense'} {r.get('density') or ''} seq {r['seq_q']}"
        label += ' causal' if r['causal'] in ('true', '1') else ''
        label += f" window {r['window']}" if r.get('window') else ''
        print(f'{label:46s} {tm[0]:8.4f} {tm[1]:8.4f}  {tb[0]:8.4f} {tb[1]:8.4f}  {min(tm) / min(tb):.3f}')
