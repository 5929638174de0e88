#!/bin/bash
# main 32598f0: compute-sanitizer memcheck and racecheck over the stream-read GPU test (every shape,
# the blocked ones new at e529f25, at 1, 1000, 132 x 2048 x 8 - 1 and 3 Mi + 37 vectors).
S=$S; W=$OUT/w; mkdir -p $W /tmp/b
pack() { tar -C $OUT -cf $OUT/w.tar w 2>/dev/null; }
step() { local lim=$1 log=$2; shift 2; echo "\$ $*" >> $W/$log; local t0=$SECONDS; timeout -s KILL $lim "$@" >> $W/$log 2>&1; local rc=$?; echo "rc=$rc wall=$((SECONDS - t0)) s" >> $W/$log; echo "$log rc=$rc $((SECONDS - t0)) s" >> $W/steps.txt; pack; }
xz -d -c $S/bins.tar.xz | tar -C /tmp/b -xf -
T="the streaming read reads every 16 bytes once\\, in every compiled shape"
step 70 memcheck_stream_read.txt compute-sanitizer --tool memcheck --error-exitcode 9 /tmp/b/main/fabench_gpu_tests "$T" -r compact
step 70 racecheck_stream_read.txt compute-sanitizer --tool racecheck --error-exitcode 9 /tmp/b/main/fabench_gpu_tests "$T" -r compact
pack; rm -rf $W
