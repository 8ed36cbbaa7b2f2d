"""Sphinx directive ``runtimes``: how long each notebook of a chapter takes in quick mode.

    ```{runtimes} ch01_cnn_review
    ```

renders a table from ``book/runtimes.json``, which ``python scripts/measure_notebooks.py`` writes by
executing every notebook (never typed by hand). A notebook of the chapter with no measurement is a
build warning, so with ``--warningiserror`` the table cannot fall behind the notebooks.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def _load(srcdir: Path) -> dict:
    path = srcdir / "book" / "runtimes.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


class RuntimesDirective(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self):
        chapter = self.arguments[0]
        srcdir = Path(self.env.srcdir)
        data = _load(srcdir)
        self.env.note_dependency(str(srcdir / "book" / "runtimes.json"))
        notebooks = sorted((srcdir / "notebooks" / chapter).glob("*.ipynb"))
        if not notebooks:
            logger.warning(f"runtimes: no notebooks in notebooks/{chapter}", location=self.get_location())
            return []
        rows = data.get("notebooks", {})
        table = nodes.table(classes=["runtimes"])
        group = nodes.tgroup(cols=3)
        table += group
        for width in (60, 20, 20):
            group += nodes.colspec(colwidth=width)
        head, body = nodes.thead(), nodes.tbody()
        group += head
        group += body
        head += self._row(["notebook", "runs in about", "peak memory"])
        total = 0.0
        for nb in notebooks:
            key = nb.relative_to(srcdir).as_posix()
            if key not in rows:
                logger.warning(
                    f"runtimes: {key} has no measurement; run `python scripts/measure_notebooks.py {key}`",
                    location=self.get_location(),
                )
                continue
            row = rows[key]
            total += row["seconds"]
            link = addnodes.pending_xref(
                "", refdomain="std", reftype="doc", reftarget="/" + key[: -len(".ipynb")], refexplicit=True
            )
            link += nodes.inline(text=nb.stem)
            body += self._row([link, f"{round(row['seconds'])} s", f"{row['peak_mb']:,} MB"])
        machine = data.get("machine", "an unknown machine")
        para = nodes.paragraph(
            text=f"In quick mode (the default) this chapter's notebooks run in about {round(total)} s in all on a "
            f"laptop CPU, each within the time below. Measured on {machine} on {data.get('date', 'an unknown date')} "
            "by scripts/measure_notebooks.py, which executes every notebook and writes the table; a GPU is not needed."
        )
        return [para, table]

    @staticmethod
    def _row(cells):
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            para = nodes.paragraph()
            para += nodes.Text(cell) if isinstance(cell, str) else cell
            entry += para
            row += entry
        return row


def setup(app):
    app.add_directive("runtimes", RuntimesDirective)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
