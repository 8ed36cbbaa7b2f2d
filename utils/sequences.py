"""Sequences of real digits for chapter 6: recall, at the end of a sequence, a digit seen long before.

Each sequence is ``length`` of scikit-learn's 8 x 8 handwritten digits (:func:`utils.load_digits`), each
flattened to 64 pixel values in [0, 1], one per time step (optionally with a 65th feature that marks the
digit to remember). The target is the class of the digit at
``position`` (the first one by default); the others are distractors drawn independently, of any class. A
model that reads the sequence from left to right must carry the answer over ``length - 1 - position`` steps
after seeing it, so the length sets the distance, and a model that forgets does no better than chance (1 in
10).

The training, validation and test sequences are made of disjoint digit images: :func:`digit_split` splits
the 1,797 images once, stratified by class with a fixed seed (999 for training, 199 for validation, to tune
a learning rate, and 599 for testing), so that a test sequence shows a model only digit images it has never
seen (the split is by image, not by writer).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

SPLITS = ("train", "val", "test")
TEST_FRACTION = 1 / 3  # of all 1,797 images
VAL_FRACTION = 1 / 6  # of the images left for training
SPLIT_SEED = 0  # the split of the images never changes; ``seed`` only draws the sequences


@lru_cache(maxsize=1)
def _split_indices() -> dict[str, np.ndarray]:
    from .data import load_digits, split_dataset

    digits = load_digits()
    rest, test = split_dataset(digits, test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
    train, val = split_dataset(rest, test_fraction=VAL_FRACTION, seed=SPLIT_SEED)
    rest = np.asarray(rest.indices)
    return {"train": rest[train.indices], "val": rest[val.indices], "test": np.asarray(test.indices)}


@lru_cache(maxsize=1)
def _all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from .data import load_digits

    images, labels = load_digits().tensors
    return images.flatten(1), labels


def _check_split(split) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def _check_int(name: str, value, minimum: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def digit_split(split: str = "train") -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The digits of one split: images ``(N, 64)`` (float32 in [0, 1]), labels ``(N,)`` and their indices
    in scikit-learn's 1,797 digits. ``"test"`` holds a third of them (599), ``"val"`` a sixth of the rest
    (199) and ``"train"`` the other 999; every class keeps its proportion in each."""
    idx = _split_indices()[_check_split(split)]
    images, labels = _all_digits()
    return images[idx], labels[idx], idx.copy()


def make_recall_sequences(
    n: int, length: int, split: str = "train", seed: int = 0, position: int = 0, marker: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of ``length`` digits of ``split`` and, for each, the class of its digit at ``position``.

    Returns ``x`` of shape ``(n, length, 64)`` (float32; time step ``t`` of sequence ``i`` is
    ``x[i, t]``, a flattened 8 x 8 digit) and ``y`` of shape ``(n,)`` (int64): ``y[i]`` is the class of the
    digit shown at ``x[i, position]``. Every digit is drawn uniformly and independently, with replacement,
    from the split's images, so the distractors say nothing about the target. ``position`` counts from the
    start, or from the end when negative (``-1`` is the last step); the answer must be remembered over
    ``length - 1 - position`` later steps (for ``position >= 0``). With ``marker=True`` each step has a
    65th feature, 1 at ``position`` and 0 elsewhere, that says which digit to remember (the pixels are
    those drawn without it). The same arguments give the same sequences; ``seed`` draws them, the split of
    the images is fixed. On the CPU.
    """
    n = _check_int("n", n, 1)
    length = _check_int("length", length, 1)
    seed = _check_int("seed", seed, 0)
    if not isinstance(position, (int, np.integer)) or isinstance(position, bool):
        raise ValueError(f"position must be an integer, got {position!r}")
    if not -length <= position < length:
        raise ValueError(f"position must lie in [-length, length) = [{-length}, {length}), got {position}")
    if not isinstance(marker, bool):
        raise ValueError(f"marker must be True or False, got {marker!r}")
    images, labels, _ = digit_split(split)
    rng = np.random.default_rng(seed)
    idx = torch.as_tensor(rng.integers(0, len(images), size=(n, length)))
    x, y = images[idx], labels[idx[:, position]]
    if marker:
        flag = torch.zeros(n, length, 1)
        flag[:, position] = 1.0
        x = torch.cat([x, flag], dim=2)
    return x, y
