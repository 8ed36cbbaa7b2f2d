#!/usr/bin/env bash
# Build the website into _build/html: installs everything into ./.venv, executes every notebook in
# quick mode (cached in _build/.jupyter_cache) and fails on any warning, cell error or stderr output.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup-env.sh
bash scripts/vendor-web.sh  # MathJax and the widget renderer, served by the site itself
unset DLCV_MODE  # the website shows quick mode
# The execution cache is keyed on each notebook's code only: when utils or the installed packages
# change, every notebook must run again, or the site (and the tests that read the executions) would
# show results of code that is no longer there.
# (DLCV_DEVICE too: it decides what the notebooks print.) The pages' doctrees go with the cache, or Sphinx,
# seeing no changed source, would read (and so execute) nothing.
inputs=$( (cat utils/*.py pyproject.toml requirements*.txt constraints.txt; echo "device=${DLCV_DEVICE:-}") |
  sha256sum | cut -c1-16)
if [ ! -f "_build/.jupyter_cache/.inputs-$inputs" ]; then
  if [ -d _build/.jupyter_cache ]; then echo "==> utils or the requirements changed: executing every notebook again"; fi
  rm -rf _build/.jupyter_cache _build/jupyter_execute _build/.doctrees
  mkdir -p _build/.jupyter_cache
  touch "_build/.jupyter_cache/.inputs-$inputs"
fi
# Execute the notebooks not yet in the cache several at a time (most run on one thread), as the build
# would; the build then finds them all in the cache. DLCV_BUILD_JOBS=1 executes one at a time.
python scripts/execute_notebooks.py ${DLCV_BUILD_JOBS:+--jobs "$DLCV_BUILD_JOBS"}
jupyter-book build . --builder html --warningiserror --keep-going "$@"
echo "==> the book is in _build/html/index.html"
