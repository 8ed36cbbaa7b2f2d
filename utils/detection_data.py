"""The generated detection dataset of chapter 4: coloured shapes on textured backgrounds, with exact boxes.

:func:`make_shapes` draws ``n`` images, each with a few objects of ``len(classes)`` shape classes
(``"rectangle"``, ``"ellipse"``, ``"triangle"``, ``"cross"``), at scales from small to large and with
aspect ratios (height / width) from tall to wide, on a background cut from a texture or a photo that
ships with scikit-image (``background="texture"``), on smooth coloured noise (``"noise"``) or on a plain
colour (``"plain"``). Objects may overlap; a later object hides part of an earlier one, within limits
that keep every object recognisable (``max_iou``, ``min_visible``).

What a detector learns from it is in the targets, in torchvision's format: per image a dict with

* ``"boxes"``: ``(k, 4)`` float32 xyxy, the **tight box of the pixels of the object that are visible in
  the image**: ``x1`` is the column of its leftmost pixel, ``x2`` one past its rightmost (a pixel
  ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``, as in torchvision and COCO);
* ``"labels"``: ``(k,)`` int64 in ``1..C``, the position of the shape in ``classes`` plus one (0 is the
  background, as torchvision's detectors expect);
* with ``return_masks=True``, ``"masks"``: ``(k, H, W)`` uint8, those visible pixels.

The returned ``names`` start with ``"background"``, so ``names[label]`` is a label's class name and
``len(names)`` is the ``num_classes`` of torchvision's detectors. Everything is deterministic per ``seed``.

How hard the task is, parameter by parameter:

* ``scales=(min_px, max_px)``: the object's scale $\\sqrt{w h}$ in pixels, log-uniform in between, so
  every octave of sizes is as frequent; small objects (8 px) are the hard ones.
* ``aspect=(min, max)``: height / width, log-uniform (default 1:2 to 2:1): elongated objects need
  anchors of other shapes (notebook 1).
* ``objects=(min, max)``: objects per image, uniform; classes are drawn uniformly.
* ``max_iou``: the largest IoU between the boxes of two objects of one image; ``min_visible``: the
  smallest share of an object's pixels left visible by the objects drawn over it.
* ``min_contrast``: the smallest RGB distance between an object's colour and the mean of the
  background under it, and between the colours of two objects of one image (colours are random: the
  class is in the shape, never in the colour).
* ``noise``: the standard deviation of the Gaussian pixel noise added at the end.

A placement that breaks a limit is drawn again (position, scale and aspect; the class stays), up to 200
times per object; crowded settings therefore shift the scales a little towards small objects.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

SHAPES = ("rectangle", "ellipse", "triangle", "cross")
BACKGROUNDS = ("texture", "noise", "plain")
# skimage.data images that ship with scikit-image (no download): textures and photos, cut into crops
TEXTURES = ("brick", "grass", "gravel", "camera", "moon", "astronaut", "coffee", "chelsea", "rocket")
_ZOOMS = (1, 2, 4)  # crops at full resolution or downsampled 2x, 4x: finer or coarser texture
_ATTEMPTS = 200


class Shapes(NamedTuple):
    """What :func:`make_shapes` returns: unpack it as ``images, targets, names = make_shapes(...)``."""

    images: torch.Tensor  # (N, 3, H, W) float32 in [0, 1]
    targets: list[dict[str, torch.Tensor]]  # per image: "boxes" (k, 4), "labels" (k,), "masks"
    names: tuple[str, ...]  # ("background", *classes): names[label]


def _check_range(value, name: str, low: float, integer: bool = False) -> tuple:
    ok = isinstance(value, (tuple, list)) and len(value) == 2
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = ok and all(isinstance(v, kinds) and not isinstance(v, bool) for v in value)
    if not ok or not (low <= value[0] <= value[1]) or not all(np.isfinite(v) for v in value):
        what = "integers" if integer else "numbers"
        raise ValueError(f"{name} must be ({name}_min, {name}_max), two {what} with {low} <= min <= max, got {value!r}")
    return tuple(value)


def _check_fraction(value, name: str, low_open: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or not ((0 < value if low_open else 0 <= value) and value <= 1):
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def _shape_mask(shape: str, yy: np.ndarray, xx: np.ndarray, cx, cy, w, h) -> np.ndarray:
    """The pixels (centres ``xx``, ``yy``) of one filled shape with box centre ``(cx, cy)`` and size ``w x h``."""
    dx, dy = xx - cx, yy - cy
    if shape == "rectangle":
        return (np.abs(dx) <= w / 2) & (np.abs(dy) <= h / 2)
    if shape == "ellipse":
        return (dx / (w / 2)) ** 2 + (dy / (h / 2)) ** 2 <= 1
    if shape == "triangle":  # apex up, base down
        rel = (dy + h / 2) / h  # 0 at the apex, 1 at the base
        return (rel >= 0) & (rel <= 1) & (np.abs(dx) <= rel * w / 2)
    # cross: a plus sign, bars a third of the size thick
    vertical = (np.abs(dx) <= w / 6) & (np.abs(dy) <= h / 2)
    horizontal = (np.abs(dy) <= h / 6) & (np.abs(dx) <= w / 2)
    return vertical | horizontal


def _tight_box(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], np.float32)


def _pairwise_iou(boxes: np.ndarray) -> np.ndarray:
    top_left = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(-1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(-1)
    return inter / (area[:, None] + area[None, :] - inter)


@lru_cache(maxsize=1)
def _texture_pyramid() -> tuple[tuple[np.ndarray, ...], ...]:
    """Every source of ``TEXTURES`` as (H, W, 3) float32 arrays, at each zoom of ``_ZOOMS``."""
    from .data import load_skimage

    sources = []
    for name in TEXTURES:
        img = load_skimage(name).permute(1, 2, 0).numpy()  # (H, W, 3) in [0, 1]
        levels = []
        for zoom in _ZOOMS:
            h, w = img.shape[0] // zoom * zoom, img.shape[1] // zoom * zoom
            levels.append(img[:h, :w].reshape(h // zoom, zoom, w // zoom, zoom, 3).mean((1, 3)))
        sources.append(tuple(levels))
    return tuple(sources)


def _background(kind: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A background (H, W, 3): a random mean colour plus reduced-contrast texture or smooth noise."""
    base = rng.uniform(0.2, 0.8, 3).astype(np.float32)
    if kind == "plain":
        return np.broadcast_to(base, (height, width, 3)).copy()
    if kind == "noise":
        coarse = rng.normal(0, 1, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
        # bilinear upsampling of the coarse grid, 8 pixels per cell
        ys, xs = np.linspace(0, height / 8, height), np.linspace(0, width / 8, width)
        y0, x0 = ys.astype(int), xs.astype(int)
        fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
        smooth = (
            coarse[y0][:, x0] * (1 - fy) * (1 - fx)
            + coarse[y0 + 1][:, x0] * fy * (1 - fx)
            + coarse[y0][:, x0 + 1] * (1 - fy) * fx
            + coarse[y0 + 1][:, x0 + 1] * fy * fx
        )
        return base + rng.uniform(0.08, 0.15) * smooth
    sources = _texture_pyramid()
    levels = sources[rng.integers(len(sources))]
    # the finest level the crop fits in, or a coarser one at random
    fitting = [lvl for lvl in levels if lvl.shape[0] >= height and lvl.shape[1] >= width]
    if not fitting:
        raise ValueError(f"size {(height, width)} is larger than the textures; use background='noise'")
    img = fitting[rng.integers(len(fitting))]
    top, left = rng.integers(img.shape[0] - height + 1), rng.integers(img.shape[1] - width + 1)
    crop = img[top : top + height, left : left + width]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return base + rng.uniform(0.3, 0.6) * (crop - crop.mean((0, 1)))


def _place_objects(k, classes, height, width, scales, aspect, max_iou, min_visible, rng):
    """Masks of the visible pixels, masks of the whole shapes and class indices of ``k`` objects, drawn
    back to front."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5  # pixel centres
    log_s, log_a = np.log(scales), np.log(aspect)
    full, visible, kinds = [], [], []
    for _ in range(k):
        # the class is drawn once: redrawing it with the placement would favour the shapes that fit
        kind = int(rng.integers(len(classes)))
        for _attempt in range(_ATTEMPTS):
            s, a = np.exp(rng.uniform(*log_s)), np.exp(rng.uniform(*log_a))
            w, h = min(s / np.sqrt(a), width - 1.0), min(s * np.sqrt(a), height - 1.0)
            cx, cy = rng.uniform(w / 2, width - w / 2), rng.uniform(h / 2, height - h / 2)
            mask = _shape_mask(classes[kind], yy, xx, cx, cy, w, h)
            if mask.sum() < 4:
                continue
            # the new object goes on top: it hides part of every earlier one
            new_visible = [v & ~mask for v in visible] + [mask]
            if any(v.sum() < min_visible * f.sum() for v, f in zip(new_visible, full)):
                continue
            boxes = np.stack([_tight_box(v) for v in new_visible])
            iou = _pairwise_iou(boxes)
            np.fill_diagonal(iou, 0)
            if iou.max() > max_iou:
                continue
            full.append(mask)
            visible = new_visible
            kinds.append(kind)
            break
        else:
            raise ValueError(
                f"could not place {k} objects in {_ATTEMPTS} attempts each with scales={scales}, "
                f"max_iou={max_iou}, min_visible={min_visible} in a {height}x{width} image: "
                "use fewer or smaller objects, or relax the limits"
            )
    return visible, full, kinds


def _object_colour(avoid: list[np.ndarray], min_contrast: float, rng: np.random.Generator) -> np.ndarray:
    """A random colour at least ``min_contrast`` (RGB distance) from every colour in ``avoid``."""
    for _ in range(1000):
        colour = rng.uniform(0, 1, 3).astype(np.float32)
        if all(np.linalg.norm(colour - c) >= min_contrast for c in avoid):
            return colour
    raise ValueError(f"found no colour {min_contrast} away from {len(avoid)} others: lower min_contrast")


def make_shapes(
    n: int,
    size=64,
    classes=SHAPES,
    objects=(1, 4),
    scales=(8, 32),
    aspect=(0.5, 2.0),
    background: str = "texture",
    max_iou: float = 0.5,
    min_visible: float = 0.6,
    min_contrast: float = 0.35,
    noise: float = 0.02,
    seed: int = 0,
    return_masks: bool = False,
) -> Shapes:
    """``n`` images of shapes with exact boxes and labels in torchvision's format (see the module's docstring).

    ``size`` is an int or ``(H, W)``; ``classes`` a tuple of names from ``SHAPES`` (label ``i + 1`` is
    ``classes[i]``). Returns :class:`Shapes` ``(images, targets, names)``: images ``(n, 3, H, W)``
    float32 in [0, 1], one target dict per image, and ``names = ("background", *classes)``.

    >>> images, targets, names = make_shapes(8, seed=1)
    >>> names[int(targets[0]["labels"][0])]  # the class of the first object of the first image
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    hw = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    if (
        not isinstance(hw, (tuple, list))
        or len(hw) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 16 for v in hw)
    ):
        raise ValueError(f"size must be an int >= 16 or (H, W) of such ints, got {size!r}")
    height, width = int(hw[0]), int(hw[1])
    if isinstance(classes, str) or not isinstance(classes, (tuple, list)) or not classes:
        raise ValueError(f"classes must be a non-empty tuple of names from {SHAPES}, got {classes!r}")
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct names from {SHAPES}, got {classes!r}")
    objects = _check_range(objects, "objects", 0, integer=True)
    scales = _check_range(scales, "scales", 3)
    if scales[1] > min(height, width) - 1:
        raise ValueError(
            f"scales max {scales[1]} does not fit in a {height}x{width} image: at most {min(height, width) - 1}"
        )
    aspect = _check_range(aspect, "aspect", 1e-6)
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    max_iou = _check_fraction(max_iou, "max_iou", low_open=False)
    min_visible = _check_fraction(min_visible, "min_visible", low_open=True)
    if not isinstance(min_contrast, (int, float)) or not 0 <= min_contrast <= 0.8:
        raise ValueError(f"min_contrast must be a number in [0, 0.8], got {min_contrast!r}")
    if not isinstance(noise, (int, float)) or not 0 <= noise <= 0.5:
        raise ValueError(f"noise must be a number in [0, 0.5] (a standard deviation), got {noise!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    rng = np.random.default_rng(int(seed))
    images = np.empty((n, height, width, 3), np.float32)
    targets = []
    for i in range(n):
        k = int(rng.integers(objects[0], objects[1] + 1))
        img = _background(background, height, width, rng)
        masks, _, kinds = _place_objects(k, classes, height, width, scales, aspect, max_iou, min_visible, rng)
        colours = []
        for mask in masks:  # a mask holds only the pixels left visible: they do not overlap
            # far from the background under the object and from the other objects' colours
            colours.append(_object_colour([img[mask].mean(0), *colours], min_contrast, rng))
            img[mask] = colours[-1]
        if noise > 0:
            img = img + rng.normal(0, noise, img.shape).astype(np.float32)
        images[i] = np.clip(img, 0, 1)
        target = {
            "boxes": torch.from_numpy(
                np.stack([_tight_box(m) for m in masks]) if masks else np.zeros((0, 4), np.float32)
            ),
            "labels": torch.tensor([c + 1 for c in kinds], dtype=torch.int64),
        }
        if return_masks:
            stacked = np.stack(masks) if masks else np.zeros((0, height, width), bool)
            target["masks"] = torch.from_numpy(stacked.astype(np.uint8))
        targets.append(target)
    return Shapes(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), targets, ("background", *classes))
