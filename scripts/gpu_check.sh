#!/usr/bin/env bash
# One call on a lent GPU machine: GPU tests, calibration, then sweeps, everything written under $OUT.
# Usage: scripts/gpu_check.sh [config ...]   (build/ made beforehand, e.g. carried from the host)
#   PEERS=1: after each sweep, scripts/peers.py runs the same cases through PyTorch (peers.csv) and
#            `fa-bench report` writes report.md with ratios against torch.sdpa_flash.
#   TRITON=1: after each sweep, scripts/user_kernels.py runs the shipped Triton kernels (examples/triton/)
#            over the same plan (triton.csv; TRITON_VARIANTS, a regex, narrows them).
#   SKIP_TESTS=1: sweeps only.
set -uo pipefail
FINAL=${OUT:-/tmp/fa-bench-out}
OUT=$(mktemp -d)  # everything lands here, then travels back as one archive (the lease returns few files)
trap 'tar -C "$OUT" -czf "$FINAL/gpu_check.tgz" . && cp "$OUT"/*.log "$OUT"/gpu_tests.txt "$OUT"/fault_test.txt "$FINAL"/ 2>/dev/null' EXIT
BIN=${BIN:-build}
# cuBLAS from the toolkit, or PyTorch's wheel copy where the toolkit's lib folder is missing.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null); do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
export FABENCH_CALIBRATION="$OUT/calibration.json"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw --format=csv | tee "$OUT/gpu.txt"
"$BIN/fa-bench" --version | tee -a "$OUT/gpu.txt"
if [ -z "${SKIP_TESTS:-}" ]; then
echo "== gpu tests"; "$BIN/tests/fabench_gpu_tests" --reporter console --durations yes 2>&1 | tail -n 60 > "$OUT/gpu_tests.txt"; echo "gpu tests exit ${PIPESTATUS[0]}" | tee -a "$OUT/gpu_tests.txt"; tail -n 5 "$OUT/gpu_tests.txt"
echo "== fault test"; bash tests/gpu/fault_test.sh "$BIN/fa-bench" > "$OUT/fault_test.txt" 2>&1; echo "fault test exit $?" | tee -a "$OUT/fault_test.txt"; tail -n 2 "$OUT/fault_test.txt"
fi
echo "== calibrate"; "$BIN/fa-bench" calibrate 2>&1 | tee "$OUT/calibrate.txt"
for cfg in "${@:-}"; do
  if [ -z "$cfg" ]; then args=(); name=default; else args=(--config "$cfg"); name=$(basename "$cfg" .json); fi
  echo "== sweep $name"
  "$BIN/fa-bench" "${args[@]}" --output "$OUT/$name" --overwrite > "$OUT/$name.log" 2>&1
  echo "sweep $name exit $?"; tail -n 4 "$OUT/$name.log"
  if [ -n "${PEERS:-}" ]; then
    echo "== peers $name"
    "$BIN/fa-bench" plan "${args[@]}" -o "$OUT/$name/plan.json" &&
      PYTHONUNBUFFERED=1 python3 scripts/peers.py --plan "$OUT/$name/plan.json" --output "$OUT/$name/peers.csv" \
        > "$OUT/$name.peers.log" 2>&1
    echo "peers $name exit $?"; tail -n 3 "$OUT/$name.peers.log"
    "$BIN/fa-bench" report "$OUT/$name/$name.csv" "$OUT/$name/peers.csv" --value tflops --baseline torch.sdpa_flash \
      > "$OUT/$name/report.md" 2>&1
  fi
  if [ -n "${TRITON:-}" ]; then
    echo "== triton $name"
    "$BIN/fa-bench" plan "${args[@]}" -o "$OUT/$name/plan.json" &&
      PYTHONUNBUFFERED=1 python3 scripts/user_kernels.py --plan "$OUT/$name/plan.json" --output "$OUT/$name/triton.csv" \
        --variants "${TRITON_VARIANTS:-.}" --module examples/triton/softmax.py --module examples/triton/softmax_matmul.py \
        --module examples/triton/attention.py > "$OUT/$name.triton.log" 2>&1
    echo "triton $name exit $?"; tail -n 3 "$OUT/$name.triton.log"
  fi
done
