#!/usr/bin/env bash
# Submits a sweep as a Slurm job array of SHARDS tasks (at most PARALLEL at once) and a merge job
# that waits for all of them. Run from the repository root:
#   CONFIG=configs/softmax.json SHARDS=8 PARALLEL=4 PARTITION=gpu TIME=02:00:00 scripts/slurm/submit.sh
# Variables (all optional but CONFIG): PARTITION, TIME, GPU_GRES (default gpu:1, "none" for CPU
# sweeps), ACCOUNT, OUTPUT (default results/<name>-<date>), FA_BENCH (default build/fa-bench),
# EXTRA_SBATCH (more sbatch options). Prints the two job ids.
set -euo pipefail
: "${CONFIG:?CONFIG=path/to/sweep.json is required}"
FA_BENCH=${FA_BENCH:-build/fa-bench}
SHARDS=${SHARDS:-4}
PARALLEL=${PARALLEL:-$SHARDS}
NAME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("name", "sweep"))' "$CONFIG")
OUTPUT=${OUTPUT:-results/$NAME-$(date +%Y%m%d-%H%M%S)}
common=()
[ -n "${PARTITION:-}" ] && common+=(--partition "$PARTITION")
[ -n "${ACCOUNT:-}" ] && common+=(--account "$ACCOUNT")
# shellcheck disable=SC2206
[ -n "${EXTRA_SBATCH:-}" ] && common+=($EXTRA_SBATCH)
array_opts=(--array "0-$((SHARDS - 1))%$PARALLEL" --gres "${GPU_GRES:-gpu:1}")
[ -n "${TIME:-}" ] && array_opts+=(--time "$TIME")
export CONFIG OUTPUT FA_BENCH NAME
array=$(sbatch --parsable --export=ALL "${common[@]}" "${array_opts[@]}" scripts/slurm/fa-bench-array.sbatch)
merge=$(sbatch --parsable --export=ALL "${common[@]}" --dependency="afterok:${array%%;*}" scripts/slurm/merge.sbatch)
echo "array job ${array%%;*} ($SHARDS shards) -> $OUTPUT; merge job $merge -> $OUTPUT/$NAME.merged.csv"
