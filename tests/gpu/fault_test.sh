#!/usr/bin/env bash
# A sticky CUDA fault mid-sweep: the faulting case is recorded as `fault`, the cases after it run
# in a fresh process (fa-bench re-executes itself with --resume), and the run exits 1.
# Needs a GPU; exits 77 (ctest: skipped) without one. Usage: fault_test.sh <fa-bench binary>
set -uo pipefail
FA_BENCH=$(realpath "$1")
WORK=$(mktemp -d /tmp/fabench-fault.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$FA_BENCH" list >/dev/null || exit 1
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then echo "FAULT TEST NOT RUN: no GPU"; exit 77; fi
cat > "$WORK/sweep.json" <<'JSON'
{"name": "fault", "timing": {"min_samples": 2, "min_time_s": 0, "max_time_s": 1},
 "experiments": [{"op": "softmax", "variants": ["softmax.naive", "debug.illegal_address", "softmax.fused"],
                  "rows": [16, 32], "cols": 64}]}
JSON
# --overwrite as scripts/gpu_check.sh runs sweeps: the restart must drop it, or it loops for ever.
FABENCH_DEBUG_VARIANTS=1 timeout 120 "$FA_BENCH" --config "$WORK/sweep.json" --output "$WORK/out" --overwrite > "$WORK/log" 2>&1
status=$?
cat "$WORK/log"
fail() { echo "FAIL: $*"; exit 1; }
[ "$status" -eq 1 ] || fail "exit status $status, expected 1 (a fault is a failure)"
csv="$WORK/out/fault.csv"
[ "$(tail -n +2 "$csv" | wc -l)" -eq 6 ] || fail "expected 6 rows, got $(tail -n +2 "$csv" | wc -l)"
[ "$(grep -c ',debug.illegal_address,.*,fault,' "$csv")" -eq 2 ] || fail "the two faulting cases are not fault rows"
[ "$(grep -c ',softmax\.\(naive\|fused\),.*,ok,' "$csv")" -eq 4 ] || fail "the other four cases did not all run ok"
grep -q "continuing the remaining cases in a fresh process" "$WORK/log" || fail "no restart after the fault"
grep -q "illegal memory access\|cudaErrorIllegalAddress" "$csv" || fail "the fault row does not name the CUDA error"
echo "fault test passed"
