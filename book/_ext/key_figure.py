"""Sphinx directive ``key-figure``: a chapter page shows a figure that one of its notebooks drew.

    ```{key-figure} ../notebooks/ch01_cnn_review/01_convolution ch01-key-figure
    The caption, one paragraph.
    ```

The notebook keeps the figure with ``utils.plotting.glue_figure("ch01-key-figure", fig)`` (myst-nb's
*glue*, hidden in its outputs). When the build executes the notebook, myst-nb writes the glued outputs
to ``<docname>.glue.json`` in its output folder; after every page is read, a post-transform here takes
the PNG from there, writes it into the site's ``_images`` and puts a figure with the caption in place
of the directive. The image's alt text is the one the notebook gave the figure (its title).

myst-nb's own ``{glue:figure}`` only pastes from the page's own notebook (it has no ``doc`` option),
and its ``{glue:any}`` with ``:doc:`` makes an image whose file it never writes. A missing notebook, a
missing key or a glued output without a PNG is a build warning, an error under ``--warningiserror``.
"""

from __future__ import annotations

import hashlib
import json
import os
from binascii import a2b_base64
from pathlib import Path

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


class pending_key_figure(nodes.General, nodes.Element):  # noqa: N801 (docutils node naming)
    """Stands for the figure until every notebook has been executed."""


class KeyFigureDirective(SphinxDirective):
    required_arguments = 2  # the notebook (relative to the page, no suffix) and the glue key
    has_content = True

    def run(self):
        rel_doc, key = self.arguments
        _, path = self.env.relfn2path(rel_doc + ".ipynb", self.env.docname)
        refdoc = self.env.path2doc(path)
        if refdoc is None or not Path(path).exists():
            logger.warning(f"key-figure: no notebook {rel_doc}.ipynb", location=self.get_location())
            return []
        # the page depends on the notebook: a changed notebook redraws the page's figure
        self.env.note_dependency(path)
        node = pending_key_figure(refdoc=refdoc, key=key)
        self.set_source_info(node)
        if not self.content:
            logger.warning("key-figure: the figure needs a caption", location=self.get_location())
            return []
        container = nodes.Element()
        self.state.nested_parse(self.content, self.content_offset, container)
        if not isinstance(container[0], nodes.paragraph):
            logger.warning("key-figure: the caption must be a paragraph", location=self.get_location())
            return []
        first = container[0]
        node += nodes.caption(first.rawsource, "", *first.children)
        return [node]


def _glue_data(folder: Path, docname: str) -> dict:
    path = folder.joinpath(*docname.split("/")).with_suffix(".glue.json")
    return json.loads(path.read_text()) if path.exists() else {}


class ReplaceKeyFigures(SphinxPostTransform):
    default_priority = 5

    def run(self, **kwargs):
        folder = Path(self.env.mystnb_config.output_folder)
        for node in list(self.document.findall(pending_key_figure)):
            output = _glue_data(folder, node["refdoc"]).get(node["key"])
            if output is None or "image/png" not in output.get("data", {}):
                logger.warning(
                    f"key-figure: {node['refdoc']} glued no figure {node['key']!r}; call "
                    f"utils.plotting.glue_figure({node['key']!r}, fig) in the notebook",
                    location=node,
                )
                node.parent.remove(node)
                continue
            png = a2b_base64(output["data"]["image/png"])
            filename = hashlib.sha256(png).hexdigest() + ".png"
            outdir = Path(self.app.builder.outdir)
            target = outdir / self.app.builder.imagedir / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.write_bytes(png)
            page_dir = (outdir / self.env.docname).parent
            metadata = output.get("metadata", {}).get("image/png", {})
            image = nodes.image(uri=os.path.relpath(target, page_dir).replace(os.sep, "/"))
            image["candidates"] = {"*": image["uri"]}
            image["alt"] = str(metadata.get("alt") or node["key"])
            if "width" in metadata:
                image["width"] = f"{metadata['width']}px"
            figure = nodes.figure("", image, *node.children, classes=["key-figure"])
            figure["ids"].append(nodes.make_id(node["key"]))  # numbered figures need an id
            figure.source, figure.line = node.source, node.line
            node.replace_self(figure)


def setup(app):
    app.add_node(pending_key_figure)
    app.add_directive("key-figure", KeyFigureDirective)
    app.add_post_transform(ReplaceKeyFigures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
