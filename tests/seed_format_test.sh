#!/usr/bin/env bash
# `fa-bench report --seed-format` from the command line, on a committed result file (seed 004's
# softmax_matmul sweep on an H200): the file it writes, what it says on stderr, its exit codes.
# Usage: seed_format_test.sh FA_BENCH SOURCE_DIR
set -euo pipefail
bin="$1"
csv="$2/tests/data/sample_results.csv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# fa-bench's fused kernel in the Triton kernel's place, cuBLAS's path in PyTorch's.
"$bin" report "$csv" --seed-format 004-softmax-matmul --seed-name softmax_matmul.fused=fused_softmax \
  --seed-name softmax_matmul.cublas=softmax_mult -o "$work/out.csv" 2> "$work/err.txt"
[ "$(head -1 "$work/out.csv")" = "batch_size,d1,d2,d3,triton,BLOCK,forward_ms_mean,forward_ms_std,forward_peak_MiB" ] ||
  fail "header: $(head -1 "$work/out.csv")"
# 8 d2 values x (cuBLAS + fused at BLOCK 16, 32, 64)
[ "$(tail -n +2 "$work/out.csv" | wc -l)" = 32 ] || fail "$(tail -n +2 "$work/out.csv" | wc -l) rows, expected 32"
grep -qx "16,2048,8192,512,True,64,[0-9.e-]*,[0-9.e-]*,[0-9.]*" "$work/out.csv" || fail "no fused BLOCK 64 row at d2 8192"
grep -q "left out .*softmax_matmul.naive" "$work/err.txt" || fail "the unnamed variant is not reported: $(cat "$work/err.txt")"

# Standard output without -o; the same rows.
"$bin" report "$csv" --seed-format 004-softmax-matmul --seed-name softmax_matmul.fused=fused_softmax \
  --seed-name softmax_matmul.cublas=softmax_mult 2> /dev/null | cmp -s - "$work/out.csv" || fail "stdout differs from -o"

# Bad input: exit 2 with the reason.
expect_2() {
  local want="$1"; shift
  if "$bin" report "$csv" "$@" > /dev/null 2> "$work/err.txt"; then fail "$* succeeded"; else rc=$?; fi
  [ "$rc" = 2 ] || fail "$*: exit $rc"
  grep -q -- "$want" "$work/err.txt" || fail "$*: $(cat "$work/err.txt")"
}
expect_2 "not one of 004-softmax-matmul, 004-attention" --seed-format 005-attention
expect_2 "no attention_fwd_bwd rows" --seed-format 004-attention
expect_2 "no column \"dtpe\"" --where dtpe=fp32
expect_2 "expected NAME=VALUE" --seed-format 004-softmax-matmul --seed-name softmax_matmul.fused
echo "ok: seed formats written and refused from the command line"
