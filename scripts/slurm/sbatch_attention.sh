#!/usr/bin/env bash
# The attention family on a Slurm cluster: an array of shards and a chained merge (see submit.sh for
# PARTITION, TIME, GPU_GRES, ACCOUNT, SHARDS, PARALLEL, OUTPUT). From the repository root:
#   PARTITION=gpu scripts/slurm/sbatch_attention.sh   (configs/attention.json; CONFIG=configs/cuhk.json for seed 000)
exec env CONFIG=${CONFIG:-configs/attention.json} "$(dirname "$0")/submit.sh" "$@"
