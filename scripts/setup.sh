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

# 2. System packages (with --tests also those only the tests use: a real browser)
lists=(scripts/system-packages.txt)
if [ "${1:-}" = "--tests" ]; then
  lists+=(scripts/system-packages-tests.txt)
fi
mapfile -t wanted < <(cat "${lists[@]}" | grep -v '^\s*#' | awk 'NF {print $1}')
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
# 4. PyTorch with torchaudio and torchcodec of the same release (the lip-sync model and
# the neural voice). A range like torch>=2.6 would let pip pick the newest release and
# a torchaudio of another; so unless torch and torchaudio already load in the venv (a
# GPU machine installs its own trio first, see the README), a known trio is installed.
# torch 2.9.1 + torchaudio 2.9.1 is the pairing checked to install and load together on
# x86_64 and aarch64 alike (on x86_64 it is the CUDA build, which runs on the CPU).
# TORCH_PIP_ARGS overrides what is installed, e.g. for CPU-only wheels:
#   TORCH_PIP_ARGS="torch==2.9.1 torchaudio==2.9.1 torchcodec==0.9.1 --index-url https://download.pytorch.org/whl/cpu"
TORCH_DEFAULT="torch==2.9.1 torchaudio==2.9.1 torchcodec==0.9.1"
if ! "$VENV/bin/python" -c 'import torch, torchaudio' >/dev/null 2>&1; then
  say "installing PyTorch (a few minutes): ${TORCH_PIP_ARGS:-$TORCH_DEFAULT}"
  # shellcheck disable=SC2086  # the arguments are meant to split
  "$VENV/bin/python" -m pip install -q ${TORCH_PIP_ARGS:-$TORCH_DEFAULT}
fi
# torchcodec (audio files in voice training with torch >= 2.9) must be the one made for
# the installed torch; pip would otherwise take the newest.
if ! "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torchcodec") is None)'; then
  torch_version=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
  case "$torch_version" in
    2.9.*) "$VENV/bin/python" -m pip install -q "torchcodec==0.9.1" ;;
    *) say "note: torch $torch_version: install the torchcodec release made for it (see torchcodec's README) before training a voice" ;;
  esac
fi
say "installing streamer and its dependencies into $VENV"
"$VENV/bin/python" -m pip install -q -e '.[dev,voice]'
say "done: $("$VENV/bin/streamer" --version)"
