#!/usr/bin/env bash
# Build the website into _build/html: installs everything into ./.venv, executes every notebook in
# quick mode (cached in _build/.jupyter_cache) and fails on any warning or cell error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup-env.sh
bash scripts/vendor-web.sh  # MathJax and the widget renderer, served by the site itself
unset DLCV_MODE  # the website shows quick mode
jupyter-book build . --builder html --warningiserror --keep-going "$@"
echo "==> the book is in _build/html/index.html"
