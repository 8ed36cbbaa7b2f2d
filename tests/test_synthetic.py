import pytest
import torch

import utils


@pytest.mark.parametrize("make", [lambda **k: utils.make_faces(**k), lambda **k: utils.make_clutter(**k)])
def test_shapes_range_and_seeding(make):
    a = make(n=6, size=32, seed=7)
    assert a.shape == (6, 1, 32, 32) and a.dtype == torch.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert torch.equal(a, make(n=6, size=32, seed=7))
    assert not torch.equal(a, make(n=6, size=32, seed=8))


def _parts(img, threshold=0.5):
    """Connected bright blobs of an image, as (area, centroid_y, centroid_x), by scipy."""
    from scipy import ndimage

    mask = img.numpy() > threshold
    labels, n = ndimage.label(mask)
    idx = range(1, n + 1)
    areas = ndimage.sum(mask, labels, idx)
    cents = ndimage.center_of_mass(mask, labels, idx)
    return [(a, c[0], c[1]) for a, c in zip(areas, cents)]


def test_faces_have_four_parts_in_face_order():
    faces = utils.make_faces(20, noise=0.0, seed=0)
    for img in faces[:, 0]:
        parts = _parts(img)
        assert len(parts) == 4
        by_y = sorted(parts, key=lambda p: p[1])
        eyes, nose, mouth = by_y[:2], by_y[2], by_y[3]
        assert abs(eyes[0][1] - eyes[1][1]) < 1.0  # eyes level
        assert min(e[2] for e in eyes) < nose[2] < max(e[2] for e in eyes)  # nose between the eyes
        assert mouth[0] > nose[0]  # the mouth is the widest part


def test_scrambled_faces_have_the_same_parts_elsewhere():
    faces = utils.make_faces(20, noise=0.0, seed=0)
    scrambled = utils.make_faces(20, arrangement="scrambled", noise=0.0, seed=0)
    area_face = sorted(round(p[0]) for p in _parts(faces[0, 0]))
    for img in scrambled[:, 0]:
        parts = _parts(img)
        assert len(parts) == 4
        assert sorted(round(p[0]) for p in parts) == pytest.approx(area_face, abs=6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="arrangement"):
        utils.make_faces(2, arrangement="cubist")
    with pytest.raises(ValueError, match="n must be"):
        utils.make_faces(0)
    with pytest.raises(ValueError, match="size must be"):
        utils.make_clutter(2, size=8)
