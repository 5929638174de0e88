# cuDNN's time over decode v3's per case of decode-targets.csv (decode-peers.csv, same lease), and
# decode.split_kv's time over decode.paged's on the same case. Usage: python3 ratios.py <folder>
import csv, sys, os
d = sys.argv[1]
ours = [r for r in csv.DictReader(open(os.path.join(d, 'decode-targets.csv'))) if r['status'] == 'ok']
peers = {r['key'].rsplit('/', 1)[0]: r for r in csv.DictReader(open(os.path.join(d, 'decode-peers.csv')))}
problem = lambda r: r['key'].rsplit('/', 2)[0]
split = {problem(r): float(r['time_ms_median']) for r in ours if r['variant'] == 'decode.split_kv'}
print("# median us of decode v3 (planner's splits) and torch.sdpa_cudnn (same lease); cuDNN's time over ours."
      " decode.paged rows: decode.split_kv's time on the same case over paged's")
for r in ours:
    prob, t = problem(r), float(r['time_ms_median']) * 1e3
    lab = f"{r['variant']:16s} b{r['batch']:>2} kv{r['kv_heads']:>2} c{r['seq_k']:>6} {r['lengths']:5s} page{r['page_size']:>3}"
    if r['variant'] == 'decode.split_kv':
        p = peers.get(prob)
        if p and p['status'] == 'ok':
            tc = float(p['time_ms_median']) * 1e3
            print(f"{lab} ours {t:9.2f} cudnn {tc:9.2f} ratio {tc / t:.3f}  {float(r['gbps']):7.1f} GB/s")
        else:
            print(f"{lab} ours {t:9.2f} cudnn {p['status'] if p else '-'}")
    else:
        s = split.get(prob.replace(f"/page{r['page_size']}/", '/page0/'))
        print(f"{lab} ours {t:9.2f} split_kv {s * 1e3:9.2f} split/paged {s * 1e3 / t:.3f}" if s else f"{lab} ours {t:9.2f}")
