#!/usr/bin/env python3
"""decode.split_kv against calibrate's read ceiling (calibration.json, same lease) and cuDNN over the
same plan (decode-peers.csv). Standard library only: python3 ratios.py > ratios.txt"""
import csv, json, os

here = os.path.dirname(os.path.abspath(__file__))
calib = next(iter(json.load(open(os.path.join(here, "calibration.json"))).values()))
ceiling = calib["read_gbps"]
ours = list(csv.DictReader(open(os.path.join(here, "decode-ceiling.csv"))))
peers = {r["key"].rsplit("/", 1)[0]: r for r in csv.DictReader(open(os.path.join(here, "decode-peers.csv")))}
print(f"read ceiling {ceiling:.0f} GB/s (calibration.json); bytes = the K and V read plus q and o")
print(f"{'case':22s}{'MB':>8s}{'ours us':>10s}{'GB/s':>8s}{'% ceil':>8s}{'cuDNN us':>10s}{'% ceil':>8s}{'cuDNN/ours':>12s}")
for r in ours:
    p = peers[r["key"].rsplit("/", 2)[0]]
    t, tp = float(r["time_ms_median"]), float(p["time_ms_median"])
    gbps = float(r["gbps"])
    mb = gbps * t * 1e-3 * 1e3
    print(f"b{r['batch']:>2s} x {int(r['seq_k']) // 1024:>3d}k{'':10s}{mb:8.1f}{t * 1e3:10.2f}{gbps:8.0f}{100 * gbps / ceiling:8.1f}"
          f"{tp * 1e3:10.2f}{100 * mb * 1e-3 / (tp * 1e-3) / ceiling:8.1f}{tp / t:12.3f}")
