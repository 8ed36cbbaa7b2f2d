"""utils.detection: NMS against torchvision.ops, soft-NMS against a NumPy loop, AP against hand-computed
values and the VOC devkit's code, and the COCO-style evaluation against pycocotools' COCOeval."""

import numpy as np
import pytest
import torch
import torchvision.ops as ops

from utils.detection import (
    average_precision,
    batched_nms,
    coco_evaluate,
    evaluate_detections,
    match_image,
    nms,
    soft_nms,
)


def clustered_boxes(n: int, seed: int, clusters: int = 8, ties: bool = False):
    """Boxes around a few centres (so that many overlap) and their scores."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(max(clusters, 1), 2, generator=g) * 100
    pick = torch.randint(0, max(clusters, 1), (n,), generator=g)
    xy = centres[pick] + torch.randn(n, 2, generator=g) * 4
    wh = 5 + torch.rand(n, 2, generator=g) * 20
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=1)
    scores = torch.rand(n, generator=g)
    if ties:
        scores = (scores * 4).round() / 4  # only 5 distinct values
    return boxes, scores


# ----------------------------------------------------------------------------------------------------
# NMS


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 57, 300, 1500])
@pytest.mark.parametrize("seed", range(3))
def test_nms_equals_torchvision(n, seed):
    boxes, scores = clustered_boxes(n, seed)
    for threshold in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0):
        ours, theirs = nms(boxes, scores, threshold), ops.nms(boxes, scores, threshold)
        assert ours.dtype == torch.long
        assert torch.equal(ours, theirs), (n, seed, threshold)


def test_nms_on_more_boxes_than_the_iou_table_holds_equals_torchvision():
    # above 2048 boxes nms computes one row of IoUs per kept box instead of the whole table
    boxes, scores = clustered_boxes(2500, 0, clusters=40)
    assert torch.equal(nms(boxes, scores, 0.5), ops.nms(boxes, scores, 0.5))


@pytest.mark.parametrize("seed", range(5))
def test_nms_with_tied_scores_and_identical_boxes_equals_torchvision(seed):
    boxes, scores = clustered_boxes(200, seed, ties=True)
    boxes = torch.cat([boxes, boxes[:50]])  # exact duplicates, with the same scores
    scores = torch.cat([scores, scores[:50]])
    for threshold in (0.0, 0.5, 1.0):
        assert torch.equal(nms(boxes, scores, threshold), ops.nms(boxes, scores, threshold))
    # equal scores keep their input order
    same = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10], [40, 40, 50, 50]])
    assert nms(same, torch.ones(4), 0.5).tolist() == [0, 1, 3]


def test_nms_threshold_edges_by_hand():
    boxes = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [9, 0, 19, 10], [30, 30, 40, 40]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # IoU(0, 1) = 50/150, IoU(0, 2) = 10/190, IoU(1, 2) = 60/140; box 3 touches none
    assert nms(boxes, scores, 1.0).tolist() == [0, 1, 2, 3]
    assert nms(boxes, scores, 0.5).tolist() == [0, 1, 2, 3]
    assert nms(boxes, scores, 0.4).tolist() == [0, 1, 3]  # 1 survives and removes 2
    assert nms(boxes, scores, 0.3).tolist() == [0, 2, 3]  # 0 removes 1, so 2 survives
    assert nms(boxes, scores, 0.0).tolist() == [0, 3]
    # suppression needs IoU > threshold. In float32 the IoU 1/3 is 0.33333334 > 1/3 (a float64):
    # torchvision suppresses box 1 there, and in float64 it does not; so do we
    third = 50 / 150
    assert nms(boxes, scores, third).tolist() == ops.nms(boxes, scores, third).tolist() == [0, 2, 3]
    wide = boxes.double(), scores.double()
    assert nms(*wide, third).tolist() == ops.nms(*wide, third).tolist() == [0, 1, 3]


def test_nms_degenerate_boxes_equal_torchvision():
    boxes = torch.tensor([[3.0, 3, 3, 3], [3, 3, 3, 3], [0, 0, 10, 10], [0, 5, 10, 5], [1, 1, 9, 9]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    for threshold in (0.0, 0.5, 1.0):
        assert torch.equal(nms(boxes, scores, threshold), ops.nms(boxes, scores, threshold))


@pytest.mark.parametrize("n", [0, 1, 40, 400, 1200])
@pytest.mark.parametrize("seed", range(3))
def test_batched_nms_equals_torchvision(n, seed):
    # above 1000 boxes torchvision switches from the coordinate trick to one NMS per class
    boxes, scores = clustered_boxes(n, seed, clusters=5)
    idxs = torch.randint(0, 4, (n,), generator=torch.Generator().manual_seed(seed))
    for threshold in (0.0, 0.5, 1.0):
        ours = batched_nms(boxes, scores, idxs, threshold)
        assert torch.equal(ours, ops.batched_nms(boxes, scores, idxs, threshold))
    if n >= 40:  # what makes it batched: more boxes survive than with one NMS over all classes
        assert len(batched_nms(boxes, scores, idxs, 0.5)) > len(nms(boxes, scores, 0.5))


def test_batched_nms_with_ties_equals_torchvision():
    boxes, scores = clustered_boxes(300, 7, ties=True)
    idxs = torch.arange(300) % 3
    for threshold in (0.0, 0.5, 1.0):
        assert torch.equal(batched_nms(boxes, scores, idxs, threshold), ops.batched_nms(boxes, scores, idxs, threshold))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda b, s: nms(b, s, 1.5), r"iou_threshold must be a number in \[0, 1\]"),
        (lambda b, s: nms(b, s, -0.1), "iou_threshold"),
        (lambda b, s: nms(b, s, "0.5"), "iou_threshold"),
        (lambda b, s: nms(b, s[:-1], 0.5), "3 entries for 4 boxes"),
        (lambda b, s: nms(b, s[:, None], 0.5), "1-D tensor"),
        (lambda b, s: nms(b, (s * 10).long(), 0.5), "floating-point"),
        (lambda b, s: nms(b, s.clone().fill_(float("nan")), 0.5), "NaN"),
        (lambda b, s: nms(b[:, :3], s, 0.5), r"shape \(N, 4\)"),
        (lambda b, s: nms(b[:, [2, 1, 0, 3]], s, 0.5), "x2 < x1"),
        (lambda b, s: batched_nms(b, s, torch.zeros(4), 0.5), "idxs must be an integer tensor"),
        (lambda b, s: batched_nms(b, s, torch.zeros(3, dtype=torch.long), 0.5), "idxs has 3 entries"),
        (lambda b, s: soft_nms(b, s, method="hard"), "method must be one of"),
        (lambda b, s: soft_nms(b, s, sigma=0.0), "sigma must be a positive number"),
        (lambda b, s: soft_nms(b, s, score_threshold=-1), "score_threshold"),
        (lambda b, s: soft_nms(b, s, method="linear", iou_threshold=2), "iou_threshold"),
    ],
)
def test_suppression_rejects_bad_input(call, message):
    boxes = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [9, 0, 19, 10], [30, 30, 40, 40]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    with pytest.raises(ValueError, match=message):
        call(boxes, scores)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nms_runs_on_the_gpu():
    boxes, scores = clustered_boxes(500, 0)
    boxes, scores = boxes.cuda(), scores.cuda()
    keep = nms(boxes, scores, 0.5)
    assert keep.device.type == "cuda"
    assert torch.equal(keep.cpu(), ops.nms(boxes.cpu(), scores.cpu(), 0.5))
    kept, new_scores = soft_nms(boxes, scores)
    assert kept.device.type == new_scores.device.type == "cuda"


# ----------------------------------------------------------------------------------------------------
# soft-NMS against a straightforward NumPy loop


def soft_nms_reference(boxes, scores, method, sigma, nt, threshold):
    """Bodla et al.'s Algorithm 1, one box at a time, in NumPy float64."""
    boxes, scores = np.asarray(boxes, dtype=np.float64), np.asarray(scores, dtype=np.float64).copy()
    remaining = [i for i in range(len(scores)) if scores[i] >= threshold]
    keep, kept = [], []
    while remaining:
        m = max(remaining, key=lambda i: (scores[i], -i))  # highest score, then lowest index
        keep.append(m)
        kept.append(scores[m])
        remaining.remove(m)
        for i in list(remaining):
            x1, y1 = max(boxes[m, 0], boxes[i, 0]), max(boxes[m, 1], boxes[i, 1])
            x2, y2 = min(boxes[m, 2], boxes[i, 2]), min(boxes[m, 3], boxes[i, 3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])
            union = area(boxes[m]) + area(boxes[i]) - inter
            iou = inter / union if union > 0 else 0.0
            if method == "linear":
                weight = 1 - iou if iou > nt else 1.0
            else:
                weight = np.exp(-iou * iou / sigma)
            scores[i] *= weight
            if scores[i] < threshold:
                remaining.remove(i)
    return keep, np.array(kept)


@pytest.mark.parametrize("method", ["linear", "gaussian"])
@pytest.mark.parametrize("n", [0, 1, 5, 60, 250])
@pytest.mark.parametrize("seed", range(3))
def test_soft_nms_equals_a_numpy_loop(method, n, seed):
    boxes, scores = clustered_boxes(n, seed)
    boxes, scores = boxes.double(), scores.double()
    for sigma, nt, threshold in [(0.5, 0.3, 0.001), (0.1, 0.5, 0.05), (2.0, 0.0, 0.3)]:
        keep, new = soft_nms(boxes, scores, method, sigma=sigma, iou_threshold=nt, score_threshold=threshold)
        ref_keep, ref_new = soft_nms_reference(boxes, scores, method, sigma, nt, threshold)
        assert keep.tolist() == ref_keep
        np.testing.assert_allclose(new.numpy(), ref_new, rtol=1e-12)
        assert (new[:-1] >= new[1:]).all()  # by decreasing new score


def test_soft_nms_by_hand():
    boxes = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [30, 30, 40, 40]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep, new = soft_nms(boxes, scores, "linear", iou_threshold=0.3)
    # box 1 overlaps box 0 with IoU 1/3 > 0.3: 0.8 * (1 - 1/3) = 0.533 falls below box 2's 0.7
    assert keep.tolist() == [0, 2, 1]
    torch.testing.assert_close(new, torch.tensor([0.9, 0.7, 0.8 * 2 / 3]))
    keep, new = soft_nms(boxes, scores, "gaussian", sigma=0.5)
    torch.testing.assert_close(new[2], torch.tensor(0.8 * np.exp(-((1 / 3) ** 2) / 0.5), dtype=torch.float32))
    # a score threshold above the decayed score drops the box; nothing overlaps box 2
    keep, _ = soft_nms(boxes, scores, "linear", iou_threshold=0.3, score_threshold=0.6)
    assert keep.tolist() == [0, 2]
    empty_keep, empty_scores = soft_nms(torch.zeros(0, 4), torch.zeros(0))
    assert empty_keep.shape == empty_scores.shape == (0,)


# ----------------------------------------------------------------------------------------------------
# average precision of one curve


def voc_devkit_ap(recall, precision, use_07_metric):
    """The PASCAL VOC devkit's voc_ap (py-faster-rcnn's port), with exact tenths for the 11 points."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(11) / 10:
            p = 0 if np.sum(recall >= t) == 0 else np.max(precision[recall >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def random_curve(seed: int, n_det: int = 40):
    rng = np.random.default_rng(seed)
    tp = rng.random(n_det) < rng.random()
    n_gt = tp.sum() + rng.integers(0, 10)  # some never found
    cum = np.cumsum(tp)
    return cum / max(n_gt, 1), cum / np.arange(1, n_det + 1)


def test_average_precision_by_hand():
    # detections: TP, FP, TP over 2 ground truths
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    # the envelope is 1 up to recall 0.5, then 2/3
    assert average_precision(recall, precision, "all") == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert average_precision(recall, precision, "voc11") == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    assert average_precision(recall, precision, "coco101") == pytest.approx((51 * 1 + 50 * 2 / 3) / 101)
    # recall stops at 0.5: the levels above get precision 0
    assert average_precision([0.5], [1.0], "coco101") == pytest.approx(51 / 101)
    assert average_precision([0.5], [1.0], "voc11") == pytest.approx(6 / 11)
    assert average_precision([0.5], [1.0], "all") == pytest.approx(0.5)
    assert average_precision(torch.tensor([]), torch.tensor([]), "all") == 0.0
    assert average_precision([1.0], [1.0], "voc11") == 1.0


@pytest.mark.parametrize("seed", range(20))
def test_average_precision_equals_the_voc_devkit(seed):
    recall, precision = random_curve(seed)
    assert average_precision(recall, precision, "voc11") == pytest.approx(voc_devkit_ap(recall, precision, True))
    assert average_precision(recall, precision, "all") == pytest.approx(voc_devkit_ap(recall, precision, False))


@pytest.mark.parametrize(
    "recall, precision, method, message",
    [
        ([0.1, 0.2], [1.0, 1.0], "voc07", "method must be one of"),
        ([0.2, 0.1], [1.0, 1.0], "all", "recall must not decrease"),
        ([0.1, 0.2], [1.0], "all", "same length"),
        ([0.1, 1.2], [1.0, 1.0], "all", r"recall must hold values in \[0, 1\]"),
        ([0.1, 0.2], [1.0, float("nan")], "all", "precision must hold values"),
        ([[0.1, 0.2]], [[1.0, 1.0]], "all", "must be 1-D"),
    ],
)
def test_average_precision_rejects_bad_curves(recall, precision, method, message):
    with pytest.raises(ValueError, match=message):
        average_precision(recall, precision, method)


# ----------------------------------------------------------------------------------------------------
# COCO-style evaluation against pycocotools' COCOeval


def simulated(seed: int, n_images: int = 12, n_classes: int = 3, tie_scores: bool = False):
    """Random ground truth and a noisy detector: jittered hits, duplicates, wrong labels, false positives."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=g)
    detections, targets = [], []
    for _ in range(n_images):
        k = int(torch.randint(0, 7, (1,), generator=g))
        xy, wh = rand(k, 2) * 80, 8 + rand(k, 2) * 40
        boxes = torch.cat([xy, xy + wh], 1)
        labels = torch.randint(0, n_classes, (k,), generator=g)
        targets.append({"boxes": boxes, "labels": labels})
        hit = rand(k) < 0.8
        copies = [boxes[hit], boxes[hit][rand(int(hit.sum())) < 0.3]]  # some detected twice
        copy_labels = [labels[hit], labels[hit][: len(copies[1])]]
        n_fp = int(torch.randint(0, 4, (1,), generator=g))
        fp_xy = rand(n_fp, 2) * 80
        found = torch.cat([*copies, torch.cat([fp_xy, fp_xy + 8 + rand(n_fp, 2) * 30], 1)])
        size = (found[:, 2:] - found[:, :2]).repeat(1, 2)
        found = found + torch.randn(found.shape, generator=g) * 0.12 * size
        found = torch.cat([found[:, :2].minimum(found[:, 2:]), found[:, :2].maximum(found[:, 2:])], 1)
        found_labels = torch.cat([*copy_labels, torch.randint(0, n_classes, (n_fp,), generator=g)])
        flip = rand(len(found_labels)) < 0.1
        found_labels[flip] = torch.randint(0, n_classes, (int(flip.sum()),), generator=g)
        scores = rand(len(found))
        if tie_scores:
            scores = (scores * 5).round() / 5
        detections.append({"boxes": found, "scores": scores, "labels": found_labels})
    return detections, targets


def assert_equal_to_cocoeval(detections, targets, tol=1e-12):
    ours, coco = evaluate_detections(detections, targets), coco_evaluate(detections, targets)
    for name, coco_name in [("AP", "AP"), ("AP50", "AP50"), ("AP75", "AP75"), ("AR", "AR100")]:
        assert ours[name] == pytest.approx(coco[coco_name], abs=tol), name
    assert ours["per_class"].keys() == coco["per_class"].keys()
    for c in ours["per_class"]:
        assert ours["per_class"][c] == pytest.approx(coco["per_class"][c], abs=tol), c
    return ours, coco


@pytest.mark.parametrize("seed", range(8))
def test_evaluation_equals_cocoeval_on_random_detections(seed):
    ours, coco = assert_equal_to_cocoeval(*simulated(seed))
    assert 0.05 < ours["AP"] < ours["AP50"] < 1.0  # not a trivial case


@pytest.mark.parametrize("seed", range(4))
def test_evaluation_equals_cocoeval_with_tied_scores(seed):
    # ties within and across images: the order of equal scores changes the curve, and we follow COCOeval's
    detections, targets = simulated(seed + 100, n_images=20, tie_scores=True)
    assert_equal_to_cocoeval(detections, targets)


def test_evaluation_equals_cocoeval_on_many_classes_and_empty_images():
    detections, targets = simulated(5, n_images=30, n_classes=8)
    detections[0] = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
    targets[1] = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    # a class that only the detector knows: AP -1 and left out of the mean
    detections[2]["labels"][:1] = 99
    ours, coco = assert_equal_to_cocoeval(detections, targets)
    assert ours["per_class"][99] == coco["per_class"][99] == -1.0


def test_more_than_100_detections_per_image_are_cut_as_cocoeval_does():
    g = torch.Generator().manual_seed(0)
    truth = torch.tensor([[10.0, 10, 30, 30], [50, 50, 70, 70]])
    targets = [{"boxes": truth, "labels": torch.tensor([0, 0])}]
    xy = torch.rand(150, 2, generator=g) * 80
    boxes = torch.cat([xy, xy + 20], 1)
    scores = torch.rand(150, generator=g)
    # the two true boxes found with the lowest scores: the 100-detection cut removes them
    boxes, scores = torch.cat([boxes, truth]), torch.cat([scores, torch.tensor([0.0, 0.0])])
    detections = [{"boxes": boxes, "scores": scores, "labels": torch.zeros(152, dtype=torch.long)}]
    ours, _ = assert_equal_to_cocoeval(detections, targets)
    without_cut = evaluate_detections(detections, targets, max_detections=1000)
    assert without_cut["AR"] == 1.0 and ours["AR"] < 1.0


def test_hand_made_cases():
    truth = torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40]])
    targets = [{"boxes": truth, "labels": torch.tensor([1, 1])}]
    perfect = [{"boxes": truth, "scores": torch.tensor([0.9, 0.8]), "labels": torch.tensor([1, 1])}]
    ours, coco = assert_equal_to_cocoeval(perfect, targets)
    assert ours["AP"] == ours["AP50"] == ours["AP75"] == ours["AR"] == coco["AP"] == 1.0
    # a false positive ranked first: precision 0, 1/2, 2/3 at recall 0, 1/2, 1. The envelope is 2/3
    # at every recall, so every method gives AP = 2/3
    boxes = torch.cat([torch.tensor([[60.0, 60, 70, 70]]), truth])
    one_fp = [{"boxes": boxes, "scores": torch.tensor([0.95, 0.9, 0.8]), "labels": torch.tensor([1, 1, 1])}]
    ours, coco = assert_equal_to_cocoeval(one_fp, targets)
    assert ours["AP"] == pytest.approx(2 / 3) and coco["AP"] == pytest.approx(2 / 3)
    for method in ("voc11", "all"):
        assert evaluate_detections(one_fp, targets, method=method)["AP"] == pytest.approx(2 / 3)
    # ranked last instead, it costs nothing
    last = [{**one_fp[0], "scores": torch.tensor([0.1, 0.9, 0.8])}]
    assert evaluate_detections(last, targets)["AP"] == 1.0
    # a box that overlaps the truth with IoU 0.62 counts at thresholds 0.50, 0.55, 0.60: 3 of 10
    loose = [{"boxes": torch.tensor([[0.0, 0, 10, 6.2]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}]
    ours, coco = assert_equal_to_cocoeval(loose, [{"boxes": truth[:1], "labels": torch.tensor([1])}])
    assert ours["AP"] == pytest.approx(0.3) and ours["AP50"] == 1.0 and ours["AP75"] == 0.0
    # a class with ground truth and no detection has AP 0 and counts in the mean
    targets = [{"boxes": truth, "labels": torch.tensor([1, 2])}]
    # (the second box is detected as class 1: a false positive there, after the true positive)
    ours, coco = assert_equal_to_cocoeval(perfect, targets)
    assert ours["per_class"] == {1: 1.0, 2: 0.0} and ours["AP"] == 0.5
    # (COCOeval divides by tp + fp + 2.2e-16: its 1.0 is 0.9999999999999998)
    assert coco["per_class"] == pytest.approx({1: 1.0, 2: 0.0}) and coco["AP"] == pytest.approx(0.5)


def test_no_detections_and_no_ground_truth():
    empty_det = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
    targets = [{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([0])}]
    ours, coco = assert_equal_to_cocoeval([empty_det], targets)
    assert ours["AP"] == coco["AP"] == 0.0
    # no ground truth at all: AP is undefined, -1 as in COCOeval
    dets = [{"boxes": torch.tensor([[0.0, 0, 10, 10]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}]
    no_truth = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    ours, coco = assert_equal_to_cocoeval(dets, no_truth)
    assert ours["AP"] == coco["AP"] == -1.0


def test_single_threshold_and_methods():
    detections, targets = simulated(3)
    voc = evaluate_detections(detections, targets, iou_thresholds=[0.5], method="all")
    coco = evaluate_detections(detections, targets)
    assert voc["ap"].shape == (3, 1) and "AP75" not in voc
    assert voc["AP"] == voc["AP50"]
    # the same curves, three areas: they differ, and coco101 at 0.5 is COCO's AP50
    at_half = {
        m: evaluate_detections(detections, targets, iou_thresholds=0.5, method=m)["AP"]
        for m in ("voc11", "all", "coco101")
    }
    assert at_half["coco101"] == pytest.approx(coco["AP50"])
    assert len({round(v, 9) for v in at_half.values()}) == 3
    curve = coco["curves"][0]
    assert curve["recall"].shape == curve["precision"].shape == (10, len(curve["scores"]))
    assert (np.diff(curve["scores"]) <= 0).all()


def test_match_image_takes_each_truth_once_and_breaks_ties_like_cocoeval():
    # two detections on the same truth: the second is a false positive
    assert match_image(np.array([[0.9], [0.8]]), np.array([0.5])).tolist() == [[True, False]]
    # the best free truth: detection 0 takes truth 1 (0.9), detection 1 then takes truth 0 (0.7),
    # which is below the threshold 0.8
    iou = np.array([[0.6, 0.9], [0.7, 0.95]])
    assert match_image(iou, np.array([0.5, 0.8])).tolist() == [[True, True], [True, False]]
    # equal IoUs: the later truth
    tp = match_image(np.array([[0.7, 0.7], [0.7, 0.0]]), np.array([0.5]))
    assert tp.tolist() == [[True, True]]  # detection 0 took truth 1, so truth 0 was free for detection 1
    assert match_image(np.zeros((3, 0)), np.array([0.5])).shape == (1, 3)


def _det(**change):
    item = {"boxes": torch.tensor([[0.0, 0, 1, 1]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}
    return {**item, **change}


@pytest.mark.parametrize(
    "detections, targets, kwargs, message",
    [
        ([_det()], [], {}, "detections cover 1 images and targets 0"),
        (_det(), [_det()], {}, "one dict per image"),
        ([{"boxes": torch.zeros(0, 4)}], [_det()], {}, "must be a dict with keys"),
        ([_det(scores=torch.tensor([0.5, 0.4]))], [_det()], {}, r"scores'\] has 2 entries for 1 boxes"),
        ([_det(labels=torch.tensor([0.0]))], [_det()], {}, r"labels'\] must be an integer tensor"),
        ([_det(boxes=torch.tensor([[1.0, 0, 0, 1]]))], [_det()], {}, r"detections\[0\]\['boxes'\]\[0\]"),
        ([_det()], [{"boxes": torch.zeros(1, 4)}], {}, r"targets\[0\] must be a dict"),
        ([_det()], [_det()], {"iou_thresholds": [0.5, 1.5]}, "iou_thresholds must be numbers"),
        ([_det()], [_det()], {"max_detections": 0}, "max_detections"),
        ([_det()], [_det()], {"method": "voc"}, "method must be one of"),
    ],
)
def test_evaluation_rejects_bad_input(detections, targets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_detections(detections, targets, **kwargs)


def test_coco_evaluate_rejects_bad_input():
    with pytest.raises(ValueError, match="image_size"):
        coco_evaluate([_det()], [_det()], image_size=(0, 10))
    with pytest.raises(ValueError, match="detections cover"):
        coco_evaluate([_det(), _det()], [_det()])
    stats = coco_evaluate([_det()], [_det()], image_size=64)
    assert stats["AP"] == pytest.approx(1.0) and stats["precision"].shape == (10, 101, 1)
