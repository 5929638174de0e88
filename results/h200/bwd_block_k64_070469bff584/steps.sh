#!/bin/bash
# One device run: bwd.wgmma block_k 64 (070469b) and attn.wgmma pipeline 3 (attn-ws bc1b2b0).
S=.devbuild/s1; W=$OUT/w; mkdir -p $W /tmp/b
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
B=/tmp/b/bwdk; A=/tmp/b/attnws
# bwd: validation, sanitizers, timing, peers
step 120 bwd_gpu_tests.txt $B/fabench_gpu_tests "[bwd]" -r compact
step 60 bwd_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $B/fa-bench --config $S/sanitize_bwd_wgmma.config.json --output $W/san_bwd_m --overwrite
step 90 bwd_racecheck.txt compute-sanitizer --tool racecheck --error-exitcode 9 $B/fa-bench --config $S/sanitize_bwd_wgmma.config.json --output $W/san_bwd_r --overwrite
step 60 bwd_synccheck.txt compute-sanitizer --tool synccheck --error-exitcode 9 $B/fa-bench --config $S/sanitize_bwd_wgmma.config.json --output $W/san_bwd_s --overwrite
step 150 bwd_ab.txt $B/fa-bench --config $S/bwd-ab.config.json --output $W/bwd-ab --overwrite
$B/fa-bench plan --config $S/bwd-ab.config.json -o $W/bwd-plan.json
step 120 bwd_peers.txt python3 -u scripts/peers.py --plan $W/bwd-plan.json --peers 'flash|cudnn' --output $W/bwd-peers.csv
# attn-ws: validation of every row of the odd config, sanitizers, timing, peers
step 60 attn_sanitize_run.txt $A/fa-bench --config $S/sanitize_attention.json --output $W/san_attn --overwrite
step 60 attn_memcheck.txt compute-sanitizer --tool memcheck --error-exitcode 9 $A/fa-bench --config $S/sanitize_attention.json --output $W/san_attn_m --overwrite
step 120 attn_racecheck.txt compute-sanitizer --tool racecheck --error-exitcode 9 $A/fa-bench --config $S/sanitize_attention.json --output $W/san_attn_r --overwrite
step 60 attn_synccheck.txt compute-sanitizer --tool synccheck --error-exitcode 9 $A/fa-bench --config $S/sanitize_attention.json --output $W/san_attn_s --overwrite
step 150 attn_ab.txt $A/fa-bench --config $S/attn-ws.config.json --output $W/attn-ws --overwrite
$A/fa-bench plan --config $S/attn-ws.config.json -o $W/attn-plan.json
step 120 attn_peers.txt python3 -u scripts/peers.py --plan $W/attn-plan.json --peers 'flash|cudnn' --output $W/attn-peers.csv
step 240 attn_gpu_tests_variants.txt $A/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact
pack; rm -rf $W
