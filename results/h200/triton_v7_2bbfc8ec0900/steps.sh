#!/bin/bash
W=/tmp/w3; rm -rf $W; mkdir -p $W
pack() { tar -C $W -cf $OUT/w3.tar . 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; echo "rc=$? wall=$((SECONDS - t0)) s" >> $W/$log; pack; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm,temperature.gpu,power.draw --format=csv > $W/gpu.txt 2>&1
B=build  # fa-bench built on the CPU host at 303a183 (sm_90a, carried); only its `plan` is used here
export FABENCH_CALIBRATION=results/h200/decode_1a3c1adaa680/calibration.json
$B/fa-bench plan --config configs/triton.json -o $W/triton_plan.json > $W/plan.log 2>&1
$B/fa-bench plan --config results/h200/triton_v7_2bbfc8ec0900/softmax_odd.config.json -o $W/odd_plan.json >> $W/plan.log 2>&1
step 120 triton_user.log python3 -u scripts/user_kernels.py --module examples/triton/softmax.py --plan $W/triton_plan.json --experiments softmax-large --params '^version=(1|4|7)$' --output $W/triton_user.csv
step 60 triton_peers.log python3 -u scripts/peers.py --plan $W/triton_plan.json --experiments softmax-large --peers torch.softmax --output $W/triton_peers.csv
step 170 odd_user.log python3 -u scripts/user_kernels.py --module examples/triton/softmax.py --plan $W/odd_plan.json --params '^version=7$' --output $W/odd_user.csv
step 150 triton_compile.log python3 -u tests/triton_compile_test.py
step 60 triton_user2.log python3 -u scripts/user_kernels.py --module examples/triton/softmax.py --plan $W/triton_plan.json --experiments softmax-large --params '^version=(4|7)$' --output $W/triton_user2.csv
pack
