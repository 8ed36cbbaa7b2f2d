"""utils.detection_data.make_shapes: torchvision's target format, exact boxes (checked against the pixels of
the image and torchvision.ops.masks_to_boxes), the documented limits, determinism and clear errors."""

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou, masks_to_boxes

from utils.detection_data import SHAPES, _place_objects, make_shapes


@pytest.fixture(scope="module")
def data():
    return make_shapes(300, seed=0, return_masks=True)


def test_format_is_torchvisions(data):
    images, targets, names = data
    assert images.shape == (300, 3, 64, 64) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    assert names == ("background", *SHAPES) and len(targets) == 300
    for t in targets:
        k = len(t["labels"])
        assert 1 <= k <= 4
        assert t["boxes"].shape == (k, 4) and t["boxes"].dtype == torch.float32
        assert t["labels"].dtype == torch.int64 and ((t["labels"] >= 1) & (t["labels"] <= 4)).all()
        assert t["masks"].shape == (k, 64, 64) and t["masks"].dtype == torch.uint8


def test_boxes_are_the_tight_boxes_of_the_masks_and_respect_the_limits(data):
    _, targets, _ = data
    for t in targets:
        masks = t["masks"].bool()
        assert (masks.sum(0) <= 1).all()  # visible pixels: no pixel belongs to two objects
        # masks_to_boxes gives the last pixel's index; a box ends one pixel further
        expected = masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])
        assert torch.equal(t["boxes"], expected)
        iou = box_iou(t["boxes"], t["boxes"]).fill_diagonal_(0)
        assert iou.max() <= 0.5


def test_boxes_are_exact_in_the_image_itself():
    # no noise and a plain background: every object is one colour, so its pixels can be read off the image
    images, targets, _ = make_shapes(40, background="plain", noise=0.0, objects=(2, 5), seed=4)
    for image, t in zip(images, targets):
        pixels = image.permute(1, 2, 0).reshape(-1, 3)
        colours, counts = pixels.unique(dim=0, return_counts=True)
        background = colours[counts.argmax()]
        assert len(colours) == len(t["labels"]) + 1  # the background and one colour per object
        objects = [c for c in colours if not torch.equal(c, background)]
        found = torch.stack([masks_to_boxes((image.permute(1, 2, 0) == c).all(-1)[None])[0] for c in objects])
        found += torch.tensor([0.0, 0.0, 1.0, 1.0])
        # the same set of boxes (each object found once by its colour)
        assert torch.equal(box_iou(found, t["boxes"]).max(1).values, torch.ones(len(objects)))
        assert len(found) == len(t["boxes"])


def shape_signature(mask: torch.Tensor, box: torch.Tensor) -> tuple[float, float, float]:
    """The share of its box a shape fills, of the box's bottom row, of its middle row."""
    x1, y1, x2, y2 = box.long().tolist()
    crop = mask[y1:y2, x1:x2].float()
    return crop.mean().item(), crop[-1].mean().item(), crop[len(crop) // 2].mean().item()


# what each whole shape looks like in its box: fill, bottom row, middle row
LOOKS_LIKE = {
    "rectangle": lambda fill, bottom, middle: fill == 1.0,
    "ellipse": lambda fill, bottom, middle: 0.68 < fill < 0.97 and bottom < 0.8 and middle > 0.85,
    "triangle": lambda fill, bottom, middle: bottom == 1.0 and middle < 0.8,
    "cross": lambda fill, bottom, middle: fill < 0.68 and bottom < 0.5 and middle == 1.0,
}


def test_labels_name_the_shape_drawn():
    # whole objects (min_visible=1: nothing hidden), from small to large
    _, targets, names = make_shapes(150, min_visible=1.0, seed=2, return_masks=True, scales=(8, 40))
    seen = dict.fromkeys(SHAPES, 0)
    for t in targets:
        for label, mask, box in zip(t["labels"], t["masks"], t["boxes"]):
            signature = shape_signature(mask, box)
            looks = [name for name, rule in LOOKS_LIKE.items() if rule(*signature)]
            assert looks == [names[label]], (names[label], signature)
            seen[names[label]] += 1
    assert min(seen.values()) > 30


def test_scales_classes_and_aspect_are_spread_as_documented(data):
    _, targets, names = data
    boxes = torch.cat([t["boxes"] for t in targets])
    labels = torch.cat([t["labels"] for t in targets])
    scale = (boxes[:, 2:] - boxes[:, :2]).prod(1).sqrt()
    assert scale.min() < 10 and scale.max() > 28  # from small to large
    assert 12 < scale.median() < 20  # log-uniform over 8..32: median near 16
    shares = torch.bincount(labels, minlength=5)[1:] / len(labels)
    assert ((shares > 0.19) & (shares < 0.31)).all()
    ratio = (boxes[:, 3] - boxes[:, 1]) / (boxes[:, 2] - boxes[:, 0])
    assert (ratio > 1.5).float().mean() > 0.1 and (ratio < 1 / 1.5).float().mean() > 0.1  # tall and wide
    counts = torch.tensor([len(t["labels"]) for t in targets])
    assert set(counts.tolist()) == {1, 2, 3, 4}


def test_options():
    tall = make_shapes(30, aspect=(2.0, 2.0), classes=("rectangle",), min_visible=1.0, seed=1)
    b = torch.cat([t["boxes"] for t in tall.targets])
    assert ((b[:, 3] - b[:, 1]) / (b[:, 2] - b[:, 0])).median().item() == pytest.approx(2.0, rel=0.15)
    subset = make_shapes(20, classes=("cross", "ellipse"), seed=1)
    assert subset.names == ("background", "cross", "ellipse")
    assert set(torch.cat([t["labels"] for t in subset.targets]).tolist()) == {1, 2}
    wide = make_shapes(5, size=(48, 80), seed=1)
    assert wide.images.shape == (5, 3, 48, 80)
    assert all((t["boxes"][:, 2] <= 80).all() and (t["boxes"][:, 3] <= 48).all() for t in wide.targets)
    empty = make_shapes(3, objects=(0, 0), seed=1, return_masks=True)
    assert all(t["boxes"].shape == (0, 4) and t["labels"].shape == (0,) for t in empty.targets)
    assert empty.targets[0]["masks"].shape == (0, 64, 64)
    # the backgrounds: a texture or noise varies more than a plain colour
    spread = {
        bg: make_shapes(10, background=bg, objects=(0, 0), seed=1).images.std((2, 3)).mean().item()
        for bg in ("plain", "noise", "texture")
    }
    assert spread["plain"] < 0.03 < spread["noise"] and spread["plain"] < 0.03 < spread["texture"]


def test_deterministic_per_seed():
    a, b, c = make_shapes(10, seed=5), make_shapes(10, seed=5), make_shapes(10, seed=6)
    assert torch.equal(a.images, b.images)
    assert all(torch.equal(x["boxes"], y["boxes"]) for x, y in zip(a.targets, b.targets))
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0), "n must be"),
        (dict(size=8), "size must be"),
        (dict(size=(64, 64, 3)), "size must be"),
        (dict(classes=("square",)), "classes must be distinct names"),
        (dict(classes=("cross", "cross")), "distinct"),
        (dict(classes=()), "non-empty"),
        (dict(classes="cross"), "non-empty tuple"),
        (dict(objects=(3, 1)), "objects must be"),
        (dict(objects=(1.5, 2)), "integers"),
        (dict(scales=(1, 10)), "scales must be"),
        (dict(scales=(8, 80)), "does not fit"),
        (dict(aspect=(0, 2)), "aspect must be"),
        (dict(background="checkerboard"), "background must be"),
        (dict(max_iou=1.5), "max_iou"),
        (dict(min_visible=0), "min_visible"),
        (dict(min_contrast=2), "min_contrast"),
        (dict(noise=-0.1), "noise"),
        (dict(seed=-1), "seed"),
        (dict(objects=(12, 12), scales=(40, 60), max_iou=0.0), "could not place"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_shapes(**{"n": 2, **kwargs})


@pytest.mark.parametrize("min_visible, max_iou", [(0.6, 0.5), (0.9, 0.3), (1.0, 0.5)])
def test_placement_keeps_objects_visible(min_visible, max_iou):
    rng = np.random.default_rng(0)
    for _ in range(50):
        visible, full, kinds = _place_objects(4, SHAPES, 64, 64, (8, 32), (0.5, 2.0), max_iou, min_visible, rng)
        assert len(visible) == len(full) == len(kinds) == 4
        for v, f in zip(visible, full):
            assert not (v & ~f).any()  # visible pixels belong to the shape
            assert v.sum() >= min_visible * f.sum()
        assert not (np.stack(visible).sum(0) > 1).any()
        # the last object drawn is on top: whole
        assert np.array_equal(visible[-1], full[-1])
