"""The book's pages in reading order, from ``_toc.yml``: one walker for the scripts and the tests."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files(root: Path = ROOT) -> list[str]:
    """Every ``file`` entry of ``root/_toc.yml`` (the root page first), without extension, in reading order."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(f"{Path(root) / '_toc.yml'} has no `root:` entry; is it a Jupyter Book table of contents?")
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in reading order."""
    return [Path(root) / f"{f}.ipynb" for f in toc_files(root) if (Path(root) / f"{f}.ipynb").exists()]


HIDDEN_OUTPUT_TAGS = {"remove-cell", "remove-output", "remove_cell", "remove_output"}


def executed_notebook(page: str, root: Path = ROOT):
    """The notebook ``page`` (a ``_toc.yml`` entry) with the outputs of the book build's execution of it,
    from the build's execution cache (``_build/.jupyter_cache``, what the website is rendered from), or
    ``None`` when the cache holds no execution of the notebook as it is now (not built yet, or edited
    since). (``_build/jupyter_execute/`` is no substitute: myst-nb writes the notebook there without its
    outputs when they come from the cache.)"""
    import nbformat
    from jupyter_cache import get_cache

    cache_dir = Path(root) / "_build" / ".jupyter_cache"
    if not (cache_dir / "global.db").exists():
        return None
    notebook = nbformat.read(Path(root) / f"{page}.ipynb", as_version=4)
    try:
        _, merged = get_cache(cache_dir).merge_match_into_notebook(notebook)
    except KeyError:  # no execution of this code in the cache
        return None
    return merged


def figure_outputs(nb) -> list[dict]:
    """The outputs of a notebook (an nbformat/JSON dict) that the website shows as images: PNG or JPEG
    outputs of cells not hidden by a ``remove-*`` tag."""
    figures = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or HIDDEN_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") in ("display_data", "execute_result") and {"image/png", "image/jpeg"} & set(
                out.get("data", {})
            ):
                figures.append(out)
    return figures
