"""The notebooks' figures on the website: alternative text, and a build that fails without figures.

* ``utils.setup()`` draws each matplotlib figure as a retina PNG whose output metadata holds
  ``alt``, a description made from the figure's titles (``utils.plotting.describe_figure``). myst-nb
  keeps only ``width`` and ``height`` from that metadata, so its image renderer is wrapped here to
  copy ``alt`` onto the ``<img>`` too (a cell's own ``mystnb: image: alt:`` metadata still wins).
  Without it every image's alt text would be its file name.
* A notebook page with no figure is a build warning (an error under ``--warningiserror``): a kernel
  whose figures are never drawn (``MPLBACKEND=Agg`` in its environment, say) fails the build instead
  of publishing a site with no figures.
"""

from __future__ import annotations

from docutils import nodes
from myst_nb.core.render import NbElementRenderer
from sphinx.util import logging

logger = logging.getLogger(__name__)

_render_image = NbElementRenderer.render_image


def _render_image_with_alt(self, data):
    rendered = _render_image(self, data)
    alt = data.output_metadata.get(data.mime_type, {}).get("alt")
    for node in rendered:
        if alt and isinstance(node, nodes.image) and "alt" not in node:
            node["alt"] = str(alt)
    return rendered


def _check_notebook_has_figures(app, doctree, docname):
    path = str(app.env.doc2path(docname))
    if not path.endswith(".ipynb"):
        return
    if not any(True for _ in doctree.findall(nodes.image)):
        logger.warning(
            "%s: the executed notebook drew no figure (is MPLBACKEND set to a non-inline backend in the "
            "kernel's environment?)",
            docname,
            location=docname,
        )


def setup(app):
    NbElementRenderer.render_image = _render_image_with_alt
    app.connect("doctree-resolved", _check_notebook_has_figures)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
