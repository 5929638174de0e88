# Per case of trace.txt (the trace build's stderr): each phase's min / median / max over blocks, as
# the median of those figures over the printed launches. Phases (us after the first block's start):
# p0 start, p1 first tile landed, p2 loop end, p3 warps' states in shared memory, p4 arrival
# counted, p5 the last split's merge done. Usage: python3 trace_summary.py trace.txt
import re, statistics, sys
cases = {}
for line in open(sys.argv[1]):
    m = re.match(r"TRACE (b\d+ len \d+ splits \d+ blocks \d+):(.*)", line)
    if not m:
        continue
    for p, n, lo, med, hi in re.findall(r"p(\d)\[n(\d+) min ([\d.]+) med ([\d.]+) max ([\d.]+)\]", m.group(2)):
        cases.setdefault(m.group(1), {}).setdefault(int(p), []).append((float(lo), float(med), float(hi)))
for case, phases in cases.items():
    launches = len(phases[0])
    print(f"{case} ({launches} launches):", end="")
    for p in sorted(phases):
        cols = list(zip(*phases[p]))
        print(f" p{p} {statistics.median(cols[0]):.2f}/{statistics.median(cols[1]):.2f}/{statistics.median(cols[2]):.2f}", end="")
    print()
