#!/usr/bin/env bash
# The Slurm path for real: a single-node Slurm (munged, slurmctld, slurmd on this host) runs the
# array script over a small CPU-variant sweep, the chained merge job combines the shards, and the
# merge must hold exactly the cases of a direct run, in the same order, all ok.
# Needs root and Debian's slurm-wlm and munge (.ci/run installs them); exits 77 (ctest: skipped,
# never passed) when they are missing. Usage: slurm_test.sh <fa-bench binary> <repo root>
set -uo pipefail
FA_BENCH=$(realpath "$1")
REPO=$(realpath "$2")
skip() { echo "SLURM TEST NOT RUN: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to start slurmctld, slurmd and munged"
for b in slurmctld slurmd munged sbatch squeue; do command -v "$b" >/dev/null || skip "$b not installed (apt-get install slurm-wlm munge)"; done

WORK=$(mktemp -d /tmp/fabench-slurm.XXXXXX)
HOST=$(hostname -s)
cleanup() {
  [ -n "${SLURM_CONF:-}" ] && scancel --full --quiet --user=root 2>/dev/null
  # The daemons carry this run's files on their command lines: stop exactly those, and wait.
  pkill -f "$WORK/slurm.conf" 2>/dev/null
  pkill -f "$WORK/munge" 2>/dev/null
  for _ in $(seq 20); do pgrep -f "$WORK" >/dev/null || break; sleep 0.5; done
  pkill -9 -f "$WORK" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { KEEP=1; echo "FAIL: $* (files kept in $WORK)"; for f in "$WORK"/*.log "$WORK"/out/*.out; do [ -f "$f" ] && { echo "== $f"; tail -n 20 "$f"; }; done; exit 1; }

# munge: a private key and socket, so nothing of the host's is touched.
mkdir -p "$WORK/munge" && chmod 700 "$WORK/munge"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none && chmod 400 "$WORK/munge/munge.key"
export MUNGE_SOCKET="$WORK/munge/munge.socket"
munged --force --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" --pid-file="$WORK/munged.pid" \
  --log-file="$WORK/munged.log" --seed-file="$WORK/munge/seed" || fail "munged did not start"

CPUS=$(nproc)
cat > "$WORK/slurm.conf" <<CONF
ClusterName=fabench-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
NodeName=$HOST CPUs=$CPUS State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/out"
export SLURM_CONF="$WORK/slurm.conf"
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for _ in $(seq 30); do sinfo -h -o %t 2>/dev/null | grep -qE "^(idle|mix|alloc)" && break; sleep 1; done
sinfo -h -o %t | grep -qE "^(idle|mix|alloc)" || fail "the node never became idle: $(sinfo 2>&1)"

# A small sweep of CPU variants: 3 shards over 10 cases.
cat > "$WORK/sweep.json" <<'JSON'
{"name": "slurmtest", "timing": {"min_samples": 2, "min_time_s": 0, "max_time_s": 1},
 "experiments": [
   {"op": "softmax", "variants": ["softmax.cpu_reference"], "rows": [3, 17], "cols": [7, 64, 100]},
   {"op": "attention", "variants": ["attn.cpu_reference", "attn.cpu_flash2"], "seq_len": [9, 33], "head_dim": 8}]}
JSON
cd "$REPO"
submitted=$(CONFIG="$WORK/sweep.json" OUTPUT="$WORK/out" FA_BENCH="$FA_BENCH" SHARDS=3 PARALLEL=2 GPU_GRES=none \
  EXTRA_SBATCH="--chdir=$REPO --output=$WORK/out/%x-%A_%a.out --cpus-per-task=1" scripts/slurm/submit.sh) || fail "submit.sh failed"
echo "$submitted"
for _ in $(seq 120); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 1; done
[ -z "$(squeue -h)" ] || fail "jobs still queued after 120 s: $(squeue)"
[ -f "$WORK/out/slurmtest.merged.csv" ] || fail "no merged CSV (did a shard or the merge job fail?)"
ls "$WORK/out"/slurmtest.shard-*-of-3.csv >/dev/null 2>&1 || fail "no shard outputs"

"$FA_BENCH" --config "$WORK/sweep.json" --output "$WORK/direct" > "$WORK/direct.log" 2>&1 || fail "direct run failed"
direct=$(cut -d, -f1,19 "$WORK/direct/slurmtest.csv")     # key, status
merged=$(cut -d, -f1,19 "$WORK/out/slurmtest.merged.csv")
[ "$direct" = "$merged" ] || fail "merged keys/statuses differ from the direct run: $(diff <(echo "$direct") <(echo "$merged"))"
rows=$(($(wc -l < "$WORK/out/slurmtest.merged.csv") - 1))
[ "$rows" -eq 10 ] || fail "expected 10 merged rows, got $rows"
grep -q ",ok," "$WORK/out/slurmtest.merged.csv" || fail "no ok rows"
echo "array + merge: $rows cases equal to the direct run"

# The time-limit warning: Slurm's --signal=B:USR1@120 sends USR1 to the batch shell; scancel
# --signal=USR1 --batch does the same now. fa-bench must finish its case, flush, stop, and a
# resubmission with RESUME=1 must complete the sweep without losing or repeating a row.
cat > "$WORK/long.json" <<'JSON'
{"name": "longtest", "timing": {"min_samples": 2, "min_time_s": 0.4, "max_time_s": 1},
 "experiments": [{"op": "softmax", "variants": ["softmax.cpu_reference"], "rows": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], "cols": 16}]}
JSON
job=$(CONFIG="$WORK/long.json" OUTPUT="$WORK/long" FA_BENCH="$FA_BENCH" sbatch --parsable --export=ALL --gres=none --cpus-per-task=1 \
  --chdir="$REPO" --output="$WORK/out/long-%j.out" scripts/slurm/fa-bench.sbatch) || fail "sbatch failed"
for _ in $(seq 60); do [ -f "$WORK/long/longtest.csv" ] && [ "$(wc -l < "$WORK/long/longtest.csv")" -ge 3 ] && break; sleep 0.5; done
scancel --signal=USR1 --batch "$job" || fail "scancel failed"
for _ in $(seq 60); do [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break; sleep 0.5; done
grep -q "stopped by signal" "$WORK"/out/long-"$job".out || fail "fa-bench did not report a clean stop"
done_rows=$(($(wc -l < "$WORK/long/longtest.csv") - 1))
[ "$done_rows" -ge 1 ] && [ "$done_rows" -lt 12 ] || fail "expected a partial output after the signal, got $done_rows rows"
tail -c 1 "$WORK/long/longtest.csv" | od -c | grep -q '\\n' || fail "the CSV does not end with a whole row"
job2=$(CONFIG="$WORK/long.json" OUTPUT="$WORK/long" FA_BENCH="$FA_BENCH" RESUME=1 sbatch --parsable --export=ALL \
  --gres=none --cpus-per-task=1 --chdir="$REPO" --output="$WORK/out/long-%j.out" scripts/slurm/fa-bench.sbatch) || fail "resubmission failed"
for _ in $(seq 120); do [ -z "$(squeue -h -j "$job2" 2>/dev/null)" ] && break; sleep 0.5; done
all_rows=$(($(wc -l < "$WORK/long/longtest.csv") - 1))
unique=$(tail -n +2 "$WORK/long/longtest.csv" | cut -d, -f1 | sort -u | wc -l)
[ "$all_rows" -eq 12 ] && [ "$unique" -eq 12 ] || fail "after --resume: $all_rows rows, $unique distinct (want 12)"
echo "signal + resume: stopped after $done_rows of 12 cases, resumed to 12 distinct rows"
echo "slurm test passed"
