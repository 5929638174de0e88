#!/usr/bin/env python3
"""Warp-stall samples of the instructions a sparse.wgmma v3 launch executes a given number of times
(ncu --page source --csv --print-source cuda,sass): with 2048 query tiles and 8 consumer warps,
16384 executions are the consumers' once-a-tile code; 104960 and 88576 their once-a-step code.
Usage: per_tile.py CSV [EXECUTIONS]"""
import collections, csv, sys

def number(x):
    return float(x) if x not in ('', '-') else 0.0

rows = list(csv.reader(open(sys.argv[1], newline='')))
want = int(sys.argv[2]) if len(sys.argv) > 2 else 16384
path = head = line = None
by_count, by_line, instrs, text = collections.Counter(), collections.Counter(), collections.Counter(), {}
for r in rows:
    if len(r) >= 2 and r[0] == 'File Path':
        path = r[1].split('/')[-1]
        continue
    if len(r) >= 2 and r[0] == 'Line No':
        head = r
        continue
    if head is None or len(r) != len(head):
        continue
    if r[0] != '':
        line = (path, int(r[0]))
        text[line] = r[1].strip()[:80]
        continue
    samples = number(r[head.index('Warp Stall Sampling (All Samples)')])
    executed = int(number(r[head.index('Instructions Executed')]))
    by_count[executed] += samples
    if executed == want:
        by_line[line] += samples
        instrs[line] += 1
total = sum(by_count.values())
print(f'all samples {total:.0f}; by executions of an instruction (the 12 largest):')
for executed, samples in by_count.most_common(12):
    print(f'  {executed:9d} executions {samples:7.0f} samples {100 * samples / total:5.1f}%')
print(f'instructions executed {want} times: {sum(instrs.values())} of them, {sum(by_line.values()):.0f} samples; by line:')
for key, samples in by_line.most_common(40):
    print(f'  {samples:6.0f} {instrs[key]:4d} {key[0]}:{key[1]:<4d} {text[key]}')
