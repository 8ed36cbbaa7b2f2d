import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import utils.digit_strings as ds
from utils.data import load_mnist

# ---------------------------------------------------------------------------------------------------------
# the generator


def test_shapes_types_and_ranges():
    data = ds.make_digit_strings(40, seed=1)
    assert data.images.shape == (40, 1, 28, 112) and data.images.dtype == torch.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert data.lengths.shape == (40,) and data.lengths.dtype == torch.long
    assert int(data.lengths.sum()) == len(data.targets) == len(data.extents) == len(data.sources)
    assert data.targets.dtype == torch.long and data.targets.min() >= 0 and data.targets.max() <= 9
    assert ((data.lengths >= 1) & (data.lengths <= 5)).all()
    assert set(data.lengths.tolist()) == {1, 2, 3, 4, 5}  # 40 strings: every length appears
    assert len(data) == 40 and len(data.labels) == 40
    # MNIST scaled each digit to fit a 20 x 20 box (LeCun et al. 1998): no ink box is larger
    assert ds.max_glyph_size() == (20, 20)


def test_labels_match_targets_and_lengths():
    data = ds.make_digit_strings(30, min_length=2, max_length=4, seed=2)
    seqs = data.sequences()
    assert [len(s) for s in seqs] == data.lengths.tolist()
    assert ["".join(map(str, s)) for s in seqs] == data.labels
    assert all(2 <= len(label) <= 4 for label in data.labels)
    offsets = data.offsets()
    assert offsets[0] == 0 and offsets[-1] == len(data.targets)


def test_same_seed_same_strings_other_seed_other_strings():
    a, b, c = (ds.make_digit_strings(12, seed=s, noise=0.1) for s in (5, 5, 6))
    assert torch.equal(a.images, b.images) and a.labels == b.labels
    assert torch.equal(a.extents, b.extents) and torch.equal(a.sources, b.sources)
    assert not torch.equal(a.images, c.images)


def test_the_same_seed_writes_the_same_digits_whatever_the_layout():
    a = ds.make_digit_strings(30, min_length=2, spacing=(2, 8), seed=9)
    b = ds.make_digit_strings(30, min_length=2, spacing=(-4, -1), jitter=0, noise=0.2, seed=9)
    assert a.labels == b.labels and torch.equal(a.sources, b.sources)
    assert not torch.equal(a.extents, b.extents)


def test_train_and_test_draw_from_disjoint_handwriting():
    train = ds.make_digit_strings(300, split="train", seed=0)
    test = ds.make_digit_strings(300, split="test", seed=0)
    assert not set(train.sources.tolist()) & set(test.sources.tolist())
    # each digit's source image shows that digit, and belongs to its split's pool
    labels = load_mnist().tensors[1]
    for data, split in ((train, "train"), (test, "test")):
        assert torch.equal(labels[data.sources], data.targets)
        pool = ds.digit_pool(split)
        assert all(int(k) in set(pool[int(d)].tolist()) for k, d in zip(data.sources, data.targets))
    pools = ds.digit_pool("train"), ds.digit_pool("test")
    for c in range(10):
        assert len(pools[0][c]) == 400 and len(pools[1][c]) == 100
        assert not set(pools[0][c].tolist()) & set(pools[1][c].tolist())


def test_digits_lie_inside_the_canvas_in_order_and_hold_their_ink():
    data = ds.make_digit_strings(60, spacing=(-4, 8), seed=3)
    mnist = load_mnist().tensors[0][:, 0]
    for i in range(len(data)):
        ext = data.digit_extents(i)
        assert (ext[:, 0] >= 0).all() and (ext[:, 1] <= data.images.shape[-1]).all()
        assert (ext[:, 1] > ext[:, 0]).all()
        assert (ext[1:, 0] > ext[:-1, 0]).all()  # left to right
        # no ink outside the digits' extents; the ink of each digit inside its extent
        covered = torch.zeros(data.images.shape[-1], dtype=torch.bool)
        for x0, x1 in ext.tolist():
            covered[x0:x1] = True
        assert data.images[i, 0][:, ~covered].max() == 0
    # the pasted crop holds the whole ink (above the threshold) of its source image
    first = data.digit_extents(0)
    k = int(data.sources[0])
    ink = (mnist[k] > ds.INK).any(0).sum()
    assert first[0, 1] - first[0, 0] >= ink


def test_gaps_follow_spacing_and_negative_gaps_overlap():
    touching = ds.make_digit_strings(50, min_length=2, spacing=(-4, -1), seed=4)
    apart = ds.make_digit_strings(50, min_length=2, max_length=3, spacing=(3, 6), seed=4)
    for data, lo, hi in ((touching, -4, -1), (apart, 3, 6)):
        for i in range(len(data)):
            ext = data.digit_extents(i)
            gaps = ext[1:, 0] - ext[:-1, 1]
            assert ((gaps >= lo) & (gaps <= hi)).all()


def test_long_strings_get_their_gaps_reduced_to_fit():
    data = ds.make_digit_strings(50, min_length=5, max_length=5, width=84, spacing=(-4, 8), seed=0)
    ext = data.extents.reshape(50, 5, 2)
    assert (ext[:, -1, 1] <= 84).all()
    assert (ext[:, 1:, 0] - ext[:, :-1, 1] >= -4).all()


def test_width_none_fits_and_noise_stays_in_range():
    data = ds.make_digit_strings(5, max_length=3, width=None, noise=0.3, seed=0)
    assert data.images.shape[-1] % 4 == 0
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert (data.images[:, 0, :, -4:] > 0).any()  # noise reaches the padding


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must"),
        ({"min_length": 3, "max_length": 2}, "must not exceed"),
        ({"min_length": 0}, ">= 1"),
        ({"max_length": 8}, "width must be at least"),
        ({"height": 16}, "height must be at least"),
        ({"split": "val"}, "split must be"),
        ({"spacing": (5, 2)}, "spacing"),
        ({"spacing": (-20, 2)}, "spacing"),
        ({"noise": -0.1}, "noise"),
        ({"jitter": -1}, "jitter"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    kwargs = {"n": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        ds.make_digit_strings(**kwargs)


# ---------------------------------------------------------------------------------------------------------
# decoding, against hand-worked examples and brute force


def _log(p):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(p, dtype=np.float64))


def test_greedy_decoding_by_hand():
    # frames' best classes: 1 1 0 1 2 2 0 0 2  ->  merge repeats: 1 0 1 2 0 2  ->  drop blanks: 1 1 2 2
    best = [1, 1, 0, 1, 2, 2, 0, 0, 2]
    p = np.full((9, 3), 0.1)
    p[np.arange(9), best] = 0.8
    assert ds.ctc_greedy_decode(_log(p)) == [1, 1, 2, 2]
    assert ds.ctc_greedy_decode(torch.tensor(_log(p)), blank=2) == [1, 0, 1, 0]
    # a batch (T, N, C) with lengths: the second sequence stops after 3 frames
    batch = torch.tensor(np.stack([_log(p), _log(p)], 1))
    assert ds.ctc_greedy_decode(batch, input_lengths=[9, 3]) == [[1, 1, 2, 2], [1]]
    assert ds.ctc_greedy_decode(np.zeros((4, 3)) - 1.0) == []  # ties: class 0, the blank


def _brute_force(log_probs: np.ndarray, blank: int = 0) -> dict[tuple, float]:
    """The probability of every labelling: all C^T alignments, each collapsed (repeats merged, blanks
    dropped), their probabilities added up."""
    t, c = log_probs.shape
    probs = np.exp(log_probs)
    total: dict[tuple, float] = {}
    for path in itertools.product(range(c), repeat=t):
        labelling = tuple(k for i, k in enumerate(path) if k != blank and (i == 0 or k != path[i - 1]))
        total[labelling] = total.get(labelling, 0.0) + float(np.prod(probs[np.arange(t), path]))
    return total


def _prefix_count(t, c):
    return sum((c - 1) ** k for k in range(t + 1))  # prefixes of length 0..T over C - 1 characters


@pytest.mark.parametrize("t, c, seed", [(3, 3, 0), (4, 3, 1), (5, 4, 2), (6, 4, 3), (6, 3, 4), (6, 2, 5)])
def test_exhaustive_beam_search_equals_brute_force(t, c, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (t, c))
    lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    totals = _brute_force(lp)
    assert abs(sum(totals.values()) - 1.0) < 1e-12  # the labellings' probabilities add up to 1
    best = max(totals, key=totals.get)
    labels, logp = ds.ctc_beam_search(lp, beam_width=_prefix_count(t, c), return_log_prob=True)
    assert tuple(labels) == best
    assert abs(math.exp(logp) - totals[best]) < 1e-9
    assert abs(logp - math.log(totals[best])) < 1e-9
    # and the log-probability is minus PyTorch's CTC loss of that labelling
    if labels:
        loss = F.ctc_loss(torch.tensor(lp)[:, None], torch.tensor([labels]), [t], [len(labels)], reduction="none")
        assert abs(logp + loss.item()) < 1e-9
    # best path: the argmax alignment, collapsed
    path = lp.argmax(1)
    collapsed = [int(k) for i, k in enumerate(path) if k != 0 and (i == 0 or k != path[i - 1])]
    assert ds.ctc_greedy_decode(lp) == collapsed


def test_beam_search_beats_best_path_on_a_constructed_case():
    # two frames, blank 0.4, 'a' 0.35, 'b' 0.25 each: the best path is blank-blank (0.16, the empty
    # labelling), but 'a' has alignments a-a, a-blank, blank-a: 0.1225 + 0.14 + 0.14 = 0.4025
    p = np.array([[0.4, 0.35, 0.25], [0.4, 0.35, 0.25]])
    assert ds.ctc_greedy_decode(_log(p)) == []
    labels, logp = ds.ctc_beam_search(_log(p), beam_width=4, return_log_prob=True)
    assert labels == [1] and abs(math.exp(logp) - 0.4025) < 1e-12
    assert _brute_force(_log(p))[(1,)] == pytest.approx(0.4025, abs=1e-12)


def test_beam_search_batch_lengths_blank_and_zero_probabilities():
    rng = np.random.default_rng(7)
    lp = torch.log_softmax(torch.tensor(rng.normal(0, 2, (6, 2, 4))), -1)
    lp[2, 0, 3] = -math.inf  # a class that cannot occur in one frame
    out = ds.ctc_beam_search(lp, beam_width=2000, input_lengths=[6, 4], return_log_prob=True)
    for n, length in enumerate((6, 4)):
        totals = _brute_force(lp[:length, n].numpy())
        best = max(totals, key=totals.get)
        assert tuple(out[n][0]) == best and abs(math.exp(out[n][1]) - totals[best]) < 1e-9
    # another blank index: the same search with the classes renamed
    perm = [3, 0, 1, 2]  # class 0 becomes class 3
    renamed = ds.ctc_beam_search(lp[:, 0][:, torch.argsort(torch.tensor(perm))], beam_width=2000, blank=3)
    assert [perm[k] for k in ds.ctc_beam_search(lp[:, 0], beam_width=2000)] == renamed


def test_decoders_refuse_bad_input():
    with pytest.raises(ValueError, match="log_probs"):
        ds.ctc_greedy_decode(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        ds.ctc_beam_search(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="blank"):
        ds.ctc_greedy_decode(np.zeros((3, 3)), blank=3)
    with pytest.raises(ValueError, match="beam_width"):
        ds.ctc_beam_search(np.zeros((3, 3)), beam_width=0)
    with pytest.raises(ValueError, match="input_lengths"):
        ds.ctc_greedy_decode(np.zeros((3, 2, 3)), input_lengths=[3, 4])


# ---------------------------------------------------------------------------------------------------------
# scores


def _brute_edit_distance(a, b):
    """The definition by recursion, without dynamic programming."""
    if not a or not b:
        return len(a) + len(b)
    return min(
        _brute_edit_distance(a[1:], b) + 1,
        _brute_edit_distance(a, b[1:]) + 1,
        _brute_edit_distance(a[1:], b[1:]) + (a[0] != b[0]),
    )


def test_edit_distance_known_values_and_recursion():
    assert ds.edit_distance("kitten", "sitting") == 3
    assert ds.edit_distance("flaw", "lawn") == 2
    assert ds.edit_distance("", "abc") == 3 and ds.edit_distance("abc", "") == 3
    assert ds.edit_distance([1, 2, 3], torch.tensor([1, 2, 3])) == 0
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.integers(0, 3, rng.integers(0, 6)).tolist()
        b = rng.integers(0, 3, rng.integers(0, 6)).tolist()
        assert ds.edit_distance(a, b) == _brute_edit_distance(a, b) == ds.edit_distance(b, a)


def test_error_rate_and_accuracy():
    preds = [[1, 2, 3], [4], [], [7, 7]]
    targets = [[1, 2, 3], [4, 5], [6], [7]]
    # edit distances 0, 1, 1, 1 over 3 + 2 + 1 + 1 = 7 target digits
    assert ds.character_error_rate(preds, targets) == pytest.approx(3 / 7)
    assert ds.sequence_accuracy(preds, targets) == 0.25
    assert ds.character_error_rate(["12"], ["12"]) == 0.0
    with pytest.raises(ValueError, match="as many"):
        ds.character_error_rate([[1]], [[1], [2]])
    with pytest.raises(ValueError, match="empty"):
        ds.character_error_rate([[1]], [[]])
    with pytest.raises(ValueError, match="1-D"):
        ds.edit_distance(torch.zeros(2, 2), [1])


def test_a_digit_narrower_than_the_overlap_does_not_push_the_next_one_back():
    # thin ones (2-4 columns) followed by the largest overlap: the gap is raised so that each digit starts
    # right of the start of the one before (it once went below column 0 and raised a broadcasting error)
    data = ds.make_digit_strings(300, min_length=3, max_length=5, spacing=(-8, -8), seed=0)
    raised = 0
    for i in range(len(data)):
        ext = data.digit_extents(i)
        assert (ext[:, 0] >= 0).all() and (ext[1:, 0] > ext[:-1, 0]).all()
        gaps = ext[1:, 0] - ext[:-1, 1]
        widths = ext[:-1, 1] - ext[:-1, 0]
        assert (gaps == torch.clamp(widths.new_full(gaps.shape, -8), min=1 - widths)).all()
        raised += int((gaps > -8).sum())
    assert raised > 0  # the case occurs in this sample
