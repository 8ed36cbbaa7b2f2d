"""Interactive explorers that also run headless: controls plus a figure drawn as a PNG image.

``ipywidgets.interact`` shows its function's output in an ``Output`` widget. When a notebook runs
headless through nbclient (as ``jupyter nbconvert --execute`` and Jupyter Book do), the client mimics
that widget and writes back to the kernel on the shell channel while it waits for replies there;
this intermittently stalls the *next* cell until the execution timeout (jupyter/nbclient#312).
:func:`explore` avoids the ``Output`` widget altogether: it renders the figure to PNG bytes and shows
them in an ``ipywidgets.Image``, which a headless run only records.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (so that it is not displayed a second time)."""
    if not isinstance(fig, Figure):
        raise ValueError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(dpi, int) or isinstance(dpi, bool) or dpi < 1:
        raise ValueError(f"dpi must be a positive integer, got {dpi!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def explore(draw: Callable[..., Figure], controls: Mapping[str, object], dpi: int = 100):
    """An explorer: the ``controls`` (ipywidgets such as sliders and dropdowns) above an image of ``draw(**values)``.

    ``draw`` takes one keyword argument per control, named as in ``controls``, and returns a matplotlib
    ``Figure``; it is called once now and again whenever a control changes. Returns an
    ``ipywidgets.VBox`` whose last child is the ``ipywidgets.Image``; ``display`` it in a notebook.
    Show a static figure next to it: a rendered website shows widgets frozen.
    """
    import ipywidgets as widgets

    if not callable(draw):
        raise ValueError(f"draw must be a function returning a matplotlib Figure, got {type(draw).__name__}")
    if not isinstance(controls, Mapping) or not controls:
        raise ValueError("controls must be a non-empty dict {argument name: ipywidget}")
    for name, control in controls.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"control names must be valid argument names, got {name!r}")
        if not isinstance(control, widgets.ValueWidget):
            raise ValueError(
                f"control {name!r} must be an ipywidgets value widget (IntSlider, Dropdown, ...), "
                f"got {type(control).__name__}"
            )

    def render() -> bytes:
        fig = draw(**{name: control.value for name, control in controls.items()})
        if not isinstance(fig, Figure):
            raise ValueError(f"draw must return a matplotlib Figure, got {type(fig).__name__}")
        return figure_to_png(fig, dpi=dpi)

    image = widgets.Image(value=render(), format="png")

    def update(_change) -> None:
        image.value = render()

    for control in controls.values():
        control.observe(update, names="value")
    return widgets.VBox([widgets.HBox(list(controls.values())), image])
