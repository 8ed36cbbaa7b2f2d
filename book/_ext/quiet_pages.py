"""Small fixes so that every page loads with no JavaScript error in the browser console.

* sphinx-thebe adds its inline configuration script to a page twice, which throws
  "Identifier 'THEBE_JS_URL' has already been declared": identical scripts are kept once.
* The theme reads the colour mode from the reader's saved choice and, when there is none, logs
  "Got invalid theme mode: ." as an error: the mode defaults to "auto" (follow the system) instead.
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", str(js)) or "", attributes.get("body"), attributes.get("type"))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


DEFAULT_MODE = 'document.documentElement.dataset.mode = localStorage.getItem("mode") || "auto";'


def setup(app):
    app.add_js_file(None, body=DEFAULT_MODE, priority=1)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
