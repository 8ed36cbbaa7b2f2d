"""Verification and identification metrics for chapter 5 (image-based biometrics), from scratch in NumPy.

Scores are **similarities**: higher means more likely the same person. A *genuine* (mated) score compares
two samples of one identity, an *impostor* (non-mated) score two different identities. Functions take
either ``(genuine, impostor)`` or ``(scores, labels)`` with label 1 = genuine, 0 = impostor; 1-D NumPy
arrays, lists or torch tensors; they return NumPy float64.

Verification (1:1), a comparison is accepted when its score is ``>= t``:

* :func:`error_rates`: FMR and FNMR at given thresholds;
* :func:`roc`: ``(fpr, tpr, thresholds)``, equal to ``sklearn.metrics.roc_curve(labels, scores,
  drop_intermediate=False)``; :func:`det`: ``(fpr, fnr, thresholds)``, equal to ``sklearn.metrics.det_curve``;
* :func:`eer`: the equal error rate and its threshold; :func:`tar_at_far`: the true accept rate at a FAR.

Identification (1:N), ``similarity`` is ``(P, G)`` between P probes and G gallery templates:

* :func:`cmc`: closed-set cumulative match characteristic, rank-k identification rates;
* :func:`open_set`: DIR and FPIR at given thresholds (NIST FRVT, NISTIR 8271).

Helpers: :func:`cosine_similarity`, :func:`pair_scores` (genuine and impostor scores of all pairs).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch


def _numpy(values, name: str, dtype=np.float64) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        values = values.double() if values.is_floating_point() else values
        values = values.numpy()
    try:
        return np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must hold numbers, got {error}") from None


def _scores(values, name: str, ndim: int = 1) -> np.ndarray:
    array = _numpy(values, name)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _thresholds(values) -> np.ndarray:
    array = _numpy(values, "thresholds")
    if array.ndim > 1 or np.isnan(array).any():
        raise ValueError(f"thresholds must be a number or a 1-D array without NaN, got shape {array.shape}")
    return array


def _binary_labels(labels, n: int) -> np.ndarray:
    array = _numpy(labels, "labels", dtype=None)
    if array.shape != (n,):
        raise ValueError(f"labels must be 1-D with one label per score ({n}), got shape {array.shape}")
    if array.dtype.kind not in "biuf" or not np.isin(array, [0, 1]).all():
        raise ValueError("labels must be 1 (genuine) or 0 (impostor)")
    labels = array.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("labels must include both genuine (1) and impostor (0) scores")
    return labels


def _at_or_above(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Share of ``sorted_values`` (ascending) that are ``>= t`` for each threshold t."""
    return (len(sorted_values) - np.searchsorted(sorted_values, thresholds, side="left")) / len(sorted_values)


def error_rates(genuine, impostor, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """False match rate and false non-match rate at each threshold: ``(fmr, fnmr)``, shaped as ``thresholds``.

    A comparison is a *match* when its score is at least the threshold (``>=``)::

        FMR(t)  = #{impostor scores >= t} / #impostor     (impostors wrongly accepted)
        FNMR(t) = #{genuine scores  <  t} / #genuine      (genuine pairs wrongly rejected)

    FAR and FRR are the older names. Strictly (ISO/IEC 19795-1) FMR and FNMR are per comparison, while
    FAR and FRR are per transaction and include failures to acquire (FTA); with one attempt,
    ``FAR = FMR (1 - FTA)`` and ``FRR = FTA + FNMR (1 - FTA)``. The true accept rate is ``TAR = 1 - FNMR``.
    """
    genuine, impostor = np.sort(_scores(genuine, "genuine")), np.sort(_scores(impostor, "impostor"))
    thresholds = _thresholds(thresholds)
    return _at_or_above(impostor, thresholds), np.searchsorted(genuine, thresholds, side="left") / len(genuine)


def _curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts ``(fps, tps, thresholds)`` at +inf and at each distinct score, by decreasing threshold."""
    scores = _scores(scores, "scores")
    labels = _binary_labels(labels, len(scores))
    order = np.argsort(scores, kind="stable")[::-1]
    scores, labels = scores[order], labels[order]
    last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]  # last index of each distinct score
    tps = np.cumsum(labels, dtype=np.float64)[last]
    fps = 1 + last - tps
    return np.r_[0.0, fps], np.r_[0.0, tps], np.r_[np.inf, scores[last]]


def roc(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)``, by decreasing threshold.

    ``thresholds`` is ``+inf`` (reject everything) followed by every distinct score; ``fpr[i]`` = FMR and
    ``tpr[i]`` = 1 - FNMR when accepting scores ``>= thresholds[i]``. The same arrays as
    ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)`` (scikit-learn >= 1.3 starts at
    ``+inf``). Needs both genuine and impostor scores.
    """
    fps, tps, thresholds = _curve(scores, labels)
    return fps / fps[-1], tps / tps[-1], thresholds


def det(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DET curve ``(fpr, fnr, thresholds)``, FMR and FNMR by **increasing** threshold, the same arrays as
    ``sklearn.metrics.det_curve(labels, scores)`` (scikit-learn >= 1.7).

    The thresholds are those of :func:`roc` (``+inf`` and the distinct scores), restricted as scikit-learn
    does to the useful part: from the highest threshold where FNMR is already 0 up to the lowest one where
    FMR is still 0 (``+inf`` only when every threshold has FMR > 0). DET plots usually draw both axes on a
    normal-deviate (probit) scale, where normal score distributions give straight lines.
    """
    fps, tps, thresholds = _curve(scores, labels)
    first = np.searchsorted(fps, 0.0, side="right") - 1  # the lowest threshold with no false match
    last = np.searchsorted(tps, tps[-1]) + 1  # up to the highest threshold with no false non-match
    part = slice(first, last)
    return (fps[part] / fps[-1])[::-1], ((tps[-1] - tps[part]) / tps[-1])[::-1], thresholds[part][::-1]


def _genuine_impostor_curve(genuine, impostor):
    genuine, impostor = _scores(genuine, "genuine"), _scores(impostor, "impostor")
    scores = np.r_[genuine, impostor]
    labels = np.r_[np.ones(len(genuine)), np.zeros(len(impostor))]
    fps, tps, thresholds = _curve(scores, labels)
    # FMR, FNMR and TAR from the counts, so that equal rates compare equal
    return fps / len(impostor), (len(genuine) - tps) / len(genuine), tps / len(genuine), thresholds


def eer(genuine, impostor) -> tuple[float, float]:
    """Equal error rate: ``(eer, threshold)`` where FMR and FNMR cross.

    On the ROC's thresholds ``t_0 = +inf > t_1 > ...`` (the distinct scores), ``d_i = FMR(t_i) - FNMR(t_i)``
    rises from -1 to 1. Let ``i`` be the first index with ``d_i >= 0``. If ``d_i = 0``, EER = FMR(t_i) at
    ``t_i``. Otherwise FMR and FNMR are interpolated linearly between points ``i - 1`` and ``i``: with
    ``a = -d_{i-1} / (d_i - d_{i-1})``, ``EER = FMR(t_{i-1}) + a (FMR(t_i) - FMR(t_{i-1}))`` (= the
    interpolated FNMR) and the threshold is ``t_{i-1} + a (t_i - t_{i-1})``, or ``t_i`` when ``t_{i-1}``
    is ``+inf`` (i = 1). This is the crossing of the straight-segment ROC with the line FNMR = FMR.
    """
    fmr, fnmr, _, thresholds = _genuine_impostor_curve(genuine, impostor)
    d = fmr - fnmr
    i = int(np.argmax(d >= 0))  # d[0] = -1 and d[-1] = 1, so 1 <= i
    if d[i] == 0:
        return float(fmr[i]), float(thresholds[i])
    a = -d[i - 1] / (d[i] - d[i - 1])
    rate = fmr[i - 1] + a * (fmr[i] - fmr[i - 1])
    t = thresholds[i] if np.isinf(thresholds[i - 1]) else thresholds[i - 1] + a * (thresholds[i] - thresholds[i - 1])
    return float(rate), float(t)


def tar_at_far(genuine, impostor, far: float, return_threshold: bool = False):
    """True accept rate (1 - FNMR) at the lowest threshold whose FMR is at most ``far``.

    The thresholds are those of :func:`roc` (``+inf`` and the distinct scores), accepting scores ``>= t``.
    As FMR falls and TAR falls when the threshold rises, this is the highest TAR among thresholds with
    ``FMR <= far``, i.e. ``max(tpr[fpr <= far])`` of :func:`roc`; no interpolation. With fewer than
    ``1 / far`` impostor scores the estimate is coarse; if even the highest score is an impostor's and
    ``far < 1 / #impostor``, TAR is 0 at ``+inf``. Returns the TAR, or ``(tar, threshold)`` if asked.
    """
    if isinstance(far, torch.Tensor) and far.numel() == 1:
        far = far.item()
    if isinstance(far, bool) or not isinstance(far, numbers.Real) or not 0 <= far <= 1:
        raise ValueError(f"far must be a number in [0, 1], got {far!r}")
    fmr, _, tar, thresholds = _genuine_impostor_curve(genuine, impostor)
    i = np.searchsorted(fmr, far, side="right") - 1  # the last (lowest) threshold with FMR <= far
    return (float(tar[i]), float(thresholds[i])) if return_threshold else float(tar[i])


def _identification(similarity, probe_labels, gallery_labels):
    similarity = _scores(similarity, "similarity", ndim=2)
    probes, gallery = _numpy(probe_labels, "probe_labels", None), _numpy(gallery_labels, "gallery_labels", None)
    if probes.shape != (similarity.shape[0],) or gallery.shape != (similarity.shape[1],):
        raise ValueError(
            f"similarity {similarity.shape} needs probe_labels ({similarity.shape[0]},) and gallery_labels "
            f"({similarity.shape[1]},), got {probes.shape} and {gallery.shape}"
        )
    mate = np.asarray(probes[:, None] == gallery[None, :])
    if mate.shape != similarity.shape:
        raise ValueError("probe_labels and gallery_labels must be comparable (e.g. both integers)")
    best = np.where(mate, similarity, -np.inf).max(axis=1)  # the best mate score (-inf without a mate)
    # rank of the best mate; ties with a non-mate count against the probe
    rank = 1 + (~mate & (similarity >= best[:, None])).sum(axis=1)
    return similarity, mate.any(axis=1), best, rank


def cmc(similarity, probe_labels, gallery_labels, max_rank: int | None = None) -> np.ndarray:
    """Cumulative match characteristic of closed-set identification: ``curve[k - 1]`` is the rank-k
    identification rate, the share of probes whose rank is at most k, for k = 1..``max_rank``
    (default: G, where the curve reaches 1).

    ``similarity[p, g]`` compares probe p with gallery template g. A probe's *rank* is the position of the
    first template of its identity in the gallery sorted by decreasing similarity (templates, not
    identities, are counted: with several templates per identity, take e.g. the maximum per identity first
    to rank identities). Ties are pessimistic: a non-mate template scoring exactly the mate's score is
    ranked before it. Without ties this equals ``sklearn.metrics.top_k_accuracy_score`` with one template
    per identity (which breaks ties by column order, the later column first). Closed set: every probe's
    identity must be in the gallery.
    """
    similarity, mated, _, rank = _identification(similarity, probe_labels, gallery_labels)
    if not mated.all():
        raise ValueError(
            f"closed-set identification: {int((~mated).sum())} probe(s) have no mate in the gallery, "
            f"e.g. probe {int(np.argmin(mated))}; use open_set for non-mated probes"
        )
    n_gallery = similarity.shape[1]
    if max_rank is None:
        max_rank = n_gallery
    if isinstance(max_rank, bool) or not isinstance(max_rank, numbers.Integral) or not 1 <= max_rank <= n_gallery:
        raise ValueError(f"max_rank must be None or an integer in [1, {n_gallery}] (gallery size), got {max_rank!r}")
    return np.cumsum(np.bincount(rank, minlength=n_gallery + 1)[1 : max_rank + 1]) / len(rank)


def open_set(similarity, probe_labels, gallery_labels, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Open-set identification at each threshold: ``(dir, fpir)``, shaped as ``thresholds``.

    A probe is *mated* when its identity is enrolled in the gallery, *non-mated* otherwise (NIST FRVT,
    NISTIR 8271)::

        DIR(t)  = #{mated probes whose mate is rank 1 and scores >= t} / #mated probes
        FPIR(t) = #{non-mated probes whose top score >= t} / #non-mated probes

    DIR (detection and identification rate) is ``1 - FNIR(R=1, t)`` of FRVT; FPIR is the false positive
    identification rate. Rank 1 follows :func:`cmc` (a tie with a non-mate is not rank 1). Plotting DIR
    against FPIR over thresholds gives the open-set ROC. Needs both mated and non-mated probes.
    """
    similarity, mated, best, rank = _identification(similarity, probe_labels, gallery_labels)
    thresholds = _thresholds(thresholds)
    if mated.all() or not mated.any():
        raise ValueError(
            f"open-set identification needs mated and non-mated probes, got {int(mated.sum())} mated "
            f"and {int((~mated).sum())} non-mated"
        )
    hits = np.sort(best[mated & (rank == 1)])
    detected = (len(hits) - np.searchsorted(hits, thresholds, side="left")) / mated.sum()
    return detected, _at_or_above(np.sort(similarity[~mated].max(axis=1)), thresholds)


def _embeddings(values, name: str) -> np.ndarray:
    array = _scores(values, name, ndim=2)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name} has a zero vector (row {int(np.argmin(norms[:, 0]))}): its cosine is undefined")
    return array / norms


def cosine_similarity(a, b) -> np.ndarray:
    """Cosine similarities ``(M, N)`` between the rows of ``a`` (M, D) and ``b`` (N, D):
    ``cos(x, y) = x . y / (|x| |y|)``, in [-1, 1]."""
    a, b = _embeddings(a, "a"), _embeddings(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dimension, got {a.shape} and {b.shape}")
    return a @ b.T


def pair_scores(embeddings, labels) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of all pairs ``i < j`` of ``embeddings`` (N, D): ``(genuine, impostor)``, the
    pairs with ``labels[i] == labels[j]`` and the others, each in row-major order of ``(i, j)``.

    The embeddings are L2-normalised first, so the score is ``cos(e_i, e_j)``. N embeddings give
    ``N (N - 1) / 2`` pairs; either array may be empty (e.g. one sample per identity: no genuine pair).
    """
    unit = _embeddings(embeddings, "embeddings")
    labels = _numpy(labels, "labels", None)
    if labels.shape != (len(unit),) or len(unit) < 2:
        raise ValueError(f"need 2 or more embeddings and one label each, got {unit.shape} and labels {labels.shape}")
    i, j = np.triu_indices(len(unit), k=1)
    scores = (unit @ unit.T)[i, j]
    same = np.asarray(labels[i] == labels[j], dtype=bool)
    return scores[same], scores[~same]
