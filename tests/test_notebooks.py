"""Checks of the notebooks as files: stored clean, listed in the table of contents, and following
the book's conventions (CONTRIBUTING.md). Executing them is nbval's job (pytest notebooks --nbval-lax)."""

import re
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml
from book_toc import toc_files

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# The Colab cell installs the tagged release of this version (README, Publishing): v<version>
COLAB_INSTALL_URL = f"{REPO_URL}@v{VERSION}"


def source(nb, cell_type=None) -> str:
    return "\n".join(c.source for c in nb.cells if cell_type is None or c.cell_type == cell_type)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


def test_every_toc_entry_exists_and_every_notebook_is_listed():
    entries = toc_files()
    for entry in entries:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), f"_toc.yml lists missing {entry}"
    listed = {str(ROOT / e) for e in entries}
    for nb in NOTEBOOKS:
        assert str(nb.with_suffix("")) in listed, f"{nb.relative_to(ROOT)} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
class TestNotebook:
    def test_stored_without_outputs(self, path):
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"cells {dirty} have outputs: run `python scripts/strip_outputs.py {path.name}`"
        assert "widgets" not in nb.metadata, "widget state is stored: run scripts/strip_outputs.py"

    def test_build_metadata_is_spelled_right(self, path):
        # scripts/execute_notebooks.py reads "dlcv": {"run_alone": true}; a misspelt key would silently run
        # a timing notebook next to another one
        nb = nbformat.read(path, as_version=4)
        dlcv = nb.metadata.get("dlcv", {})
        assert isinstance(dlcv, dict) and set(dlcv) <= {"run_alone"}, f"unknown notebook metadata dlcv: {dlcv}"
        assert isinstance(dlcv.get("run_alone", False), bool), "dlcv.run_alone must be true or false"

    def test_first_cell_installs_utils_on_colab_from_the_tagged_release(self, path):
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        assert first.cell_type == "code" and '"google.colab" in sys.modules' in first.source
        # hidden on the website (the page starts with the title), still run in Colab, JupyterLab and the build
        assert "remove-cell" in first.metadata.get("tags", []), "tag the Colab cell `remove-cell`"
        urls = re.findall(r"git\+(https://[^\"']+)", first.source)
        assert urls == [COLAB_INSTALL_URL], (
            f"the Colab cell installs {urls}; it must install {COLAB_INSTALL_URL}: the repository of _config.yml "
            f"at the tag of pyproject.toml's version (v{VERSION})"
        )

    def test_conventions(self, path):
        nb = nbformat.read(path, as_version=4)
        md = source(nb, "markdown")
        assert re.search(r"^# ", md, re.M), "needs a title"
        assert "What you will learn" in md
        assert "utils.setup(" in source(nb, "code"), "call utils.setup(...) to print the mode and device"
        assert len(re.findall(r"<summary>\s*Solution", md)) >= 3, "needs at least three exercises with solutions"
        assert re.search(r"^#+ .*Summary", md, re.M | re.I), "needs a Summary section"
        assert re.search(r"^#+ .*References", md, re.M | re.I), "needs a References section"
        assert "assert " in source(nb, "code"), "claims are asserts"


def test_toc_reader_lists_the_root_first_and_rejects_a_file_without_root(tmp_path):
    files = toc_files()
    assert files[0] == yaml.safe_load((ROOT / "_toc.yml").read_text())["root"] and len(files) == len(set(files))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nchapters:\n- file: a\n")
    with pytest.raises(ValueError, match="no `root:` entry"):
        toc_files(tmp_path)


CODE_COLUMNS = 88  # notebooks/ruff.toml: what a code block of the website shows at 1280 px without scrolling


def _fenced_code_lines(markdown: str) -> list[str]:
    return [line for block in re.findall(r"```[^\n]*\n(.*?)```", markdown, re.S) for line in block.splitlines()]


@pytest.mark.parametrize(
    "path",
    NOTEBOOKS + sorted((ROOT / "book").glob("*.md")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_code_in_the_prose_fits_the_column(path):
    """Code blocks in markdown (exercise solutions, how-to pages) are not formatted by ruff: keep them to
    88 columns too, as tests/test_site.py checks in the browser."""
    if path.suffix == ".ipynb":
        markdown = source(nbformat.read(path, as_version=4), "markdown")
    else:
        markdown = path.read_text()
    long = [line for line in _fenced_code_lines(markdown) if len(line) > CODE_COLUMNS]
    assert not long, f"{len(long)} code lines over {CODE_COLUMNS} columns in the prose: {long[:3]}"


def test_the_tagged_release_holds_the_utils_of_this_commit():
    """The Colab cells install `utils` from the tag v<version>: once that tag exists, `utils` and the
    package metadata must not differ from it, or a notebook opened on Colab runs against other code.
    Changing them means a new version, new Colab cells (the test above) and a new tag."""
    import subprocess

    tag = f"v{VERSION}"
    git = ["git", "-C", str(ROOT)]
    found = subprocess.run([*git, "rev-parse", "-q", "--verify", f"refs/tags/{tag}"], capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"no git tag {tag} here: tag the release that the Colab cells install (README, Publishing)")
    changed = subprocess.run(
        [*git, "diff", "--name-only", tag, "--", "utils", "pyproject.toml"], capture_output=True, text=True
    ).stdout.split()
    assert not changed, f"{changed} differ from the release {tag} the Colab cells install: bump the version"
