"""FCOS (Tian et al., 2019), a one-stage anchor-free detector, in pieces: chapter 4, notebooks 03 and 04.

Notebook 03 writes every piece next to its explanation, proves its cells and this module the same, and
proves the whole, on a ResNet-50, identical to torchvision's ``fcos_resnet50_fpn`` (same parameter
names, same head outputs, same training losses). Notebook 04 trains a small FCOS made of the same pieces
from scratch. The parameter names are torchvision's, so state dicts are interchangeable.

Conventions. Images are a float tensor ``(N, C, H, W)``, already normalised by the caller (torchvision's
``GeneralizedRCNNTransform`` normalises and resizes inside the model; here that is the caller's job).
Their height and width must be multiples of the largest stride (ValueError otherwise; pad them).
Targets are one dict per image: ``"boxes"`` ``(M, 4)`` xyxy in pixels (:mod:`utils.boxes`) and
``"labels"`` ``(M,)`` integer classes in ``[0, num_classes)``; ``M`` may be 0. A class is a sigmoid
output of its own (no background class): torchvision's COCO models keep 91 outputs of which index 0 is
never a label, and likewise ``utils.detection_data.make_shapes`` labels its classes ``1..C``, so a
detector for it takes ``num_classes=len(names)``. Targets are moved to the outputs' device.

Building::

    backbone = resnet_fpn_backbone(50)                   # ResNet-50 C3-C5 + FPN P3-P7, 256 channels
    backbone = BackboneWithFPN(SmallBody(widths=(16, 32, 64, 128)), out_channels=32)   # for 64 px images
    model = FCOS(backbone, num_classes=3, num_convs=2, norm_groups=8)

A backbone returns a list of feature maps, finest first, all with ``backbone.out_channels`` channels,
and carries ``backbone.strides`` (one per map, e.g. ``(8, 16, 32, 64, 128)``).

Training and inference::

    outputs = model(images)       # dict: cls_logits (N, L, K), bbox_regression (N, L, 4),
                                  #   bbox_ctrness (N, L, 1), points (L, 2), strides (L,)
    losses = model.compute_loss(outputs, targets)   # classification, bbox_regression, bbox_ctrness
    sum(losses.values()).backward()
    detections = model.postprocess(outputs, image_size=(H, W))  # [{boxes, scores, labels}, ...]

``L`` counts the locations of all levels (row by row within a level, levels finest first, as
torchvision orders them). The pieces are public too: :func:`locations`, :func:`scale_ranges`,
:func:`assign_targets`, :func:`one_hot_targets`, :func:`encode_ltrb` / :func:`decode_ltrb`, :func:`centerness_targets`,
:func:`sigmoid_focal_loss`, :func:`giou_loss`, :class:`FeaturePyramidNetwork`, :class:`LastLevelP6P7`,
:class:`FCOSHead` and its two branches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from .boxes import box_area, check_boxes, make_anchors
from .detection import batched_nms
from .models import RESNET_CONFIGS, ResNet

REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss


def _check_reduction(reduction) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------------- losses
def sigmoid_focal_loss(
    inputs: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none"
) -> torch.Tensor:
    """The focal loss of RetinaNet (Lin et al., 2017b) on independent sigmoid outputs.

    $FL = -\\alpha_t (1 - p_t)^\\gamma \\log p_t$ for every element, with $p = \\sigma(x)$,
    $p_t = p$ where the target is 1 and $1 - p$ where it is 0, and $\\alpha_t = \\alpha$ or $1 - \\alpha$
    likewise (``alpha=-1``: no weighting). $\\gamma = 0$, $\\alpha = -1$ is the binary cross-entropy.
    ``inputs`` are logits, ``targets`` the same shape with values in [0, 1]. Equal to
    ``torchvision.ops.sigmoid_focal_loss``.
    """
    if not isinstance(inputs, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise ValueError("inputs and targets must be tensors")
    if inputs.shape != targets.shape:
        raise ValueError(f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)} must have the same shape")
    if not inputs.is_floating_point() or not targets.is_floating_point():
        raise ValueError(f"inputs and targets must be floating point, got {inputs.dtype} and {targets.dtype}")
    if not (0 <= alpha <= 1 or alpha == -1):
        raise ValueError(f"alpha must be in [0, 1], or -1 for no weighting; got {alpha!r}")
    if not gamma >= 0:
        raise ValueError(f"gamma must be >= 0, got {gamma!r}")
    _check_reduction(reduction)
    p = torch.sigmoid(inputs)
    # -log p_t, computed from the logits (stable for large |x|)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma  # easy examples (p_t near 1) are scaled down
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def giou_loss(boxes: torch.Tensor, target_boxes: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """$1 - \\mathrm{GIoU}$ of paired boxes: row ``i`` of ``boxes`` against row ``i`` of ``target_boxes``.

    Both are ``(P, 4)`` xyxy. The GIoU is :func:`utils.boxes.generalized_box_iou`'s, computed pair by pair
    (memory ``O(P)``, not the ``P × P`` matrix). The loss is in ``[0, 2]``: 0 for identical boxes, and it
    still decreases as two disjoint boxes move closer. Equal, up to the ``eps = 1e-7`` torchvision adds to
    its denominators, to ``torchvision.ops.generalized_box_iou_loss``.
    """
    check_boxes(boxes, name="boxes")
    check_boxes(target_boxes, name="target_boxes")
    if boxes.shape != target_boxes.shape:
        raise ValueError(
            f"boxes {tuple(boxes.shape)} and target_boxes {tuple(target_boxes.shape)} must pair up row by row"
        )
    _check_reduction(reduction)
    inter_wh = torch.minimum(boxes[:, 2:], target_boxes[:, 2:]) - torch.maximum(boxes[:, :2], target_boxes[:, :2])
    inter = inter_wh.clamp(min=0).prod(-1)
    union = box_area(boxes) + box_area(target_boxes) - inter
    tiny = torch.finfo(union.dtype).tiny
    iou = torch.where(union > 0, inter / union.clamp(min=tiny), 0.0)
    hull_wh = torch.maximum(boxes[:, 2:], target_boxes[:, 2:]) - torch.minimum(boxes[:, :2], target_boxes[:, :2])
    hull = hull_wh.prod(-1)
    giou = torch.where(hull > 0, iou - (hull - union) / hull.clamp(min=tiny), iou)
    return _reduce(1 - giou, reduction)


# ---------------------------------------------------------------------------------- locations and targets
def locations(image_size, feature_sizes, strides, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The points where FCOS predicts, all levels: ``points`` ``(L, 2)`` (x, y) and ``strides`` ``(L,)``.

    Location ``(i, j)`` of level ``l`` sits at ``(j * s, i * s)`` in the image, ``s = strides[l]``: the
    top-left corner of its cell as in torchvision (the paper: the cell's centre, ``s // 2`` further), which
    is also the centre of the receptive field of feature ``(i, j)`` of a padded ResNet. ``image_size``
    ``(H, W)`` must be a multiple of every stride and each feature map ``(H / s, W / s)``, or ValueError:
    torchvision spaces the points ``H // h`` apart, which misplaces them when ``s`` does not divide ``H``
    (P3 points 7 px apart on a 250 px image). torchvision
    stores them as square anchors of side ``strides[l]`` (:func:`utils.boxes.make_anchors`); a point is an
    anchor's centre and its stride the anchor's side, which sets the level's scale range and the unit
    of its box regression.
    """
    if isinstance(strides, (int, float)) or len(strides) != len(feature_sizes):
        raise ValueError(f"strides must give one number per level ({len(feature_sizes)} levels), got {strides!r}")
    height, width = (int(v) for v in image_size)
    for (h, w), s in zip(feature_sizes, strides):
        if height % s or width % s or (int(h), int(w)) != (height // s, width // s):
            raise ValueError(
                f"image size {(height, width)} must be a multiple of every stride, and each feature map the image "
                f"size / stride; got a {(int(h), int(w))} map for stride {s} (pad the image to a multiple of "
                f"the largest stride, {max(strides)})"
            )
    anchors = make_anchors(image_size, feature_sizes, tuple(strides), aspect_ratios=(1.0,), device=device)
    points = (anchors[:, :2] + anchors[:, 2:]) / 2  # (L, 2)
    return points, anchors[:, 2] - anchors[:, 0]


def scale_ranges(strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per location, the range ``(lower, upper)`` of $\\max(l, t, r, b)$ (pixels) its level is responsible for.

    ``(4 s, 8 s)`` for a location of stride ``s``, open at both ends: lower 0 on the finest level and
    upper infinity on the coarsest, so that every size has a level. For strides 8 to 128: 0, 64, 128, 256,
    512, infinity, the paper's $m_2, ..., m_7$.
    """
    if not isinstance(strides, torch.Tensor) or strides.ndim != 1 or not len(strides):
        raise ValueError(f"strides must be a non-empty 1-D tensor (one per location), got {strides!r}")
    lower, upper = 4 * strides, 8 * strides
    lower = torch.where(strides == strides.min(), torch.zeros_like(lower), lower)
    upper = torch.where(strides == strides.max(), torch.full_like(upper, math.inf), upper)
    return lower, upper


def encode_ltrb(points: torch.Tensor, strides: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Distances ``(l, t, r, b)`` from each point to the sides of its box, in units of the point's stride.

    ``points`` ``(..., 2)``, ``strides`` ``(...)``, ``boxes`` ``(..., 4)`` xyxy, paired element by element;
    returns ``(..., 4)``, all positive when the point is inside its box. torchvision's
    ``BoxLinearCoder(normalize_by_size=True).encode``."""
    x, y = points[..., 0], points[..., 1]
    ltrb = torch.stack([x - boxes[..., 0], y - boxes[..., 1], boxes[..., 2] - x, boxes[..., 3] - y], dim=-1)
    return ltrb / strides[..., None]


def decode_ltrb(points: torch.Tensor, strides: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    """The boxes (xyxy) that distances ``ltrb`` (in strides) from ``points`` describe: :func:`encode_ltrb`'s
    inverse, torchvision's ``BoxLinearCoder.decode``."""
    d = ltrb * strides[..., None]  # back to pixels
    x, y = points[..., 0], points[..., 1]
    return torch.stack([x - d[..., 0], y - d[..., 1], x + d[..., 2], y + d[..., 3]], dim=-1)


def centerness_targets(ltrb: torch.Tensor) -> torch.Tensor:
    """$\\sqrt{\\frac{\\min(l, r)}{\\max(l, r)} \\cdot \\frac{\\min(t, b)}{\\max(t, b)}}$: 1 at a box's centre,
    falling to 0 at its sides. ``ltrb`` ``(..., 4)`` of points inside their boxes (all positive)."""
    if not isinstance(ltrb, torch.Tensor) or ltrb.ndim < 1 or ltrb.shape[-1] != 4:
        got = getattr(ltrb, "shape", ltrb)
        raise ValueError(f"ltrb must be a tensor (..., 4) of distances (l, t, r, b), got {got}")
    if (ltrb <= 0).any():
        raise ValueError("centerness is defined for points inside their box: every distance must be > 0")
    lr, tb = ltrb[..., [0, 2]], ltrb[..., [1, 3]]
    return torch.sqrt((lr.amin(-1) / lr.amax(-1)) * (tb.amin(-1) / tb.amax(-1)))


def _check_target(target, i: int, num_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(target, dict) or "boxes" not in target or "labels" not in target:
        raise ValueError(f"targets[{i}] must be a dict with 'boxes' (M, 4) and 'labels' (M,)")
    boxes, labels = target["boxes"], target["labels"]
    check_boxes(boxes, name=f"targets[{i}]['boxes']")
    if (boxes[:, 2:] <= boxes[:, :2]).any():
        raise ValueError(f"targets[{i}]['boxes'] holds a box with zero width or height")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(boxes),) or labels.is_floating_point():
        raise ValueError(f"targets[{i}]['labels'] must be an integer tensor of shape ({len(boxes)},)")
    if num_classes is not None and len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"targets[{i}]['labels'] must lie in [0, {num_classes}), got {labels.tolist()}")
    return boxes, labels


def assign_targets(
    points: torch.Tensor, strides: torch.Tensor, boxes: torch.Tensor, center_sampling_radius: float = 1.5
) -> torch.Tensor:
    """Which box each location must detect: ``(L,)`` box indices, ``-1`` for background.

    A location is positive for a box when (1) it lies inside the box, (2) within
    ``center_sampling_radius`` strides of the box's centre in x and in y (centre sampling), and (3) the
    largest of its distances ``(l, t, r, b)`` to the sides falls in its level's :func:`scale_ranges`.
    Positive for several boxes, it takes the smallest (in area). torchvision's ``FCOS.compute_loss``.
    """
    check_boxes(boxes)
    if points.ndim != 2 or points.shape[1] != 2 or strides.shape != (len(points),):
        raise ValueError(
            f"points must be (L, 2) and strides (L,), got {tuple(points.shape)} and {tuple(strides.shape)}"
        )
    if not center_sampling_radius > 0:
        raise ValueError(f"center_sampling_radius must be > 0, got {center_sampling_radius!r}")
    if not len(boxes):
        return torch.full((len(points),), -1, dtype=torch.long, device=points.device)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # (M, 2)
    # (L, M): within radius * stride of the centre, in x and in y
    near_centre = (points[:, None, :] - centres[None]).abs().amax(2) < center_sampling_radius * strides[:, None]
    x, y = points[:, 0:1], points[:, 1:2]  # (L, 1)
    # (L, M, 4): distances to the four sides of every box
    ltrb = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], dim=2)
    inside = ltrb.amin(2) > 0
    reach, (lower, upper) = ltrb.amax(2), scale_ranges(strides)
    in_range = (reach > lower[:, None]) & (reach < upper[:, None])
    positive = near_centre & inside & in_range  # (L, M)
    # several boxes: the one with the smallest area
    areas = box_area(boxes)[None].expand_as(positive).masked_fill(~positive, math.inf)
    matched = areas.argmin(1)
    return torch.where(positive.any(1), matched, -1)


def one_hot_targets(matched: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The classification targets of one image: ``(L, num_classes)``, 1 at ``(k, labels[matched[k]])`` for
    every positive location ``k`` (``matched[k] >= 0``, from :func:`assign_targets`), 0 elsewhere."""
    _positive_int("num_classes", num_classes)
    if not isinstance(matched, torch.Tensor) or matched.ndim != 1 or matched.is_floating_point():
        raise ValueError(f"matched must be a 1-D integer tensor (L,), got {getattr(matched, 'shape', matched)}")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point():
        raise ValueError(f"labels must be a 1-D integer tensor (M,), got {getattr(labels, 'shape', labels)}")
    positive = matched >= 0
    if positive.any() and matched.max() >= len(labels):
        raise ValueError(f"matched refers to box {int(matched.max())}, but there are {len(labels)} labels")
    chosen = labels.to(matched.device)[matched[positive]]
    if len(chosen) and (chosen.min() < 0 or chosen.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {chosen.unique().tolist()}")
    targets = torch.zeros(len(matched), num_classes, device=matched.device)
    targets[positive, chosen] = 1.0
    return targets


# ------------------------------------------------------------------------------------------------ backbone
class ResNetBody(ResNet):
    """A ResNet (:class:`utils.models.ResNet`) without its classifier, returning ``[C3, C4, C5]`` (the
    outputs of ``layer2`` to ``layer4``, strides 8, 16, 32): torchvision's ``backbone.body``. Detection
    uses ``FrozenBatchNorm2d``: batches of a few large images give poor batch statistics."""

    def __init__(self, depth: int = 50, norm_layer=FrozenBatchNorm2d):
        if depth not in RESNET_CONFIGS:
            raise ValueError(f"depth must be one of {sorted(RESNET_CONFIGS)}, got {depth!r}")
        block, layers = RESNET_CONFIGS[depth]
        super().__init__(block, layers, norm_layer=norm_layer)
        del self.avgpool, self.fc  # no classifier
        self.out_channels = tuple(c * block.expansion for c in (128, 256, 512))
        self.strides = (8, 16, 32)

    def forward(self, x):
        return self.stages(x)[1:]  # [C3, C4, C5]


class SmallBody(nn.Module):
    """A small convolutional body for small images, in stages of (3×3 conv, stride 2 | norm | ReLU |
    3×3 conv | norm | ReLU), one per entry of ``widths``; returns the outputs of the last ``num_outputs``
    stages. ``widths=(16, 32, 64, 128)``: strides 2, 4, 8, 16, outputs at 4, 8, 16."""

    def __init__(self, in_channels: int = 3, widths=(16, 32, 64, 128), num_outputs: int = 3, norm_layer=nn.BatchNorm2d):
        super().__init__()
        _positive_int("in_channels", in_channels)
        widths = tuple(_positive_int("each width", w) for w in widths)
        if not 1 <= _positive_int("num_outputs", num_outputs) <= len(widths):
            raise ValueError(f"num_outputs must be between 1 and len(widths) = {len(widths)}, got {num_outputs}")
        stages, c = [], in_channels
        for w in widths:
            stages.append(
                nn.Sequential(
                    nn.Conv2d(c, w, 3, stride=2, padding=1, bias=False),  # (N, c, H, W) -> (N, w, H/2, W/2)
                    norm_layer(w),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(w, w, 3, padding=1, bias=False),
                    norm_layer(w),
                    nn.ReLU(inplace=True),
                )
            )
            c = w
        self.stages = nn.ModuleList(stages)
        self.num_outputs = num_outputs
        self.out_channels = widths[-num_outputs:]
        self.strides = tuple(2 ** (i + 1) for i in range(len(widths)))[-num_outputs:]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs[-self.num_outputs :]


class LastLevelP6P7(nn.Module):
    """Two more levels above the pyramid: P6 = 3×3 conv, stride 2 of P5 (of C5 when the channels differ,
    as RetinaNet), P7 = 3×3 conv, stride 2 of ReLU(P6). torchvision's ``LastLevelP6P7``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)
        for module in (self.p6, self.p7):
            nn.init.kaiming_uniform_(module.weight, a=1)
            nn.init.constant_(module.bias, 0)
        self.use_P5 = in_channels == out_channels

    def forward(self, p: list[torch.Tensor], c: list[torch.Tensor]) -> list[torch.Tensor]:
        p6 = self.p6(p[-1] if self.use_P5 else c[-1])  # (N, C, h, w) -> (N, C, h/2, w/2)
        p7 = self.p7(F.relu(p6))
        return [*p, p6, p7]


class FeaturePyramidNetwork(nn.Module):
    """FPN (Lin et al., 2017a): a 1×1 lateral convolution brings every backbone map to ``out_channels``;
    from the coarsest down, each map adds the one above it upsampled ×2 (nearest); a 3×3 convolution then
    smooths each sum. ``extra_blocks`` (e.g. :class:`LastLevelP6P7`) adds levels above. torchvision's
    ``FeaturePyramidNetwork``, with its names (``inner_blocks.i.0``, ``layer_blocks.i.0``)."""

    def __init__(self, in_channels_list: Sequence[int], out_channels: int, extra_blocks: nn.Module | None = None):
        super().__init__()
        if not len(in_channels_list):
            raise ValueError("in_channels_list must give the channels of at least one backbone map")
        for c in (*in_channels_list, out_channels):
            _positive_int("every number of channels", c)
        # one-layer Sequentials, for torchvision's names: inner_blocks.0.0.weight
        self.inner_blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(c, out_channels, 1)) for c in in_channels_list)
        self.layer_blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1)) for _ in in_channels_list
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1)
                nn.init.constant_(m.bias, 0)
        self.extra_blocks = extra_blocks

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != len(self.inner_blocks):
            raise ValueError(f"expected {len(self.inner_blocks)} feature maps (finest first), got {len(features)}")
        last = self.inner_blocks[-1](features[-1])
        results = [self.layer_blocks[-1](last)]
        for i in range(len(features) - 2, -1, -1):  # top-down: coarse to fine
            lateral = self.inner_blocks[i](features[i])
            last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.layer_blocks[i](last))
        if self.extra_blocks is not None:
            results = self.extra_blocks(results, features)
        return results


class BackboneWithFPN(nn.Module):
    """A body (returning maps finest first, with ``out_channels`` and ``strides`` attributes) followed by
    an FPN with ``out_channels`` channels, and P6/P7 from P5 when ``p6p7`` (FCOS's five levels).
    torchvision's ``BackboneWithFPN`` with its names (``body``, ``fpn``)."""

    def __init__(self, body: nn.Module, out_channels: int = 256, p6p7: bool = False):
        super().__init__()
        if not hasattr(body, "out_channels") or not hasattr(body, "strides"):
            raise ValueError("body must have attributes out_channels and strides (one per returned map)")
        self.body = body
        extra = LastLevelP6P7(out_channels, out_channels) if p6p7 else None
        self.fpn = FeaturePyramidNetwork(body.out_channels, out_channels, extra)
        self.out_channels = out_channels
        strides = tuple(body.strides)
        self.strides = strides + ((2 * strides[-1], 4 * strides[-1]) if p6p7 else ())

    def forward(self, x):
        return self.fpn(self.body(x))


def resnet_fpn_backbone(depth: int = 50, out_channels: int = 256, norm_layer=FrozenBatchNorm2d) -> BackboneWithFPN:
    """FCOS's backbone: a ResNet's C3-C5, an FPN and P6/P7 from P5; strides 8 to 128. With ``depth=50``
    torchvision's ``fcos_resnet50_fpn`` backbone, built with ``FrozenBatchNorm2d`` as its pretrained
    version is."""
    return BackboneWithFPN(ResNetBody(depth, norm_layer), out_channels, p6p7=True)


# ---------------------------------------------------------------------------------------------------- head
def _tower(channels: int, num_convs: int, norm_groups: int) -> nn.Sequential:
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(norm_groups, channels), nn.ReLU()]
    tower = nn.Sequential(*layers)
    for m in tower.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.constant_(m.bias, 0)
    return tower


def _flatten(x: torch.Tensor) -> torch.Tensor:
    n, k = x.shape[:2]
    return x.permute(0, 2, 3, 1).reshape(n, -1, k)  # (N, K, H, W) -> (N, H*W, K)


class FCOSClassificationHead(nn.Module):
    """``num_convs`` × (3×3 conv | GroupNorm | ReLU), then a 3×3 conv to one logit per class. The logits'
    bias starts at $-\\log((1 - \\pi) / \\pi)$, so that every score starts at the prior $\\pi$ (0.01)."""

    def __init__(self, in_channels, num_classes, num_convs=4, prior_probability=0.01, norm_groups=32):
        super().__init__()
        self.num_classes = num_classes
        self.conv = _tower(in_channels, num_convs, norm_groups)
        self.cls_logits = nn.Conv2d(in_channels, num_classes, 3, padding=1)
        nn.init.normal_(self.cls_logits.weight, std=0.01)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior_probability) / prior_probability))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # every level through the same layers; (N, L, K) with L = all levels' locations
        return torch.cat([_flatten(self.cls_logits(self.conv(f))) for f in features], dim=1)


class FCOSRegressionHead(nn.Module):
    """``num_convs`` × (3×3 conv | GroupNorm | ReLU), then two 3×3 convs side by side: the distances
    ``(l, t, r, b)`` in strides (ReLU: not negative) and the centerness logit."""

    def __init__(self, in_channels, num_convs=4, norm_groups=32):
        super().__init__()
        self.conv = _tower(in_channels, num_convs, norm_groups)
        self.bbox_reg = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.bbox_ctrness = nn.Conv2d(in_channels, 1, 3, padding=1)
        for layer in (self.bbox_reg, self.bbox_ctrness):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        regression, ctrness = [], []
        for f in features:
            x = self.conv(f)
            regression.append(_flatten(F.relu(self.bbox_reg(x))))  # (N, H*W, 4)
            ctrness.append(_flatten(self.bbox_ctrness(x)))  # (N, H*W, 1)
        return torch.cat(regression, dim=1), torch.cat(ctrness, dim=1)


class FCOSHead(nn.Module):
    """The head shared by all levels: classification and regression branches (torchvision's ``FCOSHead``
    with one location per point). Returns torchvision's dict of ``cls_logits`` ``(N, L, K)``,
    ``bbox_regression`` ``(N, L, 4)`` and ``bbox_ctrness`` ``(N, L, 1)``."""

    def __init__(self, in_channels: int, num_classes: int, num_convs: int = 4, norm_groups: int = 32):
        super().__init__()
        _positive_int("in_channels", in_channels)
        _positive_int("num_classes", num_classes)
        _positive_int("num_convs", num_convs)
        if _positive_int("norm_groups", norm_groups) and in_channels % norm_groups:
            raise ValueError(f"in_channels ({in_channels}) must be a multiple of norm_groups ({norm_groups})")
        self.classification_head = FCOSClassificationHead(in_channels, num_classes, num_convs, norm_groups=norm_groups)
        self.regression_head = FCOSRegressionHead(in_channels, num_convs, norm_groups)

    def forward(self, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        cls_logits = self.classification_head(features)
        bbox_regression, bbox_ctrness = self.regression_head(features)
        return {"cls_logits": cls_logits, "bbox_regression": bbox_regression, "bbox_ctrness": bbox_ctrness}


# ---------------------------------------------------------------------------------------------------- FCOS
class FCOS(nn.Module):
    """FCOS: a backbone with an FPN, the shared head, the loss and the post-processing (module docstring).

    ``backbone`` returns the feature maps (``backbone.out_channels`` channels each, ``backbone.strides``).
    The other arguments are torchvision's: ``center_sampling_radius`` (1.5 strides), ``score_thresh``
    (0.2) on $\\sqrt{\\text{class probability} \\cdot \\text{centerness}}$, ``topk_candidates`` (1000 per
    level, before NMS), ``nms_thresh`` (0.6, per class), ``detections_per_img`` (100); and ``num_convs``
    (4) and ``norm_groups`` (32) for the head, smaller for a small model.
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        num_convs: int = 4,
        norm_groups: int = 32,
        center_sampling_radius: float = 1.5,
        score_thresh: float = 0.2,
        nms_thresh: float = 0.6,
        detections_per_img: int = 100,
        topk_candidates: int = 1000,
    ):
        super().__init__()
        if not isinstance(getattr(backbone, "out_channels", None), int) or not hasattr(backbone, "strides"):
            raise ValueError("backbone must have out_channels (an int, every level's channels) and strides")
        for name, value in (("score_thresh", score_thresh), ("nms_thresh", nms_thresh)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not center_sampling_radius > 0:
            raise ValueError(f"center_sampling_radius must be > 0, got {center_sampling_radius!r}")
        self.backbone = backbone
        self.head = FCOSHead(backbone.out_channels, num_classes, num_convs, norm_groups)
        self.num_classes = num_classes
        self.strides = tuple(backbone.strides)
        self.center_sampling_radius = center_sampling_radius
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img = _positive_int("detections_per_img", detections_per_img)
        self.topk_candidates = _positive_int("topk_candidates", topk_candidates)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
            raise ValueError(
                f"images must be a float tensor (N, C, H, W), got {getattr(images, 'shape', type(images).__name__)}"
            )
        largest = max(self.strides)
        if images.shape[-2] % largest or images.shape[-1] % largest:
            raise ValueError(
                f"image height and width must be multiples of the largest stride, {largest}; got "
                f"{tuple(images.shape[-2:])} (pad the images, e.g. with zeros at the bottom and right)"
            )
        features = self.backbone(images)
        if len(features) != len(self.strides):
            raise ValueError(f"the backbone returned {len(features)} maps for {len(self.strides)} strides")
        outputs = self.head(features)
        sizes = [tuple(f.shape[-2:]) for f in features]
        points, strides = locations(tuple(images.shape[-2:]), sizes, self.strides, device=images.device)
        return {**outputs, "points": points, "strides": strides}

    def compute_loss(self, outputs: dict[str, torch.Tensor], targets: list[dict]) -> dict[str, torch.Tensor]:
        """The three losses of a batch, each summed over the batch and divided by its number of positive
        locations (at least 1): the focal loss over every location and class, the GIoU loss of the
        positives' boxes and the binary cross-entropy of their centerness."""
        cls_logits, bbox_regression = outputs["cls_logits"], outputs["bbox_regression"]
        bbox_ctrness, points, strides = outputs["bbox_ctrness"], outputs["points"], outputs["strides"]
        if not isinstance(targets, (list, tuple)) or len(targets) != len(cls_logits):
            raise ValueError(f"targets must be a list of {len(cls_logits)} dicts, one per image")
        class_targets = torch.zeros_like(cls_logits)  # (N, L, K): one-hot at the positives
        box_losses, ctrness_preds, ctrness_targets = [], [], []
        for i, target in enumerate(targets):
            boxes, labels = _check_target(target, i, self.num_classes)
            boxes, labels = boxes.to(points.device, points.dtype), labels.to(points.device)
            matched = assign_targets(points, strides, boxes, self.center_sampling_radius)
            positive = matched >= 0
            idx = matched[positive]
            class_targets[i] = one_hot_targets(matched, labels, cls_logits.shape[-1])
            # box regression and centerness: positive locations only
            pred_boxes = decode_ltrb(points[positive], strides[positive], bbox_regression[i, positive])
            box_losses.append(giou_loss(pred_boxes, boxes[idx], reduction="sum"))
            ltrb = encode_ltrb(points[positive], strides[positive], boxes[idx])
            ctrness_targets.append(centerness_targets(ltrb))
            ctrness_preds.append(bbox_ctrness[i, positive, 0])
        num_positive = max(1, sum(len(t) for t in ctrness_targets))
        loss_ctrness = F.binary_cross_entropy_with_logits(
            torch.cat(ctrness_preds), torch.cat(ctrness_targets).to(cls_logits.dtype), reduction="sum"
        )
        return {
            "classification": sigmoid_focal_loss(cls_logits, class_targets, reduction="sum") / num_positive,
            "bbox_regression": torch.stack(box_losses).sum() / num_positive,
            "bbox_ctrness": loss_ctrness / num_positive,
        }

    @torch.no_grad()
    def postprocess(self, outputs: dict[str, torch.Tensor], image_size) -> list[dict[str, torch.Tensor]]:
        """Detections per image: on each level, the scores $\\sqrt{p \\cdot \\text{centerness}}$ above
        ``score_thresh``, the best ``topk_candidates``, decoded and clipped to ``image_size`` ``(H, W)``;
        then per-class NMS over all levels and the best ``detections_per_img``."""
        if isinstance(image_size, int) or len(image_size) != 2:
            raise ValueError(f"image_size must be (H, W), got {image_size!r}")
        height, width = image_size
        points, strides = outputs["points"], outputs["strides"]
        num_classes = outputs["cls_logits"].shape[-1]
        detections = []
        for logits, regression, ctrness in zip(
            outputs["cls_logits"], outputs["bbox_regression"], outputs["bbox_ctrness"]
        ):
            boxes, scores, labels = [], [], []
            for stride in torch.unique_consecutive(strides):  # level by level
                level = strides == stride
                # (L_l * K,) scores, location-major
                score = torch.sqrt(torch.sigmoid(logits[level]) * torch.sigmoid(ctrness[level])).flatten()
                candidates = torch.where(score > self.score_thresh)[0]
                score, order = score[candidates].topk(min(self.topk_candidates, len(candidates)))
                candidates = candidates[order]
                where = candidates // num_classes  # location within the level
                box = decode_ltrb(points[level][where], strides[level][where], regression[level][where])
                box[:, 0::2] = box[:, 0::2].clamp(0, width)
                box[:, 1::2] = box[:, 1::2].clamp(0, height)
                boxes.append(box)
                scores.append(score)
                labels.append(candidates % num_classes)
            boxes, scores, labels = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
            keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            detections.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return detections
