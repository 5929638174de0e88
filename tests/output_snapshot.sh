#!/usr/bin/env bash
# Records what a build of fa-bench prints and writes, so that two builds can be held side by side
# (a refactor must not change them):
#   tests/output_snapshot.sh snapshot BUILD/fa-bench OUT_DIR   # plans, list, dry runs, CPU sweeps, merge
#   tests/output_snapshot.sh compare BEFORE_DIR AFTER_DIR      # exits 1 on any difference
# Plans, list and dry runs must be byte-identical; result CSVs identical but for the timing
# columns, JSON result files identical but for those columns and the run's metadata (time, revision).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

snapshot() {
  local bin out
  bin="$(realpath "$1")"
  out="$(realpath -m "$2")"
  mkdir -p "$out"
  cd "$here"
  "$bin" list > "$out/list.txt"
  for config in configs/*.json; do
    name="$(basename "$config" .json)"
    "$bin" plan --config "$config" -o "$out/$name.plan.json"
    "$bin" --config "$config" --dry-run --output "$out/dry-$name" > "$out/$name.dry-run.txt"
  done
  # Sweeps write relative paths from OUT_DIR, so what they print does not depend on where it is.
  cd "$out"
  for config in "$here"/configs/*.json; do
    name="$(basename "$config" .json)"
    # Without a GPU, GPU variants become unsupported rows; the CPU variants run and are validated.
    "$bin" --config "$config" --output "sweep-$name" > "$name.sweep.txt" || true
  done
  # Shards, merge and resume over the whole default sweep's rows.
  "$bin" --config "$here/configs/default.json" --shard 0/2 --output shards > /dev/null || true
  "$bin" --config "$here/configs/default.json" --shard 1/2 --output shards > /dev/null || true
  "$bin" merge shards -o merged/default > merge.txt 2>&1 || true
  "$bin" --config "$here/configs/default.json" --resume --output sweep-default > resume.txt 2>&1 || true
}

# CSV with timing columns blanked (they differ run to run).
normalise_csv() {
  python3 - "$1" <<'PY'
import csv, sys
timing = ("time_ms_", "samples", "tflops", "gbps", "pct_", "mask_build_ms", "forward_ms", "backward_ms", "ttft_ms",
          "tbt_ms", "tokens_per_s")  # the ops' own timings too
rows = list(csv.reader(open(sys.argv[1], newline="")))
header = rows[0]
drop = {i for i, c in enumerate(header) if c.startswith(timing)}
w = csv.writer(sys.stdout, lineterminator="\n")
for r in rows:
    w.writerow(["" if i in drop and r is not rows[0] else v for i, v in enumerate(r)])
PY
}

normalise_json() {
  python3 - "$1" <<'PY'
import json, sys
timing = ("time_ms_", "samples", "tflops", "gbps", "pct_", "mask_build_ms", "forward_ms", "backward_ms", "ttft_ms",
          "tbt_ms", "tokens_per_s")  # the ops' own timings too
doc = json.load(open(sys.argv[1]))
meta = doc["metadata"]
for k in ("started_at", "finished_at", "tool", "host", "command"):
    meta.pop(k, None)
for shard in meta.get("merged_from", []):
    for k in ("host", "started_at"):
        shard.pop(k, None)
for r in doc["rows"]:
    for k in list(r):
        if k.startswith(timing):
            r[k] = None
json.dump(doc, sys.stdout, indent=1, sort_keys=False)
PY
}

# Console output with its times (every decimal but the errors' mantissas) masked.
normalise_text() { perl -pe 's/\b\d+\.\d+(?![\de])/T/g; s/eta [0-9hms]+/eta T/; s/ +/ /g' "$1"; }

compare() {
  local before="$1" after="$2" status=0
  for f in "$before"/*.plan.json "$before"/*.dry-run.txt "$before"/list.txt; do
    cmp -s "$f" "$after/$(basename "$f")" || { echo "DIFFERS: $(basename "$f")"; status=1; }
  done
  while IFS= read -r f; do
    rel="${f#"$before"/}"
    case "$f" in
      *.csv) diff <(normalise_csv "$f") <(normalise_csv "$after/$rel") > /dev/null || { echo "DIFFERS: $rel"; status=1; } ;;
      *.json) diff <(normalise_json "$f") <(normalise_json "$after/$rel") > /dev/null || { echo "DIFFERS: $rel"; status=1; } ;;
    esac
  done < <(find "$before" -mindepth 2 \( -name '*.csv' -o -name '*.json' \) | sort)
  for f in "$before"/*.sweep.txt "$before"/merge.txt "$before"/resume.txt; do
    diff <(normalise_text "$f") <(normalise_text "$after/$(basename "$f")") > /dev/null ||
      { echo "DIFFERS (console, times masked): $(basename "$f")"; status=1; }
  done
  [ "$status" = 0 ] && echo "same: plans, list and dry runs byte for byte; CSV and JSON results but for timings"
  return "$status"
}

case "${1:-}" in
  snapshot) snapshot "$2" "$3" ;;
  compare) compare "$2" "$3" ;;
  *) echo "usage: $0 snapshot FA_BENCH OUT_DIR | compare BEFORE_DIR AFTER_DIR" >&2; exit 2 ;;
esac
