"""utils.boxes: formats, IoU and GIoU against torchvision.ops, box coding against BoxCoder, anchors against
AnchorGenerator, and clear errors on bad input."""

import math

import pytest
import torch
import torchvision.ops as ops
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from utils.boxes import (
    box_area,
    box_convert,
    box_iou,
    cell_anchors,
    check_boxes,
    decode_boxes,
    encode_boxes,
    generalized_box_iou,
    make_anchors,
)


def random_boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50
    return torch.cat([xy, xy + wh], dim=1)


@pytest.mark.parametrize("seed", range(5))
def test_iou_and_giou_equal_torchvision_on_random_boxes(seed):
    a, b = random_boxes(30, seed), random_boxes(20, seed + 100)
    torch.testing.assert_close(box_iou(a, b), ops.box_iou(a, b))
    torch.testing.assert_close(generalized_box_iou(a, b), ops.generalized_box_iou(a, b))
    torch.testing.assert_close(box_area(a), ops.box_area(a))


def test_iou_by_hand():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[50 / 150, 0.0, 1.0]]))
    # disjoint: the enclosing box (0, 0, 30, 30) has area 900, the union 200
    assert generalized_box_iou(a, b)[0, 1].item() == pytest.approx(0 - (900 - 200) / 900)
    assert generalized_box_iou(a, b)[0, 2].item() == 1.0


def test_degenerate_boxes_give_zero_not_nan():
    point = torch.tensor([[3.0, 3.0, 3.0, 3.0]])
    line = torch.tensor([[0.0, 5.0, 10.0, 5.0]])
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    for a, b in [(point, point), (point, box), (line, box), (line, line)]:
        assert torch.isfinite(box_iou(a, b)).all() and torch.isfinite(generalized_box_iou(a, b)).all()
    assert box_iou(point, point).item() == 0.0
    assert box_iou(point, box).item() == 0.0
    # where torchvision's values are finite, they agree
    a = torch.cat([point, line, box])
    ours, theirs = generalized_box_iou(a, box), ops.generalized_box_iou(a, box)
    torch.testing.assert_close(ours, theirs)


def test_empty_inputs():
    empty = torch.zeros(0, 4)
    assert box_iou(empty, random_boxes(3, 0)).shape == (0, 3)
    assert generalized_box_iou(random_boxes(2, 0), empty).shape == (2, 0)


def test_convert_round_trip_and_torchvision():
    a = random_boxes(10, 1)
    c = box_convert(a, "xyxy", "cxcywh")
    torch.testing.assert_close(c, ops.box_convert(a, "xyxy", "cxcywh"))
    torch.testing.assert_close(box_convert(c, "cxcywh", "xyxy"), a)
    torch.testing.assert_close(box_convert(a, "xyxy", "xyxy"), a)


@pytest.mark.parametrize(
    "boxes, message",
    [
        (torch.tensor([[10.0, 0.0, 5.0, 10.0]]), "x2 < x1"),
        (torch.tensor([[0.0, 10.0, 5.0, 0.0]]), "x2 < x1 or y2 < y1"),
        (torch.zeros(3, 5), r"shape \(N, 4\)"),
        (torch.zeros(4), r"shape \(N, 4\)"),
        (torch.zeros(2, 4, dtype=torch.long), "floating-point"),
        (torch.tensor([[0.0, 0.0, float("nan"), 1.0]]), "NaN"),
        ([[0.0, 0.0, 1.0, 1.0]], "must be a tensor"),
    ],
)
def test_bad_boxes_raise(boxes, message):
    with pytest.raises(ValueError, match=message):
        box_iou(boxes, torch.zeros(1, 4))


def test_bad_formats_raise():
    with pytest.raises(ValueError, match="unknown box format"):
        box_convert(torch.zeros(1, 4), "xywh", "xyxy")
    with pytest.raises(ValueError, match="unknown box format"):
        box_convert(torch.zeros(1, 4), "xyxy", "yxyx")
    with pytest.raises(ValueError, match="negative width"):
        check_boxes(torch.tensor([[5.0, 5.0, -1.0, 2.0]]), "cxcywh")


# ---------------------------------------------------------------------------------------------------
# Box coding and anchors, against torchvision's BoxCoder and AnchorGenerator

WEIGHTS = [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]


def positive_boxes(n: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 200 - 50
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 100 + 0.5
    return torch.cat([xy, xy + wh], dim=1)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("seed", range(3))
def test_encode_decode_equal_boxcoder_on_random_boxes(weights, seed):
    gt, anchors = positive_boxes(200, seed), positive_boxes(200, seed + 50)
    coder = BoxCoder(weights)
    codes = encode_boxes(gt, anchors, weights)
    torch.testing.assert_close(codes, coder.encode_single(gt, anchors))
    rel = torch.randn(200, 4, generator=torch.Generator().manual_seed(seed)) * 2
    torch.testing.assert_close(decode_boxes(rel, anchors, weights), coder.decode_single(rel, anchors))
    # decoding the codes gives the boxes back, except boxes over 62.5 times their anchor (the clamp)
    clamped = (codes[:, 2:] / torch.tensor(weights[2:]) > math.log(1000 / 16)).any(1)
    assert 0 < clamped.sum() < 20
    decoded = decode_boxes(codes, anchors, weights)
    torch.testing.assert_close(decoded[~clamped], gt[~clamped], rtol=1e-5, atol=1e-3)
    assert ((decoded[clamped, 2:] - decoded[clamped, :2]) < (gt[clamped, 2:] - gt[clamped, :2])).any(1).all()


@pytest.mark.parametrize("weights", WEIGHTS)
def test_coding_edge_cases_equal_boxcoder(weights):
    coder = BoxCoder(weights)
    anchor = torch.tensor([[10.0, 10.0, 20.0, 30.0]])
    # the anchor itself: all codes 0
    assert encode_boxes(anchor, anchor, weights).abs().max() == 0
    # a tiny box far away, a huge one, and float64
    gt = torch.tensor([[1000.0, -500.0, 1000.01, -499.99], [-1e4, -1e4, 1e4, 1e4]], dtype=torch.float64)
    anchors = anchor.double().repeat(2, 1)
    torch.testing.assert_close(encode_boxes(gt, anchors, weights), coder.encode_single(gt, anchors))
    assert encode_boxes(gt, anchors, weights).dtype == torch.float64
    # huge size codes are clamped at log(1000 / 16) (62.5 times the anchor), not overflowed to inf
    rel = torch.tensor([[0.0, 0.0, 1e3, 50.0], [0.0, 0.0, -3.0, 3.0]])
    ours = decode_boxes(rel, anchors.float(), weights)
    torch.testing.assert_close(ours, coder.decode_single(rel, anchors.float()))
    assert torch.isfinite(ours).all()
    assert ours[0, 2] - ours[0, 0] == pytest.approx(10 * 1000 / 16)
    # another clip, and k boxes per anchor (one per class), as Faster R-CNN's box head
    coder = BoxCoder(weights, bbox_xform_clip=1.0)
    rel = torch.randn(3, 12, generator=torch.Generator().manual_seed(0)) * 3
    boxes = positive_boxes(3, 9)
    torch.testing.assert_close(decode_boxes(rel, boxes, weights, bbox_xform_clip=1.0), coder.decode_single(rel, boxes))
    # empty inputs
    assert encode_boxes(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)
    assert decode_boxes(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)


def test_codes_are_invariant_to_translation_and_scale():
    gt, anchors = positive_boxes(50, 1), positive_boxes(50, 2)
    codes = encode_boxes(gt, anchors, (10, 10, 5, 5))
    shift = torch.tensor([7.0, -3.0, 7.0, -3.0])
    torch.testing.assert_close(encode_boxes(3 * gt + shift, 3 * anchors + shift, (10, 10, 5, 5)), codes)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: encode_boxes(torch.zeros(2, 4) + torch.tensor([0, 0, 1, 1]), torch.zeros(3, 4)), "same shape"),
        (lambda: encode_boxes(torch.tensor([[0.0, 0, 0, 1]]), torch.tensor([[0.0, 0, 1, 1]])), "zero width"),
        (lambda: encode_boxes(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[0.0, 0, 1, 0]])), "proposals"),
        (lambda: encode_boxes(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[1.0, 0, 0, 1]])), "x2 < x1"),
        (lambda: encode_boxes(torch.ones(1, 4), torch.ones(1, 4), weights=(1, 1, 1)), "four positive"),
        (lambda: encode_boxes(torch.ones(1, 4), torch.ones(1, 4), weights=(1, 1, 0, 1)), "four positive"),
        (lambda: encode_boxes(torch.ones(1, 4), torch.ones(1, 4), weights="abcd"), "four positive"),
        (lambda: decode_boxes(torch.zeros(2, 4), torch.tensor([[0.0, 0, 1, 1]])), r"N = 1"),
        (lambda: decode_boxes(torch.zeros(1, 5), torch.tensor([[0.0, 0, 1, 1]])), r"\(N, 4k\)"),
        (lambda: decode_boxes(torch.zeros(1, 0), torch.tensor([[0.0, 0, 1, 1]])), "k >= 1"),
        (lambda: decode_boxes(torch.zeros(4), torch.tensor([[0.0, 0, 1, 1]])), r"\(N, 4\)"),
        (lambda: decode_boxes([[0.0] * 4], torch.tensor([[0.0, 0, 1, 1]])), "list"),
        (lambda: decode_boxes(torch.full((1, 4), math.nan), torch.tensor([[0.0, 0, 1, 1]])), "finite"),
        (lambda: decode_boxes(torch.zeros(1, 4, dtype=torch.long), torch.tensor([[0.0, 0, 1, 1]])), "floating"),
        (lambda: decode_boxes(torch.zeros(1, 4), torch.tensor([[0.0, 0, 0, 1]])), "zero width"),
        (lambda: decode_boxes(torch.zeros(1, 4), torch.tensor([[0.0, 0, 1, 1]]), bbox_xform_clip=0), "clip"),
    ],
)
def test_coding_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


RETINANET_SIZES = tuple((x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in [32, 64, 128, 256, 512])


def torchvision_anchors(image_size, feature_sizes, sizes, aspect_ratios, batch=2):
    generator = AnchorGenerator(sizes, aspect_ratios)
    images = ImageList(torch.zeros(batch, 3, *image_size), [tuple(image_size)] * batch)
    features = [torch.zeros(batch, 1, h, w) for h, w in feature_sizes]
    anchors = generator(images, features)
    assert all(torch.equal(a, anchors[0]) for a in anchors)  # the same anchors for every image
    return anchors[0]


def fpn_sizes(height, width, strides):
    # what a stride-2 3x3 convolution with padding 1 does at every level: ceil(n / 2)
    return [(math.ceil(height / s), math.ceil(width / s)) for s in strides]


@pytest.mark.parametrize(
    "image_size, sizes, aspect_ratios",
    [
        ((512, 512), RETINANET_SIZES, ((0.5, 1.0, 2.0),) * 5),  # RetinaNet
        ((480, 640), RETINANET_SIZES, ((0.5, 1.0, 2.0),) * 5),  # non-square, P6/P7 strides 60 and 120
        ((800, 1344), RETINANET_SIZES, ((0.5, 1.0, 2.0),) * 5),
        ((384, 256), ((8,), (16,), (32,), (64,), (128,)), ((1.0,),) * 5),  # FCOS: one anchor per location
        ((96, 64), ((16, 24), (32, 48), (64, 96)), ((0.5, 1.0, 2.0, 3.0),) * 3),
    ],
)
def test_anchors_equal_torchvision(image_size, sizes, aspect_ratios):
    n_levels = len(sizes)
    feature_sizes = fpn_sizes(*image_size, [8 * 2**i for i in range(n_levels)])
    ours = make_anchors(image_size, feature_sizes, sizes, aspect_ratios)
    theirs = torchvision_anchors(image_size, feature_sizes, sizes, aspect_ratios)
    assert ours.dtype == theirs.dtype == torch.float32
    assert torch.equal(ours, theirs)
    per_location = [len(s) * len(r) for s, r in zip(sizes, aspect_ratios)]
    assert len(ours) == sum(h * w * a for (h, w), a in zip(feature_sizes, per_location))


def test_anchor_flat_arguments_read_as_torchvision_reads_them():
    # sizes=(8, 16) means one size per level; aspect_ratios=(0.5, 1, 2) means the same for every level
    feature_sizes = [(8, 8), (4, 4)]
    ours = make_anchors(64, feature_sizes, (8, 16), (0.5, 1.0, 2.0))
    theirs = torchvision_anchors((64, 64), feature_sizes, (8, 16), (0.5, 1.0, 2.0))
    assert torch.equal(ours, theirs) and len(ours) == 3 * (64 + 16)


def test_cell_anchors_are_rounded_and_ordered_ratio_then_size():
    base = cell_anchors((32, 40), (0.5, 2.0))
    # ratio 0.5 (wide): w = 32 / sqrt(0.5) = 45.25 -> corners -22.6 -> -23 after rounding
    assert base.tolist()[0] == [-23.0, -11.0, 23.0, 11.0]
    assert torch.equal(base, AnchorGenerator().generate_anchors([32, 40], [0.5, 2.0]))
    wh = base[:, 2:] - base[:, :2]
    assert (wh[:2, 0] > wh[:2, 1]).all() and (wh[2:, 0] < wh[2:, 1]).all()  # wide first, then tall


def test_anchors_follow_the_device_and_dtype():
    anchors = make_anchors((32, 32), [(4, 4)], [(8,)], [(1.0,)], device="meta", dtype=torch.float64)
    assert anchors.device.type == "meta" and anchors.dtype == torch.float64 and anchors.shape == (16, 4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image_size=0), "image_size"),
        (dict(image_size=(32, 32, 3)), "image_size"),
        (dict(feature_sizes=[]), "non-empty list"),
        (dict(feature_sizes=[(4, 0)]), r"feature_sizes\[0\]"),
        (dict(feature_sizes=[(64, 4)]), "larger than the image"),
        (dict(sizes=[(8,), (16,)]), "2 levels but there are 1"),
        (dict(sizes=[(8, -1)]), "positive numbers"),
        (dict(sizes=[()]), "non-empty"),
        (dict(sizes=8), "sequence"),
        (dict(aspect_ratios=[(1.0,), (2.0,)]), "2 levels"),
        (dict(aspect_ratios=[(0.0,)]), "positive numbers"),
        (dict(aspect_ratios=[(math.inf,)]), "positive numbers"),
    ],
)
def test_anchor_errors(kwargs, message):
    args = dict(image_size=(32, 32), feature_sizes=[(4, 4)], sizes=[(8,)], aspect_ratios=[(1.0,)])
    with pytest.raises(ValueError, match=message):
        make_anchors(**{**args, **kwargs})
