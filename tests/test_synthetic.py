from collections import Counter

import numpy as np
import pytest
import torch

import utils

MAKERS = {
    "faces": lambda **k: utils.make_faces(**k),
    "scrambled faces": lambda **k: utils.make_faces(arrangement="scrambled", **k),
    "shape clutter": lambda **k: utils.make_clutter(**k),
    "part clutter": lambda **k: utils.make_clutter(kind="parts", **k),
}


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_shapes_range_and_seeding(make):
    a = make(n=6, size=32, seed=7)
    assert a.shape == (6, 1, 32, 32) and a.dtype == torch.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert torch.equal(a, make(n=6, size=32, seed=7))
    assert not torch.equal(a, make(n=6, size=32, seed=8))


def test_default_clutter_is_shape_clutter():
    assert torch.equal(utils.make_clutter(5, seed=3), utils.make_clutter(5, seed=3, kind="shapes"))


def _parts(img, threshold=0.5):
    """Connected bright blobs of an image, as (area, centroid_y, centroid_x), by scipy."""
    from scipy import ndimage

    mask = img.numpy() > threshold
    labels, n = ndimage.label(mask)
    idx = range(1, n + 1)
    areas = ndimage.sum(mask, labels, idx)
    cents = ndimage.center_of_mass(mask, labels, idx)
    return [(a, c[0], c[1]) for a, c in zip(areas, cents)]


def _part_kinds(img, threshold=0.5) -> Counter:
    """How many blobs of an image are eyes (as tall as wide), noses (tall) and mouths (wide), by scipy."""
    from scipy import ndimage

    labels, _ = ndimage.label(img.numpy() > threshold)
    kinds = Counter()
    for rows, cols in ndimage.find_objects(labels):
        height, width = rows.stop - rows.start, cols.stop - cols.start
        kinds["nose" if height > 1.5 * width else "mouth" if width > 1.5 * height else "eye"] += 1
    return kinds


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


def test_part_clutter_has_a_faces_parts_but_fewer_than_two_eyes():
    face_set = Counter(eye=2, nose=1, mouth=1)
    # the blob classifier recognises a face's parts (and a scrambled face's)
    for img in torch.cat([utils.make_faces(20, noise=0.0, seed=1), MAKERS["scrambled faces"](n=20, noise=0.0)])[:, 0]:
        assert _part_kinds(img) == face_set
    clutter = utils.make_clutter(200, kind="parts", noise=0.0, seed=1)
    eye_counts = Counter()
    for img in clutter[:, 0]:
        kinds = _part_kinds(img)
        assert sum(kinds.values()) == 4  # four separate parts
        assert kinds["nose"] == 1 and kinds["eye"] <= 1 and kinds["eye"] + kinds["mouth"] == 3
        eye_counts[kinds["eye"]] += 1
    # each eye replaced by a mouth with probability 1/2, at least one: one eye left in 2/3 of the images
    assert eye_counts[1] / 200 == pytest.approx(2 / 3, abs=0.1)


def _ink_features(images: torch.Tensor) -> np.ndarray:
    """Per image: the total ink and a 16-bin histogram of the pixel values (what, not where)."""
    x = images.flatten(1).numpy()
    histograms = np.stack([np.histogram(row, bins=16, range=(0.0, 1.0))[0] for row in x])
    return np.column_stack([x.sum(axis=1), histograms])


def _presence_only_accuracy(kind: str, n: int = 300) -> float:
    """Test accuracy of a logistic regression on ink features, faces vs clutter of ``kind``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def features(seed):
        faces, clutter = utils.make_faces(n, seed=seed), utils.make_clutter(n, kind=kind, seed=seed + 1)
        return np.concatenate([_ink_features(faces), _ink_features(clutter)])

    y = np.r_[np.ones(n), np.zeros(n)]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features(0), y)
    return model.score(features(10), y)


def test_ink_alone_tells_faces_from_shape_clutter_but_not_from_part_clutter():
    # measured 0.93 to 0.97 and 0.54 to 0.56 with 500 images per class (seeds 0, 10, 20)
    assert _presence_only_accuracy("shapes") > 0.85
    assert _presence_only_accuracy("parts") < 0.62
    faces, clutter = utils.make_faces(1000, seed=0), utils.make_clutter(1000, kind="parts", seed=1)
    ink_faces, ink_clutter = faces.sum(dim=(1, 2, 3)), clutter.sum(dim=(1, 2, 3))
    # about the same ink on average (a mouth has a little more than an eye): means measured 0.03 to 0.2
    # standard deviations apart (seeds 0, 10, 20, 30); shape clutter has 10 standard deviations more
    assert abs(ink_faces.mean() - ink_clutter.mean()) < 0.3 * ink_faces.std()


def test_bad_arguments():
    with pytest.raises(ValueError, match="arrangement"):
        utils.make_faces(2, arrangement="cubist")
    with pytest.raises(ValueError, match="n must be"):
        utils.make_faces(0)
    with pytest.raises(ValueError, match="size must be"):
        utils.make_clutter(2, size=8)
    with pytest.raises(ValueError, match="kind must be"):
        utils.make_clutter(2, kind="faces")
    with pytest.raises(ValueError, match="n must be"):
        utils.make_clutter(0, kind="parts")
