"""Strings of handwritten digits, and the decoding and scoring of connectionist temporal classification.

Chapter 6, notebook 04 reads digit strings with a CRNN trained with CTC; the CTC loss itself is written in
that notebook. Here are the data and the evaluation it needs:

* :func:`make_digit_strings`: images of strings of 1 to 5 real MNIST digits (:func:`utils.data.load_mnist`)
  pasted left to right with random gaps (negative gaps make digits touch or overlap) and a small vertical
  jitter, in a fixed-size canvas. The ``"train"`` and ``"test"`` splits draw from disjoint sets of MNIST
  images (the first 80% of each class for training, the rest for testing): test strings are made of digit
  images never seen in training. The split is by image, not by writer: all 5,000 come from MNIST's training
  set, so the same writers can appear on both sides. Returns a :class:`DigitStrings`.
* :func:`ctc_greedy_decode`: the best path (the most probable class of each frame, repeats merged, blanks
  dropped). :func:`ctc_beam_search`: prefix beam search (Hannun et al. 2014) in log space, which sums the
  probabilities of all alignments of each prefix; with a beam wide enough to keep every prefix it returns
  the most probable labelling exactly.
* :func:`edit_distance` (Levenshtein), :func:`character_error_rate`, :func:`sequence_accuracy`.

Log-probabilities follow :func:`torch.nn.functional.ctc_loss`: ``(T, C)`` for one sequence or
``(T, N, C)`` for a batch, class ``blank`` (default 0) is the blank. The decoders return class indices, the
blank excluded (for digit strings with the blank at 0, class ``d + 1`` is the digit ``d``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

TRAIN_FRACTION = 0.8  # the first 80% of the MNIST images of each class are the training handwriting
SPLITS = ("train", "test")
INK = 0.1  # a pixel above this grey level is ink: it decides each digit's bounding box
MIN_SPACING = -8  # the most two neighbouring digits may overlap, in pixels


@dataclass
class DigitStrings:
    """Digit-string images and what they show.

    * ``images``: float tensor ``(n, 1, height, width)`` in [0, 1].
    * ``targets``: the digits (0-9) of all strings, concatenated, int64 (the layout
      :func:`torch.nn.functional.ctc_loss` accepts, after adding 1 when the blank is class 0).
    * ``lengths``: int64 ``(n,)``, the number of digits of each string.
    * ``labels``: the strings as Python strings, e.g. ``"4071"``.
    * ``extents``: int64 ``(sum(lengths), 2)``, the columns ``[x0, x1)`` each digit's ink covers, in the
      order of ``targets``; neighbours overlap where the gap was negative.
    * ``sources``: int64 ``(sum(lengths),)``, the index in :func:`utils.data.load_mnist` of each digit's
      image.
    """

    images: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor
    labels: list[str]
    extents: torch.Tensor
    sources: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def offsets(self) -> torch.Tensor:
        """Where each string's digits start in ``targets``: ``(n + 1,)``, the last entry the total."""
        return torch.cat([torch.zeros(1, dtype=torch.long), self.lengths.cumsum(0)])

    def sequences(self) -> list[list[int]]:
        """The digits of each string as a list of ints."""
        o = self.offsets().tolist()
        t = self.targets.tolist()
        return [t[o[i] : o[i + 1]] for i in range(len(self))]

    def digit_extents(self, i: int) -> torch.Tensor:
        """The ``[x0, x1)`` columns of the digits of string ``i``: ``(lengths[i], 2)``."""
        if not isinstance(i, (int, np.integer)) or not -len(self) <= i < len(self):
            raise ValueError(f"i must be an index below {len(self)}, got {i!r}")
        o = self.offsets()
        i = int(i) % len(self)
        return self.extents[o[i] : o[i + 1]]


@lru_cache(maxsize=1)
def _glyphs():
    """Every MNIST digit cropped to its ink bounding box, with its label and its split."""
    from .data import load_mnist

    images, labels = load_mnist().tensors
    images, labels = images[:, 0].numpy(), labels.numpy()
    crops = []
    for img in images:
        rows = np.flatnonzero((img > INK).any(1))
        cols = np.flatnonzero((img > INK).any(0))
        crops.append(img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy())
    split = np.empty(len(labels), dtype=object)
    for c in range(10):
        where = np.flatnonzero(labels == c)  # in the order load_mnist stores them
        n_train = int(round(TRAIN_FRACTION * len(where)))
        split[where[:n_train]], split[where[n_train:]] = "train", "test"
    return crops, labels, split


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def digit_pool(split: str = "train") -> dict[int, np.ndarray]:
    """The indices (into :func:`utils.data.load_mnist`) of the MNIST images a split draws each digit from."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    _, labels, which = _glyphs()
    return {c: np.flatnonzero((labels == c) & (which == split)) for c in range(10)}


def max_glyph_size() -> tuple[int, int]:
    """The largest ink bounding box of any MNIST digit used: ``(height, width)`` in pixels."""
    crops = _glyphs()[0]
    return max(c.shape[0] for c in crops), max(c.shape[1] for c in crops)


def make_digit_strings(
    n: int,
    min_length: int = 1,
    max_length: int = 5,
    height: int = 28,
    width: int | None = 112,
    spacing: tuple[int, int] = (-4, 8),
    split: str = "train",
    seed: int = 0,
    noise: float = 0.0,
    jitter: int = 2,
) -> DigitStrings:
    """``n`` images of strings of real MNIST digits, left to right, in a ``height`` x ``width`` canvas.

    Each string has a length drawn uniformly from ``min_length`` to ``max_length``, digits drawn uniformly
    from 0-9, and for each digit an image of that class from the split's handwriting (:func:`digit_pool`),
    cropped to its ink. Digits are pasted (by the maximum, so overlapping strokes stay) with a gap drawn
    uniformly from the integers of ``spacing`` (``(low, high)`` pixels; negative means overlap) between
    neighbouring ink boxes (raised where needed so that each digit starts at least one column right of the
    start of the digit before it, whose ink may be narrower than the overlap), a left margin of 0 to 4
    pixels, the canvas padded on the right, and a vertical offset of up to ``jitter`` pixels from the
    centre. If a string would not fit, its largest gaps are reduced (never below ``low`` or that floor);
    ``width`` must let any ``max_length`` digits fit with gaps ``low``, or a
    ``ValueError`` says how wide it must be. ``width=None`` takes that smallest width, rounded up to a
    multiple of 4, plus ``4 * max_length``. ``noise`` adds Gaussian noise of that standard deviation, then
    clips to [0, 1]. The same arguments give the same strings, and the same ``seed``, ``n``, lengths and
    ``split`` give the same digits written with the same MNIST images whatever ``spacing``, ``jitter``,
    ``noise`` and the canvas size: only their placement changes.
    """
    if not _is_int(n) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not (_is_int(min_length) and _is_int(max_length)) or min_length < 1 or max_length < 1:
        raise ValueError(f"min_length and max_length must be integers >= 1, got {min_length!r} and {max_length!r}")
    if min_length > max_length:
        raise ValueError(f"min_length ({min_length}) must not exceed max_length ({max_length})")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if (
        not isinstance(spacing, (tuple, list))
        or len(spacing) != 2
        or not all(_is_int(s) for s in spacing)
        or spacing[0] > spacing[1]
        or spacing[0] < MIN_SPACING
    ):
        raise ValueError(f"spacing must be two integers (low, high) with {MIN_SPACING} <= low <= high, got {spacing!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise ValueError(f"noise must be a standard deviation >= 0, got {noise!r}")
    if not _is_int(jitter) or jitter < 0:
        raise ValueError(f"jitter must be an integer >= 0, got {jitter!r}")
    if not _is_int(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    low, high = int(spacing[0]), int(spacing[1])
    glyph_h, glyph_w = max_glyph_size()
    needed = max_length * glyph_w + (max_length - 1) * low
    if width is None:
        width = -(-needed // 4) * 4 + 4 * max_length
    if not _is_int(width) or not _is_int(height):
        raise ValueError(f"height and width must be integers, got {height!r} and {width!r}")
    if height < glyph_h:
        raise ValueError(f"height must be at least {glyph_h} (the tallest MNIST digit), got {height}")
    if width < needed:
        raise ValueError(
            f"a canvas {width} pixels wide cannot hold {max_length} digits (up to {glyph_w} pixels each) with gaps "
            f"of {low}: width must be at least {needed}, or lower max_length, or allow more overlap"
        )
    crops, _, _ = _glyphs()
    pool = digit_pool(split)
    # three independent streams: what is written, where it goes, the noise; so the same seed writes the same
    # digits with the same handwriting whatever the spacing, jitter or noise
    content, layout, grain = (np.random.default_rng([int(seed) % 2**63, k]) for k in range(3))
    images = np.zeros((n, 1, height, width), dtype=np.float32)
    targets, lengths, labels, extents, sources = [], [], [], [], []
    for i in range(n):
        length = int(content.integers(min_length, max_length + 1))
        digits = content.integers(0, 10, size=length)
        chosen = [int(content.choice(pool[int(d)])) for d in digits]
        gaps = layout.integers(low, high + 1, size=max(length - 1, 0))
        shifts = layout.integers(-jitter, jitter + 1, size=length)
        widths = [crops[k].shape[1] for k in chosen]
        # a digit never starts before the one on its left: a gap may overlap all but one column of it
        floors = np.maximum(low, 1 - np.asarray(widths[:-1], dtype=np.int64))
        gaps = np.maximum(gaps, floors)
        excess = sum(widths) + int(gaps.sum()) - width
        while excess > 0:  # too long: shrink the largest gaps first, one pixel at a time, down to their floor
            j = int(np.argmax(np.where(gaps > floors, gaps, np.iinfo(np.int64).min)))
            gaps[j] -= 1
            excess -= 1
        x = int(layout.integers(0, min(4, -excess) + 1))
        for j, (d, k) in enumerate(zip(digits, chosen)):
            glyph = crops[k]
            h, w = glyph.shape
            top = min(max((height - h) // 2 + int(shifts[j]), 0), height - h)
            region = images[i, 0, top : top + h, x : x + w]
            np.maximum(region, glyph, out=region)
            extents.append((x, x + w))
            targets.append(int(d))
            sources.append(k)
            if j < length - 1:
                x += w + int(gaps[j])
        lengths.append(length)
        labels.append("".join(str(int(d)) for d in digits))
    if noise > 0:
        images = np.clip(images + grain.normal(0.0, noise, size=images.shape).astype(np.float32), 0.0, 1.0)
    return DigitStrings(
        images=torch.from_numpy(images),
        targets=torch.tensor(targets, dtype=torch.long),
        lengths=torch.tensor(lengths, dtype=torch.long),
        labels=labels,
        extents=torch.tensor(extents, dtype=torch.long).reshape(-1, 2),
        sources=torch.tensor(sources, dtype=torch.long),
    )


# ---------------------------------------------------------------------------------------------------------
# CTC decoding


def _log_probs(log_probs, blank, input_lengths):
    """``(N, T, C)`` float64 NumPy, the lengths, and whether the input was one sequence ``(T, C)``."""
    if isinstance(log_probs, torch.Tensor):
        array = log_probs.detach().cpu().double().numpy()
    else:
        array = np.asarray(log_probs, dtype=np.float64)
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(f"log_probs must be (T, C) or (T, N, C) with no empty axis, got shape {array.shape}")
    single = array.ndim == 2
    array = array[:, None, :] if single else array
    array = np.ascontiguousarray(array.transpose(1, 0, 2))  # (N, T, C)
    if np.isnan(array).any() or (array == np.inf).any():
        raise ValueError("log_probs must not hold NaN or +inf (they are logarithms of probabilities)")
    n, t, c = array.shape
    if not _is_int(blank) or not 0 <= blank < c:
        raise ValueError(f"blank must be a class index in [0, {c}), got {blank!r}")
    if input_lengths is None:
        lengths = [t] * n
    else:
        lengths = torch.as_tensor(input_lengths).flatten().tolist()
        if len(lengths) != n or not all(_is_int(v) and 0 <= v <= t for v in lengths):
            raise ValueError(f"input_lengths must hold {n} integers in [0, {t}], got {input_lengths!r}")
    return array, lengths, single


def ctc_greedy_decode(log_probs, blank: int = 0, input_lengths=None):
    """Best-path decoding: the most probable class of each frame, repeats merged, blanks dropped.

    ``log_probs``: ``(T, C)`` (one sequence; returns a list of class indices) or ``(T, N, C)`` (returns a
    list of ``N`` such lists), as for :func:`torch.nn.functional.ctc_loss`; ``input_lengths`` (``N`` ints)
    uses only the first frames of each sequence. Ties go to the lower class index.
    """
    array, lengths, single = _log_probs(log_probs, blank, input_lengths)
    decoded = []
    for seq, length in zip(array, lengths):
        best = seq[:length].argmax(axis=1).tolist()
        out, previous = [], None
        for k in best:
            if k != previous and k != blank:
                out.append(k)
            previous = k
        decoded.append(out)
    return decoded[0] if single else decoded


def _prefix_beam_search(seq: np.ndarray, beam_width: int, blank: int):
    """One sequence ``(T, C)``: the best labelling found and its log-probability."""
    chars = np.array([c for c in range(seq.shape[1]) if c != blank])
    position = {int(c): k for k, c in enumerate(chars)}
    # each prefix holds two log-probabilities: of its alignments so far that end in a blank (p_blank)
    # and of those that end in its last character (p_char)
    prefixes = [()]
    p_blank, p_char = np.zeros(1), np.full(1, -np.inf)
    for frame in seq:
        total = np.logaddexp(p_blank, p_char)
        last = np.array([p[-1] if p else -1 for p in prefixes])
        # the prefix stays: a blank, or its last character repeated (merged with it)
        stay_blank = total + frame[blank]
        stay_char = np.where(last >= 0, p_char + frame[np.maximum(last, 0)], -np.inf)
        # the prefix grows by a character c; a repeat of its last character needs a blank in between
        grow = total[:, None] + frame[chars][None, :]
        repeat = last[:, None] == chars[None, :]
        grow = np.where(repeat, p_blank[:, None] + frame[chars][None, :], grow)
        # a grown prefix that is already in the beam: add its probability there
        merged = np.zeros(grow.shape, dtype=bool)
        index = {p: i for i, p in enumerate(prefixes)}
        for j, p in enumerate(prefixes):
            i = index.get(p[:-1]) if p else None
            if i is not None:
                k = position[p[-1]]
                stay_char[j] = np.logaddexp(stay_char[j], grow[i, k])
                merged[i, k] = True
        scores = np.concatenate([np.logaddexp(stay_blank, stay_char), grow.ravel()])
        keep = np.concatenate([np.ones(len(prefixes), dtype=bool), ~merged.ravel()])
        keep &= scores > -np.inf
        if not keep.any():  # every prefix impossible: keep the empty one
            keep[0] = True
        candidates = np.flatnonzero(keep)
        order = candidates[np.argsort(-scores[candidates], kind="stable")][:beam_width]
        n, k = len(prefixes), len(chars)
        new_prefixes, new_blank, new_char = [], [], []
        for c in order.tolist():
            if c < n:
                new_prefixes.append(prefixes[c])
                new_blank.append(stay_blank[c])
                new_char.append(stay_char[c])
            else:
                i, kk = divmod(c - n, k)
                new_prefixes.append(prefixes[i] + (int(chars[kk]),))
                new_blank.append(-np.inf)
                new_char.append(grow[i, kk])
        prefixes, p_blank, p_char = new_prefixes, np.array(new_blank), np.array(new_char)
    scores = np.logaddexp(p_blank, p_char)
    best = int(np.argmax(scores))
    return list(prefixes[best]), float(scores[best])


def ctc_beam_search(log_probs, beam_width: int = 8, blank: int = 0, input_lengths=None, return_log_prob=False):
    """Prefix beam search: the most probable labelling found, summing over its alignments.

    After each frame only the ``beam_width`` most probable prefixes are kept (ties broken by the prefix);
    each prefix carries the log-probabilities, computed in log space, of its alignments so far that end in
    a blank and in a character, so that alignments that collapse to the same prefix are added up. With a
    beam at least as wide as the number of distinct prefixes, nothing is pruned and the result is the
    exact most probable labelling and its exact log-probability (the negative CTC loss of that labelling).

    ``log_probs``: ``(T, C)`` (returns a list of class indices) or ``(T, N, C)`` (returns a list of ``N``
    lists), as :func:`ctc_greedy_decode`. With ``return_log_prob=True`` each result is a pair
    ``(labels, log_probability)``.
    """
    if not _is_int(beam_width) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
    array, lengths, single = _log_probs(log_probs, blank, input_lengths)
    results = []
    for seq, length in zip(array, lengths):
        labels, logp = _prefix_beam_search(seq[:length], int(beam_width), blank)
        results.append((labels, logp) if return_log_prob else labels)
    return results[0] if single else results


# ---------------------------------------------------------------------------------------------------------
# Scores


def _as_list(seq, name: str) -> list:
    if isinstance(seq, torch.Tensor):
        if seq.ndim != 1:
            raise ValueError(f"{name} must be a 1-D sequence, got a tensor of shape {tuple(seq.shape)}")
        return seq.tolist()
    if isinstance(seq, np.ndarray):
        if seq.ndim != 1:
            raise ValueError(f"{name} must be a 1-D sequence, got an array of shape {seq.shape}")
        return seq.tolist()
    if isinstance(seq, (str, list, tuple)):
        return list(seq)
    raise ValueError(f"{name} must be a str, list, tuple or 1-D tensor, got {type(seq).__name__}")


def edit_distance(a, b) -> int:
    """The Levenshtein distance: the fewest insertions, deletions and substitutions that turn ``a`` into
    ``b`` (strings, lists, tuples or 1-D tensors; elements compared with ``==``)."""
    a, b = _as_list(a, "a"), _as_list(b, "b")
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _pairs(predictions, targets):
    if not isinstance(predictions, (list, tuple)) or not isinstance(targets, (list, tuple)):
        raise ValueError("predictions and targets must be lists of sequences")
    if len(predictions) != len(targets) or not targets:
        raise ValueError(
            f"need as many predictions as targets, at least one: got {len(predictions)} and {len(targets)}"
        )
    return [_as_list(p, "a prediction") for p in predictions], [_as_list(t, "a target") for t in targets]


def character_error_rate(predictions, targets) -> float:
    """The sum of the edit distances between each prediction and its target over the total length of the
    targets (can exceed 1 when predictions are longer than the targets)."""
    predictions, targets = _pairs(predictions, targets)
    total = sum(len(t) for t in targets)
    if total == 0:
        raise ValueError("the targets are all empty: the character error rate is undefined")
    return sum(edit_distance(p, t) for p, t in zip(predictions, targets)) / total


def sequence_accuracy(predictions, targets) -> float:
    """The share of predictions equal to their target, every element in order."""
    predictions, targets = _pairs(predictions, targets)
    return sum(p == t for p, t in zip(predictions, targets)) / len(targets)
