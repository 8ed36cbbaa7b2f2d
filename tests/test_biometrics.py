"""utils.biometrics: ROC and DET against scikit-learn, EER against scipy's brentq on the ROC and a dense threshold
sweep, TAR@FAR against roc_curve, CMC against top_k_accuracy_score, the rest against brute-force loops and
hand-made cases."""

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from sklearn.metrics import det_curve, roc_curve, top_k_accuracy_score
from sklearn.metrics.pairwise import cosine_similarity as sklearn_cosine

from utils.biometrics import cmc, cosine_similarity, det, eer, error_rates, open_set, pair_scores, roc, tar_at_far


def random_scores(seed: int, n_genuine: int = 300, n_impostor: int = 500, ties: bool = False):
    """Overlapping normal genuine (mean 1) and impostor (mean 0) scores; ``ties`` rounds them to 0.1."""
    rng = np.random.default_rng(seed)
    genuine, impostor = rng.normal(1.0, 0.6, n_genuine), rng.normal(0.0, 0.5, n_impostor)
    if ties:
        genuine, impostor = genuine.round(1), impostor.round(1)
    return genuine, impostor


def scores_labels(genuine, impostor):
    return np.r_[genuine, impostor], np.r_[np.ones(len(genuine), int), np.zeros(len(impostor), int)]


# ----------------------------------------------------------------------------------------------------
# verification


def test_error_rates_by_hand():
    genuine, impostor = [0.2, 0.5, 0.9], [0.1, 0.5, 0.6]
    fmr, fnmr = error_rates(genuine, impostor, [-np.inf, 0.1, 0.5, 0.55, 0.9, np.inf])
    # a score equal to the threshold is accepted (>=)
    np.testing.assert_array_equal(fmr, [1, 1, 2 / 3, 1 / 3, 0, 0])
    np.testing.assert_array_equal(fnmr, [0, 0, 1 / 3, 2 / 3, 2 / 3, 1])
    fmr, fnmr = error_rates(torch.tensor(genuine), torch.tensor(impostor), 0.5)  # a number gives 0-d arrays
    assert fmr.shape == () and float(fmr) == 2 / 3 and float(fnmr) == 1 / 3


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
def test_error_rates_equal_a_loop(seed, ties):
    genuine, impostor = random_scores(seed, 60, 80, ties)
    thresholds = np.r_[np.linspace(-2, 3, 23), genuine[:5], impostor[:5]]  # also exactly at scores
    fmr, fnmr = error_rates(genuine, impostor, thresholds)
    for k, t in enumerate(thresholds):
        assert fmr[k] == sum(s >= t for s in impostor) / len(impostor)
        assert fnmr[k] == sum(s < t for s in genuine) / len(genuine)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_roc_and_det_equal_sklearn(seed, ties):
    scores, labels = scores_labels(*random_scores(seed, 40 + 30 * seed, 70, ties))
    order = np.random.default_rng(seed).permutation(len(scores))
    scores, labels = scores[order], labels[order]
    for ours, theirs in [
        (roc(scores, labels), roc_curve(labels, scores, drop_intermediate=False)),
        (det(scores, labels), det_curve(labels, scores)),
    ]:
        for a, b in zip(ours, theirs):
            assert a.dtype == b.dtype == np.float64
            np.testing.assert_array_equal(a, b)
    assert roc(scores, labels)[2][0] == np.inf
    # lists, torch tensors (float32 scores, bool labels) give the same curves as NumPy float64
    for a, b in zip(roc(scores.tolist(), labels.tolist()), roc(scores, labels)):
        np.testing.assert_array_equal(a, b)
    s32 = torch.tensor(scores, dtype=torch.float32)
    for a, b in zip(det(s32, torch.tensor(labels).bool()), det_curve(labels, s32.double().numpy())):
        np.testing.assert_array_equal(a, b)


def test_det_edges_equal_sklearn():
    cases = [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]),  # scikit-learn's docstring example
        ([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]),  # separated: one point, FMR = FNMR = 0
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]),  # reversed
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]),  # all tied
        ([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 1]),  # the highest score is an impostor's: +inf is kept
    ]
    for scores, labels in cases:
        for a, b in zip(det(scores, labels), det_curve(labels, scores)):
            np.testing.assert_array_equal(a, b)
    fpr, fnr, thresholds = det([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    np.testing.assert_array_equal(thresholds, [0.35, 0.4, 0.8])
    np.testing.assert_array_equal(fpr, [0.5, 0.5, 0.0])
    np.testing.assert_array_equal(fnr, [0.0, 0.5, 0.5])


def test_eer_by_hand():
    # FMR = FNMR = 1/3 exactly at the score 0.6
    assert eer([0.3, 0.7, 0.9], [0.1, 0.4, 0.6]) == (1 / 3, 0.6)
    # at 0.8: FMR 1/3, FNMR 1/2; at 0.7: FMR 2/3, FNMR 1/2; they cross half way: EER 1/2 at 0.75
    rate, t = eer([0.5, 0.9], [0.1, 0.7, 0.8])
    assert rate == pytest.approx(0.5, abs=1e-15) and t == pytest.approx(0.75, abs=1e-15)
    assert eer([0.8, 0.9], [0.1, 0.2]) == (0.0, 0.8)  # separated
    assert eer([0.1, 0.2], [0.8, 0.9]) == (1.0, 0.8)  # reversed: both rates 1 at the lowest impostor
    # genuine uniform on [0.5, 1.5] and impostor uniform on [0, 1] (evenly spaced quantiles): FMR = 1 - t,
    # FNMR = t - 0.5, so they cross at t = 0.75 with EER 0.25
    n = 2000
    grid = (np.arange(n) + 0.5) / n
    rate, t = eer(0.5 + grid, grid)
    assert rate == pytest.approx(0.25, abs=1 / n) and t == pytest.approx(0.75, abs=1 / n)


def eer_by_brentq(genuine, impostor):
    """The root of FMR - FNMR along the straight-segment ROC of sklearn, found by scipy."""
    fpr, tpr, thresholds = roc_curve(*scores_labels(genuine, impostor)[::-1], drop_intermediate=False)
    index = np.arange(len(fpr))
    gap = lambda s: np.interp(s, index, fpr) - np.interp(s, index, 1 - tpr)
    root = brentq(gap, 0, len(fpr) - 1, xtol=1e-13)
    return np.interp(root, index, fpr), np.interp(root, index[1:], thresholds[1:])


@pytest.mark.parametrize("seed", range(5))
def test_eer_equals_brentq_on_the_roc_and_a_dense_sweep(seed):
    genuine, impostor = random_scores(seed)
    rate, t = eer(genuine, torch.tensor(impostor))
    ref_rate, ref_t = eer_by_brentq(genuine, impostor)
    assert rate == pytest.approx(ref_rate, abs=1e-9) and t == pytest.approx(ref_t, abs=1e-9)
    # a dense sweep of thresholds: where max(FMR, FNMR) is lowest, both are within one score step of the EER
    sweep = np.linspace(-1, 2, 30001)
    fmr = (impostor[None, :] >= sweep[:, None]).mean(axis=1)
    fnmr = (genuine[None, :] < sweep[:, None]).mean(axis=1)
    best = np.argmin(np.maximum(fmr, fnmr))
    step = 1 / len(genuine) + 1 / len(impostor)
    assert abs(fmr[best] - rate) <= step and abs(fnmr[best] - rate) <= step
    # on either side of the threshold the two rates are ordered as they must be
    fmr, fnmr = error_rates(genuine, impostor, [t - 0.05, t + 0.05])
    assert fmr[0] > rate > fmr[1] and fnmr[0] < rate < fnmr[1]


def test_tar_at_far_by_hand():
    genuine, impostor = [0.5, 0.8, 0.9, 0.95], [0.1, 0.2, 0.6, 0.85]
    assert tar_at_far(genuine, impostor, 0.0, return_threshold=True) == (0.5, 0.9)
    assert tar_at_far(genuine, impostor, 0.25, return_threshold=True) == (0.75, 0.8)
    assert tar_at_far(genuine, impostor, 0.49) == 0.75
    assert tar_at_far(genuine, impostor, 1.0, return_threshold=True) == (1.0, 0.1)
    assert tar_at_far([0.5], [0.99], 0.0, return_threshold=True) == (0.0, np.inf)  # nothing can be accepted


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_tar_at_far_equals_sklearn_roc(seed, ties):
    genuine, impostor = random_scores(seed, ties=ties)
    fpr, tpr, thresholds = roc_curve(*scores_labels(genuine, impostor)[::-1], drop_intermediate=False)
    for far in (0.0, 1e-3, 0.002, 0.01, 0.05, 0.1, 0.3, 1.0):
        tar, t = tar_at_far(genuine, impostor, far, return_threshold=True)
        assert tar == tpr[fpr <= far].max()
        assert t == thresholds[fpr <= far].min()
        fmr, fnmr = error_rates(genuine, impostor, t)
        assert fmr <= far and 1 - fnmr == pytest.approx(tar, abs=1e-15)


# ----------------------------------------------------------------------------------------------------
# identification


def ranks_by_loop(similarity, probe_labels, gallery_labels):
    """Sort each probe's gallery by decreasing score, non-mates before mates on ties; 1 + first mate."""
    ranks = []
    for row, label in zip(similarity, probe_labels):
        order = sorted(range(len(row)), key=lambda g: (-row[g], gallery_labels[g] == label))
        ranks.append(1 + next(k for k, g in enumerate(order) if gallery_labels[g] == label))
    return np.array(ranks)


@pytest.mark.parametrize("seed", range(4))
def test_cmc_equals_top_k_accuracy_with_one_template_per_identity(seed):
    rng = np.random.default_rng(seed)
    n_ids, n_probes = 12 + seed, 50
    identities = np.sort(rng.choice(1000, n_ids, replace=False))
    probe_labels = rng.choice(identities, n_probes)
    similarity = rng.normal(size=(n_probes, n_ids)) + 1.5 * (probe_labels[:, None] == identities[None, :])
    perm = rng.permutation(n_ids)  # our gallery in any order; sklearn's columns follow the sorted labels
    curve = cmc(torch.tensor(similarity[:, perm]), probe_labels.tolist(), torch.tensor(identities[perm]))
    assert curve.shape == (n_ids,) and curve[-1] == 1 and (np.diff(curve) >= 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k >= number of classes: "meaningless" but defined
        for k in range(1, n_ids + 1):
            assert curve[k - 1] == top_k_accuracy_score(probe_labels, similarity, k=k, labels=identities)
    np.testing.assert_array_equal(cmc(similarity, probe_labels, identities, max_rank=5), curve[:5])


@pytest.mark.parametrize("seed", range(3))
def test_cmc_with_several_templates_and_ties_equals_a_loop(seed):
    rng = np.random.default_rng(seed)
    gallery_labels = rng.integers(0, 8, 30)
    probe_labels = rng.choice(np.unique(gallery_labels), 40)
    similarity = rng.integers(0, 5, (40, 30)) / 4  # many ties
    ranks = ranks_by_loop(similarity, probe_labels, gallery_labels)
    expected = [(ranks <= k).mean() for k in range(1, 31)]
    np.testing.assert_array_equal(cmc(similarity, probe_labels, gallery_labels), expected)


def test_cmc_ties_are_pessimistic():
    similarity = [[0.5, 0.5, 0.1]]
    # the mate (gallery 0 or 1) ties with a non-mate: rank 2 either way
    np.testing.assert_array_equal(cmc(similarity, [0], [0, 1, 2]), [0, 1, 1])
    np.testing.assert_array_equal(cmc(similarity, [1], [0, 1, 2]), [0, 1, 1])
    # scikit-learn puts the later column first on ties: a hit for identity 1, a miss for identity 0
    assert top_k_accuracy_score([1], np.array(similarity), k=1, labels=[0, 1, 2]) == 1
    assert top_k_accuracy_score([0], np.array(similarity), k=1, labels=[0, 1, 2]) == 0
    # strings work as identities
    np.testing.assert_array_equal(cmc([[0.9, 0.2], [0.3, 0.1]], ["ann", "bob"], ["ann", "bob"]), [0.5, 1])


def test_open_set_by_hand():
    gallery = [10, 20, 30]
    similarity = [
        [0.9, 0.2, 0.1],  # mated, rank 1, score 0.9
        [0.8, 0.6, 0.1],  # mated (20), rank 2
        [0.1, 0.2, 0.5],  # mated, rank 1, score 0.5
        [0.3, 0.7, 0.2],  # non-mated, top score 0.7
        [0.4, 0.1, 0.2],  # non-mated, top score 0.4
    ]
    probes = [10, 20, 30, 99, 98]
    dir_, fpir = open_set(similarity, probes, gallery, [0.0, 0.5, 0.6, 0.8, 1.0])
    np.testing.assert_array_equal(dir_, [2 / 3, 2 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_array_equal(fpir, [1, 1 / 2, 1 / 2, 0, 0])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
def test_open_set_equals_a_loop(seed, ties):
    rng = np.random.default_rng(seed)
    gallery_labels = rng.permutation(20)[:12]  # identities 0..19, 12 of them enrolled, in any order
    probe_labels = rng.integers(0, 20, 60)
    similarity = rng.normal(size=(60, 12)) + 2 * (probe_labels[:, None] == gallery_labels[None, :])
    if ties:
        similarity = similarity.round(0)
    thresholds = np.r_[np.linspace(-2, 4, 13), similarity[0, :3]]
    dir_, fpir = open_set(similarity, probe_labels, gallery_labels, thresholds)
    mated = np.isin(probe_labels, gallery_labels)
    ranks = ranks_by_loop(similarity[mated], probe_labels[mated], gallery_labels)
    for k, t in enumerate(thresholds):
        hits = [r == 1 and row.max() >= t for r, row in zip(ranks, similarity[mated])]
        assert dir_[k] == np.mean(hits)
        assert fpir[k] == np.mean([row.max() >= t for row in similarity[~mated]])
    # with every threshold low enough, DIR is the rank-1 rate of the mated probes
    assert open_set(similarity, probe_labels, gallery_labels, -np.inf)[0] == np.mean(ranks == 1)


# ----------------------------------------------------------------------------------------------------
# helpers


@pytest.mark.parametrize("seed", range(3))
def test_pair_scores_equal_a_double_loop(seed):
    rng = np.random.default_rng(seed)
    embeddings, labels = rng.normal(size=(25, 8)) * rng.uniform(0.1, 10, (25, 1)), rng.integers(0, 5, 25)
    genuine, impostor = pair_scores(torch.tensor(embeddings), labels)
    ref_genuine, ref_impostor = [], []
    for i in range(25):
        for j in range(i + 1, 25):
            cos = embeddings[i] @ embeddings[j] / np.linalg.norm(embeddings[i]) / np.linalg.norm(embeddings[j])
            (ref_genuine if labels[i] == labels[j] else ref_impostor).append(cos)
    np.testing.assert_allclose(genuine, ref_genuine, rtol=0, atol=1e-12)
    np.testing.assert_allclose(impostor, ref_impostor, rtol=0, atol=1e-12)
    assert len(genuine) + len(impostor) == 25 * 24 // 2
    np.testing.assert_allclose(
        cosine_similarity(embeddings, embeddings[:7]), sklearn_cosine(embeddings, embeddings[:7])
    )
    genuine, impostor = pair_scores(np.eye(3), [0, 1, 2])  # one sample per identity: no genuine pair
    assert genuine.shape == (0,) and impostor.tolist() == [0, 0, 0]


# ----------------------------------------------------------------------------------------------------
# bad input

GEN, IMP, SIM = [0.9, 0.8, 0.3], [0.1, 0.4, 0.5], [[0.9, 0.1], [0.2, 0.8]]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: error_rates([], IMP, 0.5), "genuine is empty"),
        (lambda: error_rates([GEN], IMP, 0.5), "genuine must be 1-D"),
        (lambda: error_rates(GEN, [0.1, np.nan], 0.5), "impostor holds NaN"),
        (lambda: error_rates(GEN, ["a"], 0.5), "impostor must hold numbers"),
        (lambda: error_rates(GEN, IMP, [[0.5]]), "thresholds must be a number or a 1-D array"),
        (lambda: error_rates(GEN, IMP, np.nan), "without NaN"),
        (lambda: roc(GEN + IMP, [1, 1, 1, 0, 0, 2]), r"labels must be 1 \(genuine\) or 0 \(impostor\)"),
        (lambda: roc(GEN + IMP, ["1"] * 3 + ["0"] * 3), r"labels must be 1 \(genuine\)"),
        (lambda: roc(GEN + IMP, [1] * 6), "both genuine"),
        (lambda: det(GEN + IMP, [1, 0]), r"one label per score \(6\)"),
        (lambda: det([np.inf, 0.1], [1, 0]), "scores holds NaN or infinite"),
        (lambda: eer(GEN, []), "impostor is empty"),
        (lambda: tar_at_far(GEN, IMP, 1.5), r"far must be a number in \[0, 1\]"),
        (lambda: tar_at_far(GEN, IMP, True), "far must be a number"),
        (lambda: cmc(SIM, [0, 5], [0, 1]), "1 probe.s. have no mate in the gallery, e.g. probe 1"),
        (lambda: cmc(SIM, [0, 1], [0, 1], max_rank=3), r"max_rank must be None or an integer in \[1, 2\]"),
        (lambda: cmc(SIM, [0, 1], [0, 1], max_rank=0), "max_rank"),
        (lambda: cmc([0.9, 0.1], [0], [0, 1]), "similarity must be 2-D"),
        (lambda: cmc(np.zeros((0, 2)), [], [0, 1]), "similarity is empty"),
        (lambda: cmc([[0.9, np.nan]], [0], [0, 1]), "similarity holds NaN"),
        (lambda: cmc(SIM, [0, 1, 1], [0, 1]), r"needs probe_labels \(2,\) and gallery_labels \(2,\)"),
        (lambda: open_set(SIM, [0, 1], [0, 1], 0.5), "needs mated and non-mated probes, got 2 mated"),
        (lambda: open_set(SIM, [0, 7], [0, 1], [[0.5]]), "thresholds"),
        (lambda: pair_scores([[1.0, 0.0], [0.0, 0.0]], [0, 1]), r"zero vector \(row 1\)"),
        (lambda: pair_scores([[1.0, 0.0], [0.0, 1.0]], [0]), "one label each"),
        (lambda: pair_scores([[1.0, 0.0]], [0]), "2 or more embeddings"),
        (lambda: cosine_similarity(np.ones((2, 3)), np.ones((2, 4))), "same dimension"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
