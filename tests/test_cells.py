import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from utils.cells import border_weight_map, class_balance_weights, make_touching_cells, touching_cells


def test_shapes_dtypes_and_ranges():
    data = make_touching_cells(5, size=48, seed=3)
    assert data.images.shape == (5, 1, 48, 48) and data.images.dtype == torch.float32
    assert data.masks.shape == data.instances.shape == (5, 48, 48)
    assert data.masks.dtype == data.instances.dtype == torch.int64
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert set(data.masks.unique().tolist()) <= {0, 1}
    assert torch.equal(data.masks, (data.instances > 0).long())
    images, masks, instances = data  # a NamedTuple unpacks like a tuple
    assert images is data.images and masks is data.masks and instances is data.instances


def test_seeding_is_reproducible():
    a, b, c = (make_touching_cells(4, seed=s) for s in (7, 7, 8))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a.images, c.images)


def test_instances_are_numbered_and_separated_by_background():
    data = make_touching_cells(10, num_cells=(5, 9), seed=0)
    for inst in data.instances:
        labels = inst.unique().tolist()
        assert labels == list(range(len(labels)))  # 0 (background) and 1..k with no gaps
        assert len(labels) - 1 >= 1
        for a, b in ((inst[:, :-1], inst[:, 1:]), (inst[:-1, :], inst[1:, :])):
            assert not ((a > 0) & (b > 0) & (a != b)).any()  # different cells are never 4-neighbours


def test_most_cells_touch_a_neighbour():
    data = make_touching_cells(10, seed=0)
    cells = sum(int(inst.max()) for inst in data.instances)
    near = sum(len(touching_cells(inst)) for inst in data.instances)
    assert near / cells > 0.5
    lone = make_touching_cells(10, num_cells=(2, 3), touch=0.0, seed=0)
    assert sum(len(touching_cells(inst)) for inst in lone.instances) < near


def test_cells_are_brighter_than_background():
    data = make_touching_cells(6, noise=0.0, seed=1)
    inside = data.images[:, 0][data.masks == 1].mean()
    outside = data.images[:, 0][data.masks == 0].mean()
    assert inside > outside + 0.2


def _brute_force_weights(labels: np.ndarray, w0: float, sigma: float) -> np.ndarray:
    """U-Net's w(x) from the definition: distances from each pixel to every pixel of every cell."""
    h, w = labels.shape
    pixels = np.argwhere(np.ones((h, w), bool))
    cells = [c for c in np.unique(labels) if c > 0]
    fg = labels > 0
    n_classes = len(np.unique(fg))
    wc = np.where(fg, fg.size / (n_classes * max(fg.sum(), 1)), fg.size / (n_classes * max((~fg).sum(), 1)))
    if len(cells) < 2:
        return wc
    dist = np.sort(np.stack([cdist(pixels, np.argwhere(labels == c)).min(1) for c in cells], 1), axis=1)
    d1, d2 = dist[:, 0].reshape(h, w), dist[:, 1].reshape(h, w)
    return wc + np.where(fg, 0.0, w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2)))


def _small_cases():
    two = np.zeros((12, 15), np.int64)
    two[2:6, 2:6] = 1
    two[2:7, 8:13] = 2  # a 2-pixel gap between cell 1 and cell 2
    three = np.zeros((16, 16), np.int64)
    three[1:5, 1:5], three[1:5, 7:11], three[9:14, 3:9] = 1, 3, 7  # labels need not be consecutive
    one = np.zeros((8, 8), np.int64)
    one[2:5, 2:5] = 1
    rng = np.random.default_rng(0)
    random = rng.integers(0, 4, size=(10, 10))  # scattered labels: an adversarial layout
    generated = make_touching_cells(1, size=32, num_cells=(3, 5), radius=(4.0, 7.0), seed=4).instances[0].numpy()
    return [two, three, one, random, generated]


@pytest.mark.parametrize("case", range(5))
@pytest.mark.parametrize("w0,sigma", [(10.0, 5.0), (3.0, 1.5)])
def test_weight_map_matches_brute_force(case, w0, sigma):
    labels = _small_cases()[case]
    ours = border_weight_map(torch.from_numpy(labels), w0=w0, sigma=sigma)
    assert ours.dtype == torch.float32 and ours.shape == labels.shape
    np.testing.assert_allclose(ours.numpy(), _brute_force_weights(labels, w0, sigma), atol=1e-4)


def test_weight_map_peaks_in_the_gap():
    labels = _small_cases()[0]
    w = border_weight_map(labels).numpy()
    gap = w[3, 6:8]  # the 2-pixel gap between the two cells: d1 = 1, d2 = 2
    expected = class_balance_weights(labels > 0).numpy()[3, 6] + 10 * np.exp(-9 / 50)
    np.testing.assert_allclose(gap, expected, rtol=1e-5)
    assert w.max() == pytest.approx(expected, rel=1e-5)


def test_class_balance_weights_sum_to_the_pixel_count():
    mask = np.zeros((10, 10), np.int64)
    mask[:3, :5] = 1  # 15 cell pixels, 85 background pixels
    w = class_balance_weights(mask).numpy()
    assert w[0, 0] == pytest.approx(100 / (2 * 15)) and w[9, 9] == pytest.approx(100 / (2 * 85))
    assert w.sum() == pytest.approx(100)
    assert np.allclose(class_balance_weights(np.zeros((4, 4), np.int64)).numpy(), 1.0)  # one class: all ones
    assert torch.equal(class_balance_weights(mask > 0), class_balance_weights(mask))  # a boolean mask works too


def test_touching_cells_against_brute_force():
    for labels in _small_cases():
        cells = [c for c in np.unique(labels) if c > 0]
        pts = {c: np.argwhere(labels == c) for c in cells}
        expected = [c for c in cells if any(cdist(pts[c], pts[o]).min() <= 4.0 for o in cells if o != c)]
        assert touching_cells(labels).tolist() == expected
    two = _small_cases()[0]
    assert touching_cells(two).tolist() == [1, 2]  # 3 px apart
    assert touching_cells(two, max_distance=2.5).tolist() == []


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="n must be"):
        make_touching_cells(0)
    with pytest.raises(ValueError, match="size must be"):
        make_touching_cells(2, size=16)
    with pytest.raises(ValueError, match="num_cells"):
        make_touching_cells(2, num_cells=(5, 2))
    with pytest.raises(ValueError, match="radius"):
        make_touching_cells(2, radius=(1.0, 2.0))
    with pytest.raises(ValueError, match="touch"):
        make_touching_cells(2, touch=1.5)
    with pytest.raises(ValueError, match=r"2-D label image \(H, W\)"):
        border_weight_map(np.zeros((2, 8, 8), np.int64))
    with pytest.raises(ValueError, match="integer labels"):
        border_weight_map(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="non-negative"):
        border_weight_map(-np.ones((8, 8), np.int64))
    with pytest.raises(ValueError, match="sigma"):
        border_weight_map(np.zeros((8, 8), np.int64), sigma=0)
    with pytest.raises(ValueError, match="integer labels"):
        class_balance_weights(np.zeros((8, 8), np.float64))
    with pytest.raises(ValueError, match="integer labels"):
        border_weight_map(np.zeros((8, 8), bool))  # instance labels, not a binary mask
    with pytest.raises(ValueError, match="max_distance"):
        touching_cells(np.zeros((8, 8), np.int64), max_distance=-1)
