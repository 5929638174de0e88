#!/bin/bash
# Diagnostic at main 32598f0: Nsight Compute warp-stall samples per instruction for sparse.wgmma v3
# (seq 8k, random density 0.1) and decode v3 (batch 1 x 8k), one launch each.
S=$S; W=$OUT/w; mkdir -p $W /tmp/b /tmp/r
export FABENCH_CALIBRATION=results/h200/decode_ceiling_e529f25bea83/calibration.json
pack() { :; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
mkdir -p /work 2>/dev/null; [ -e /work/main ] || ln -s "$PWD" /work/main 2>/dev/null
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu --format=csv > $W/gpu.txt
for k in sparse:attention_wgmma_ws decode:decode_split_mma; do n=${k%%:*}; r=${k#*:}
  step 150 ncu_$n.txt ncu --clock-control none --kernel-name regex:$r --launch-skip 2 --launch-count 1 --set full -f -o /tmp/r/$n /tmp/b/main/fa-bench --config $S/ncu_$n.config.json --output /tmp/r/out_$n --overwrite
  step 60 ncu_${n}_details.txt ncu --import /tmp/r/$n.ncu-rep --page details --print-details all
  ncu --import /tmp/r/$n.ncu-rep --page source --csv --print-source sass > $W/ncu_${n}_sass.csv 2> $W/ncu_${n}_sass.err
  ncu --import /tmp/r/$n.ncu-rep --page source --csv --print-source cuda,sass > $W/ncu_${n}_cuda_sass.csv 2> $W/ncu_${n}_cuda_sass.err
  pack
done
ls -la $W
