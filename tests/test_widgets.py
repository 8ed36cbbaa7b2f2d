import io

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utils.widgets import explore, figure_to_png  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def solid_figure(grey: float):
    """A figure filled with one grey level: the decoded PNG must be that colour everywhere."""
    fig = plt.figure(figsize=(2, 1))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.full((4, 8), grey), cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.axis("off")
    return fig


def decode(png: bytes) -> np.ndarray:
    return mpimg.imread(io.BytesIO(png), format="png")


def test_figure_to_png_renders_the_figure_and_closes_it():
    fig = solid_figure(0.6)
    png = figure_to_png(fig, dpi=50)
    assert png.startswith(PNG_SIGNATURE)
    pixels = decode(png)
    assert pixels.shape[:2] == (60, 110)  # 2 x 1 inches plus the 0.1-inch tight-bbox pad, at 50 dpi
    np.testing.assert_allclose(pixels[10:-10, 10:-10, :3], 0.6, atol=0.01)
    assert not plt.fignum_exists(fig.number)


def test_explore_draws_now_and_again_when_a_control_changes():
    calls = []
    open_before = set(plt.get_fignums())

    def draw(level, label):
        calls.append((level, label))
        return solid_figure(level)

    slider = widgets.FloatSlider(value=0.2, min=0.0, max=1.0, step=0.1)
    menu = widgets.Dropdown(options=["a", "b"], value="a")
    box = explore(draw, {"level": slider, "label": menu}, dpi=40)
    image = box.children[-1]
    assert isinstance(box, widgets.VBox) and isinstance(image, widgets.Image)
    assert list(box.children[0].children) == [slider, menu]
    assert calls == [(0.2, "a")]
    np.testing.assert_allclose(decode(image.value)[10:-10, 10:-10, :3], 0.2, atol=0.01)
    slider.value = 0.8
    menu.value = "b"
    assert calls == [(0.2, "a"), (0.8, "a"), (0.8, "b")]
    np.testing.assert_allclose(decode(image.value)[10:-10, 10:-10, :3], 0.8, atol=0.01)
    assert set(plt.get_fignums()) == open_before  # every drawn figure was closed


def test_bad_inputs_raise_value_errors():
    slider = widgets.IntSlider()
    with pytest.raises(ValueError, match="matplotlib Figure"):
        figure_to_png("not a figure")
    with pytest.raises(ValueError, match="dpi"):
        figure_to_png(solid_figure(0.5), dpi=0)
    with pytest.raises(ValueError, match="draw must be a function"):
        explore(None, {"n": slider})
    with pytest.raises(ValueError, match="non-empty dict"):
        explore(solid_figure, {})
    with pytest.raises(ValueError, match="valid argument names"):
        explore(solid_figure, {"not a name": slider})
    with pytest.raises(ValueError, match="value widget"):
        explore(solid_figure, {"grey": 0.5})
    with pytest.raises(ValueError, match="must return a matplotlib Figure"):
        explore(lambda n: None, {"n": slider})
    plt.close("all")
