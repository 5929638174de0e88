#!/bin/bash
W=/tmp/w2; rm -rf $W; mkdir -p $W
pack() { tar -C $W -cf $OUT/w2.tar . 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
S=.devbuild/s2
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,temperature.gpu,power.draw --format=csv > $W/gpu.txt 2>&1
mkdir -p /tmp/b && xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf - ; ls -la /tmp/b/* >> $W/steps.txt
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
M=/tmp/b/main; P=/tmp/b/peel; F=/tmp/b/pf
# decode: prefetch A/B and cuDNN in the same run
$M/fa-bench plan --config $S/decode_pf.config.json -o $W/decode_plan.json > $W/plan.log 2>&1
for r in 1 2; do
  step 60 dab.log $M/fa-bench --config $S/decode_pf.config.json --output $W/dec_main$r
  step 60 dab.log $F/fa-bench --config $S/decode_pf.config.json --output $W/dec_pf$r
done
step 120 dpeers.log python3 -u scripts/peers.py --plan $W/decode_plan.json --peers cudnn --output $W/dec_cudnn.csv
# sparse: the peeled overlap loop
step 60 peel_gpu_sparse.txt $P/fabench_gpu_tests "[sparse]"
step 60 peel_memcheck.txt compute-sanitizer --tool memcheck $P/fa-bench --config configs/sanitize_sparse.json --output $W/san_mem
step 60 peel_racecheck.txt compute-sanitizer --tool racecheck $P/fa-bench --config configs/sanitize_sparse.json --output $W/san_race
step 60 peel_synccheck.txt compute-sanitizer --tool synccheck $P/fa-bench --config configs/sanitize_sparse.json --output $W/san_sync
AB=results/h200/sparse_lpt_80aba5501762/lpt_ab.config.json
for r in 1 2; do
  step 60 ab.log $M/fa-bench --config $AB --output $W/ab_main$r
  step 60 ab.log $P/fa-bench --config $AB --output $W/ab_peel$r
done
step 120 pf_gpu_decode.txt $F/fabench_gpu_tests "[decode]"
pack
