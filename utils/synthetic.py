"""Seeded generators of synthetic images, fast enough for quick mode on a CPU.

Faces from parts (chapter 1, the Picasso effect):

* :func:`make_faces` draws two eyes, a nose and a mouth, either in a face's arrangement
  (``"face"``) or at random places (``"scrambled"``: the same parts, no face).
* :func:`make_clutter` draws negatives: by default other shapes (squares, crosses, triangles, rings), no
  face parts; with ``kind="parts"``, a face's parts drawn the same way at random places, with one or both
  eyes replaced by a mouth: the same parts and as much ink as a face, but never a face's set of parts,
  so never a scrambled face either.
"""

from __future__ import annotations

import numpy as np
import torch

ARRANGEMENTS = ("face", "scrambled")
CLUTTER_KINDS = ("shapes", "parts")
FACE_PARTS = ("eye", "eye", "nose", "mouth")


def _check_count_size(n: int, size: int, min_size: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < min_size:
        raise ValueError(f"size must be an integer >= {min_size}, got {size!r}")


class _Canvas:
    """A square grey-level image with a few drawing primitives in pixel coordinates."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size = size
        self.rng = rng
        self.yy, self.xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        self.img = np.zeros((size, size), np.float32)

    def paint(self, mask: np.ndarray) -> None:
        self.img[mask] = self.rng.uniform(0.7, 1.0)

    def disc(self, cy, cx, r):
        self.paint((self.yy - cy) ** 2 + (self.xx - cx) ** 2 <= r**2)

    def ring(self, cy, cx, r, width):
        d2 = (self.yy - cy) ** 2 + (self.xx - cx) ** 2
        self.paint((d2 <= r**2) & (d2 >= (r - width) ** 2))

    def rect(self, cy, cx, h, w):
        self.paint((np.abs(self.yy - cy) <= h / 2) & (np.abs(self.xx - cx) <= w / 2))

    def hollow_square(self, cy, cx, s, width):
        outer = (np.abs(self.yy - cy) <= s / 2) & (np.abs(self.xx - cx) <= s / 2)
        inner = (np.abs(self.yy - cy) < s / 2 - width) & (np.abs(self.xx - cx) < s / 2 - width)
        self.paint(outer & ~inner)

    def cross(self, cy, cx, s, width):
        diag1 = np.abs((self.yy - cy) - (self.xx - cx)) <= width / 1.4
        diag2 = np.abs((self.yy - cy) + (self.xx - cx)) <= width / 1.4
        box = (np.abs(self.yy - cy) <= s / 2) & (np.abs(self.xx - cx) <= s / 2)
        self.paint((diag1 | diag2) & box)

    def triangle(self, cy, cx, s):
        top = cy - s / 2
        rel = (self.yy - top) / s  # 0 at the apex, 1 at the base
        self.paint((rel >= 0) & (rel <= 1) & (np.abs(self.xx - cx) <= rel * s / 2))

    def finish(self, noise: float) -> np.ndarray:
        img = self.img + self.rng.normal(0.0, noise, self.img.shape).astype(np.float32)
        return np.clip(img, 0.0, 1.0)


def _face_layout(size: int, rng: np.random.Generator) -> list[tuple[str, float, float]]:
    """Centres of (eye, eye, nose, mouth) for a face somewhere in the image."""
    s = size / 32.0
    cy = rng.uniform(13, 19) * s
    cx = rng.uniform(12, 20) * s
    spread = rng.uniform(0.9, 1.1)
    return [
        ("eye", cy - 6 * s * spread, cx - 5 * s * spread),
        ("eye", cy - 6 * s * spread, cx + 5 * s * spread),
        ("nose", cy, cx),
        ("mouth", cy + 7 * s * spread, cx),
    ]


def _random_centres(count: int, size: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """``count`` part centres at random places, at least 8 px (at size 32) apart when possible."""
    s = size / 32.0
    centres = []
    for _ in range(count):
        for _try in range(100):
            y, x = rng.uniform(5 * s, size - 5 * s), rng.uniform(7 * s, size - 7 * s)
            if all((y - py) ** 2 + (x - px) ** 2 > (8 * s) ** 2 for py, px in centres):
                break
        centres.append((y, x))
    return centres


def _scrambled_layout(size: int, rng: np.random.Generator) -> list[tuple[str, float, float]]:
    """The same four parts at random, non-overlapping places, never in a face's arrangement."""
    s = size / 32.0
    parts = list(FACE_PARTS)
    while True:
        centres = _random_centres(len(parts), size, rng)
        layout = [(p, y, x) for p, (y, x) in zip(rng.permutation(parts), centres)]
        eyes = [(y, x) for p, y, x in layout if p == "eye"]
        nose = next((y, x) for p, y, x in layout if p == "nose")
        mouth = next((y, x) for p, y, x in layout if p == "mouth")
        # reject the rare draw that happens to look like a face: eyes level, above nose, above mouth
        facelike = (
            abs(eyes[0][0] - eyes[1][0]) < 3 * s
            and max(e[0] for e in eyes) < nose[0] < mouth[0]
            and min(e[1] for e in eyes) < nose[1] < max(e[1] for e in eyes)
        )
        if not facelike:
            return layout


def _draw_part(canvas: _Canvas, part: str, cy: float, cx: float, s: float) -> None:
    if part == "eye":
        canvas.disc(cy, cx, 2.5 * s)
    elif part == "nose":
        canvas.rect(cy, cx, 6 * s, 2 * s)
    else:  # mouth
        canvas.rect(cy, cx, 2 * s, 10 * s)


def make_faces(n: int, size: int = 32, arrangement: str = "face", noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """``n`` images ``(n, 1, size, size)`` of faces drawn from parts: two eyes, a nose, a mouth.

    ``arrangement="face"`` puts the parts where a face has them (with jitter in position and
    spacing); ``"scrambled"`` puts the same parts at random places (a Picasso face).
    """
    if arrangement not in ARRANGEMENTS:
        raise ValueError(f"arrangement must be one of {ARRANGEMENTS}, got {arrangement!r}")

    def draw(canvas, rng, s):
        layout = _face_layout(size, rng) if arrangement == "face" else _scrambled_layout(size, rng)
        for part, cy, cx in layout:
            _draw_part(canvas, part, cy, cx, s)

    return _render(n, size, noise, seed, draw)


def _render(n: int, size: int, noise: float, seed: int, draw) -> torch.Tensor:
    """``n`` images drawn by ``draw(canvas, rng, scale)`` on fresh canvases, as a tensor ``(n, 1, size, size)``."""
    _check_count_size(n, size, 24)
    rng = np.random.default_rng(seed)
    s = size / 32.0
    out = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        canvas = _Canvas(size, rng)
        draw(canvas, rng, s)
        out[i, 0] = canvas.finish(noise)
    return torch.from_numpy(out)


# half-height and half-width of each part at size 32 (see _draw_part)
_PART_HALF_EXTENT = {"eye": (2.5, 2.5), "nose": (3.0, 1.0), "mouth": (1.0, 5.0)}


def _parts_apart(layout: list[tuple[str, float, float]], s: float, gap: float = 1.0) -> bool:
    """Whether the bounding boxes of all parts are at least ``gap * s`` pixels apart (in y or in x)."""
    for i, (p, y, x) in enumerate(layout):
        for q, v, u in layout[:i]:
            (hy, hx), (ky, kx) = _PART_HALF_EXTENT[p], _PART_HALF_EXTENT[q]
            if abs(y - v) < (hy + ky + gap) * s and abs(x - u) < (hx + kx + gap) * s:
                return False
    return True


def _part_clutter_layout(size: int, rng: np.random.Generator) -> list[tuple[str, float, float]]:
    """A face's four parts at random, separate places, each eye replaced by a mouth with probability 1/2,
    redrawn until at least one is: a nose and one eye and two mouths, or a nose and three mouths."""
    while True:
        eyes_kept = rng.random(2) < 0.5
        if not eyes_kept.all():
            break
    parts = ["eye" if kept else "mouth" for kept in eyes_kept] + ["nose", "mouth"]
    while True:  # two mouths 8 px apart in the same row would touch: draw again
        layout = [(p, y, x) for p, (y, x) in zip(parts, _random_centres(len(parts), size, rng))]
        if _parts_apart(layout, size / 32.0):
            return layout


def make_clutter(n: int, size: int = 32, noise: float = 0.05, seed: int = 0, kind: str = "shapes") -> torch.Tensor:
    """``n`` images ``(n, 1, size, size)`` that are not faces, the negatives for :func:`make_faces`.

    ``kind="shapes"`` (the default): 3 to 5 non-face shapes, hollow squares, crosses, triangles, rings.
    ``kind="parts"``: a face's four parts drawn as :func:`make_faces` draws them, at random places, with
    each eye replaced by a mouth with probability 1/2 and at least one replaced: a nose, a mouth and one
    eye and one more mouth, or no eye and two more mouths. A mouth has as much ink as an eye, so part
    clutter has the parts of a face and as much ink, but fewer than two eyes: never a scrambled face.
    """
    if kind not in CLUTTER_KINDS:
        raise ValueError(f"kind must be one of {CLUTTER_KINDS}, got {kind!r}")

    if kind == "parts":

        def draw_parts(canvas, rng, s):
            for part, cy, cx in _part_clutter_layout(size, rng):
                _draw_part(canvas, part, cy, cx, s)

        return _render(n, size, noise, seed, draw_parts)

    def draw(canvas, rng, s):
        for _ in range(rng.integers(3, 6)):
            cy, cx = rng.uniform(5 * s, size - 5 * s, size=2)
            shape = rng.integers(4)
            if shape == 0:
                canvas.hollow_square(cy, cx, rng.uniform(6, 9) * s, 1.5 * s)
            elif shape == 1:
                canvas.cross(cy, cx, rng.uniform(6, 9) * s, 1.6 * s)
            elif shape == 2:
                canvas.triangle(cy, cx, rng.uniform(6, 9) * s)
            else:
                canvas.ring(cy, cx, rng.uniform(3, 4.5) * s, 1.5 * s)

    return _render(n, size, noise, seed, draw)
