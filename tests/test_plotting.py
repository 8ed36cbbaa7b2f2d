import matplotlib
import numpy as np
import pytest
import torch

import utils

matplotlib.use("Agg")


def test_show_images_grid_and_labels():
    imgs = torch.rand(5, 1, 8, 8)
    fig = utils.show_images(imgs, labels=list("abcde"), ncols=3, title="t")
    axes = fig.axes
    assert len(axes) == 6  # 2 rows x 3 columns, the last one empty
    assert [ax.get_title() for ax in axes[:5]] == list("abcde")
    shown = axes[0].get_images()[0].get_array()
    assert np.allclose(shown, imgs[0, 0].numpy())


def test_show_images_rgb_channels_last():
    imgs = torch.rand(2, 3, 4, 5)
    fig = utils.show_images(imgs)
    assert fig.axes[0].get_images()[0].get_array().shape == (4, 5, 3)


def test_show_images_errors():
    with pytest.raises(ValueError, match="2 labels"):
        utils.show_images(torch.rand(3, 1, 4, 4), labels=[1, 2])
    with pytest.raises(ValueError, match="batch of images"):
        utils.show_images(torch.rand(4, 4))
    with pytest.raises(ValueError, match="no images"):
        utils.show_images([])


def test_feature_maps():
    fig = utils.show_feature_maps(torch.rand(1, 20, 6, 6), max_maps=10, ncols=5)
    assert sum(1 for ax in fig.axes if ax.get_images()) == 10
    with pytest.raises(ValueError, match="one feature map"):
        utils.show_feature_maps(torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        utils.show_feature_maps(torch.rand(4, 4))


def test_histories():
    a = utils.History(train_loss=[1, 0.5], train_acc=[0.5, 0.8], val_loss=[1.1, 0.6], val_acc=[0.4, 0.7])
    b = utils.History(train_loss=[1, 0.4], train_acc=[0.6, 0.9], val_loss=[1.0, 0.5], val_acc=[0.5, 0.8])
    fig = utils.plot_histories({"a": a, "b": b}, metric="val_acc")
    lines = fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines] == [[0.4, 0.7], [0.5, 0.8]]
    with pytest.raises(ValueError, match="metric"):
        utils.plot_histories({"a": a}, metric="f1")
    with pytest.raises(ValueError, match="no val_acc"):
        utils.plot_histories({"c": utils.History(train_loss=[1.0], train_acc=[0.5])})
    with pytest.raises(ValueError, match="empty"):
        utils.History().plot()


def test_describe_figure_from_titles_and_labels():
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3)
    fig.suptitle("Training\ncurves of $x$")
    a.set_title("loss")
    b.plot([0, 1], [1, 0])
    b.set(xlabel="epoch", ylabel="accuracy")
    c.imshow(np.zeros((2, 2)))  # an untitled image adds nothing
    c.set_ylabel("image")
    assert utils.plotting.describe_figure(fig) == "Training curves of x. panels: loss; accuracy against epoch"
    plt.close(fig)


def test_describe_figure_is_empty_without_text_and_rejects_non_figures():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2)
    for ax in axes.flat:
        ax.imshow(np.zeros((2, 2)))
        ax.set_ylabel("row")  # a label on an image, no title: not a description
    assert utils.plotting.describe_figure(fig) == ""
    plt.close(fig)
    with pytest.raises(ValueError, match="matplotlib Figure"):
        utils.plotting.describe_figure("not a figure")


def test_crisp_inline_figures_carry_alt_text(monkeypatch):
    """In an IPython shell, a figure displays as a pixel-doubled PNG with the description as alt text."""
    import base64
    import struct

    import IPython
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell

    assert utils.plotting.use_crisp_inline_figures() is False  # plain Python: nothing to configure
    shell = InteractiveShell.instance()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    try:
        assert utils.plotting.use_crisp_inline_figures() is True
        fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
        ax.set_title("a title")
        data, metadata = shell.display_formatter.format(fig)
        png = metadata["image/png"]
        assert png["alt"] == "a title"
        width, height = struct.unpack(">II", base64.b64decode(data["image/png"])[16:24])
        assert abs(width - 2 * png["width"]) <= 1 and abs(height - 2 * png["height"]) <= 1
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()


def test_glue_figure_stores_the_figure_hidden_and_does_nothing_without_myst_nb(monkeypatch):
    import sys

    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda key, obj, display: calls.append((key, obj, display)))
    import matplotlib.pyplot as plt

    fig = plt.figure()
    assert utils.plotting.glue_figure("key-figure", fig) is True
    assert calls == [("key-figure", fig, False)]
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # as on Colab: not installed
    assert utils.plotting.glue_figure("key-figure", fig) is False and len(calls) == 1
    with pytest.raises(ValueError, match="non-empty string"):
        utils.plotting.glue_figure("", fig)
    plt.close(fig)


def test_draw_boxes_places_rectangles_on_pixel_edges_with_class_colours_and_text():
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    from matplotlib.patches import Rectangle

    from utils.plotting import box_colour, draw_boxes

    image = torch.rand(3, 20, 30)
    boxes = torch.tensor([[2.0, 3.0, 5.0, 7.0], [0.0, 0.0, 30.0, 20.0], [10.0, 10.0, 12.0, 11.0]])
    fig, ax = plt.subplots()
    assert draw_boxes(ax, image, boxes, torch.tensor([1, 2, 1]), torch.tensor([0.9, 0.25, 0.5]), ["bg", "a", "b"]) is ax
    shown = ax.get_images()[0].get_array()
    assert np.allclose(shown, image.permute(1, 2, 0).numpy())
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rects) == 3
    # pixel (row, col) is centred on (col, row) by imshow: the box (2, 3, 5, 7) spans 1.5 .. 4.5 across
    assert rects[0].get_xy() == (1.5, 2.5) and rects[0].get_width() == 3 and rects[0].get_height() == 4
    colours = [to_hex(r.get_edgecolor()) for r in rects]
    assert colours[0] == colours[2] == box_colour(1).lower() != colours[1] == box_colour(2).lower()
    assert [t.get_text() for t in ax.texts] == ["a 0.90", "b 0.25", "a 0.50"]
    plt.close(fig)


def test_draw_boxes_empty_overlay_and_errors():
    import matplotlib.pyplot as plt

    from utils.plotting import draw_boxes

    fig, ax = plt.subplots()
    draw_boxes(ax, torch.rand(16, 16), torch.zeros(0, 4))  # an image with nothing in it
    assert len(ax.get_images()) == 1 and not ax.patches and not ax.texts
    # over what the axes show, one colour, no image; numpy boxes and a list of labels
    draw_boxes(ax, None, np.array([[1.0, 1.0, 4.0, 4.0]], np.float32), labels=[3], color="red", show_text=False)
    assert len(ax.get_images()) == 1 and len(ax.patches) == 1 and not ax.texts
    draw_boxes(ax, None, torch.tensor([[1.0, 1.0, 4.0, 4.0]]), labels=[3])  # no names: the label is the text
    assert [t.get_text() for t in ax.texts] == ["3"]
    with pytest.raises(ValueError, match="x2 < x1"):
        draw_boxes(ax, None, torch.tensor([[5.0, 0.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        draw_boxes(ax, None, torch.zeros(4))
    with pytest.raises(ValueError, match="1 boxes but 2 labels"):
        draw_boxes(ax, None, torch.ones(1, 4), labels=[1, 2])
    with pytest.raises(ValueError, match="1 boxes but 0 scores"):
        draw_boxes(ax, None, torch.ones(1, 4), scores=[])
    with pytest.raises(ValueError, match="label 5 has no name"):
        draw_boxes(ax, None, torch.ones(1, 4), labels=[5], names=["bg", "a"])
    with pytest.raises(ValueError, match="expected an image"):
        draw_boxes(ax, torch.rand(2, 3, 8, 8), torch.ones(1, 4))
    plt.close(fig)
