#!/usr/bin/env bash
# Runs fa-bench inside a Slurm job so that the job's time-limit warning reaches it: fa-bench runs
# in the background (bash defers traps while a foreground child runs), USR1/TERM are passed on,
# and fa-bench finishes the case in flight, flushes its row and exits; RESUME=1 on the next
# submission continues from there. Variables: FA_BENCH (binary), CONFIG, OUTPUT, FILTER, RESUME.
set -uo pipefail
FA_BENCH=${FA_BENCH:-build/fa-bench}
args=()
[ -n "${CONFIG:-}" ] && args+=(--config "$CONFIG")
[ -n "${OUTPUT:-}" ] && args+=(--output "$OUTPUT")
[ -n "${FILTER:-}" ] && args+=(--filter "$FILTER")
[ "${RESUME:-0}" = 1 ] && args+=(--resume)
"$FA_BENCH" "${args[@]}" "$@" &
child=$!
trap 'kill -USR1 "$child" 2>/dev/null' USR1 TERM
status=0
while true; do
  if wait "$child"; then status=0; else status=$?; fi
  kill -0 "$child" 2>/dev/null || break  # gone: status is its exit code, not a trap's interruption
done
exit "$status"
