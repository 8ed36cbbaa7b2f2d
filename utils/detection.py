"""Non-maximum suppression and detection evaluation for chapter 4, as taught in its second notebook.

Suppression (boxes ``(N, 4)`` xyxy, scores ``(N,)``; computed on the tensors' device):

* :func:`nms`: greedy non-maximum suppression, the same kept indices as ``torchvision.ops.nms``;
* :func:`batched_nms`: NMS within each class, the same as ``torchvision.ops.batched_nms``;
* :func:`soft_nms`: soft-NMS (Bodla et al. 2017), linear or Gaussian decay of the scores.

Evaluation (NumPy, float64, on the CPU):

* :func:`average_precision`: the area under one precision-recall curve, by VOC2007's 11 points
  (``"voc11"``), VOC2010's all points (``"all"``) or COCO's 101 points (``"coco101"``);
* :func:`evaluate_detections`: COCO-style AP over classes and IoU thresholds 0.50:0.95, written from
  scratch and equal to pycocotools' ``COCOeval`` (tested to 1e-12);
* :func:`coco_evaluate`: pycocotools' ``COCOeval`` itself, run in memory on the same inputs.

Detections and targets use torchvision's format: one dict per image, ``{"boxes": (k, 4) xyxy,
"scores": (k,), "labels": (k,)}`` for detections and ``{"boxes", "labels"}`` for targets.
"""

from __future__ import annotations

import contextlib
import io
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from .boxes import box_iou, check_boxes

AP_METHODS = ("voc11", "all", "coco101")
SOFT_NMS_METHODS = ("linear", "gaussian")
_NMS_TABLE_SIZE = 2048  # nms computes the IoU of all pairs at once up to this many boxes
# COCOeval's IoU thresholds 0.50:0.05:0.95 and recall points 0:0.01:1, computed as it computes them
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
COCO_RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
COCO_STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


# ----------------------------------------------------------------------------------------------------
# suppression


def _check_threshold(value, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _check_scores(scores: torch.Tensor, boxes: torch.Tensor, name: str = "scores") -> torch.Tensor:
    if not isinstance(scores, torch.Tensor) or scores.ndim != 1:
        raise ValueError(f"{name} must be a 1-D tensor, got {getattr(scores, 'shape', type(scores).__name__)}")
    if len(scores) != len(boxes):
        raise ValueError(f"{name} has {len(scores)} entries for {len(boxes)} boxes")
    if not scores.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {scores.dtype}")
    if not torch.isfinite(scores).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    if scores.device != boxes.device:
        raise ValueError(f"{name} is on {scores.device} but the boxes are on {boxes.device}")
    return scores


def _largest_not_above(threshold: float, dtype: torch.dtype) -> float:
    # The largest value of ``dtype`` that is <= ``threshold``. torchvision compares a float32 IoU with a
    # float64 threshold: IoU > 1/3 holds for the float32 IoU of 1/3 (0.33333334). For an IoU ``x`` of
    # ``dtype``, x > threshold exactly when x > this value, which ``dtype`` can hold.
    value = torch.tensor(threshold, dtype=torch.float64).to(dtype)
    if value.item() > threshold:
        value = torch.nextafter(value, torch.tensor(-1.0, dtype=dtype))
    return value.item()


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the boxes kept, by decreasing score.

    Take the highest-scoring box left, keep it, and discard every remaining box whose IoU with it is
    **greater than** ``iou_threshold``; repeat until no box is left. Equal scores keep their input order
    (a stable sort), as ``torchvision.ops.nms`` does, so the two return the same indices.
    ``iou_threshold=1`` keeps every box; ``iou_threshold=0`` discards every box that overlaps a kept one.
    """
    check_boxes(boxes)
    _check_scores(scores, boxes)
    iou_threshold = _check_threshold(iou_threshold, "iou_threshold")
    limit = _largest_not_above(iou_threshold, boxes.dtype)
    order = torch.sort(scores, descending=True, stable=True).indices
    # every pair's IoU at once if that fits in 16 MB (float32), else one row per kept box
    table = box_iou(boxes, boxes) if len(boxes) <= _NMS_TABLE_SIZE else None
    keep = []
    while order.numel() > 0:
        best, rest = order[0], order[1:]
        keep.append(best)
        if table is not None:
            iou = table[best, rest]
        else:
            iou = box_iou(boxes[best].unsqueeze(0), boxes[rest])[0]  # (len(rest),)
        order = rest[iou <= limit]
    if not keep:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    return torch.stack(keep)


def _check_labels(labels: torch.Tensor, boxes: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D tensor, got {getattr(labels, 'shape', type(labels).__name__)}")
    if len(labels) != len(boxes):
        raise ValueError(f"{name} has {len(labels)} entries for {len(boxes)} boxes")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {labels.dtype}")
    return labels


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression within each category: ``idxs[i]`` is box ``i``'s category, and boxes of
    different categories never suppress each other. Returns the kept indices by decreasing score
    (equal scores in input order), the same as ``torchvision.ops.batched_nms``."""
    check_boxes(boxes)
    _check_scores(scores, boxes)
    _check_labels(idxs, boxes, "idxs")
    iou_threshold = _check_threshold(iou_threshold, "iou_threshold")
    kept = [torch.zeros(0, dtype=torch.long, device=boxes.device)]
    for category in torch.unique(idxs):
        members = torch.nonzero(idxs == category).flatten()
        kept.append(members[nms(boxes[members], scores[members], iou_threshold)])
    keep = torch.sort(torch.cat(kept)).values  # input order, so that the stable sort breaks ties by index
    return keep[torch.sort(scores[keep], descending=True, stable=True).indices]


def soft_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    method: str = "gaussian",
    sigma: float = 0.5,
    iou_threshold: float = 0.3,
    score_threshold: float = 0.001,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-NMS (Bodla et al. 2017, arXiv:1704.04503): decay the scores of overlapping boxes instead of
    discarding them. Returns ``(keep, new_scores)``: the indices kept, by decreasing new score, and
    their new scores.

    Repeatedly take the box ``M`` with the highest current score (equal scores: the lowest index), and
    multiply the score of every remaining box ``b`` by

    * ``"linear"``: ``1 - IoU(M, b)`` if ``IoU(M, b) > iou_threshold``, else 1 (the paper writes
      ``>=``; its released code, like ``nms``, uses ``>``);
    * ``"gaussian"``: ``exp(-IoU(M, b)**2 / sigma)`` for every box (``iou_threshold`` is not used).

    Boxes whose score is, or falls, below ``score_threshold`` are dropped. The paper uses ``sigma=0.5`` and
    ``score_threshold=0.001``; its linear variant uses ``iou_threshold=0.3``.
    """
    check_boxes(boxes)
    _check_scores(scores, boxes)
    if method not in SOFT_NMS_METHODS:
        raise ValueError(f"method must be one of {SOFT_NMS_METHODS}, got {method!r}")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not sigma > 0:
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    iou_threshold = _check_threshold(iou_threshold, "iou_threshold")
    if isinstance(score_threshold, bool) or not isinstance(score_threshold, numbers.Real) or score_threshold < 0:
        raise ValueError(f"score_threshold must be a number >= 0, got {score_threshold!r}")
    limit = _largest_not_above(iou_threshold, boxes.dtype)
    current = scores.clone()
    alive = current >= score_threshold
    keep, kept_scores = [], []
    while bool(alive.any()):
        # the highest current score; argmax returns the first (lowest index) of equal maxima
        best = torch.argmax(torch.where(alive, current, -torch.inf))
        keep.append(best)
        kept_scores.append(current[best])
        alive[best] = False
        iou = box_iou(boxes[best].unsqueeze(0), boxes)[0]  # (N,)
        if method == "linear":
            decay = torch.where(iou > limit, 1 - iou, torch.ones_like(iou))
        else:
            decay = torch.exp(-(iou**2) / sigma)
        current = torch.where(alive, current * decay, current)
        alive &= current >= score_threshold
    if not keep:
        empty = torch.zeros(0, dtype=torch.long, device=boxes.device)
        return empty, scores[empty]
    return torch.stack(keep), torch.stack(kept_scores)


# ----------------------------------------------------------------------------------------------------
# average precision of one precision-recall curve


def _curve(values, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per detection), got shape {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any() or (array > 1).any():
        raise ValueError(f"{name} must hold values in [0, 1]")
    return array


def average_precision(recall, precision, method: str = "coco101") -> float:
    """Average precision of one precision-recall curve.

    ``recall[i]`` and ``precision[i]`` are measured after the ``i + 1`` highest-scoring detections, so
    ``recall`` never decreases. All three methods first replace each precision by the best precision at
    that recall or above (the *envelope*, which makes the curve monotone):

    * ``"voc11"`` (PASCAL VOC2007): the mean of the envelope at the 11 recall levels 0, 0.1, ..., 1
      (0 at a level the detections never reach). Exact tenths here; the VOC2007 devkit's
      ``np.arange(0, 1.1, 0.1)`` makes 0.3, 0.6 and 0.7 a hair larger, which matters only if a recall is
      exactly one of those;
    * ``"all"`` (VOC2010 and later): the exact area under the envelope, a sum of rectangles;
    * ``"coco101"`` (COCO): the mean of the envelope at COCOeval's 101 recall points 0, 0.01, ..., 1,
      taken at the first detection that reaches each (COCOeval's ``searchsorted``), 0 beyond the last.

    An empty curve (no detections) has AP 0.
    """
    if method not in AP_METHODS:
        raise ValueError(f"method must be one of {AP_METHODS}, got {method!r}")
    recall, precision = _curve(recall, "recall"), _curve(precision, "precision")
    if recall.shape != precision.shape:
        raise ValueError(f"recall and precision must have the same length, got {len(recall)} and {len(precision)}")
    if (np.diff(recall) < 0).any():
        raise ValueError("recall must not decrease: give the curve in order of decreasing score")
    if len(recall) == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    if method == "all":
        r = np.concatenate([[0.0], recall])
        p = np.concatenate([envelope, [0.0]])
        # the envelope is constant between two recalls: rectangles of width r[i+1] - r[i]
        return float(np.sum((r[1:] - r[:-1]) * p[:-1]))
    levels = np.arange(11) / 10 if method == "voc11" else COCO_RECALL_POINTS
    first = np.searchsorted(recall, levels, side="left")  # first detection with recall >= level
    reached = first < len(recall)
    return float(np.where(reached, envelope[np.minimum(first, len(recall) - 1)], 0.0).mean())


# ----------------------------------------------------------------------------------------------------
# COCO-style evaluation


def _numpy(tensor, dtype) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(dtype)


def _check_image_dicts(items, kind: str, keys: tuple[str, ...]) -> list[dict]:
    if isinstance(items, dict) or not isinstance(items, Sequence):
        raise ValueError(f"{kind} must be a list with one dict per image, got {type(items).__name__}")
    checked = []
    for i, item in enumerate(items):
        where = f"{kind}[{i}]"
        if not isinstance(item, dict) or any(k not in item for k in keys):
            raise ValueError(f"{where} must be a dict with keys {keys}, got {item!r:.80}")
        boxes = check_boxes(item["boxes"], name=f"{where}['boxes']")
        entry = {
            "boxes": _numpy(boxes, np.float64),
            "labels": _numpy(_check_labels(item["labels"], boxes, f"{where}['labels']"), np.int64),
        }
        if "scores" in keys:
            entry["scores"] = _numpy(_check_scores(item["scores"], boxes, f"{where}['scores']"), np.float64)
        checked.append(entry)
    return checked


def _check_inputs(detections, targets) -> tuple[list[dict], list[dict]]:
    dets = _check_image_dicts(detections, "detections", ("boxes", "scores", "labels"))
    gts = _check_image_dicts(targets, "targets", ("boxes", "labels"))
    if len(dets) != len(gts):
        raise ValueError(f"detections cover {len(dets)} images and targets {len(gts)}: one dict per image in each")
    return dets, gts


def match_image(iou: np.ndarray, iou_thresholds: np.ndarray) -> np.ndarray:
    """Greedy matching of one image's detections (rows of ``iou``, by decreasing score) to its ground
    truths (columns), at each IoU threshold: ``(T, D)`` booleans, True for a true positive.

    Each detection in turn takes the ground truth it overlaps most, among those not yet taken, if that
    IoU is at least the threshold; otherwise it is a false positive. Each ground truth is taken at most
    once. As in COCOeval, equal IoUs go to the later ground truth, and a threshold of 1 means
    IoU >= 1 - 1e-10."""
    iou = np.asarray(iou, dtype=np.float64)
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    if iou.ndim != 2 or thresholds.ndim != 1:
        raise ValueError(f"expected iou (D, G) and thresholds (T,), got {iou.shape} and {thresholds.shape}")
    n_dets, n_gts = iou.shape
    tp = np.zeros((len(thresholds), n_dets), dtype=bool)
    if n_gts == 0:
        return tp
    limits = np.minimum(thresholds, 1 - 1e-10)[:, None]  # (T, 1)
    taken = np.zeros((len(thresholds), n_gts), dtype=bool)  # (T, G)
    rows = np.arange(len(thresholds))
    for d in range(n_dets):
        free = ~taken & (iou[d] >= limits)  # (T, G): candidates at each threshold
        candidates = np.where(free, iou[d], -1.0)
        best = n_gts - 1 - np.argmax(candidates[:, ::-1], axis=1)  # the last of equal maxima
        hit = free[rows, best]
        tp[hit, d] = True
        taken[rows[hit], best[hit]] = True
    return tp


def evaluate_detections(
    detections: Sequence[dict],
    targets: Sequence[dict],
    iou_thresholds=None,
    max_detections: int = 100,
    method: str = "coco101",
) -> dict:
    """COCO-style evaluation of detections against ground truth, from scratch.

    For each class and each IoU threshold (default COCO's 0.50, 0.55, ..., 0.95): keep each image's
    ``max_detections`` highest-scoring detections of the class (COCOeval's limit is per image *and*
    class), match them greedily within each image (:func:`match_image`), then rank the detections of
    **all** images together by decreasing score (a stable sort: equal scores keep image order, then
    input order, as COCOeval) and compute the precision-recall curve and its AP
    (:func:`average_precision` with ``method``). A class with no ground-truth box has AP -1 and is left
    out of the means (a class with ground truth but no detection has AP 0).

    Returns a dict:

    * ``"AP"``: mean over classes and thresholds; ``"AP50"``, ``"AP75"``: at IoU 0.5 and 0.75 (when
      evaluated); ``"AR"``: mean over classes and thresholds of the recall reached (COCO's AR@100 with
      the default ``max_detections``). All -1 when no class has ground truth, as in COCOeval;
    * ``"per_class"``: ``{label: AP over the thresholds}``; ``"ap"``: ``(K, T)`` array (-1 for no ground
      truth), rows in the order of ``"classes"``; ``"iou_thresholds"``; ``"num_gt"``: ``{label: count}``;
    * ``"curves"``: ``{label: {"scores": (D,), "recall": (T, D), "precision": (T, D)}}``, the
      detections of the class in ranked order.
    """
    dets, gts = _check_inputs(detections, targets)
    if iou_thresholds is None:
        iou_thresholds = COCO_IOU_THRESHOLDS
    thresholds = np.atleast_1d(np.asarray(iou_thresholds, dtype=np.float64))
    if thresholds.ndim != 1 or len(thresholds) == 0 or not ((thresholds >= 0) & (thresholds <= 1)).all():
        raise ValueError(f"iou_thresholds must be numbers in [0, 1], got {iou_thresholds!r}")
    if isinstance(max_detections, bool) or not isinstance(max_detections, numbers.Integral) or max_detections < 1:
        raise ValueError(f"max_detections must be a positive integer, got {max_detections!r}")
    if method not in AP_METHODS:
        raise ValueError(f"method must be one of {AP_METHODS}, got {method!r}")

    classes = sorted({int(c) for item in dets + gts for c in item["labels"]})
    ap = -np.ones((len(classes), len(thresholds)))
    reached = -np.ones((len(classes), len(thresholds)))
    curves, num_gt = {}, {}
    for k, c in enumerate(classes):
        scores, tps = [], []
        num_gt[c] = sum(int((g["labels"] == c).sum()) for g in gts)
        for d, g in zip(dets, gts):
            mine = np.nonzero(d["labels"] == c)[0]
            order = mine[np.argsort(-d["scores"][mine], kind="mergesort")][:max_detections]
            truth = g["boxes"][g["labels"] == c]
            iou = box_iou(torch.from_numpy(d["boxes"][order]), torch.from_numpy(truth)).numpy()
            scores.append(d["scores"][order])
            tps.append(match_image(iou, thresholds))
        scores = np.concatenate(scores)
        ranked = np.argsort(-scores, kind="mergesort")  # all images together
        tp = np.concatenate(tps, axis=1)[:, ranked]  # (T, D)
        tp_sum, fp_sum = np.cumsum(tp, axis=1), np.cumsum(~tp, axis=1)
        recall = tp_sum / max(num_gt[c], 1)
        precision = tp_sum / np.maximum(tp_sum + fp_sum, 1)
        curves[c] = {"scores": scores[ranked], "recall": recall, "precision": precision}
        if num_gt[c] == 0:
            continue
        ap[k] = [average_precision(r, p, method) for r, p in zip(recall, precision)]
        reached[k] = recall[:, -1] if tp.shape[1] else 0.0

    valid = ap[:, 0] > -1

    def mean(values: np.ndarray) -> float:
        return float(values[valid].mean()) if valid.any() else -1.0

    result = {"AP": mean(ap.mean(axis=1)), "AR": mean(reached.mean(axis=1))}
    for name, t in (("AP50", 0.5), ("AP75", 0.75)):
        at = np.nonzero(np.isclose(thresholds, t))[0]
        if len(at):
            result[name] = mean(ap[:, at[0]])
    result.update(
        per_class={c: float(ap[k].mean()) if valid[k] else -1.0 for k, c in enumerate(classes)},
        ap=ap,
        classes=classes,
        iou_thresholds=thresholds,
        num_gt=num_gt,
        curves=curves,
    )
    return result


def coco_evaluate(detections: Sequence[dict], targets: Sequence[dict], image_size=None) -> dict:
    """pycocotools' ``COCOeval`` (bounding boxes) on torchvision-style detections and targets, in memory.

    Builds the ground-truth and result ``COCO`` objects without files (xyxy boxes become COCO's
    ``[x, y, width, height]``; image ``i`` gets id ``i``; every label that occurs becomes a category),
    runs ``evaluate``, ``accumulate`` and ``summarize`` with their printing silenced, and returns
    ``{name: value}`` for the 12 numbers of ``summarize`` (``"AP"``, ``"AP50"``, ``"AP75"``, ``"APs"``,
    ..., ``"AR100"``, ...; -1 where undefined), plus ``"per_class"`` ``{label: AP}`` and ``"precision"``,
    COCOeval's ``(T, 101, K)`` precision array (area "all", 100 detections). ``image_size`` (an int or
    ``(height, width)``) only fills in the images' sizes; box evaluation does not use them.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dets, gts = _check_inputs(detections, targets)
    if image_size is None:
        height = width = 0
    elif isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool) and image_size > 0:
        height = width = int(image_size)
    elif (
        isinstance(image_size, Sequence)
        and len(image_size) == 2
        and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in image_size)
    ):
        height, width = (int(s) for s in image_size)
    else:
        raise ValueError(f"image_size must be None, a positive int or (height, width), got {image_size!r}")

    def coco_box(box: np.ndarray) -> list[float]:
        x1, y1, x2, y2 = (float(v) for v in box)
        return [x1, y1, x2 - x1, y2 - y1]

    classes = sorted({int(c) for item in dets + gts for c in item["labels"]})
    images = [{"id": i, "height": height, "width": width} for i in range(len(gts))]
    categories = [{"id": c, "name": str(c)} for c in classes]
    annotations = []
    for i, g in enumerate(gts):
        for box, label in zip(g["boxes"], g["labels"]):
            x, y, w, h = coco_box(box)
            annotations.append(
                {
                    "id": len(annotations) + 1,  # COCOeval marks a match by the id: never 0
                    "image_id": i,
                    "category_id": int(label),
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    results = [
        {"image_id": i, "category_id": int(label), "bbox": coco_box(box), "score": float(score)}
        for i, d in enumerate(dets)
        for box, score, label in zip(d["boxes"], d["scores"], d["labels"])
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {"images": images, "categories": categories, "annotations": annotations}
        truth.createIndex()
        if results:
            found = truth.loadRes(results)
        else:  # loadRes cannot take an empty list
            found = COCO()
            found.dataset = {"images": images, "categories": categories, "annotations": []}
            found.createIndex()
        evaluation = COCOeval(truth, found, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = {name: float(v) for name, v in zip(COCO_STATS, evaluation.stats)}
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # (T, R, K), area "all", 100 detections
    per_class = {}
    for k, c in enumerate(evaluation.params.catIds):
        p = precision[:, :, k]
        per_class[int(c)] = float(p.mean()) if (p > -1).all() else -1.0
    return {**stats, "per_class": per_class, "precision": precision}
