"""Execute the book's notebooks into the build's execution cache, several at a time.

``jupyter-book build`` executes the notebooks it finds no cached execution of, one after the other. Many
notebooks run on one CPU thread, so on a machine with two or more cores this script, run before the build,
fills the same cache (``_build/.jupyter_cache``) with several notebooks executing at once, the way the
build would execute each of them (myst-nb's cache mode: the notebook's folder as working directory, the
timeout of ``_config.yml``, errors not allowed); the build then finds every execution in the cache.

Only notebooks that pin PyTorch to one thread (``utils.setup(..., threads=1)``) run side by side: a
notebook that uses every core, next to another, runs several times slower (measured: 84 s alone, 801 s
beside another on two cores). The others run alone, after them, as does a notebook whose asserts compare
timings (it measures latency and asserts, say, that one network is faster than another), which carries
``"dlcv": {"run_alone": true}`` in its metadata.

    python scripts/execute_notebooks.py            # every notebook of _toc.yml not yet in the cache
    python scripts/execute_notebooks.py --jobs 1   # one at a time

Exit status 1 when a notebook fails (its error is printed); the build would fail on it anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml
from book_toc import ROOT, toc_notebooks

CACHE = ROOT / "_build" / ".jupyter_cache"


ONE_THREAD = re.compile(r"utils\.setup\([^)]*threads\s*=\s*1\b")


def runs_alone(nb) -> bool:
    """True unless the notebook pins PyTorch to one thread and does not ask to run alone."""
    if nb.metadata.get("dlcv", {}).get("run_alone", False):
        return True
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    return not ONE_THREAD.search(code)


def execute(path: str, timeout: int):
    """Execute one notebook as myst-nb's cache mode does; returns (path, notebook JSON, seconds, error)."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        result = single_nb_execution(nb, cwd=str(Path(path).parent), allow_errors=False, timeout=timeout,
                                     meta_override=True)  # fmt: skip
    except Exception as err:  # a kernel that died, say: report it like a failing cell
        return path, None, time.perf_counter() - start, f"{type(err).__name__}: {err}"
    error = None if result.err is None else (result.exc_string or repr(result.err))
    return path, nbformat.writes(nb), result.time, error


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_jobs = max(1, min(4, os.cpu_count() or 1))
    parser.add_argument("--jobs", type=int, default=default_jobs, help=f"notebooks at once (default {default_jobs})")
    parser.add_argument("notebooks", nargs="*", type=Path, help="only these (default: every notebook of _toc.yml)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    config = yaml.safe_load((ROOT / "_config.yml").read_text()).get("execute", {})
    if config.get("execute_notebooks") != "cache":
        print("execute_notebooks.py: _config.yml does not execute into the cache; nothing to do")
        return 0
    timeout = int(config.get("timeout", 30))
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = get_cache(str(CACHE))

    def cached(nb) -> bool:
        try:
            cache.match_cache_notebook(nb)
            return True
        except KeyError:
            return False

    paths = [p.resolve() for p in args.notebooks] or toc_notebooks()
    # the longest first (the measured runtimes of the chapter pages), so that the last ones are short
    runtimes = json.loads((ROOT / "book" / "runtimes.json").read_text()).get("notebooks", {})
    paths.sort(key=lambda p: -runtimes.get(str(p.relative_to(ROOT)), {}).get("seconds", 60))
    together, alone = [], []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if not cached(nb):
            (alone if runs_alone(nb) else together).append(str(path))
    if not together and not alone:
        return 0
    print(f"==> executing {len(together) + len(alone)} notebooks into the cache, {args.jobs} at a time "
          f"({len(alone)} of them alone, last)", flush=True)  # fmt: skip
    failed = []
    start = time.perf_counter()

    def record(path, text, seconds, error):
        name = Path(path).relative_to(ROOT)
        if error is not None:
            failed.append(str(name))
            print(f"FAILED {name} after {seconds:.0f} s:\n{error}", file=sys.stderr, flush=True)
            return
        record = cache.add_nb_to_project(path)
        cache.cache_notebook_bundle(
            CacheBundleIn(nbformat.reads(text, as_version=4), record.uri, data={"execution_seconds": seconds}),
            check_validity=False,
            overwrite=True,
        )
        print(f"    {seconds:5.0f} s  {name}", flush=True)

    if args.jobs == 1:  # everything one after the other
        alone, together = together + alone, []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(execute, path, timeout) for path in together]
        for future in as_completed(futures):
            record(*future.result())
    for path in alone:
        record(*execute(path, timeout))
    print(f"==> executed in {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"error: {len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
