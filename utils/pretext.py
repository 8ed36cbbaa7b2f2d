"""Pretext tasks of chapter 9 (self-supervised learning): rotation prediction, jigsaw and inpainting.

Taught from scratch (torch.nn blocks) in ``notebooks/ch09_self_supervised/02_pretext_tasks`` and proved
equal to these copies there; notebook 5 reuses them to compare the methods in one table.

* :func:`rotations`: the four rotations (0°, 90°, 180°, 270° counter-clockwise) of every image and their
  labels k; :class:`RotationHead` and :func:`train_rotation` (Gidaris et al., 2018).
* :func:`permutation_set`, :func:`cut_tiles`, :func:`shuffle_tiles`: the jigsaw puzzle's permutations
  (greedily far apart in Hamming distance), its nine tiles (3 × 3 cells of a padded image, each tile at a
  random offset inside its cell, so that neighbours never touch in the same way) and the shuffle;
  :class:`JigsawHead`, :func:`jigsaw_logits` and :func:`train_jigsaw` (Noroozi & Favaro, 2016, with the
  "context-free" network: the same encoder reads each tile on its own).
* :func:`cut_hole`, :func:`hole_error`, :class:`InpaintingDecoder` and :func:`train_inpainting`: a grey
  square to paint back, the squared error on its pixels only (Pathak et al., 2016, without the
  adversarial loss).

Every ``train_*`` function trains the given encoder (a ``DigitEncoder``: images ``(N, C, H, W)`` ->
``(N, encoder.out_features)``) IN PLACE on whatever device it lives, with the book's loop
(:func:`utils.training.train_epochs`), and returns its :class:`~utils.training.History`. Images are float
tensors ``(N, C, 28, 28)`` in [0, 1] (on the CPU; each batch is moved to the encoder's device). One
``torch.Generator`` seeded with ``seed`` draws, in this order, each epoch's batch order and then, batch
by batch, the task's random choices (permutations and tile offsets, holes); the head is built right after
``torch.manual_seed(seed)``. The same seed therefore gives the same weights. Pass your own ``head`` to
keep it (e.g. to measure how well the pretext task is solved); its parameters are trained too. The
defaults are the quick-mode budgets of notebook 2 (Adam, learning rate 2e-3, batches of 64 images).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import model_device
from .training import History, train_epochs

__all__ = [
    "InpaintingDecoder",
    "JigsawHead",
    "RotationHead",
    "cut_hole",
    "cut_tiles",
    "hole_error",
    "jigsaw_logits",
    "permutation_set",
    "rotations",
    "shuffle_tiles",
    "train_inpainting",
    "train_jigsaw",
    "train_rotation",
]

GRID = 3  # the jigsaw's tiles: a 3 x 3 grid
CELL = 10  # each cell of the grid, in pixels (28 x 28 digits are padded to 30 x 30)


def _check_images(x, name: str = "images", size: int | None = None, channels: int | None = None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point() or len(x) == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a non-empty float tensor (N, C, H, W), got {shape}")
    if x.shape[2] != x.shape[3]:
        raise ValueError(f"{name} must be square, got {x.shape[2]} x {x.shape[3]}")
    if size is not None and x.shape[2] != size:
        raise ValueError(f"{name} must be {size} x {size}, got {x.shape[2]} x {x.shape[3]}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s) (the encoder's), got {x.shape[1]}")
    return x


def _check_positive_int(v, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return v


# --------------------------------------------------------------------------------------------- rotation


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The four rotations of every image of ``x`` ``(N, C, H, W)``: ``(4N, C, H, W)`` images (first all N
    turned by 0°, then by 90°, 180°, 270° counter-clockwise, ``torch.rot90``) and their labels k ``(4N,)``
    (int64, on ``x``'s device)."""
    _check_images(x, "x")
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4, device=x.device).repeat_interleave(len(x))


class RotationHead(nn.Linear):
    """The rotation classifier: one linear layer from the encoder's features to the 4 rotations."""

    def __init__(self, features: int = 128):
        super().__init__(_check_positive_int(features, "features"), 4)


# ----------------------------------------------------------------------------------------------- jigsaw

_ALL_ORDERS: np.ndarray | None = None


def _all_orders() -> np.ndarray:
    global _ALL_ORDERS
    if _ALL_ORDERS is None:
        _ALL_ORDERS = np.array(list(itertools.permutations(range(GRID * GRID))), dtype=np.int8)
    return _ALL_ORDERS


def permutation_set(n: int = 24, seed: int = 0) -> torch.Tensor:
    """``n`` permutations of the 9 tiles ``(n, 9)`` (int64), greedily far apart in Hamming distance: start
    from one drawn at random (``seed``), then repeatedly add the permutation whose smallest distance to
    those already chosen is largest (the first such in lexicographic order). Noroozi & Favaro maximise the
    average distance instead; the minimum gives a guarantee (at least 7 positions differ for n = 24).
    ``n`` from 1 to 1000."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
        raise ValueError(f"n must be an integer from 1 to 1000, got {n!r}")
    orders = _all_orders()
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(orders)))]
    nearest = (orders != orders[chosen[0]]).sum(1)  # each permutation's distance to the set
    for _ in range(n - 1):
        chosen.append(int(nearest.argmax()))
        nearest = np.minimum(nearest, (orders != orders[chosen[-1]]).sum(1))
    return torch.from_numpy(orders[chosen].astype(np.int64))


def _check_permutations(perms) -> torch.Tensor:
    if not isinstance(perms, torch.Tensor) or perms.ndim != 2 or perms.shape[1] != GRID * GRID:
        raise ValueError("permutations must be a tensor (n, 9) of permutations of range(9)")
    if not (perms.sort(1).values == torch.arange(GRID * GRID)).all():
        raise ValueError("every row of permutations must be a permutation of range(9)")
    return perms.long()


def cut_tiles(
    x: torch.Tensor, tile: int = 8, generator: torch.Generator | None = None, cell: int = CELL
) -> torch.Tensor:
    """The 9 tiles ``(N, 9, C, tile, tile)`` of images ``(N, C, H, H)``, in reading order.

    The image is padded with zeros to ``3 cell`` pixels a side (28 -> 30: one pixel each side) and cut
    into a 3 × 3 grid of cells; the tile of cell (r, c) starts at row ``cell r + dy`` and column
    ``cell c + dx`` with offsets ``dy, dx`` drawn uniformly from 0 to ``cell - tile`` with ``generator`` (one
    pair per tile, drawn as one ``torch.randint(0, cell - tile + 1, (N, 9, 2))``), or centred
    (``(cell - tile) // 2``) when ``generator`` is None. ``tile=cell`` gives the cells themselves, touching.
    """
    _check_images(x, "x")
    _check_positive_int(cell, "cell")
    if isinstance(tile, bool) or not isinstance(tile, int) or not 1 <= tile <= cell:
        raise ValueError(f"tile must be an integer from 1 to cell ({cell}), got {tile!r}")
    pad = GRID * cell - x.shape[2]
    if pad < 0:
        raise ValueError(f"images of {x.shape[2]} pixels do not fit in 3 cells of {cell}")
    padded = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)).permute(0, 2, 3, 1)  # N, H, W, C
    n, spare = len(x), cell - tile
    if generator is None:
        offsets = torch.full((n, GRID * GRID, 2), spare // 2)
    else:
        offsets = torch.randint(0, spare + 1, (n, GRID * GRID, 2), generator=generator)
    offsets = offsets.to(x.device)
    steps, batch = torch.arange(tile, device=x.device), torch.arange(n, device=x.device)[:, None, None]
    tiles = []
    for k in range(GRID * GRID):
        r, c = divmod(k, GRID)
        rows = r * cell + offsets[:, k, 0, None] + steps  # (N, tile)
        cols = c * cell + offsets[:, k, 1, None] + steps
        tiles.append(padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2))
    return torch.stack(tiles, 1)


def shuffle_tiles(tiles: torch.Tensor, which: torch.Tensor, permutations: torch.Tensor) -> torch.Tensor:
    """Puzzles from tiles ``(N, 9, ...)``: position j of puzzle i holds tile ``permutations[which[i]][j]``."""
    if not isinstance(tiles, torch.Tensor) or tiles.ndim < 2 or tiles.shape[1] != GRID * GRID:
        raise ValueError("tiles must be a tensor (N, 9, ...)")
    perms = _check_permutations(permutations)
    if not isinstance(which, torch.Tensor) or which.shape != (len(tiles),) or which.is_floating_point():
        raise ValueError(f"which must be an integer tensor of {len(tiles)} permutation indices")
    if len(which) and (which.min() < 0 or which.max() >= len(perms)):
        raise ValueError(f"which must index the {len(perms)} permutations")
    order = perms.to(tiles.device)[which.to(tiles.device)]
    return tiles[torch.arange(len(tiles), device=tiles.device)[:, None], order]


class JigsawHead(nn.Sequential):
    """The jigsaw classifier on the 9 tiles' concatenated features: Linear(9 features, hidden), ReLU,
    Linear(hidden, n_permutations)."""

    def __init__(self, features: int = 128, n_permutations: int = 24, hidden: int = 256):
        for name, v in (("features", features), ("n_permutations", n_permutations), ("hidden", hidden)):
            _check_positive_int(v, name)
        super().__init__(
            nn.Linear(GRID * GRID * features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_permutations)
        )


def jigsaw_logits(encoder: nn.Module, head: nn.Module, puzzles: torch.Tensor) -> torch.Tensor:
    """The context-free network: every tile of ``puzzles`` ``(N, 9, C, t, t)`` through the same encoder on
    its own, the 9 feature vectors concatenated in their (shuffled) order, then the head."""
    if not isinstance(puzzles, torch.Tensor) or puzzles.ndim != 5 or puzzles.shape[1] != GRID * GRID:
        raise ValueError("puzzles must be a tensor (N, 9, C, t, t)")
    features = encoder(puzzles.flatten(0, 1))
    return head(features.reshape(len(puzzles), -1))


# ------------------------------------------------------------------------------------------- inpainting


def cut_hole(
    x: torch.Tensor, generator: torch.Generator | None = None, hole: int = 12, margin: int = 4, fill: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` ``(N, C, H, H)`` with a ``hole × hole`` square set to ``fill``, and the boolean mask of the
    square ``(N, 1, H, H)``. The square's top-left corner is drawn uniformly (rows, then columns, each
    ``torch.randint(margin, H - margin - hole + 1, (N, 1))``) so that the square stays ``margin`` pixels
    inside the image (28, 12, 4: corners 4 to 12), or centred when ``generator`` is None."""
    _check_images(x, "x")
    size = x.shape[2]
    _check_positive_int(hole, "hole")
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0 or 2 * margin + hole > size:
        raise ValueError(f"a hole of {hole} with margins of {margin} does not fit in {size} pixels")
    n, steps = len(x), torch.arange(size)
    if generator is None:
        top = left = torch.full((n, 1), (size - hole) // 2)
    else:
        top = torch.randint(margin, size - margin - hole + 1, (n, 1), generator=generator)
        left = torch.randint(margin, size - margin - hole + 1, (n, 1), generator=generator)
    rows = (steps >= top) & (steps < top + hole)
    cols = (steps >= left) & (steps < left + hole)
    mask = (rows[:, :, None] & cols[:, None, :])[:, None].to(x.device)
    return x.masked_fill(mask, fill), mask


def hole_error(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked pixels only (the holes); ``mask`` broadcasts over channels."""
    if output.shape != target.shape:
        raise ValueError(f"output and target differ in shape: {tuple(output.shape)} and {tuple(target.shape)}")
    mask = mask.expand_as(output)
    if mask.sum() == 0:
        raise ValueError("the mask is empty: no hole to score")
    return ((output - target) ** 2 * mask).sum() / mask.sum()


class InpaintingDecoder(nn.Sequential):
    """From the encoder's features back to an image ``(N, out_channels, 4 s, 4 s)`` with ``s = size // 4``
    (28 × 28 by default): Linear to ``channels × s × s``, ReLU, then two transposed convolutions (4 × 4,
    stride 2) doubling the side, with batch norm and ReLU between them, and a sigmoid (pixels in [0, 1])."""

    def __init__(self, features: int = 128, channels: int = 64, size: int = 28, out_channels: int = 1):
        for name, v in (("features", features), ("channels", channels), ("size", size)):
            _check_positive_int(v, name)
        _check_positive_int(out_channels, "out_channels")
        if size % 4 or channels < 2:
            raise ValueError(f"size must be a multiple of 4 and channels >= 2, got {size} and {channels}")
        s = size // 4
        super().__init__(
            nn.Linear(features, channels * s * s),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (channels, s, s)),
            nn.ConvTranspose2d(channels, channels // 2, 4, stride=2, padding=1),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(channels // 2, out_channels, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )


# ------------------------------------------------------------------------------------------------ training


def _check_training(encoder, images, epochs, batch_size, lr, size=None) -> None:
    if not isinstance(encoder, nn.Module) or not isinstance(getattr(encoder, "out_features", None), int):
        raise ValueError("encoder must be a torch.nn.Module with an integer out_features (a DigitEncoder)")
    _check_images(images, "images", size=size, channels=getattr(encoder, "in_channels", None))
    if images.min() < 0 or images.max() > 1:
        raise ValueError("images must have values in [0, 1]")
    _check_positive_int(epochs, "epochs")
    _check_positive_int(batch_size, "batch_size")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")


def _head(head, seed: int, build) -> nn.Module:
    if head is None:
        torch.manual_seed(seed)
        return build()
    if not isinstance(head, nn.Module):
        raise ValueError(f"head must be a torch.nn.Module or None, got {type(head).__name__}")
    return head


def _train(encoder, head, images, step, epochs, batch_size, lr, generator, desc, progress) -> History:
    device = model_device(encoder)
    head.to(device)
    params = list(encoder.parameters()) + [p for p in head.parameters()]
    optimizer = torch.optim.Adam(params, lr=lr)
    model = nn.ModuleList([encoder, head])  # train() / eval() for both

    def batches():
        order = torch.randperm(len(images), generator=generator)
        return [order[i : i + batch_size] for i in range(0, len(images), batch_size)]

    return train_epochs(model, optimizer, batches, lambda idx: step(idx, device), epochs, progress=progress, desc=desc)


def train_rotation(
    encoder: nn.Module,
    images: torch.Tensor,
    *,
    epochs: int = 2,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    head: nn.Module | None = None,
    progress: bool = True,
) -> History:
    """Rotation prediction: each batch of ``batch_size`` images becomes its four rotations
    (:func:`rotations`), the head (default :class:`RotationHead`) predicts k, cross-entropy. The History's
    accuracy is that of the rotation task on the training batches."""
    _check_training(encoder, images, epochs, batch_size, lr)
    generator = torch.Generator().manual_seed(seed)
    head = _head(head, seed, lambda: RotationHead(encoder.out_features))

    def step(idx, device):
        x, k = rotations(images[idx])
        x, k = x.to(device), k.to(device)
        logits = head(encoder(x))
        return F.cross_entropy(logits, k), (logits.argmax(1) == k).sum().item(), len(k), len(k)

    return _train(encoder, head, images, step, epochs, batch_size, lr, generator, "rotation", progress)


def train_jigsaw(
    encoder: nn.Module,
    images: torch.Tensor,
    *,
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    tile: int = 8,
    permutations: torch.Tensor | None = None,
    head: nn.Module | None = None,
    progress: bool = True,
) -> History:
    """The jigsaw puzzle: for each batch, draw one permutation index per image (uniform over
    ``permutations``, default ``permutation_set(24, seed=0)``), then the tiles' offsets
    (:func:`cut_tiles`, ``tile`` pixels in cells of 10), shuffle (:func:`shuffle_tiles`) and predict the
    index with the context-free network (:func:`jigsaw_logits`; default head :class:`JigsawHead`),
    cross-entropy. Images must be 28 × 28."""
    _check_training(encoder, images, epochs, batch_size, lr, size=28)
    perms = permutation_set(24, seed=0) if permutations is None else _check_permutations(permutations)
    if isinstance(tile, bool) or not isinstance(tile, int) or not 1 <= tile <= CELL:
        raise ValueError(f"tile must be an integer from 1 to {CELL}, got {tile!r}")
    generator = torch.Generator().manual_seed(seed)
    head = _head(head, seed, lambda: JigsawHead(encoder.out_features, len(perms)))

    def step(idx, device):
        which = torch.randint(0, len(perms), (len(idx),), generator=generator)
        puzzles = shuffle_tiles(cut_tiles(images[idx], tile, generator), which, perms)
        puzzles, which = puzzles.to(device), which.to(device)
        logits = jigsaw_logits(encoder, head, puzzles)
        return F.cross_entropy(logits, which), (logits.argmax(1) == which).sum().item(), len(idx), len(idx)

    return _train(encoder, head, images, step, epochs, batch_size, lr, generator, "jigsaw", progress)


def train_inpainting(
    encoder: nn.Module,
    images: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    hole: int = 12,
    head: nn.Module | None = None,
    progress: bool = True,
) -> History:
    """Inpainting: for each batch, cut a random hole (:func:`cut_hole`, ``hole`` pixels, grey 0.5), let the
    decoder (default :class:`InpaintingDecoder`) redraw the image from the encoder's features of the
    damaged image, and minimise :func:`hole_error` (the squared error on the hole only). The History's
    "accuracy" is the share of hole pixels painted on the right side of 0.5. Images must be 28 × 28."""
    _check_training(encoder, images, epochs, batch_size, lr, size=28)
    _check_positive_int(hole, "hole")
    if hole > 20:
        raise ValueError(f"hole must be at most 20 pixels (4-pixel margins in 28), got {hole}")
    generator = torch.Generator().manual_seed(seed)
    head = _head(head, seed, lambda: InpaintingDecoder(encoder.out_features, out_channels=images.shape[1]))

    def step(idx, device):
        damaged, mask = cut_hole(images[idx], generator, hole=hole)
        target, damaged, mask = images[idx].to(device), damaged.to(device), mask.to(device)
        output = head(encoder(damaged))
        if output.shape != target.shape:
            raise ValueError(f"the head painted {tuple(output.shape[1:])}, expected {tuple(target.shape[1:])}")
        correct = ((output > 0.5) == (target > 0.5))[mask.expand_as(target)].sum().item()
        counted = int(mask.expand_as(target).sum())
        return hole_error(output, target, mask), correct, counted, len(idx)

    return _train(encoder, head, images, step, epochs, batch_size, lr, generator, "inpainting", progress)
