"""Small fixes so that every page loads with no JavaScript error in the browser console.

* sphinx-thebe adds its inline configuration script to a page twice, which throws
  "Identifier 'THEBE_JS_URL' has already been declared": identical scripts are kept once.
* The theme reads the colour mode from the reader's saved choice and, when there is none, logs
  "Got invalid theme mode: ." as an error: the mode defaults to "auto" (follow the system) instead.
* The widget renderer calls MathJax 2's ``MathJax.Hub.Queue``, which MathJax 3 lacks: a shim maps it
  to ``MathJax.typesetPromise`` on whatever object ``window.MathJax`` holds.
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


# The widget renderer (html-manager) typesets with MathJax 2's ``MathJax.Hub.Queue([...,  element])``;
# MathJax 3 has no Hub. ``window.MathJax`` is first the configuration object (Sphinx's mathjax3_config),
# then MathJax 3 replaces it with itself when it loads, so a Hub added once would be lost: an accessor on
# ``window.MathJax`` gives every object stored there a (non-enumerable, so MathJax's configuration ignores
# it) Hub whose Queue waits for MathJax's startup and typesets the element with ``typesetPromise``.
# Before MathJax has loaded, nothing needs doing: its startup typesets the whole page.
MATHJAX2_SHIM = """(function () {
  function queue(job) {
    var mj = window.MathJax, element = Array.isArray(job) ? job[2] : undefined;
    if (!mj || !mj.startup || !mj.startup.promise) { return; }
    mj.startup.promise
      .then(function () { return mj.typesetPromise ? mj.typesetPromise(element ? [element] : undefined) : null; })
      .catch(function (err) { console.warn("MathJax could not typeset a widget:", err); });
  }
  var current = window.MathJax;
  function withHub(value) {
    if (value && typeof value === "object" && !value.Hub) {
      Object.defineProperty(value, "Hub", {value: {Queue: queue}, enumerable: false, configurable: true});
    }
    return value;
  }
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
  withHub(current);
})();"""
DEFAULT_MODE = 'document.documentElement.dataset.mode = localStorage.getItem("mode") || "auto";'


def setup(app):
    app.add_js_file(None, body=DEFAULT_MODE, priority=1)
    app.add_js_file(None, body=MATHJAX2_SHIM, priority=2)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
