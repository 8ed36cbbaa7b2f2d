"""utils.fcos against torchvision's FCOS pieces (torchvision.ops, torchvision.models.detection) and
brute-force references, on small sizes."""

import math
from collections import OrderedDict

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOSHead as TorchvisionFCOSHead
from torchvision.models.detection.image_list import ImageList
from torchvision.ops.feature_pyramid_network import LastLevelP6P7 as TorchvisionP6P7

import utils
from utils import fcos


# ------------------------------------------------------------------------------------------------ losses
@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (0.5, 0.0), (-1, 1.5), (1.0, 5.0)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_loss_is_torchvisions(alpha, gamma, reduction):
    gen = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(50, 7, generator=gen)
    targets = (torch.rand(50, 7, generator=gen) < 0.2).float()
    ours = fcos.sigmoid_focal_loss(logits, targets, alpha, gamma, reduction)
    reference = torchvision.ops.sigmoid_focal_loss(logits, targets, alpha, gamma, reduction)
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-7)


def test_focal_loss_without_focusing_is_cross_entropy():
    logits, targets = torch.randn(20), (torch.rand(20) < 0.5).float()
    bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    torch.testing.assert_close(fcos.sigmoid_focal_loss(logits, targets, alpha=-1, gamma=0), bce)
    # an easy negative (p = 0.01) weighs (1 - p_t)^2 = 1e-4 of its cross-entropy, times 1 - alpha
    easy = fcos.sigmoid_focal_loss(torch.tensor([math.log(0.01 / 0.99)]), torch.zeros(1))
    assert easy.item() == pytest.approx(0.75 * 0.01**2 * -math.log(0.99), rel=1e-4)


def test_giou_loss_is_torchvisions():
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(30, 2, generator=gen) * 50
    b = torch.rand(30, 2, generator=gen) * 50
    boxes = torch.cat([a, a + 1 + torch.rand(30, 2, generator=gen) * 30], 1)
    targets = torch.cat([b, b + 1 + torch.rand(30, 2, generator=gen) * 30], 1)
    for reduction in ("none", "mean", "sum"):
        ours = fcos.giou_loss(boxes, targets, reduction)
        reference = torchvision.ops.generalized_box_iou_loss(boxes, targets, reduction)
        torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    assert fcos.giou_loss(boxes, boxes).abs().max() < 1e-6
    far = fcos.giou_loss(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[99.0, 99, 100, 100]]))
    assert 1.99 < far.item() < 2  # disjoint and far apart: close to the maximum, 2


def test_giou_loss_is_pairwise_and_keeps_a_gradient_apart():
    gen = torch.Generator().manual_seed(3)
    corner = torch.rand(40, 2, generator=gen) * 80
    boxes = torch.cat([corner, corner + 1 + torch.rand(40, 2, generator=gen) * 40], 1)
    targets = boxes.flip(0) + 5
    diagonal = 1 - utils.boxes.generalized_box_iou(boxes, targets).diagonal()
    torch.testing.assert_close(fcos.giou_loss(boxes, targets), diagonal, rtol=0, atol=1e-6)
    apart = torch.tensor([[20.0, 0, 30, 10]], requires_grad=True)
    fcos.giou_loss(apart, torch.tensor([[0.0, 0, 10, 10]])).sum().backward()
    assert apart.grad.abs().sum() > 0  # disjoint boxes still get a gradient
    assert fcos.giou_loss(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0,)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: fcos.sigmoid_focal_loss(torch.zeros(3), torch.zeros(4)), "same shape"),
        (lambda: fcos.sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), alpha=2), "alpha"),
        (lambda: fcos.sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), gamma=-1), "gamma"),
        (lambda: fcos.sigmoid_focal_loss(torch.zeros(3), torch.zeros(3, dtype=torch.long)), "floating"),
        (lambda: fcos.sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), reduction="max"), "reduction"),
        (lambda: fcos.giou_loss(torch.zeros(2, 4), torch.zeros(3, 4)), "row by row"),
        (lambda: fcos.giou_loss(torch.tensor([[5.0, 5, 0, 0]]), torch.zeros(1, 4)), "x2 < x1"),
    ],
)
def test_loss_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------------------- locations and targets
def test_locations_are_torchvisions_anchor_centres():
    strides, sizes = (8, 16, 32, 64, 128), [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    points, point_strides = fcos.locations((256, 384), sizes, strides)
    generator = AnchorGenerator(tuple((s,) for s in strides), ((1.0,),) * len(strides))
    images = ImageList(torch.zeros(1, 3, 256, 384), [(256, 384)])
    anchors = generator(images, [torch.zeros(1, 1, h, w) for h, w in sizes])[0]
    torch.testing.assert_close(points, (anchors[:, :2] + anchors[:, 2:]) / 2, rtol=0, atol=0)
    torch.testing.assert_close(point_strides, anchors[:, 2] - anchors[:, 0], rtol=0, atol=0)
    assert len(points) == sum(h * w for h, w in sizes) and points[1].tolist() == [8.0, 0.0]


def test_locations_need_sizes_that_the_strides_divide():
    with pytest.raises(ValueError, match="multiple of every stride"):
        fcos.locations((250, 250), [(32, 32)], (8,))  # torchvision: 250 // 32 = 7 px apart
    with pytest.raises(ValueError, match="multiple of every stride"):
        fcos.locations((256, 256), [(31, 32)], (8,))
    for size in (64, 96):  # the small images of notebook 04, strides 4, 8, 16
        sizes = [(size // s, size // s) for s in (4, 8, 16)]
        points, _ = fcos.locations((size, size), sizes, (4, 8, 16))
        assert points[1].tolist() == [4.0, 0.0]


def test_fcos_rejects_images_that_the_largest_stride_does_not_divide():
    torch.manual_seed(0)
    model = fcos.FCOS(fcos.BackboneWithFPN(fcos.SmallBody(), out_channels=32), 3, num_convs=1, norm_groups=8)
    assert model.strides == (4, 8, 16)
    for size in (64, 96):
        assert model(torch.rand(1, 3, size, size))["points"].shape == (sum((size // s) ** 2 for s in (4, 8, 16)), 2)
    with pytest.raises(ValueError, match="multiples of the largest stride, 16"):
        model(torch.rand(1, 3, 64, 72))


def test_one_hot_targets():
    matched = torch.tensor([-1, 0, 2, -1, 0])
    labels = torch.tensor([3, 1, 0])
    expected = torch.zeros(5, 4)
    expected[1, 3] = expected[4, 3] = expected[2, 0] = 1
    assert torch.equal(fcos.one_hot_targets(matched, labels, 4), expected)
    assert torch.equal(
        fcos.one_hot_targets(torch.full((3,), -1), torch.zeros(0, dtype=torch.long), 2), torch.zeros(3, 2)
    )
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        fcos.one_hot_targets(matched, labels, 3)
    with pytest.raises(ValueError, match="refers to box 2"):
        fcos.one_hot_targets(matched, labels[:2], 4)
    with pytest.raises(ValueError, match="1-D integer"):
        fcos.one_hot_targets(matched.float(), labels, 4)
    with pytest.raises(ValueError, match="num_classes"):
        fcos.one_hot_targets(matched, labels, 0)


def test_scale_ranges_are_the_papers():
    lower, upper = fcos.scale_ranges(torch.tensor([8.0, 16, 32, 64, 128]))
    assert lower.tolist() == [0, 64, 128, 256, 512]
    assert upper.tolist() == [64, 128, 256, 512, math.inf]


def test_ltrb_coding_is_torchvisions_and_inverts():
    from torchvision.models.detection._utils import BoxLinearCoder

    points = torch.tensor([[16.0, 16], [40, 8], [0, 0]])
    strides = torch.tensor([8.0, 8, 16])
    boxes = torch.tensor([[10.0, 4, 30, 40], [20, 0, 64, 20], [-5, -3, 20, 10]])
    anchors = torch.cat([points - strides[:, None] / 2, points + strides[:, None] / 2], 1)
    ltrb = fcos.encode_ltrb(points, strides, boxes)
    coder = BoxLinearCoder(normalize_by_size=True)
    torch.testing.assert_close(ltrb, coder.encode(anchors, boxes))
    torch.testing.assert_close(fcos.decode_ltrb(points, strides, ltrb), boxes)
    torch.testing.assert_close(fcos.decode_ltrb(points, strides, ltrb), coder.decode(ltrb, anchors))


def test_centerness():
    ltrb = torch.tensor([[2.0, 3, 2, 3], [1, 1, 3, 1], [1, 2, 4, 8]])
    expected = torch.tensor([1.0, math.sqrt(1 / 3), math.sqrt(1 / 4 * 2 / 8)])
    torch.testing.assert_close(fcos.centerness_targets(ltrb), expected)
    with pytest.raises(ValueError, match="inside their box"):
        fcos.centerness_targets(torch.tensor([[1.0, 1, 0, 1]]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        fcos.centerness_targets(torch.ones(3, 3))


def _assign_brute_force(points, strides, boxes, radius):
    """The rules of assign_targets, one location and one box at a time."""
    lower, upper = fcos.scale_ranges(strides)
    out = []
    for (x, y), s, lo, hi in zip(points.tolist(), strides.tolist(), lower.tolist(), upper.tolist()):
        best, best_area = -1, math.inf
        for j, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            d = (x - x1, y - y1, x2 - x, y2 - y)
            ok = min(d) > 0 and lo < max(d) < hi and max(abs(x - cx), abs(y - cy)) < radius * s
            if ok and (x2 - x1) * (y2 - y1) < best_area:
                best, best_area = j, (x2 - x1) * (y2 - y1)
        out.append(best)
    return torch.tensor(out)


@pytest.mark.parametrize("radius", [1.5, 2.5, 100.0])
def test_assignment_against_brute_force(radius):
    points, strides = fcos.locations((64, 64), [(16, 16), (8, 8), (4, 4)], (4, 8, 16))
    gen = torch.Generator().manual_seed(2)
    corner = torch.rand(12, 2, generator=gen) * 40
    boxes = torch.cat([corner, corner + 4 + torch.rand(12, 2, generator=gen) * 50], 1)
    matched = fcos.assign_targets(points, strides, boxes, radius)
    assert torch.equal(matched, _assign_brute_force(points, strides, boxes, radius))
    assert (matched >= 0).sum() > 10 and (matched == -1).sum() > 10  # both kinds occur


def test_assignment_cases():
    points, strides = fcos.locations((64, 64), [(16, 16), (8, 8), (4, 4)], (4, 8, 16))
    big, small = torch.tensor([[2.0, 2, 62, 62]]), torch.tensor([[26.0, 26, 38, 38]])
    matched = fcos.assign_targets(points, strides, torch.cat([big, small]))
    # the small box's locations are all on the finest level and near its centre
    own = matched == 1
    assert own.any() and (strides[own] == 4).all()
    assert ((points[own] - 32).abs().amax(1) < 1.5 * 4).all()
    # the 60-pixel box reaches 30 from its centre: max(l, t, r, b) in (0, 32) on the stride-4 level
    # near the centre, and up to 32 .. 64 on the stride-8 level away from it
    assert set(strides[matched == 0].tolist()) <= {4.0, 8.0}
    assert (fcos.assign_targets(points, strides, torch.zeros(0, 4)) == -1).all()


# ------------------------------------------------------------------------------------- network pieces
def test_fpn_with_p6p7_is_torchvisions():
    torch.manual_seed(0)
    ours = fcos.FeaturePyramidNetwork([16, 32, 64], 32, fcos.LastLevelP6P7(32, 32))
    reference = torchvision.ops.FeaturePyramidNetwork([16, 32, 64], 32, TorchvisionP6P7(32, 32))
    ours.load_state_dict(reference.state_dict())  # strict: same names and shapes
    maps = [torch.randn(2, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate([16, 32, 64])]
    out = ours(maps)
    expected = list(reference(OrderedDict((str(i), m) for i, m in enumerate(maps))).values())
    assert [tuple(o.shape[-2:]) for o in out] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    for a, b in zip(out, expected):
        torch.testing.assert_close(a, b)
    # P6 from C5 when the channels differ (RetinaNet)
    assert not fcos.LastLevelP6P7(64, 32).use_P5


def test_head_is_torchvisions():
    torch.manual_seed(0)
    ours = fcos.FCOSHead(64, num_classes=5, num_convs=2)
    reference = TorchvisionFCOSHead(64, 1, 5, num_convs=2)
    ours.load_state_dict(reference.state_dict())
    for p in reference.parameters():  # weights that make the outputs vary
        nn.init.normal_(p, std=0.1)
    ours.load_state_dict(reference.state_dict())
    features = [torch.randn(2, 64, 8, 8), torch.randn(2, 64, 4, 4)]
    out, expected = ours(features), reference(features)
    assert out.keys() == expected.keys() and out["cls_logits"].shape == (2, 80, 5)
    for key in out:
        torch.testing.assert_close(out[key], expected[key])
    # every class starts at the prior probability 0.01
    fresh = fcos.FCOSHead(64, num_classes=5).classification_head.cls_logits.bias
    torch.testing.assert_close(torch.sigmoid(fresh), torch.full((5,), 0.01))


def test_resnet50_fpn_counts_and_names_match_torchvision():
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops.misc import FrozenBatchNorm2d

    with torch.device("meta"):
        ours = fcos.FCOS(fcos.resnet_fpn_backbone(50), num_classes=91)
        backbone = resnet_fpn_backbone(
            backbone_name="resnet50",
            weights=None,
            norm_layer=FrozenBatchNorm2d,
            trainable_layers=5,
            returned_layers=[2, 3, 4],
            extra_blocks=TorchvisionP6P7(256, 256),
        )
        reference = torchvision.models.detection.FCOS(backbone, num_classes=91)
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    # the documented counts (torchvision's weights metadata)
    assert utils.count_params(ours) == utils.count_params(reference) == 32_269_600
    assert utils.count_params(ours.head) == 4_946_016
    assert utils.count_params(ours.backbone.fpn) == 3_868_672
    assert ours.strides == (8, 16, 32, 64, 128)


class _AsDict(nn.Module):
    """Our backbone with torchvision's interface: an OrderedDict of maps."""

    def __init__(self, backbone):
        super().__init__()
        self.inner, self.out_channels = backbone, backbone.out_channels

    def forward(self, x):
        return OrderedDict((str(i), f) for i, f in enumerate(self.inner(x)))


def _small_pair(score_thresh=0.2):
    """A small FCOS of ours and torchvision's FCOS with the same backbone and the same head weights."""
    torch.manual_seed(0)
    backbone = fcos.BackboneWithFPN(fcos.SmallBody(widths=(16, 32, 32, 64)), out_channels=64)
    ours = fcos.FCOS(backbone, num_classes=3, num_convs=2, score_thresh=score_thresh)
    with torch.no_grad():
        for p in ours.head.parameters():  # scores that vary from place to place
            p.add_(0.05 * torch.randn_like(p))
    reference = torchvision.models.detection.FCOS(
        _AsDict(backbone),
        num_classes=3,
        min_size=64,
        max_size=64,
        image_mean=[0.0, 0.0, 0.0],
        image_std=[1.0, 1.0, 1.0],
        anchor_generator=AnchorGenerator(((4,), (8,), (16,)), ((1.0,),) * 3),
        head=TorchvisionFCOSHead(64, 1, 3, num_convs=2),
        score_thresh=score_thresh,
    )
    reference.head.load_state_dict(ours.head.state_dict())
    return ours, reference


TARGETS = [
    {"boxes": torch.tensor([[4.0, 6, 54, 60], [20, 20, 36, 30], [40, 2, 62, 20]]), "labels": torch.tensor([0, 2, 1])},
    {"boxes": torch.tensor([[10.0, 30, 22, 44]]), "labels": torch.tensor([1])},
    {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
]


def test_small_fcos_losses_and_detections_are_torchvisions():
    ours, reference = _small_pair(score_thresh=0.05)
    images = torch.rand(3, 3, 64, 64)
    reference.eval()
    assert torch.equal(reference.transform(list(images))[0].tensors, images)  # the transform is the identity
    with torch.no_grad():
        outputs = ours.eval()(images)
        head = reference.head(list(reference.backbone(images).values()))
    for key in head:
        torch.testing.assert_close(outputs[key], head[key])
    # the losses: torchvision computes them in training mode; our backbone's BatchNorm stays in eval
    reference.train()
    reference.backbone.eval()
    expected = reference(list(images), TARGETS)
    losses = ours.compute_loss(outputs, TARGETS)
    assert losses.keys() == expected.keys()
    for key in losses:
        torch.testing.assert_close(losses[key], expected[key], rtol=1e-5, atol=1e-6)
    # detections, with a score threshold that lets the untrained head's boxes through
    reference.eval()
    with torch.no_grad():
        expected = reference(list(images))
    found = ours.postprocess(outputs, (64, 64))
    assert min(len(d["boxes"]) for d in found) > 10
    for ours_image, reference_image in zip(found, expected):
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(ours_image[key], reference_image[key])


def test_untrained_fcos_finds_nothing_at_the_default_threshold():
    torch.manual_seed(0)
    backbone = fcos.BackboneWithFPN(fcos.SmallBody(), out_channels=32)
    model = fcos.FCOS(backbone, num_classes=5, num_convs=2, norm_groups=8).eval()
    with torch.no_grad():
        outputs = model(torch.rand(2, 3, 64, 64))
    # scores start near sqrt(0.01 * 0.5) = 0.07, under the threshold 0.2
    score = (outputs["cls_logits"].sigmoid() * outputs["bbox_ctrness"].sigmoid()).sqrt()
    assert abs(score.mean().item() - math.sqrt(0.01 * 0.5)) < 0.005 and score.max() < 0.2
    assert all(len(d["boxes"]) == 0 for d in model.postprocess(outputs, (64, 64)))
    model.score_thresh = 0.05
    assert all(len(d["boxes"]) > 0 for d in model.postprocess(outputs, (64, 64)))


def test_small_fcos_learns_a_batch():
    """A few dozen steps on one batch of bright rectangles: every loss falls."""
    torch.manual_seed(0)
    images = torch.zeros(4, 3, 64, 64)
    targets = []
    for i, (x, y, w, h) in enumerate([(5, 8, 20, 30), (30, 30, 28, 18), (10, 40, 14, 14), (20, 5, 40, 40)]):
        images[i, :, y : y + h, x : x + w] = 1.0
        box = torch.tensor([[x, y, x + w, y + h]], dtype=torch.float)
        targets.append({"boxes": box, "labels": torch.tensor([i % 2])})
    backbone = fcos.BackboneWithFPN(fcos.SmallBody(widths=(8, 16, 32, 32)), out_channels=16)
    model = fcos.FCOS(backbone, num_classes=2, num_convs=1, norm_groups=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(40):
        losses = model.compute_loss(model(images), targets)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    # the centerness loss cannot go below the entropy of its (soft) targets
    outputs = model(images)
    ctr = []
    for t in targets:
        matched = fcos.assign_targets(outputs["points"], outputs["strides"], t["boxes"])
        pos = matched >= 0
        ltrb = fcos.encode_ltrb(outputs["points"][pos], outputs["strides"][pos], t["boxes"][matched[pos]])
        ctr.append(fcos.centerness_targets(ltrb))
    ctr = torch.cat(ctr).clamp(1e-6, 1 - 1e-6)
    floor = -(ctr * ctr.log() + (1 - ctr) * (1 - ctr).log()).mean().item()
    first, last = history[0], history[-1]
    assert last["classification"] < 0.1 * first["classification"]
    assert last["bbox_regression"] < 0.2 * first["bbox_regression"]
    assert last["bbox_ctrness"] - floor < 0.5 * (first["bbox_ctrness"] - floor)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: fcos.FCOSHead(48, 3, norm_groups=32), "multiple of norm_groups"),
        (lambda: fcos.FCOSHead(64, 0), "num_classes"),
        (lambda: fcos.FCOS(nn.Conv2d(3, 3, 1), 3), "out_channels"),
        (lambda: fcos.FCOS(fcos.resnet_fpn_backbone(18, out_channels=32), 3, score_thresh=2), "score_thresh"),
        (lambda: fcos.SmallBody(widths=(8, 16), num_outputs=3), "num_outputs"),
        (lambda: fcos.ResNetBody(20), "depth"),
        (lambda: fcos.BackboneWithFPN(nn.Conv2d(3, 3, 1)), "out_channels and strides"),
        (lambda: fcos.FeaturePyramidNetwork([], 8), "at least one"),
        (lambda: fcos.scale_ranges(torch.tensor(8.0)), "1-D"),
        (lambda: fcos.locations((64, 64), [(16, 16)], (4, 8)), "one number per level"),
        (lambda: fcos.assign_targets(torch.zeros(3, 2), torch.ones(2), torch.zeros(0, 4)), r"\(L,\)"),
        (lambda: fcos.assign_targets(torch.zeros(3, 2), torch.ones(3), torch.zeros(0, 4), 0), "radius"),
    ],
)
def test_construction_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_call_errors():
    ours, _ = _small_pair()
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ours(torch.zeros(3, 64, 64))
    outputs = ours(torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match="list of 2 dicts"):
        ours.compute_loss(outputs, TARGETS)
    bad_label = [{"boxes": torch.tensor([[0.0, 0, 9, 9]]), "labels": torch.tensor([3])}] * 2
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        ours.compute_loss(outputs, bad_label)
    flat = [{"boxes": torch.tensor([[0.0, 0, 0, 9]]), "labels": torch.tensor([0])}] * 2
    with pytest.raises(ValueError, match="zero width or height"):
        ours.compute_loss(outputs, flat)
    with pytest.raises(ValueError, match="dict with 'boxes'"):
        ours.compute_loss(outputs, [{"boxes": torch.zeros(0, 4)}] * 2)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        ours.postprocess(outputs, 64)
