# Median us per case of each run in a lease's folder (ab/ or replication/), the wide build's time
# over main's (both rounds averaged) and cuDNN's over the wide build's (peers' medians averaged).
# Usage: python3 ab_ratios.py <folder>. Folder ab/: one_{main,wide}N (one split a sequence), many_{main,
# wideall,nomerge}N (several splits; nomerge is the diagnostic build without the merge, its output
# unwritten and not validated); replication/: {one,many}_{main,head}N. cuDNN: {one,many}-peers.csv
# or {one,many}_cudnnN.csv.
import csv, glob, os, sys
d = sys.argv[1]

def load(path):
    rows = csv.DictReader(open(path))
    return {(r['batch'], r['kv_heads'], r['seq_k']): float(r['time_ms_median']) * 1e3
            for r in rows if r['time_ms_median'] and r['status'] == 'ok'}

for cfg in ('one', 'many'):
    runs = {}
    for path in sorted(glob.glob(os.path.join(d, f'{cfg}_*'))):
        name = os.path.basename(path)[len(cfg) + 1:]
        if os.path.isdir(path):
            runs[name] = load(glob.glob(os.path.join(path, '*.csv'))[0])
        elif path.endswith('.csv'):
            runs[name[:-4]] = load(path)
    peers = os.path.join(d, f'{cfg}-peers.csv')
    if os.path.exists(peers):
        runs['cudnn'] = load(peers)
    base = 'main'
    new = 'head' if 'head1' in runs else 'wide' if 'wide1' in runs else 'wideall'
    names = sorted(runs)
    print(f'# {cfg}: {" ".join(names)} | {new}/{base} speed-up | cuDNN/{new}' +
          (' | main - nomerge, us' if 'nomerge1' in runs else ''))
    for k in runs['main1']:
        def mean(n):
            xs = [runs[m][k] for m in runs if m.rstrip('12') == n and k in runs[m]]
            return sum(xs) / len(xs) if xs else float('nan')
        cols = ' '.join(f'{runs[n][k]:8.2f}' if k in runs[n] else '       -' for n in names)
        extra = f' | {mean("main") - mean("nomerge"):5.2f}' if 'nomerge1' in runs else ''
        print(f'b{k[0]:>2} kv{k[1]:>2} c{k[2]:>6} {cols} | {mean(base) / mean(new):.4f} | {mean("cudnn") / mean(new):.4f}{extra}')
