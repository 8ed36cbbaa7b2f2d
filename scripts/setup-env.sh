#!/usr/bin/env bash
# Create ./.venv and install everything the book needs at the versions of constraints.txt (idempotent:
# reinstalls only when requirements*.txt, pyproject.toml or constraints.txt change). Sourced by the other
# scripts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
# The exact versions of constraints.txt need Python 3.11+ (numpy, pandas, scipy, ... have dropped 3.10).
if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: .venv has $(.venv/bin/python --version 2>&1); the pinned versions in constraints.txt need Python 3.11+." >&2
  echo "       Remove .venv and run again with a newer Python, e.g. PYTHON=python3.11 bash scripts/test.sh" >&2
  exit 1
fi
# Reinstalls when a file that decides what is installed changes (also constraints.txt, see scripts/lock.sh).
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing requirements into .venv (first time: several minutes)"
  .venv/bin/python -m pip install --quiet -c constraints.txt pip  # the pinned pip, then everything else
  # requirements-dev.txt is the book's utils (editable) with the `lab` and `dev` extras of pyproject.toml;
  # constraints.txt pins every version. A torch already installed at the pinned version is kept whatever its
  # build: CI first installs the CPU-only build from PyTorch's own index (.github/workflows), and pip leaves it.
  .venv/bin/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# shellcheck disable=SC1091
source .venv/bin/activate
# No MPLBACKEND here: a Jupyter kernel must use its inline backend, or figures are never drawn into the
# notebook (and so never reach the website). Plain Python picks a headless backend by itself.
unset MPLBACKEND
# OpenMP's wait policy is left at its default, as on a reader's laptop. OMP_WAIT_POLICY=PASSIVE (threads
# sleep between operations) made the small networks of chapter 2 train 3.6 times slower on an idle 2-core
# machine (16.7 s against 4.6 s for ch02/05's five TinyNets); export it yourself only on a machine shared
# with other heavy jobs, where spinning threads compete for the cores.
