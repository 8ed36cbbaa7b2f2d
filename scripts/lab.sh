#!/usr/bin/env bash
# Open the notebooks in JupyterLab (installs everything into ./.venv the first time).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup-env.sh
unset MPLBACKEND
exec jupyter lab notebooks "$@"
