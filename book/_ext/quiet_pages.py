"""Small fixes so that every page loads with no JavaScript error in the browser console.

* sphinx-thebe adds its inline configuration script to a page twice, which throws
  "Identifier 'THEBE_JS_URL' has already been declared": identical scripts are kept once.
* The theme reads the colour mode from the reader's saved choice and, when there is none, logs
  "Got invalid theme mode: ." as an error: the mode defaults to "auto" (follow the system) instead.
* The widget renderer calls MathJax 2's ``MathJax.Hub.Queue``, which MathJax 3 lacks: a shim maps it
  to ``MathJax.typesetPromise``.
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


# The widget renderer (html-manager) typesets with MathJax 2's MathJax.Hub.Queue; MathJax 3 has no Hub
# (MathJax 3 replaces window.MathJax when it loads, so the shim is added once the deferred scripts ran,
# before the renderer draws the widgets)
MATHJAX2_SHIM = (
    'document.addEventListener("DOMContentLoaded", function () {'
    " if (window.MathJax && !window.MathJax.Hub) { window.MathJax.Hub = {Queue: function () {"
    " if (window.MathJax.typesetPromise) { window.MathJax.typesetPromise(); } }}; } });"
)
DEFAULT_MODE = 'document.documentElement.dataset.mode = localStorage.getItem("mode") || "auto";'


def setup(app):
    app.add_js_file(None, body=DEFAULT_MODE, priority=1)
    app.add_js_file(None, body=MATHJAX2_SHIM, priority=2)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
