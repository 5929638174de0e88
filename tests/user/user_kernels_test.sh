#!/usr/bin/env bash
# The template folder built through -DFABENCH_USER_KERNELS=examples/user_kernels (CI's build):
# its variants are registered, listed, and expanded by a sweep like the built-in ones.
# Usage: user_kernels_test.sh FA_BENCH SOURCE_DIR
set -euo pipefail
bin="$1"
src="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" list > "$work/list.txt"
for v in user.attention_simple user.softmax_rows; do
  grep -q "^$v  \[" "$work/list.txt" || fail "fa-bench list does not show $v"
done
grep -q "param block_keys (default 32; compiled: 32, 64)" "$work/list.txt" || fail "user.attention_simple's parameters are not listed"

# The guide's sweep: every user case expands (3 x 2 parameter settings x 2 dtypes x 3 shapes x 2 head
# dims x 2 causal = 144 attention cases; 2 x 2 x 2 x 2 = 16 softmax cases).
"$bin" --config "$src/examples/user_kernels/sweep.json" --dry-run --output "$work/dry" > "$work/dry.txt"
attention=$(grep -c "user.attention_simple" "$work/dry.txt" || true)
softmax=$(grep -c "user.softmax_rows" "$work/dry.txt" || true)
[ "$attention" = 144 ] || fail "dry run lists $attention user.attention_simple cases, expected 144"
[ "$softmax" = 16 ] || fail "dry run lists $softmax user.softmax_rows cases, expected 16"

# "all" takes them too, and a run writes their rows (without a GPU: unsupported, with the reason).
cat > "$work/all.json" <<'JSON'
{"name": "tiny", "experiments": [
  {"op": "softmax", "variants": "all", "rows": 3, "cols": 5},
  {"op": "attention", "variants": "all", "batch": 1, "heads": 2, "seq_len": 9, "head_dim": 64}]}
JSON
"$bin" --config "$work/all.json" --output "$work/run" --filter '^user\.' > "$work/run.txt" 2>&1 || true
for v in user.attention_simple user.softmax_rows; do
  grep -q ",$v," "$work/run/tiny.csv" || fail "no $v row in the sweep's CSV"
done
echo "ok: user variants listed, expanded and run"
