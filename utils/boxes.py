"""Bounding boxes for chapter 4 (object detection), as taught in its first notebook.

A box is a row of four numbers in one of two formats:

* ``"xyxy"``: ``(x1, y1, x2, y2)``, the top-left and the bottom-right corners, ``x2 >= x1`` and
  ``y2 >= y1`` (torchvision's detection format);
* ``"cxcywh"``: ``(cx, cy, w, h)``, the centre, the width and the height, ``w, h >= 0``.

Boxes are float tensors of shape ``(N, 4)``; ``N`` may be 0. Coordinates are in pixels, continuous:
a box ``(0, 0, 10, 10)`` covers 10 × 10 pixels and has area 100 (as in torchvision and COCO, no
"+1"). Every function checks its input and raises ``ValueError`` with the reason, never returns a
silently wrong answer on, say, corners given in the wrong order.

Formats and overlap: :func:`check_boxes`, :func:`box_convert`, :func:`box_area`, :func:`box_iou`,
:func:`generalized_box_iou` (equal to ``torchvision.ops``'s). What a detector regresses:
:func:`encode_boxes` / :func:`decode_boxes` (Faster R-CNN's offsets relative to an anchor, equal to
torchvision's ``BoxCoder``) and :func:`make_anchors` / :func:`cell_anchors` (the anchors of every level of
a feature pyramid, equal to torchvision's ``AnchorGenerator``).
"""

from __future__ import annotations

import math

import torch

FORMATS = ("xyxy", "cxcywh")


def check_boxes(boxes: torch.Tensor, fmt: str = "xyxy", name: str = "boxes") -> torch.Tensor:
    """Return ``boxes`` unchanged after checking it: a floating-point ``(N, 4)`` tensor of finite values,
    corners in order (``xyxy``) or sizes not negative (``cxcywh``). Raises ``ValueError`` otherwise."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown box format {fmt!r}; use one of {FORMATS}")
    if not isinstance(boxes, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of shape (N, 4), got {type(boxes).__name__}")
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {boxes.dtype}; use boxes.float()")
    if not torch.isfinite(boxes).all():
        raise ValueError(f"{name} holds NaN or infinite coordinates")
    if fmt == "xyxy":
        bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        if bad.any():
            i = int(bad.nonzero()[0])
            raise ValueError(
                f"{name}[{i}] = {boxes[i].tolist()} has x2 < x1 or y2 < y1; xyxy boxes are "
                "(x1, y1, x2, y2) with the top-left corner first"
            )
    elif (boxes[:, 2:] < 0).any():
        i = int((boxes[:, 2:] < 0).any(1).nonzero()[0])
        raise ValueError(f"{name}[{i}] = {boxes[i].tolist()} has a negative width or height")
    return boxes


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert ``(N, 4)`` boxes between ``"xyxy"`` and ``"cxcywh"`` (a new tensor)."""
    check_boxes(boxes, in_fmt)
    if out_fmt not in FORMATS:
        raise ValueError(f"unknown box format {out_fmt!r}; use one of {FORMATS}")
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xyxy":  # -> centre and size
        return torch.stack([(a + c) / 2, (b + d) / 2, c - a, d - b], dim=-1)
    return torch.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], dim=-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas ``(N,)`` of ``(N, 4)`` xyxy boxes."""
    check_boxes(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _intersection_union(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # every pair: the intersection's top-left is the larger of the two top-lefts, its bottom-right
    # the smaller of the bottom-rights; an empty intersection has a negative side, clamped to 0
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)  # (N, M)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter, union


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair: ``(N, 4)`` and ``(M, 4)`` xyxy boxes -> ``(N, M)``.

    Two empty boxes (area 0) that do not overlap have union 0; their IoU is defined as 0 (torchvision
    returns NaN there)."""
    check_boxes(a, name="a")
    check_boxes(b, name="b")
    inter, union = _intersection_union(a, b)
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU (Rezatofighi et al., 2019) of every pair: ``(N, M)``, in ``[-1, 1]``.

    ``GIoU = IoU - |C \\ (A ∪ B)| / |C|`` with ``C`` the smallest box enclosing both: unlike the IoU it
    still says how far apart two boxes that do not overlap are. A pair whose enclosing box has area 0
    (two identical degenerate boxes) gets the IoU's convention, 0."""
    check_boxes(a, name="a")
    check_boxes(b, name="b")
    inter, union = _intersection_union(a, b)
    tiny = torch.finfo(union.dtype).tiny
    iou = torch.where(union > 0, inter / union.clamp(min=tiny), 0.0)
    top_left = torch.minimum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.maximum(a[:, None, 2:], b[None, :, 2:])
    hull = (bottom_right - top_left).prod(-1)
    return torch.where(hull > 0, iou - (hull - union) / hull.clamp(min=tiny), iou)


# ----------------------------------------------------------------------------------------------------
# Box coding (Fast/Faster R-CNN) and anchors (Faster R-CNN, FPN, RetinaNet, FCOS)

DEFAULT_BBOX_XFORM_CLIP = math.log(1000.0 / 16)  # torchvision's BoxCoder: exp(dw) at most 62.5


def _check_weights(weights) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError(f"weights must be four positive numbers (wx, wy, ww, wh), got {weights!r}") from None
    if len(values) != 4 or not all(math.isfinite(w) and w > 0 for w in values):
        raise ValueError(f"weights must be four positive numbers (wx, wy, ww, wh), got {weights!r}")
    return values


def _check_positive_size(boxes: torch.Tensor, name: str) -> None:
    bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"{name}[{i}] = {boxes[i].tolist()} has zero width or height: box codes divide by the "
            "reference box's size and take the log of the target's"
        )


def encode_boxes(reference_boxes: torch.Tensor, proposals: torch.Tensor, weights=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """Encode boxes relative to anchors (or proposals), as Fast/Faster R-CNN regress them.

    ``reference_boxes`` (the boxes to encode, e.g. ground truth) and ``proposals`` (what they are
    encoded relative to, e.g. anchors) are ``(N, 4)`` xyxy boxes, paired row by row; returns the
    codes ``(N, 4)``:

    $t_x = w_x (x - x_a) / w_a$, $t_y = w_y (y - y_a) / h_a$, $t_w = w_w \\log(w / w_a)$,
    $t_h = w_h \\log(h / h_a)$,

    with centres $(x, y)$ and sizes $(w, h)$ of the box and $(x_a, y_a, w_a, h_a)$ of the proposal.
    Equal to torchvision's ``BoxCoder(weights).encode_single(reference_boxes, proposals)`` (same
    argument order). Both boxes need a positive width and height (a division and a log).
    """
    wx, wy, ww, wh = _check_weights(weights)
    check_boxes(reference_boxes, name="reference_boxes")
    check_boxes(proposals, name="proposals")
    if reference_boxes.shape != proposals.shape:
        raise ValueError(
            f"reference_boxes {tuple(reference_boxes.shape)} and proposals {tuple(proposals.shape)} must "
            "pair up row by row: give both the same shape (N, 4)"
        )
    _check_positive_size(reference_boxes, "reference_boxes")
    _check_positive_size(proposals, "proposals")
    cx, cy, w, h = box_convert(reference_boxes, "xyxy", "cxcywh").unbind(-1)
    ax, ay, aw, ah = box_convert(proposals, "xyxy", "cxcywh").unbind(-1)
    return torch.stack(
        [wx * (cx - ax) / aw, wy * (cy - ay) / ah, ww * torch.log(w / aw), wh * torch.log(h / ah)], dim=-1
    )


def decode_boxes(
    rel_codes: torch.Tensor,
    boxes: torch.Tensor,
    weights=(1.0, 1.0, 1.0, 1.0),
    bbox_xform_clip: float = DEFAULT_BBOX_XFORM_CLIP,
) -> torch.Tensor:
    """Invert :func:`encode_boxes`: boxes from codes ``(N, 4)`` relative to ``boxes`` (anchors) ``(N, 4)``.

    ``rel_codes`` may also be ``(N, 4k)``: k codes per anchor (Faster R-CNN's one box per class),
    giving ``(N, 4k)`` boxes. The size codes are clamped at ``bbox_xform_clip`` (default
    $\\log(1000/16)$, a box at most 62.5 times its anchor) before the exponential, so that an untrained
    head cannot overflow. Equal to torchvision's ``BoxCoder(weights, bbox_xform_clip).decode_single``.
    """
    wx, wy, ww, wh = _check_weights(weights)
    check_boxes(boxes, name="boxes")
    _check_positive_size(boxes, "boxes")
    if (
        not isinstance(rel_codes, torch.Tensor)
        or rel_codes.ndim != 2
        or rel_codes.shape[-1] % 4
        or not len(boxes) == len(rel_codes)
    ):
        shape = tuple(rel_codes.shape) if isinstance(rel_codes, torch.Tensor) else type(rel_codes).__name__
        raise ValueError(f"rel_codes must have shape (N, 4) or (N, 4k) with N = {len(boxes)} boxes, got {shape}")
    if rel_codes.shape[-1] == 0:
        raise ValueError("rel_codes must have shape (N, 4) or (N, 4k) with k >= 1, got (N, 0)")
    if not rel_codes.is_floating_point() or not torch.isfinite(rel_codes).all():
        raise ValueError("rel_codes must be a floating-point tensor of finite values")
    if not isinstance(bbox_xform_clip, (int, float)) or not bbox_xform_clip > 0:
        raise ValueError(f"bbox_xform_clip must be a positive number, got {bbox_xform_clip!r}")
    boxes = boxes.to(rel_codes.dtype)
    ax, ay, aw, ah = (v[:, None] for v in box_convert(boxes, "xyxy", "cxcywh").unbind(-1))  # (N, 1)
    dx, dy = rel_codes[:, 0::4] / wx, rel_codes[:, 1::4] / wy  # (N, k)
    dw = (rel_codes[:, 2::4] / ww).clamp(max=bbox_xform_clip)
    dh = (rel_codes[:, 3::4] / wh).clamp(max=bbox_xform_clip)
    cx, cy = ax + dx * aw, ay + dy * ah
    half_w, half_h = 0.5 * torch.exp(dw) * aw, 0.5 * torch.exp(dh) * ah
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=2).flatten(1)  # (N, 4k)


def _per_level(values, n_levels: int, name: str, flat: str) -> list[tuple[float, ...]]:
    """``values`` as one tuple of positive numbers per level.

    A flat sequence of numbers means one number per level when ``flat="per_level"`` (torchvision's reading
    of ``sizes=(32, 64, ...)``) and the same tuple for every level when ``flat="every_level"`` (its reading
    of ``aspect_ratios=(0.5, 1.0, 2.0)``)."""
    if isinstance(values, (int, float, str, torch.Tensor)):
        raise ValueError(f"{name} must be a sequence (one entry per level) of tuples of positive numbers")
    values = list(values)
    if values and all(isinstance(v, (int, float)) for v in values) and flat == "every_level":
        values = [tuple(values)] * n_levels
    if len(values) != n_levels:
        raise ValueError(
            f"{name} has {len(values)} levels but there are {n_levels} feature maps: give one entry per level"
        )
    out = []
    for level, v in enumerate(values):
        v = (v,) if isinstance(v, (int, float)) else v
        ok = isinstance(v, (tuple, list)) and len(v) > 0
        ok = ok and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        if not ok or not all(math.isfinite(x) and x > 0 for x in v):
            raise ValueError(f"{name}[{level}] must be a non-empty tuple of positive numbers, got {v!r}")
        out.append(tuple(v))
    return out


def _size_pair(size, name: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in pair):
        raise ValueError(f"{name} must be a positive int or (H, W) of positive ints, got {size!r}")
    return pair


def cell_anchors(sizes, aspect_ratios, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The anchors of one feature-map location, centred on ``(0, 0)``: ``(len(ratios) * len(sizes), 4)``.

    For each aspect ratio $r = h / w$ (outer loop) and size $s$ (inner loop) a box of area $s^2$:
    $w = s / \\sqrt{r}$, $h = s \\sqrt{r}$, corners $\\pm(w/2, h/2)$ **rounded to integers**, as
    torchvision's ``AnchorGenerator.generate_anchors`` does.
    """
    (sizes,) = _per_level([sizes], 1, "sizes", flat="per_level")
    (ratios,) = _per_level([aspect_ratios], 1, "aspect_ratios", flat="per_level")
    s = torch.as_tensor(sizes, dtype=dtype)
    h_ratios = torch.sqrt(torch.as_tensor(ratios, dtype=dtype))
    ws = (s[None, :] / h_ratios[:, None]).reshape(-1)  # ratio-major, then size
    hs = (s[None, :] * h_ratios[:, None]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def make_anchors(
    image_size,
    feature_sizes,
    sizes,
    aspect_ratios=(0.5, 1.0, 2.0),
    device=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The anchors of one image, all levels: an ``(A, 4)`` xyxy tensor in torchvision's order.

    ``image_size`` is ``(H, W)`` (or an int) of the (padded) image, ``feature_sizes`` one ``(h, w)``
    per feature-map level, ``sizes`` one entry per level, a tuple of anchor sizes (RetinaNet's
    ``((32, 40, 50), (64, 80, 101), ...)``) or one number (FCOS's ``(8, 16, 32, 64, 128)``), and
    ``aspect_ratios`` (height / width) one tuple per level or one tuple for every level.

    A level's stride is ``H // h`` by ``W // w`` (integer division, as torchvision computes it), and
    location ``(i, j)`` puts the :func:`cell_anchors` at ``(j * stride_w, i * stride_h)``: the top-left
    corner of the cell, not its centre, as torchvision does. Order: level by level; within a level row
    by row, left to right; within a location ratio by ratio, size by size. Level ``l`` holds
    ``h_l * w_l * len(sizes_l) * len(ratios_l)`` rows. Equal to torchvision's
    ``AnchorGenerator(sizes, aspect_ratios)`` for one image (every image of a batch has the same
    anchors).
    """
    height, width = _size_pair(image_size, "image_size")
    if isinstance(feature_sizes, (int, torch.Size)) or not len(feature_sizes):
        raise ValueError(f"feature_sizes must be a non-empty list of (h, w), one per level, got {feature_sizes!r}")
    grids = [_size_pair(f, f"feature_sizes[{i}]") for i, f in enumerate(feature_sizes)]
    for i, (h, w) in enumerate(grids):
        if h > height or w > width:
            raise ValueError(f"feature_sizes[{i}] = {(h, w)} is larger than the image {(height, width)}")
    sizes = _per_level(sizes, len(grids), "sizes", flat="per_level")
    ratios = _per_level(aspect_ratios, len(grids), "aspect_ratios", flat="every_level")
    levels = []
    for (h, w), level_sizes, level_ratios in zip(grids, sizes, ratios):
        base = cell_anchors(level_sizes, level_ratios, dtype=dtype).to(device)  # (A, 4)
        shift_x = torch.arange(w, device=device) * (width // w)
        shift_y = torch.arange(h, device=device) * (height // h)
        sy, sx = torch.meshgrid(shift_y, shift_x, indexing="ij")  # (h, w) each
        shifts = torch.stack([sx, sy, sx, sy], dim=-1).reshape(-1, 1, 4)  # (h*w, 1, 4)
        levels.append((shifts + base[None]).reshape(-1, 4))  # (h*w*A, 4)
    return torch.cat(levels)
