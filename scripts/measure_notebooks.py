"""Execute notebooks one at a time in quick mode and record wall time and peak memory.

    python scripts/measure_notebooks.py                 # every notebook in _toc.yml order
    python scripts/measure_notebooks.py notebooks/ch01_cnn_review/01_convolution.ipynb

Each notebook runs in a fresh ``jupyter execute`` (nbclient) process; the peak resident memory of
its kernel (and any worker processes it starts) is sampled every 50 ms. The table is printed as
Markdown and merged into ``book/runtimes.json``, which the chapter pages show (the ``{runtimes}``
directive). Run it on a quiet machine: other work slows the notebooks down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from book_toc import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]


def measure(path: Path) -> dict:
    # quick mode, and the kernel's own inline backend, so that drawing the figures is measured too
    # and OpenMP's default wait policy, as on a reader's laptop (scripts/setup-env.sh says why)
    env = {k: v for k, v in os.environ.items() if k not in ("DLCV_MODE", "MPLBACKEND", "OMP_WAIT_POLICY")}
    cmd = [str(Path(sys.executable).with_name("jupyter-execute")), "--timeout=600", str(path)]
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=path.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
        parent = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, sum(c.memory_info().rss for c in parent.children(recursive=True)))
            except psutil.Error:
                pass
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        log.seek(0)
        output = log.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{path} failed:\n{output[-3000:]}")
    return {"notebook": str(path.relative_to(ROOT)), "seconds": round(seconds, 1), "peak_mb": round(peak / 2**20)}


def main(argv: list[str]) -> None:
    paths = [Path(a).resolve() for a in argv] or toc_notebooks()
    rows = []
    print(f"| notebook | wall time (s) | peak memory (MB) |  ({psutil.cpu_count()} CPUs)")
    print("|---|---:|---:|")
    for p in paths:
        row = measure(p)
        rows.append(row)
        print(f"| {row['notebook']} | {row['seconds']} | {row['peak_mb']} |", flush=True)
    out = ROOT / "book" / "runtimes.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data["machine"] = machine()
    data["date"] = time.strftime("%Y-%m-%d")
    notebooks = data.setdefault("notebooks", {})
    for row in rows:
        notebooks[row["notebook"]] = {"seconds": row["seconds"], "peak_mb": row["peak_mb"]}
    data["notebooks"] = dict(sorted(notebooks.items()))
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


def machine() -> str:
    """A short description of this computer's CPU, e.g. '2 CPU cores (Intel Xeon ...)'."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = psutil.cpu_count()
    return f"{cores} CPU cores" + (f" ({model})" if model else "")


if __name__ == "__main__":
    main(sys.argv[1:])
