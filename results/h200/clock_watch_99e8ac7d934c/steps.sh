#!/bin/bash
# The timer's clock rule on the H200: its GPU tests and compute-sanitizer on them; issue 18's
# diagnostic (density 0.1 / 1 and attn.wgmma, five processes) with nvidia-smi logging; the seq 8k
# and 16k sweeps with FlexAttention; decode's ceiling cases with cuDNN.
S=.devbuild/s27; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/main
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit,temperature.gpu --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> $W/gpu.txt 2>&1
step 60 gpu_tests.txt $M/fabench_gpu_tests "[timer]" -s -r compact
step 60 gpu_tests.txt $M/fabench_gpu_tests "[l2]" -r compact
step 120 sanitize.txt compute-sanitizer --tool memcheck $M/fabench_gpu_tests "[timer]" -r compact
step 120 sanitize.txt compute-sanitizer --tool racecheck $M/fabench_gpu_tests "[timer]" -r compact
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv -lms 50 > $W/clocks.csv 2>&1 &
SMI=$!
nvidia-smi --query-gpu=timestamp,clocks_event_reasons.active --format=csv -lms 50 > $W/reasons.csv 2>&1 &
SMI2=$!
for r in 1 2 3 4 5; do
  date +%H:%M:%S.%N >> $W/run_times.txt
  step 60 runs.txt $M/fa-bench --config $S/density_clocks.config.json --output $W/run$r --overwrite
done
date +%H:%M:%S.%N >> $W/run_times.txt
for s in 8k 16k; do
  $M/fa-bench plan --config $S/sparse-$s.config.json -o $W/plan$s.json >> $W/plan.log 2>&1
  step 150 fabench.log $M/fa-bench --config $S/sparse-$s.config.json --output $W/sweep$s
done
for s in 8k 16k; do
  step 200 flex.log python3 -u scripts/peers.py --plan $W/plan$s.json --peers flex --output $W/flex$s.csv
done
export FABENCH_CALIBRATION=$S/calibration.json
step 90 decode.txt $M/fa-bench --config $S/decode-ceiling.config.json --output $W/decode
$M/fa-bench plan --config $S/decode-ceiling.config.json -o $W/plan_decode.json >> $W/plan.log 2>&1
step 120 decode_peers.txt python3 -u scripts/peers.py --plan $W/plan_decode.json --peers cudnn --output $W/decode-peers.csv
kill $SMI $SMI2; pack; cat $W/steps.txt
