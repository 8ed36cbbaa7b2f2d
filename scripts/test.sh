#!/usr/bin/env bash
# Everything CI checks: lint, notebooks stored clean, the book build with warnings as errors,
# the unit tests of utils, nbval over every notebook in quick mode, and the built site in headless
# Chromium with the network blocked (skipped, with a message, where Chromium is not installed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup-env.sh
unset DLCV_MODE
echo "==> ruff (lint and format of .py and .ipynb)"
ruff check .
ruff format --check .
echo "==> building the book (warnings are errors)"
bash scripts/vendor-web.sh
jupyter-book build . --builder html --warningiserror --keep-going
echo "==> unit tests of utils, notebook checks, and nbval over every notebook (quick mode)"
pytest tests notebooks --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider "$@"
