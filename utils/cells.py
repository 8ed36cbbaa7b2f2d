"""Microscopy-like images of touching cells, and U-Net's border weight map (chapter 3).

* :func:`make_touching_cells` draws seeded grey-level images of cells that often touch, with the
  binary masks and the per-cell instance labels. As in the U-Net paper's Fig. 3c, where two cells
  touch, the ground truth has a thin line of background between them: the network must learn to
  draw it.
* :func:`border_weight_map` computes the paper's loss weight
  $w(x) = w_c(x) + w_0 \\exp\\left(-\\frac{(d_1(x) + d_2(x))^2}{2\\sigma^2}\\right)$ from instance labels.
* :func:`class_balance_weights` computes the class-balancing term $w_c(x)$ alone.
* :func:`touching_cells` finds the cells that lie within a few pixels of another cell.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy import ndimage


class CellImages(NamedTuple):
    """What :func:`make_touching_cells` returns (index it like a tuple or by name)."""

    images: torch.Tensor  # (N, 1, H, W) float32 in [0, 1]
    masks: torch.Tensor  # (N, H, W) int64: 1 cell, 0 background (including the lines between touching cells)
    instances: torch.Tensor  # (N, H, W) int64: 0 background, 1..k one label per cell


def _check_count_size(n, size) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"size must be an integer >= 32, got {size!r}")


def _place_centres(rng: np.random.Generator, size: int, count: int, radius: tuple[float, float], touch: float):
    """Cell centres and radii: with probability ``touch`` a new cell is put against an existing one."""
    centres, radii = [], []
    for _ in range(count):
        for _try in range(50):
            r = rng.uniform(*radius)
            if centres and rng.random() < touch:
                j = rng.integers(len(centres))
                angle = rng.uniform(0, 2 * np.pi)
                dist = (r + radii[j]) * rng.uniform(0.8, 0.95)  # overlapping discs: the cells will share a border
                cy, cx = centres[j][0] + dist * np.sin(angle), centres[j][1] + dist * np.cos(angle)
            else:
                cy, cx = rng.uniform(0, size, size=2)
            inside = r * 0.6 <= cy <= size - r * 0.6 and r * 0.6 <= cx <= size - r * 0.6
            apart = all(np.hypot(cy - py, cx - px) > 0.75 * (r + pr) for (py, px), pr in zip(centres, radii))
            if inside and apart:
                centres.append((cy, cx))
                radii.append(r)
                break
    return centres, radii


def _touching_lines(labels: np.ndarray) -> np.ndarray:
    """Pixels of a cell that have a 4-neighbour in a *different* cell (a 2-pixel line between touching cells)."""
    line = np.zeros(labels.shape, bool)
    for axis in (0, 1):
        a, b = np.swapaxes(labels, 0, axis)[:-1], np.swapaxes(labels, 0, axis)[1:]
        differ = (a > 0) & (b > 0) & (a != b)
        view = np.swapaxes(line, 0, axis)
        view[:-1] |= differ
        view[1:] |= differ
    return line


def _draw_one(rng: np.random.Generator, size: int, num_cells, radius, noise: float, touch: float):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    count = int(rng.integers(num_cells[0], num_cells[1] + 1))
    centres, radii = _place_centres(rng, size, count, radius, touch)
    # Normalised distance of every pixel to every cell: < 1 inside the (wobbly, elliptic) cell.
    rho = np.full((len(centres) + 1, size, size), np.inf, np.float32)
    rho[0] = 1.0  # "background" wins wherever no cell is closer than its own boundary
    for k, ((cy, cx), r) in enumerate(zip(centres, radii), start=1):
        dy, dx = yy - cy, xx - cx
        angle, elong = rng.uniform(0, np.pi), rng.uniform(0.8, 1.25)
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / (r * elong)
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) * elong / r
        theta = np.arctan2(dy, dx)
        wobble = 1.0 + 0.08 * np.sin(rng.integers(2, 6) * theta + rng.uniform(0, 2 * np.pi))
        rho[k] = np.sqrt(u**2 + v**2) / wobble
    full = rho.argmin(0)  # each pixel goes to the cell it is most inside of: touching cells share a border
    line = _touching_lines(full)
    instances = np.where(line, 0, full)
    # Relabel 1..k in case a cell was swallowed by its neighbours.
    present = np.unique(instances[instances > 0])
    lut = np.zeros(len(centres) + 1, np.int64)
    lut[present] = np.arange(1, len(present) + 1)
    instances = lut[instances]

    # The image: cells brighter than the background, each with its own grey level, a darker nucleus,
    # a faint (sometimes almost invisible) line where two cells touch, blur and noise.
    background = rng.uniform(0.1, 0.25) + 0.1 * (yy / size - 0.5) * rng.uniform(-1, 1)
    img = background.copy()
    for k in range(1, len(centres) + 1):
        cell = full == k
        level = rng.uniform(0.55, 0.9)
        img[cell] = level - 0.12 * level * np.clip(1.0 - rho[k][cell] / 0.45, 0, 1)  # a faint, darker nucleus
    contrast = rng.uniform(0.25, 0.8)  # how visible the border between touching cells is
    img[line] = (1 - contrast) * img[line] + contrast * background[line]
    img = ndimage.gaussian_filter(img, sigma=1.0)
    img = img + rng.normal(0.0, noise, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32), instances


def make_touching_cells(
    n: int,
    size: int = 64,
    num_cells: tuple[int, int] = (5, 9),
    radius: tuple[float, float] = (6.0, 10.0),
    noise: float = 0.05,
    touch: float = 0.7,
    seed: int = 0,
) -> CellImages:
    """``n`` microscopy-like images of cells, many of them touching, with masks and instance labels.

    Each image has between ``num_cells[0]`` and ``num_cells[1]`` cells of radius in ``radius`` (pixels);
    a new cell is placed against an existing one with probability ``touch``. Where two cells touch, a
    2-pixel line is background in ``masks`` and ``instances`` (as in the U-Net paper's Fig. 3c) and only
    faintly darker in the image. Returns a :class:`CellImages` ``(images, masks, instances)``:
    images ``(n, 1, size, size)`` float32 in [0, 1], masks and instances ``(n, size, size)`` int64.
    The same ``seed`` gives the same images.
    """
    _check_count_size(n, size)
    if len(num_cells) != 2 or not 1 <= num_cells[0] <= num_cells[1]:
        raise ValueError(f"num_cells must be (min, max) with 1 <= min <= max, got {num_cells!r}")
    if len(radius) != 2 or not 3.0 <= radius[0] <= radius[1] <= size / 4:
        raise ValueError(f"radius must be (min, max) with 3 <= min <= max <= size/4, got {radius!r}")
    if not 0.0 <= touch <= 1.0 or noise < 0:
        raise ValueError(f"touch must be in [0, 1] and noise >= 0, got touch={touch!r}, noise={noise!r}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, 1, size, size), np.float32)
    instances = np.empty((n, size, size), np.int64)
    for i in range(n):
        images[i, 0], instances[i] = _draw_one(rng, size, num_cells, radius, noise, touch)
    inst = torch.from_numpy(instances)
    return CellImages(torch.from_numpy(images), (inst > 0).long(), inst)


def _as_label_array(labels, name: str, allow_bool: bool = False) -> np.ndarray:
    a = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if a.ndim != 2:
        raise ValueError(f"{name} must be one 2-D label image (H, W), got shape {a.shape}")
    if allow_bool and a.dtype == bool:
        return a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels (0 background, 1..k cells), got dtype {a.dtype}")
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must be non-negative (0 background, 1..k cells), got a minimum of {a.min()}")
    return a


def class_balance_weights(mask) -> torch.Tensor:
    """The class-balancing weight $w_c(x) = N / (K \\cdot N_{c(x)})$ of a label image ``(H, W)``.

    $N$ is the number of pixels, $K$ the number of classes present and $N_c$ the number of pixels of
    class $c$: every class present gets the same total weight $N/K$, and the weights sum to $N$.
    ``mask`` holds integer class labels or booleans. Returns a float32 tensor ``(H, W)``.
    """
    m = _as_label_array(mask, "mask", allow_bool=True)
    classes, inverse, counts = np.unique(m, return_inverse=True, return_counts=True)
    per_class = m.size / (len(classes) * counts)
    return torch.from_numpy(per_class[inverse.reshape(m.shape)].astype(np.float32))


def border_weight_map(instance_labels, w0: float = 10.0, sigma: float = 5.0) -> torch.Tensor:
    """U-Net's loss weight map (Ronneberger et al. 2015, Eq. 2) for one instance-label image ``(H, W)``.

    $w(x) = w_c(x) + w_0 \\exp\\left(-\\frac{(d_1(x) + d_2(x))^2}{2\\sigma^2}\\right)$, where $d_1$ and $d_2$
    are the Euclidean distances from pixel $x$ to the nearest and the second-nearest cell, and $w_c$ is
    :func:`class_balance_weights` of the binary mask (cell vs background). The border term is added on
    background pixels only (inside a cell $d_1 = 0$); with fewer than two cells it is zero.
    ``instance_labels`` holds 0 for background and 1..k for the cells. Returns float32 ``(H, W)``.
    """
    labels = _as_label_array(instance_labels, "instance_labels")
    if w0 < 0 or sigma <= 0:
        raise ValueError(f"w0 must be >= 0 and sigma > 0, got w0={w0!r}, sigma={sigma!r}")
    weights = class_balance_weights((labels > 0).astype(np.int64)).numpy().astype(np.float64)
    cells = np.unique(labels[labels > 0])
    if len(cells) < 2:
        return torch.from_numpy(weights.astype(np.float32))
    # Distance of every pixel to each cell: the distance transform of "not this cell".
    d1 = np.full(labels.shape, np.inf)
    d2 = np.full(labels.shape, np.inf)
    for c in cells:
        d = ndimage.distance_transform_edt(labels != c)
        d2 = np.where(d < d1, d1, np.minimum(d2, d))
        d1 = np.minimum(d1, d)
    border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
    weights += np.where(labels == 0, border, 0.0)
    return torch.from_numpy(weights.astype(np.float32))


def touching_cells(instance_labels, max_distance: float = 4.0) -> torch.Tensor:
    """Labels of the cells that come within ``max_distance`` pixels of another cell (sorted, int64).

    The distance between two cells is the smallest Euclidean distance between a pixel centre of one and
    a pixel centre of the other; cells of :func:`make_touching_cells` separated by the 2-pixel line are
    3 to 4 pixels apart. ``instance_labels`` ``(H, W)`` holds 0 for background and 1..k for the cells.
    """
    labels = _as_label_array(instance_labels, "instance_labels")
    if max_distance < 0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance!r}")
    cells = np.unique(labels[labels > 0])
    near = [
        c
        for c in cells
        if np.any(ndimage.distance_transform_edt(labels != c)[(labels > 0) & (labels != c)] <= max_distance)
    ]
    return torch.tensor(near, dtype=torch.int64)
