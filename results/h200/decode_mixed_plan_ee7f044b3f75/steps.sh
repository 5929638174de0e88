#!/bin/bash
# Prepared at the end of the 2026-12-02 ninth session (binaries built then; still valid while main is
# 5cb3ad7): main 5cb3ad7, branch decode-mixed-plan ee7f044, the ws trace build of branch
# sparse-ws-trace-b06 (aef86f7, -DFABENCH_WS_TRACE on attention_sparse_wgmma.cu), cluster_probe.
S=.devbuild/s15; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_floor_164eec728c26/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
M=/tmp/b/main/fa-bench; X=/tmp/b/mixed
step 20 cluster_probe.txt /tmp/b/cluster_probe
step 120 mixed_splits_main.txt $M --config $S/decode-mixed-splits.config.json --output $W/mixed_main --overwrite
step 120 mixed_splits_branch.txt $X/fa-bench --config $S/decode-mixed-splits.config.json --output $W/mixed_branch --overwrite
step 90 paged_splits.txt $M --config $S/decode-paged-splits.config.json --output $W/paged_splits --overwrite
step 60 ws_plain.txt $M --config $S/diag_ws_trace.json --output $W/ws_plain --overwrite
step 60 ws_trace.txt /tmp/b/wstrace/fa-bench --config $S/diag_ws_trace.json --output $W/ws_trace --overwrite
step 100 mixed_gpu_tests_decode.txt $X/fabench_gpu_tests "[decode]" -r compact
pack; rm -rf $W
