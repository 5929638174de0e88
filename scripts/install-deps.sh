#!/usr/bin/env bash
# Installs what fa-bench needs on Debian 12 that is missing (the CUDA toolkit is assumed present,
# with nvcc in /usr/local/cuda/bin or on PATH). Safe to run again.
set -euo pipefail
need=()
# slurm-wlm and munge: the single-node Slurm test (tests/slurm/); fa-bench itself does not need them.
for pkg in build-essential cmake ninja-build git libcli11-dev libfmt-dev nlohmann-json3-dev catch2 python3-matplotlib python3-numpy python3-pil slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# Debian's python3-* packages serve /usr/bin/python3 only; a python3 ahead of it on PATH (pyenv,
# conda, a venv) needs the scripts' packages installed into it.
if command -v python3 >/dev/null && ! python3 -c 'import matplotlib, numpy' 2>/dev/null; then
  echo "note: $(command -v python3) lacks matplotlib or numpy (the python3-* packages serve /usr/bin/python3):" \
       "python3 -m pip install -r scripts/requirements.txt" >&2
fi
if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "error: the CUDA toolkit (nvcc) is not installed; see https://developer.nvidia.com/cuda-downloads" >&2
  exit 1
fi
