#!/bin/bash
# ab.sh BUILD...: main's kernels (b6d929c) and each build: the sparse and dense A/B configs in turn,
# twice. About 35 s a build and round.
source .devbuild/s46/common.sh
for r in 1 2; do
  for x in main "$@"; do
    step 60 runs.txt /tmp/b/$x/fa-bench --config $S/tail_ab.config.json --output $W/sparse_$x$r --overwrite
    step 60 runs.txt /tmp/b/$x/fa-bench --config $S/dense_ab.config.json --output $W/dense_$x$r --overwrite
  done
done
pack; cat $W/steps.txt
