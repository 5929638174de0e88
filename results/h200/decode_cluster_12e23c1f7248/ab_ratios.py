# main's time over the branch's per case (best of two runs each), decode-ab.config.json; cuDNN's time
# over each where decode-peers.csv is given. Usage: python3 ab_decode.py <folder> <branch prefix> [peers.csv]
import csv, glob, os, sys
d, br = sys.argv[1], sys.argv[2]
load = lambda x: {r['key']: r for r in csv.DictReader(open(glob.glob(os.path.join(d, x, '*.csv'))[0]))}
m1, m2, b1, b2 = load('ab_main1'), load('ab_main2'), load(br + '1'), load(br + '2')
peers = {}
if len(sys.argv) > 3:
    peers = {r['key'].rsplit('/', 1)[0]: r for r in csv.DictReader(open(sys.argv[3]))}
t = lambda r: float(r['time_ms_median']) * 1e3
print(f"# median us, main runs 1 and 2, branch runs 1 and 2; main / branch = best over best")
for k, r in m1.items():
    tm, tb = min(t(m1[k]), t(m2[k])), min(t(b1[k]), t(b2[k]))
    lab = f"{r['variant']:15s} b{r['batch']:>2} kv{r['kv_heads']:>2} c{r['seq_k']:>6} {r['lengths']:5s} page{r['page_size']:>3}"
    line = f"{lab} main {t(m1[k]):8.2f} {t(m2[k]):8.2f} branch {t(b1[k]):8.2f} {t(b2[k]):8.2f} main/branch {tm / tb:.3f}"
    p = peers.get(k.rsplit('/', 2)[0])
    if p and p['status'] == 'ok':
        line += f"  cudnn {t(p):8.2f} cudnn/main {t(p) / tm:.3f} cudnn/branch {t(p) / tb:.3f}"
    print(line)
