#!/bin/bash
# main at 13e711b (kernels as fb5fc8f's): every GPU test and the fault test, memcheck and racecheck
# over every configs/sanitize_*.json, then issue 17's ceiling cases with cuDNN over the same plan.
S=.devbuild/s50; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/head
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> $W/gpu.txt 2>&1
step 330 gpu_tests.txt $M/fabench_gpu_tests -r compact --durations yes
step 120 fault_test.txt bash tests/gpu/fault_test.sh $M/fa-bench
for cfg in sanitize_sparse sanitize_attention sanitize_decode sanitize_bwd; do
  for tool in memcheck racecheck; do
    step 120 sanitize.txt compute-sanitizer --tool $tool --error-exitcode 9 $M/fa-bench --config configs/$cfg.json --output /tmp/s_${cfg}_${tool} --overwrite
  done
done
export FABENCH_CALIBRATION=$S/calibration.json
step 90 decode.txt $M/fa-bench --config $S/decode-ceiling.config.json --output $W/decode
$M/fa-bench plan --config $S/decode-ceiling.config.json -o $W/plan_decode.json >> $W/plan.log 2>&1
step 120 decode_peers.txt python3 -u scripts/peers.py --plan $W/plan_decode.json --peers cudnn --output $W/decode-peers.csv
pack; cat $W/steps.txt
