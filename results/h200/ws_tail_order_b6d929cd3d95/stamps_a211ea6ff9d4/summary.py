#!/usr/bin/env python3
"""stamps.txt (fa-bench's log with the ws-stamps build's device printf, one line a launch, printed
before the progress line of the case it belongs to): per case, the medians over its launches."""
import re
import statistics
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "stamps.txt"
pat = re.compile(r"first Q ([\d.]+)-([\d.]+) us, ends ([\d.]+) / mean ([\d.]+) / ([\d.]+) us; tiles (\d+)-(\d+), steps (\d+)-(\d+)")
launches = []
print("case: launches; medians of: first Q request (us after the first block's start, earliest-latest); "
      "blocks' ends (first, mean, last); last - mean end; steps a block (least-most)")
for line in open(path):
    m = pat.search(line)
    if m:
        launches.append([float(x) for x in m.groups()])
    elif line.startswith("["):
        med = [statistics.median(col) for col in zip(*launches)]
        case = re.sub(r" block_m=.*", "", line.split("] ", 1)[1]).strip()
        print(f"{case}: {len(launches)}; Q {med[0]:.2f}-{med[1]:.2f}; ends {med[2]:.1f} / {med[3]:.1f} / {med[4]:.1f}; "
              f"last - mean {med[4] - med[3]:.1f}; steps {med[7]:.0f}-{med[8]:.0f}")
        launches = []
