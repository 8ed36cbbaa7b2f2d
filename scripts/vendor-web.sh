#!/usr/bin/env bash
# Install the website's JavaScript from the npm registry (versions pinned by web/package-lock.json)
# and copy what the pages load into web/static/vendor/ (served as _static/vendor/), so the built site
# needs no CDN:
#   vendor/mathjax/        MathJax 3 (maths rendering)
#   vendor/html-manager/   the ipywidgets renderer for static pages (embed.js, with its fonts)
# Idempotent: skips npm when web/node_modules matches the lock file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed to fetch the website's JavaScript (MathJax, the widget renderer)." >&2
  echo "       Install Node.js and npm (Debian/Ubuntu: apt-get install nodejs npm), then run this again." >&2
  exit 1
fi
stamp=web/node_modules/.lock-$(sha256sum web/package-lock.json | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> npm ci (web/package-lock.json)"
  npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
out=web/static/vendor
rm -rf "$out"
mkdir -p "$out/mathjax" "$out/html-manager"
cp -r web/node_modules/mathjax/es5/. "$out/mathjax/"
# embed.js bundles the widget manager, the standard controls and their CSS; its fonts sit beside it
find web/node_modules/@jupyter-widgets/html-manager/dist -maxdepth 1 -type f ! -name '*.map' \
  -exec cp {} "$out/html-manager/" \;
echo "==> web assets in $out ($(du -sh "$out" | cut -f1))"
