#!/usr/bin/env bash
# The softmax_matmul family on a Slurm cluster: an array of shards and a chained merge (see submit.sh for
# PARTITION, TIME, GPU_GRES, ACCOUNT, SHARDS, PARALLEL, OUTPUT). From the repository root:
#   PARTITION=gpu scripts/slurm/sbatch_softmax_matmul.sh
exec env CONFIG=${CONFIG:-configs/softmax_matmul.json} "$(dirname "$0")/submit.sh" "$@"
