#!/usr/bin/env bash
# Everything CI checks, each notebook executed once: lint, the book build with warnings as errors
# (it executes every notebook in quick mode and fails on a cell error or stderr output), then pytest:
# the unit tests of utils, the notebooks as files, the notebooks as the build executed them, and the
# built site in headless Chromium with the network blocked.
#   bash scripts/test.sh              everything
#   bash scripts/test.sh -k stats     extra arguments go to pytest
# nbval executes the notebooks on its own (pytest notebooks --nbval-lax); the GPU workflow runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup-env.sh
unset DLCV_MODE
stage() { echo "==> [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }
stage "ruff (lint and format of .py and .ipynb)"
ruff check .
ruff format --check .
stage "building the book: executes every notebook once (warnings are errors)"
bash scripts/build-book.sh
stage "pytest: unit tests, notebook files, executed notebooks, the site in a browser"
pytest tests -p no:cacheprovider "$@"
stage "all tests passed"
