#!/usr/bin/env bash
# The default family on a Slurm cluster: an array of shards and a chained merge (see submit.sh for
# PARTITION, TIME, GPU_GRES, ACCOUNT, SHARDS, PARALLEL, OUTPUT). From the repository root:
#   PARTITION=gpu scripts/slurm/sbatch_default.sh
exec env CONFIG=${CONFIG:-configs/default.json} "$(dirname "$0")/submit.sh" "$@"
