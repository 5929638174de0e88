#!/bin/bash
# Main 99232bf: Nsight Compute on one launch each of attn.wgmma pipeline 3 and cuDNN's SDPA kernel at
# bf16 d128, batch 2, 16 heads, seq_q 8192, seq_k 768 and 8192: where cuDNN's shorter per-tile cost
# shows (tensor pipe, issue slots, instructions, stalls).
# .devbuild/s57 held this folder's configs and cudnn_short.py; .devbuild/s56/bins.tar.xz is fa-bench at 99232bf.
S=.devbuild/s57; W=/tmp/w2; rm -rf $W; mkdir -p $W /tmp/b
pack() { tar -C /tmp -cf - w2 | xz -1 > $OUT/w2.tar.xz.tmp && mv $OUT/w2.tar.xz.tmp $OUT/w2.tar.xz; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c .devbuild/s56/bins.tar.xz | tar -C /tmp/b -xf -
M=/tmp/b/main
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,temperature.gpu,power.limit --format=csv > $W/gpu.txt
$M/fa-bench --version >> $W/gpu.txt
ncu --version >> $W/gpu.txt 2>&1
SEC="--section SpeedOfLight --section ComputeWorkloadAnalysis --section SchedulerStats --section WarpStateStats --section InstructionStats --section MemoryWorkloadAnalysis --section LaunchStats"
for k in 768 8192; do
  step 150 ncu_ours_$k.txt ncu --clock-control none --kernel-name regex:attention_wgmma_ws --launch-skip 2 --launch-count 1 $SEC $M/fa-bench --config $S/ncu_keys$k.config.json --output /tmp/r_$k --overwrite
  step 150 ncu_cudnn_$k.txt ncu --clock-control none --kernel-name 'regex:(?i)(sdpa|fprop|flash|fmha)' --launch-skip 2 --launch-count 1 $SEC python3 $S/cudnn_short.py $k
done
pack; cat $W/steps.txt
