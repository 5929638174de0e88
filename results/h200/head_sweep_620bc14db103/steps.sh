#!/bin/bash
# main at 620bc14: the odd-shape GPU variants test (its 150 s limit ran out in the lease of s39);
# a scratch blocked streaming read at 128 / 132 / 256 / 264 blocks (does decode's 128-SM plan
# leave read rate unused?); issue 18's seq 8k and 16k sweeps with FlexAttention over the same
# plans; decode's ceiling cases with cuDNN.
S=.devbuild/s40; W=/tmp/w; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w | xz -1 > $OUT/w.tar.xz.tmp && mv $OUT/w.tar.xz.tmp $OUT/w.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s39/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/final
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> $W/gpu.txt 2>&1
nproc >> $W/gpu.txt
step 60 smcount.txt $S/smcount
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
step 260 gpu_tests.txt $M/fabench_gpu_tests "every GPU variant matches the CPU reference at odd shapes" -r compact --durations yes
pack; cat $W/steps.txt
