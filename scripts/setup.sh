#!/usr/bin/env bash
# Set up a fresh machine: system packages (as root) and the .venv with everything.
# Used by `make setup`, the Dockerfile and .ci/run: one path for all.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. Python >= 3.11
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  say "no $PYTHON found: install Python 3.11 or newer (apt-get install python3 python3-venv)"; exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  say "$("$PYTHON" --version) is too old: streamer needs Python 3.11 or newer (set PYTHON=python3.11)"; exit 1
fi

# 2. System packages
mapfile -t wanted < <(grep -v '^\s*#' scripts/system-packages.txt | awk 'NF {print $1}')
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  wanted+=(python3-venv)
fi
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
fi
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing system packages; run:"
    echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

# 3. The virtual environment
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# 4. PyTorch, for the lip-sync model. A range like torch>=2.4 would let pip pick the
# newest release, a CUDA build of several GB; so unless a torch is already in the venv
# (a GPU machine installs its CUDA build first, see the README), the CPU build of a
# known release is installed. TORCH_PIP_ARGS overrides what is installed, e.g.
#   TORCH_PIP_ARGS="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
if ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
  say "installing PyTorch: ${TORCH_PIP_ARGS:-torch==2.13.0}"
  # shellcheck disable=SC2086  # the arguments are meant to split
  "$VENV/bin/python" -m pip install -q ${TORCH_PIP_ARGS:-torch==2.13.0}
fi
say "installing streamer and its dependencies into $VENV"
"$VENV/bin/python" -m pip install -q -e '.[dev]'
say "done: $("$VENV/bin/streamer" --version)"
