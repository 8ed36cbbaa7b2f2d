"""Rebuild the pages when the book's own static files change (book/_static: the stylesheet, the favicon).

Sphinx copies static files only when it writes at least one page, and it writes none when no source
changed: an edit of book/_static/book.css alone would not reach _build/html. A digest of those files,
kept in the build environment, marks every page out of date when it changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def _digest(srcdir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((srcdir / "book" / "_static").rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(srcdir)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _outdated(app, env, added, changed, removed):
    digest = _digest(Path(app.srcdir))
    if getattr(env, "book_static_digest", None) == digest:
        return []
    env.book_static_digest = digest
    return sorted(env.found_docs - added - changed)


def setup(app):
    app.connect("env-get-outdated", _outdated)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
