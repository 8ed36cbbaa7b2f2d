"""Figures every chapter uses: image grids, feature maps and training curves."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _to_hwc(img) -> np.ndarray:
    a = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # (C, H, W) -> (H, W, C)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W), (C, H, W) or (H, W, C), got shape {a.shape}")
    return a


def show_images(
    images,
    labels: Sequence | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    title: str | None = None,
    size: float = 1.4,
):
    """Show images in a grid with optional labels under each; returns the figure.

    ``images`` is a tensor ``(N, C, H, W)`` / ``(N, H, W)`` or a sequence of images.
    """
    if isinstance(images, torch.Tensor) and images.ndim not in (3, 4):
        raise ValueError(f"expected a batch of images (N, C, H, W) or (N, H, W), got {tuple(images.shape)}")
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {n} images but {len(labels)} labels")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = _to_hwc(images[i])
        ax.imshow(img, cmap=cmap if img.ndim == 2 else None)
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_feature_maps(fmaps: torch.Tensor, max_maps: int = 16, ncols: int = 8, title: str | None = None):
    """Show the channels of a feature map ``(C, H, W)`` or ``(1, C, H, W)`` as a grid; returns the figure."""
    if not isinstance(fmaps, torch.Tensor):
        raise ValueError(f"expected a tensor, got {type(fmaps).__name__}")
    if fmaps.ndim == 4:
        if fmaps.shape[0] != 1:
            raise ValueError(f"expected one feature map (1, C, H, W), got a batch of {fmaps.shape[0]}")
        fmaps = fmaps[0]
    if fmaps.ndim != 3:
        raise ValueError(f"expected a feature map (C, H, W) or (1, C, H, W), got {tuple(fmaps.shape)}")
    maps = fmaps[:max_maps]
    return show_images(
        maps[:, None], labels=[f"channel {i}" for i in range(len(maps))], ncols=ncols, cmap="viridis", title=title
    )


def plot_history(history, title: str | None = None, axes=None):
    """Loss and accuracy per epoch for one :class:`~utils.training.History`; returns the figure."""
    if not history.train_loss:
        raise ValueError("the history is empty: train for at least one epoch first")
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    else:
        fig = axes[0].figure
    epochs = np.arange(1, history.epochs + 1)
    axes[0].plot(epochs, history.train_loss, "o-", label="train")
    axes[1].plot(epochs, history.train_acc, "o-", label="train")
    if history.val_loss:
        axes[0].plot(epochs, history.val_loss, "s--", label="validation")
        axes[1].plot(epochs, history.val_acc, "s--", label="validation")
    for ax, name in zip(axes, ("loss", "accuracy")):
        _epoch_axes(ax, name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _epoch_axes(ax, ylabel: str) -> None:
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()


def plot_histories(histories: dict, metric: str = "val_acc", title: str | None = None, ax=None):
    """Compare one metric (``train_loss``, ``train_acc``, ``val_loss`` or ``val_acc``) across runs."""
    metrics = ("train_loss", "train_acc", "val_loss", "val_acc")
    if metric not in metrics:
        raise ValueError(f"metric must be one of {metrics}, got {metric!r}")
    if not histories:
        raise ValueError("no histories to plot")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    for name, h in histories.items():
        values = getattr(h, metric)
        if not values:
            raise ValueError(f"history {name!r} has no {metric}")
        ax.plot(np.arange(1, len(values) + 1), values, "o-", label=str(name))
    _epoch_axes(ax, metric.replace("_", " "))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def describe_figure(fig) -> str:
    """A one-line text description of a matplotlib figure, from its titles and axis labels.

    It is the alternative text of the figure on the website (screen readers read it; it shows where
    the image cannot load): the figure's suptitle, then one entry per panel (the first eight): the
    panel's title or, for an untitled plot with both axes labelled, "<y label> against <x label>".
    Images without a title and colour bars add nothing. Returns ``""`` when nothing describes the
    figure, so that a test can ask for a title.
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise ValueError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        parts.append(suptitle.get_text().strip())
    panels = [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")]
    entries = []
    for ax in panels:
        title = " ".join(t for loc in ("left", "center", "right") if (t := ax.get_title(loc=loc).strip()))
        xlabel, ylabel = ax.get_xlabel().strip(), ax.get_ylabel().strip()
        if not title and ax.axison and not ax.get_images() and xlabel and ylabel:
            title = f"{ylabel} against {xlabel}"
        if title and title not in entries:
            entries.append(title)
    if entries:
        shown = "; ".join(entries[:8]) + (f"; and {len(entries) - 8} more" if len(entries) > 8 else "")
        parts.append(f"panels: {shown}" if len(entries) > 1 else shown)
    text = ". ".join(parts).replace("\n", " ").replace("$", "")
    return " ".join(text.split())


def use_crisp_inline_figures() -> bool:
    """In a Jupyter kernel, draw figures as pixel-doubled ("retina") PNGs that carry alt text.

    The figures stay sharp on high-density screens (the PNG has twice the pixels of its display
    size), and each one's output metadata holds ``alt``: :func:`describe_figure`'s text, which the
    website uses as the image's alternative text. Outside IPython (plain Python, pytest) nothing
    changes and ``False`` is returned. ``utils.setup()`` calls this.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter install
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    from matplotlib.figure import Figure
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("retina")
    png = shell.display_formatter.formatters["image/png"]
    retina = png.lookup_by_type(Figure)

    def png_with_alt(fig):
        out = retina(fig)
        if out is None:  # an empty figure draws nothing
            return None
        data, metadata = out if isinstance(out, tuple) else (out, {})
        alt = describe_figure(fig)
        return data, {**metadata, **({"alt": alt} if alt else {})}

    png.for_type(Figure, png_with_alt)
    return True


def glue_figure(key: str, fig) -> bool:
    """Keep ``fig`` under ``key`` for another page of the book, without showing it a second time.

    A chapter page shows its key figure with ``{key-figure} ../notebooks/<folder>/<notebook> <key>``
    (book/_ext/key_figure.py): myst-nb's *glue* stores the figure (as a PNG with its alt text) in the
    notebook's outputs, hidden, and the page takes it from the build's execution of the notebook. Returns
    ``True`` when stored;
    where myst-nb is not installed (e.g. on Colab) it does nothing and returns ``False``.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string, got {key!r}")
    try:
        from myst_nb import glue
    except ImportError:
        return False
    glue(key, fig, display=False)
    return True


# Readable on light and dark images alike, one per class (label 1 gets the first); the colour-blind-friendly
# palette of Okabe and Ito, without its black.
BOX_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#FFFFFF")


def box_colour(label: int) -> str:
    """The colour :func:`draw_boxes` gives to class ``label`` (labels 1, 2, ... cycle through ``BOX_COLOURS``)."""
    return BOX_COLOURS[(int(label) - 1) % len(BOX_COLOURS)]


def draw_boxes(
    ax,
    image,
    boxes,
    labels=None,
    scores=None,
    names=None,
    color: str | None = None,
    linestyle: str = "-",
    linewidth: float = 1.5,
    fontsize: float = 7,
    show_text: bool = True,
):
    """Draw an image and its detection boxes on ``ax``; returns ``ax``.

    ``image`` is ``(C, H, W)``, ``(H, W, C)`` or ``(H, W)`` (a tensor on any device or an array), or
    ``None`` to draw over what ``ax`` already shows (e.g. predictions over the ground truth). ``boxes`` are
    ``(N, 4)`` xyxy pixel coordinates (``N`` may be 0), where pixel ``(row, col)`` covers
    ``[col, col + 1) x [row, row + 1)`` (torchvision's and COCO's convention); ``labels`` ``(N,)`` class
    indices choose the colours (:func:`box_colour`) unless ``color`` is given; the text over each box is
    ``names[label]`` (or the label) followed by the score, if ``scores`` ``(N,)`` is given.
    """
    from matplotlib.patches import Rectangle

    from .boxes import check_boxes

    if isinstance(boxes, np.ndarray):
        boxes = torch.from_numpy(boxes)
    boxes = check_boxes(boxes.detach().cpu() if isinstance(boxes, torch.Tensor) else boxes).float()
    n = len(boxes)

    def as_list(values, name):
        if values is None:
            return None
        values = values.detach().cpu().tolist() if isinstance(values, torch.Tensor) else list(values)
        if len(values) != n:
            raise ValueError(f"got {n} boxes but {len(values)} {name}")
        return values

    labels, scores = as_list(labels, "labels"), as_list(scores, "scores")
    if labels is not None and names is not None:
        bad = [lab for lab in labels if not 0 <= int(lab) < len(names)]
        if bad:
            raise ValueError(f"label {bad[0]} has no name: names has {len(names)} entries (0..{len(names) - 1})")
    if image is not None:
        img = _to_hwc(image)
        ax.imshow(np.clip(img, 0, 1) if img.dtype.kind == "f" else img, cmap="gray" if img.ndim == 2 else None)
        ax.set_xticks([])
        ax.set_yticks([])
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        label = None if labels is None else int(labels[i])
        colour = color or (box_colour(label) if label is not None else BOX_COLOURS[0])
        # imshow centres pixel (row, col) on (col, row): a pixel's edges are at +-0.5
        ax.add_patch(
            Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec=colour, lw=linewidth, ls=linestyle)
        )
        parts = [] if label is None else [str(names[label]) if names is not None else str(label)]
        if scores is not None:
            parts.append(f"{scores[i]:.2f}")
        if show_text and parts:
            ax.text(
                x1 - 0.5,
                y1 - 0.5,
                " ".join(parts),
                fontsize=fontsize,
                color="black",
                va="bottom",
                ha="left",
                bbox=dict(facecolor=colour, edgecolor="none", pad=0.5, alpha=0.85),
                clip_on=True,
            )
    return ax
