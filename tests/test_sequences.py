"""utils.sequences: sequences of real digits whose target is the digit at a stated position."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from utils import sequences


@pytest.fixture(scope="module")
def raw():
    """scikit-learn's digits as they ship (pixel values 0-16), independent of utils."""
    bunch = load_digits()
    return bunch.data.astype(np.float32), bunch.target


def _dataset_index(frames: torch.Tensor, raw_pixels: np.ndarray) -> np.ndarray:
    """For each frame (a flattened digit in [0, 1]) the index of the scikit-learn digit it shows."""
    lookup = {row.tobytes(): i for i, row in enumerate(raw_pixels.astype(np.int64))}
    scaled = frames.reshape(-1, 64).numpy() * 16.0
    assert np.allclose(scaled, np.rint(scaled), atol=1e-4), "a frame is no digit"
    index = [lookup.get(row.tobytes(), -1) for row in np.rint(scaled).astype(np.int64)]
    assert min(index) >= 0, "a frame is no digit of scikit-learn's set"
    return np.asarray(index).reshape(frames.shape[:-1])


def test_shapes_and_types():
    x, y = sequences.make_recall_sequences(7, 12, "train", seed=3)
    assert x.shape == (7, 12, 64) and x.dtype == torch.float32
    assert y.shape == (7,) and y.dtype == torch.long
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(y.tolist()) <= set(range(10))


def test_split_sizes_stratified_and_disjoint(raw):
    _, target = raw
    parts = {split: sequences.digit_split(split) for split in sequences.SPLITS}
    idx = {split: part[2] for split, part in parts.items()}
    assert {split: len(i) for split, i in idx.items()} == {"train": 999, "val": 199, "test": 599}
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert set(idx[a]).isdisjoint(idx[b])
    assert sorted(np.concatenate(list(idx.values())).tolist()) == list(range(1797))
    # every class keeps its share of the images in each split
    per_class = np.bincount(target, minlength=10)
    for split, share in [("test", 1 / 3), ("val", 2 / 3 / 6), ("train", 2 / 3 * 5 / 6)]:
        counts = np.bincount(target[idx[split]], minlength=10)
        assert np.all(np.abs(counts / per_class - share) < 0.01), split
    for images, labels, i in parts.values():
        assert images.shape == (len(i), 64) and torch.equal(labels, torch.as_tensor(target[i]))


def test_the_target_is_the_digit_at_the_stated_position(raw):
    pixels, target = raw
    for position in (0, 3, -1, -4):
        x, y = sequences.make_recall_sequences(50, 9, "test", seed=1, position=position)
        index = _dataset_index(x, pixels)
        assert np.array_equal(target[index[:, position]], y.numpy())
    # the other positions do not decide it: with position 0 the last digit agrees only by chance
    x, y = sequences.make_recall_sequences(2000, 5, "train", seed=2)
    last = target[_dataset_index(x[:, -1], pixels)]
    assert 0.05 < np.mean(last == y.numpy()) < 0.15


def test_sequences_use_only_their_split(raw):
    pixels, _ = raw
    for split in sequences.SPLITS:
        allowed = set(sequences.digit_split(split)[2].tolist())
        x, _ = sequences.make_recall_sequences(40, 20, split, seed=5)
        used = set(_dataset_index(x, pixels).ravel().tolist())
        assert used <= allowed
        assert len(used) > 0.4 * len(allowed)  # drawn from the whole split, not a few images


def test_marker_flags_the_target_and_leaves_the_pixels():
    for position in (0, 2, -1):
        plain, y = sequences.make_recall_sequences(20, 6, "train", seed=7, position=position)
        marked, y_marked = sequences.make_recall_sequences(20, 6, "train", seed=7, position=position, marker=True)
        assert marked.shape == (20, 6, 65) and torch.equal(y, y_marked)
        assert torch.equal(marked[..., :64], plain)
        flag = torch.zeros(6)
        flag[position] = 1
        assert torch.equal(marked[..., 64], flag.expand(20, 6))


def test_deterministic_by_seed():
    a = sequences.make_recall_sequences(10, 6, "train", seed=4)
    b = sequences.make_recall_sequences(10, 6, "train", seed=4)
    c = sequences.make_recall_sequences(10, 6, "train", seed=5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    # the same seed in the two splits draws different images
    d = sequences.make_recall_sequences(10, 6, "test", seed=4)
    assert not torch.equal(a[0], d[0])


def test_length_one_and_classes_balanced():
    x, y = sequences.make_recall_sequences(5000, 1, "train", seed=0)
    assert x.shape == (5000, 1, 64)
    counts = torch.bincount(y, minlength=10)
    assert counts.min() > 400 and counts.max() < 600  # about 500 of each class


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n": 0}, "n must"),
        ({"n": 2.5}, "n must"),
        ({"length": 0}, "length must"),
        ({"length": True}, "length must"),
        ({"split": "validation"}, "split must"),
        ({"seed": -1}, "seed must"),
        ({"position": 5}, "position must"),
        ({"position": -6}, "position must"),
        ({"position": 1.0}, "position must"),
        ({"marker": 1}, "marker must"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"n": 3, "length": 5, "split": "train", "seed": 0, "position": 0, "marker": False}
    args |= kwargs
    with pytest.raises(ValueError, match=match):
        sequences.make_recall_sequences(**args)


def test_digit_split_rejects_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        sequences.digit_split("Train")
