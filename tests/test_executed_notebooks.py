"""The notebooks as the book build executed them (its cache, ``_build/.jupyter_cache``): one execution per test run.

``scripts/test.sh`` builds the book first; the build executes every notebook once in quick mode and
fails on a cell that raises (``allow_errors: false``) or writes to stderr (``stderr_output: error``).
These tests then read what that execution produced, instead of executing every notebook a second time:
it is the code in the repository now, every cell ran, in quick mode, with no error and no stderr output,
and it drew figures that carry alternative text. nbval (``pytest --nbval-lax notebooks``) executes them
again on its own; the GPU workflow runs it in quick and full mode.

Without a built book the tests are skipped with a message, except where ``CI`` is set: there a missing
build is a failure.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

import nbformat
import pytest
from book_toc import executed_notebook, figure_outputs, toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCES = toc_notebooks()
PAGES = [str(p.relative_to(ROOT).with_suffix("")) for p in SOURCES]


@pytest.fixture(params=PAGES)
def executed(request):
    page = request.param
    run = executed_notebook(page)
    if run is None:
        message = (
            f"the book build's cache holds no execution of {page} as it is now (not built yet, or edited "
            "since): build the book (bash scripts/build-book.sh)"
        )
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    return page, nbformat.read(ROOT / f"{page}.ipynb", as_version=4), run


def test_every_cell_ran(executed):
    # (the cache is matched on the notebook's code: an execution of older code is not found at all)
    page, source, run = executed
    assert len(run.cells) == len(source.cells)
    missing = [i for i, c in enumerate(run.cells) if c.cell_type == "code" and c.execution_count is None]
    assert not missing, f"{page}: code cells {missing} were not executed"


def test_quick_mode_and_no_error_or_stderr_output(executed):
    page, _, run = executed
    outputs = [o for c in run.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, f"{page} raised {errors}"
    stderr = [o.text[:200] for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{page} wrote to stderr (a warning?): {stderr}"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Mode: quick" in text, f"{page} did not run utils.setup() in quick mode"


def test_figures_are_drawn_sharp_and_described(executed):
    page, _, run = executed
    figures = figure_outputs(run)
    assert figures, f"{page} drew no figure: is MPLBACKEND set in the kernel's environment?"
    for i, out in enumerate(figures):
        meta = out.get("metadata", {}).get("image/png", {})
        # retina: the PNG holds twice the pixels of its display size (sharp on high-density screens)
        assert meta.get("width") and meta.get("height"), f"{page}: figure {i} has no display size ({meta})"
        png = base64.b64decode(out["data"]["image/png"])
        pixels = struct.unpack(">II", png[16:24])  # the PNG header's width and height
        doubled = (2 * meta["width"], 2 * meta["height"])  # (an odd pixel count is halved rounding down)
        assert all(0 <= p - d <= 1 for p, d in zip(pixels, doubled)), f"{page}: figure {i} is not pixel-doubled"
        assert meta.get("alt"), f"{page}: figure {i} has no title or axis labels to describe it by"
