"""Action clips: short videos of shapes whose class only motion tells, a viewer, and time reversal.

Chapter 8 (action recognition) trains every video model on the same generated clips:

* :func:`make_action_clips`: ``n`` clips of ``n_frames`` RGB frames of ``size`` × ``size`` pixels. In each
  clip one large shape (the *actor*: a triangle, an L, a T, a bar or a half disc, none of which looks the
  same after a small rotation) performs one of :data:`ACTIONS` (move left, right, up or down, rotate
  clockwise or anticlockwise, grow, shrink, bounce) at a speed drawn per clip, in front of a smooth
  coloured background, among small *distractor* shapes that drift at random, while the camera shakes by
  up to ``jitter`` pixels per frame; Gaussian noise is added last. A single frame says nothing about the
  class: which shape, where, in which colour and at which angle are drawn independently of it.
  Returns an :class:`ActionClips`; ``dtype=torch.uint8`` stores the clips as bytes (a quarter of the
  memory), :func:`as_float` and :meth:`ActionClips.dataset` give them back as floats.
* Time reversal: :func:`reverse_time` plays clips backwards; :data:`REVERSE` maps each action to the
  action its reversal looks like (left ↔ right, up ↔ down, clockwise ↔ anticlockwise, grow ↔ shrink;
  a bounce stays a bounce). The generator draws each action's parameters so that the reversal of a clip of
  one action is distributed as the clips of its partner: a model that cannot tell a clip from its reversal
  is at chance within each pair (:data:`REVERSAL_PAIRS`, the *direction classes*).
* :func:`show_clips` (a static figure: clips as rows of frames) and :func:`animate_clips` (an animation
  with play, pause and step buttons, as HTML and JavaScript, so that it also plays on the static website).

Layout: clips are tensors ``(N, 3, T, H, W)``, floats in [0, 1] (or bytes), channels before time, as torchvision's video
models take them (``(N, C, T, H, W)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

ACTIONS = ("left", "right", "up", "down", "clockwise", "anticlockwise", "grow", "shrink", "bounce")
REVERSE = {
    "left": "right",
    "right": "left",
    "up": "down",
    "down": "up",
    "clockwise": "anticlockwise",
    "anticlockwise": "clockwise",
    "grow": "shrink",
    "shrink": "grow",
    "bounce": "bounce",
}
REVERSAL_PAIRS = (("left", "right"), ("up", "down"), ("clockwise", "anticlockwise"), ("grow", "shrink"))
DIRECTION_CLASSES = tuple(a for pair in REVERSAL_PAIRS for a in pair)
SHAPES = ("triangle", "L", "T", "bar", "half disc")

# Sizes are fractions of the frame side, speeds fractions of the frame side per frame, so that clips of
# 32 and 64 pixels show the same actions.
ACTOR_RADIUS = (0.12, 0.17)  # half the actor's extent, while it moves, rotates or bounces
SCALE_RADIUS = (0.08, 0.25)  # the smallest and largest half-extent of a growing or shrinking actor
SCALE_RATIO = (1.8, 2.6)  # how many times a growing actor grows over the clip
SPEED = (0.02, 0.035)  # translation, in frame sides per frame (0.64 to 1.12 px per frame at 32 px)
TURN = (8.0, 20.0)  # rotation, in degrees per frame
DISTRACTOR_RADIUS = (0.04, 0.065)
DISTRACTOR_SPEED = 0.02  # at most, in frame sides per frame
_TILE = 48  # pixels per shape in the atlas the frames are sampled from
_MARGIN = 4  # empty pixels around each shape of the atlas, so that sampling never bleeds between tiles


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_number(name: str, value, minimum: float, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if math.isnan(value) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value!r}")
    return float(value)


@dataclass
class ActionClips:
    """Generated clips and what they show.

    * ``clips``: float tensor ``(n, 3, T, H, W)`` in [0, 1], or bytes (``torch.uint8``, 0 to 255) when
      generated with ``dtype=torch.uint8``.
    * ``labels``: int64 ``(n,)``, indices into ``classes``.
    * ``classes``: the action names, :data:`ACTIONS` unless ``make_action_clips(actions=...)`` chose some.
    * ``shapes``: int64 ``(n,)``, the actor's shape, an index into :data:`SHAPES`.
    * ``speeds``: float ``(n,)``, how fast the action goes: pixels per frame for moves and bounces, degrees
      per frame for rotations, the factor by which the size changes per frame for grow and shrink.
    * ``centres``: float ``(n, T, 2)``, the actor's centre (x, y) in pixels in each frame, camera shake
      included (x to the right, y down, pixel centres at integers).
    * ``angles``: float ``(n, T)``, the actor's orientation in degrees, increasing clockwise on screen.
    * ``radii``: float ``(n, T)``, half the actor's extent in pixels.
    """

    clips: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    shapes: torch.Tensor
    speeds: torch.Tensor
    centres: torch.Tensor
    angles: torch.Tensor
    radii: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def dataset(self) -> torch.utils.data.Dataset:
        """The clips and labels as a dataset of ``(clip, label)`` pairs for a ``DataLoader``, the clips as
        floats in [0, 1] even when they are stored as bytes."""
        return _FloatClips(self.clips, self.labels)

    def reversed_labels(self) -> torch.Tensor:
        """The label each clip's time reversal should get (:data:`REVERSE`), as int64 ``(n,)``."""
        return reversed_labels(self.labels, self.classes)


# ---------------------------------------------------------------------------------------------------------
# shapes


def _shape_masks(supersample: int = 4) -> torch.Tensor:
    """The shapes, one tile each, as coverage in [0, 1]: ``(len(SHAPES), _TILE, _TILE)``.

    Canonical coordinates (u, v) span [-1, 1] over the tile's inner square (v down). Every shape reaches
    |u| = 1 or |v| = 1 and is centred on its bounding box, so its radius is half its extent.
    """
    n = _TILE - 2 * _MARGIN
    k = supersample
    grid = (torch.arange(n * k, dtype=torch.float64) + 0.5) / (n * k) * 2 - 1
    v, u = torch.meshgrid(grid, grid, indexing="ij")
    inside = {
        # isosceles, apex up: its only symmetry is a mirror, so any rotation of it is visible
        "triangle": (v <= 1) & (v >= -1) & (u.abs() <= 0.8 * (v + 1) / 2),
        "L": ((u <= -0.3) & (u >= -1) & (v.abs() <= 1)) | ((v >= 0.3) & (v <= 1) & (u.abs() <= 1)),
        "T": ((v <= -0.35) & (v >= -1) & (u.abs() <= 1)) | ((u.abs() <= 0.33) & (v.abs() <= 1)),
        "bar": (u.abs() <= 1) & (v.abs() <= 0.4),
    }
    # the upper half of a disc (flat side down), stretched so that it spans v in [-1, 1] like the others
    inside["half disc"] = (u**2 + ((v - 1) / 2) ** 2 <= 1) & (v <= 1)
    masks = torch.stack([inside[s].double() for s in SHAPES])
    masks = F.avg_pool2d(masks[:, None], k)[:, 0].float()
    return F.pad(masks, (_MARGIN,) * 4)


_MASKS: torch.Tensor | None = None


def _masks() -> torch.Tensor:
    """The shape tiles, computed once: ``(len(SHAPES), 1, 1, _TILE, _TILE)``."""
    global _MASKS
    if _MASKS is None:
        _MASKS = _shape_masks()[:, None, None]
    return _MASKS


def _coverage(shape, cx, cy, angle, radius, height: int, width: int) -> torch.Tensor:
    """How much of each pixel the shapes cover: ``(B, height, width)`` for B placements.

    ``shape`` (B,) indices into :data:`SHAPES`; ``cx``, ``cy``, ``radius`` in pixels; ``angle`` in degrees,
    clockwise on screen. A pixel p = (x, y) shows the point R(-angle)(p - c) / radius of the shape's
    canonical square [-1, 1]²: an affine map, so :func:`torch.nn.functional.affine_grid` builds the
    sampling grid and :func:`torch.nn.functional.grid_sample` interpolates the tile (bilinear: edges are
    anti-aliased; outside the tile is zero).
    """
    b = shape.shape[0]
    a = torch.deg2rad(angle.double())
    cos, sin = torch.cos(a), torch.sin(a)
    inner = (_TILE - 2 * _MARGIN) / _TILE  # the canonical square's share of a tile
    k = inner / radius.double()
    # pixel x = (W x_n + W - 1) / 2 for the normalised x_n of affine_grid (align_corners=False)
    dx0 = (width - 1) / 2 - cx.double()
    dy0 = (height - 1) / 2 - cy.double()
    hx, hy = width / 2, height / 2
    theta = torch.stack(
        [
            torch.stack([k * cos * hx, k * sin * hy, k * (cos * dx0 + sin * dy0)], dim=-1),
            torch.stack([-k * sin * hx, k * cos * hy, k * (-sin * dx0 + cos * dy0)], dim=-1),
        ],
        dim=1,
    ).float()
    grid = F.affine_grid(theta, [b, 1, height, width], align_corners=False)
    cover = torch.empty(b, height, width)
    masks = _masks()
    for s in range(len(SHAPES)):
        rows = (shape == s).nonzero()[:, 0]
        if len(rows):
            g = grid[rows].reshape(1, len(rows) * height, width, 2)
            out = F.grid_sample(masks[s], g, mode="bilinear", padding_mode="zeros", align_corners=False)
            cover[rows] = out.reshape(len(rows), height, width)
    return cover


# ---------------------------------------------------------------------------------------------------------
# motion


def _uniform(rng: np.random.Generator, bounds, n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n)


def _actor_motion(rng: np.random.Generator, action: str, n: int, t: int, size: int):
    """Per-frame centre (n, t, 2), angle (n, t), radius (n, t) in pixels and degrees, and the speed (n,).

    Every action's parameters are drawn so that the time reversal of its clips is distributed as the clips
    of :data:`REVERSE`\\ [action]: start and end positions are symmetric, and the speed's range is shared.
    """
    steps = np.arange(t, dtype=np.float64)
    last = t - 1
    angle0 = rng.uniform(0, 360, n)
    angles = np.repeat(angle0[:, None], t, axis=1)
    radius = _uniform(rng, ACTOR_RADIUS, n) * size
    radii = np.repeat(radius[:, None], t, axis=1)
    centres = np.empty((n, t, 2))
    if action in ("left", "right", "up", "down"):
        speed = _uniform(rng, SPEED, n) * size
        travel = speed * last
        axis = 0 if action in ("left", "right") else 1
        sign = 1.0 if action in ("right", "down") else -1.0
        # the path [start, end] lies inside [r, size - 1 - r]: draw its lower end uniformly, so that the
        # reversal (same path, other way) is drawn the same way
        low = radius + rng.uniform(0, 1, n) * (size - 1 - 2 * radius - travel)
        along = np.where(
            sign > 0, low[:, None] + speed[:, None] * steps, (low + travel)[:, None] - speed[:, None] * steps
        )
        across = radius + rng.uniform(0, 1, n) * (size - 1 - 2 * radius)
        centres[..., axis] = along
        centres[..., 1 - axis] = across[:, None]
    elif action == "bounce":
        speed = _uniform(rng, SPEED, n) * size
        # out and back along a random direction, turning at frame k drawn symmetrically about the middle
        turn = rng.integers(last // 2 - 2, last - (last // 2 - 2) + 1, n)
        direction = rng.uniform(0, 2 * np.pi, n)
        unit = np.stack([np.cos(direction), np.sin(direction)], axis=1)
        offset = speed[:, None] * np.minimum(steps[None], 2 * turn[:, None] - steps[None])  # (n, t)
        path = offset[..., None] * unit[:, None, :]  # relative to the start
        lo = path.min(axis=1)
        hi = path.max(axis=1)
        start = radius[:, None] - lo + rng.uniform(0, 1, (n, 2)) * (size - 1 - 2 * radius[:, None] - (hi - lo))
        centres[:] = start[:, None, :] + path
    else:
        centre = radius[:, None] + rng.uniform(0, 1, (n, 2)) * (size - 1 - 2 * radius[:, None])
        centres[:] = centre[:, None, :]
        if action in ("clockwise", "anticlockwise"):
            speed = _uniform(rng, TURN, n)
            sign = 1.0 if action == "clockwise" else -1.0
            angles = angle0[:, None] + sign * speed[:, None] * steps
        else:  # grow, shrink: the size changes geometrically between a small and a large radius
            ratio = _uniform(rng, SCALE_RATIO, n)
            speed = ratio ** (1 / last)
            lo_r, hi_r = SCALE_RADIUS[0] * size, SCALE_RADIUS[1] * size
            small = lo_r * (hi_r / lo_r / ratio) ** rng.uniform(0, 1, n)
            grow = small[:, None] * speed[:, None] ** steps
            radii = grow if action == "grow" else grow[:, ::-1]
            # keep the largest extent inside the frame
            big = radii.max(axis=1)
            centre = big[:, None] + rng.uniform(0, 1, (n, 2)) * (size - 1 - 2 * big[:, None])
            centres[:] = centre[:, None, :]
    return centres, angles, np.ascontiguousarray(radii), speed


def _background(rng: np.random.Generator, n: int, t: int, size: int, shake: np.ndarray) -> torch.Tensor:
    """Smooth coloured backgrounds (n, 3, t, size, size): a base colour plus three low-frequency waves,
    seen by a camera displaced by ``shake`` (n, t, 2) pixels (pixel p shows the scene point p - shake)."""
    waves = 3
    base = torch.from_numpy(rng.uniform(0.25, 0.75, (n, 3))).float()
    freq = rng.uniform(0.5, 2.0, (n, waves)) * 2 * np.pi / size  # 0.5 to 2 periods per frame
    theta = rng.uniform(0, 2 * np.pi, (n, waves))
    fx, fy = freq * np.cos(theta), freq * np.sin(theta)
    phase = rng.uniform(0, 2 * np.pi, (n, waves))
    amp = torch.from_numpy(rng.uniform(0.04, 0.1, (n, waves, 3))).float()
    # sin(fx (x - sx) + fy (y - sy) + phase): the shake only moves the phase
    sx, sy = shake[..., 0][:, None, :], shake[..., 1][:, None, :]  # (n, 1, t)
    phase_t = torch.from_numpy(phase[..., None] - fx[..., None] * sx - fy[..., None] * sy).float()
    coords = torch.arange(size, dtype=torch.float32)
    fx_ = torch.from_numpy(fx).float()[..., None, None, None]
    fy_ = torch.from_numpy(fy).float()[..., None, None, None]
    arg = fx_ * coords + fy_ * coords[:, None] + phase_t[..., None, None]  # (n, waves, t, H, W)
    return base[:, :, None, None, None] + torch.einsum("nwc,nwthx->ncthx", amp, torch.sin(arg))


def _colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Saturated colours (n, 3): a random hue at full saturation, value 0.85-1 or 0.1-0.25 (bright or dark)."""
    hue = rng.uniform(0, 1, n)
    k = (np.array([5, 3, 1])[None] + hue[:, None] * 6) % 6
    rgb = 1 - np.clip(np.minimum(k, 4 - k), 0, 1)
    bright = rng.uniform(0, 1, n) < 0.5
    value = np.where(bright, rng.uniform(0.85, 1.0, n), rng.uniform(0.1, 0.25, n))
    return rgb * value[:, None] + (1 - rgb) * np.where(bright, 0.1, 0.0)[:, None]


_CHUNK = 25  # clips per class generated at once: the memory is the result's plus a few times a chunk's
DTYPES = (torch.float32, torch.uint8)


def make_action_clips(
    n: int,
    n_frames: int = 16,
    size: int = 32,
    actions=ACTIONS,
    distractors: int = 3,
    jitter: float = 0.75,
    noise: float = 0.03,
    background: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> ActionClips:
    """``n`` clips of shapes performing ``actions``, balanced (``n`` a multiple of ``len(actions)``).

    * ``n_frames`` (>= 8) frames of ``size`` × ``size`` pixels (16 to 256); RGB, in [0, 1].
    * ``actions``: names from :data:`ACTIONS`; the labels index this tuple in the order given.
    * ``distractors``: small shapes per clip that drift in straight lines at up to
      ``DISTRACTOR_SPEED × size`` pixels per frame in random directions and turn at random, drawn under
      the actor.
    * ``jitter``: camera shake, the largest displacement of the whole scene in each frame, in pixels
      (drawn independently per frame).
    * ``noise``: standard deviation of the Gaussian noise added to every pixel (the result is clipped to
      [0, 1]). ``background=False`` gives a black background (for tests and figures).
    * ``dtype``: ``torch.float32`` (values in [0, 1]) or ``torch.uint8`` (bytes 0 to 255, as in a video
      file: ``round(255 × value)``, a quarter of the memory; :func:`as_float` turns them back into floats
      to within 1/510).

    The clips are generated :data:`_CHUNK` per class at a time, each chunk from its own random stream
    spawned from ``seed``, so that the memory needed is the result's plus a few times a chunk's, whatever
    ``n``. They come in a random order; the same ``seed`` gives the same clips (as floats or bytes).
    """
    n = _check_int("n", n, 1)
    n_frames = _check_int("n_frames", n_frames, 8)
    size = _check_int("size", size, 16)
    if size > 256:
        raise ValueError(f"size must be at most 256 pixels, got {size}")
    distractors = _check_int("distractors", distractors, 0)
    jitter = _check_number("jitter", jitter, 0.0, size / 8)
    noise = _check_number("noise", noise, 0.0, 0.5)
    if isinstance(actions, str) or not hasattr(actions, "__iter__"):
        raise ValueError(f"actions must be a sequence of names from {ACTIONS}, got {actions!r}")
    actions = tuple(actions)
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown or not actions or len(set(actions)) != len(actions):
        raise ValueError(f"actions must be distinct names from {ACTIONS}, got {actions!r}")
    if n % len(actions):
        raise ValueError(f"n must be a multiple of the number of actions ({len(actions)}), got {n}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be torch.float32 or torch.uint8, got {dtype!r}")
    _check_int("seed", seed, 0)
    per = n // len(actions)
    t = n_frames
    chunks = [min(_CHUNK, per - start) for start in range(0, per, _CHUNK)]
    streams = np.random.SeedSequence(seed).spawn(len(chunks) + 1)
    order = torch.from_numpy(np.random.default_rng(streams[0]).permutation(n))  # where each clip goes
    out = ActionClips(
        clips=torch.empty(n, 3, t, size, size, dtype=dtype),
        labels=torch.empty(n, dtype=torch.long),
        classes=actions,
        shapes=torch.empty(n, dtype=torch.long),
        speeds=torch.empty(n),
        centres=torch.empty(n, t, 2),
        angles=torch.empty(n, t),
        radii=torch.empty(n, t),
    )
    done = 0
    for stream, m in zip(streams[1:], chunks):
        part = _make_chunk(np.random.default_rng(stream), m, t, size, actions, distractors, jitter, noise, background)
        rows = order[done : done + len(part)]
        done += len(part)
        for field in ("labels", "shapes", "speeds", "centres", "angles", "radii"):
            getattr(out, field)[rows] = getattr(part, field)
        out.clips[rows] = part.clips if dtype == torch.float32 else (part.clips * 255).round_().to(torch.uint8)
    return out


def _make_chunk(
    rng: np.random.Generator,
    per: int,
    t: int,
    size: int,
    actions: tuple[str, ...],
    distractors: int,
    jitter: float,
    noise: float,
    background: bool,
) -> ActionClips:
    """``per`` clips of each action, in the order of ``actions`` (see :func:`make_action_clips`)."""
    n = per * len(actions)
    centres = np.empty((n, t, 2))
    angles = np.empty((n, t))
    radii = np.empty((n, t))
    speeds = np.empty(n)
    labels = np.repeat(np.arange(len(actions)), per)
    for i, action in enumerate(actions):
        rows = slice(i * per, (i + 1) * per)
        centres[rows], angles[rows], radii[rows], speeds[rows] = _actor_motion(rng, action, per, t, size)
    shapes = rng.integers(0, len(SHAPES), n)
    shake = rng.uniform(-jitter, jitter, (n, t, 2))
    centres = centres + shake

    if background:
        frames = _background(rng, n, t, size, shake)
    else:
        frames = torch.zeros(n, 3, t, size, size)

    def paint(shape, centre, angle, radius, colour):
        """Draw one shape per clip in every frame, over what is there."""
        cover = _coverage(
            torch.from_numpy(np.repeat(shape, t)),
            torch.from_numpy(centre[..., 0].reshape(-1)).float(),
            torch.from_numpy(centre[..., 1].reshape(-1)).float(),
            torch.from_numpy(angle.reshape(-1)).float(),
            torch.from_numpy(radius.reshape(-1)).float(),
            size,
            size,
        ).reshape(n, 1, t, size, size)
        paint_colour = torch.from_numpy(colour.astype(np.float32))[:, :, None, None, None]
        frames.mul_(1 - cover).add_(cover * paint_colour)

    steps = np.arange(t, dtype=np.float64)
    for _ in range(distractors):
        radius = _uniform(rng, DISTRACTOR_RADIUS, n) * size
        start = rng.uniform(0, size - 1, (n, 2))
        direction = rng.uniform(0, 2 * np.pi, n)
        speed = rng.uniform(0, DISTRACTOR_SPEED * size, n)
        velocity = speed[:, None] * np.stack([np.cos(direction), np.sin(direction)], axis=1)
        centre = start[:, None, :] + velocity[:, None, :] * (steps[None, :, None] - (t - 1) / 2) + shake
        angle = rng.uniform(0, 360, n)[:, None] + rng.uniform(-TURN[1], TURN[1], n)[:, None] * steps
        paint(
            rng.integers(0, len(SHAPES), n),
            centre,
            angle,
            np.repeat(radius[:, None], t, axis=1),
            _colours(rng, n),
        )
    paint(shapes, centres, angles, radii, _colours(rng, n))
    if noise > 0:
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        frames.add_(torch.randn(frames.shape, generator=gen).mul_(noise))
    frames.clamp_(0, 1)
    return ActionClips(
        clips=frames,
        labels=torch.from_numpy(labels).long(),
        classes=actions,
        shapes=torch.from_numpy(shapes).long(),
        speeds=torch.from_numpy(speeds).float(),
        centres=torch.from_numpy(centres).float(),
        angles=torch.from_numpy(angles).float(),
        radii=torch.from_numpy(radii).float(),
    )


def as_float(clips: torch.Tensor) -> torch.Tensor:
    """Clips stored as bytes (``torch.uint8``, 0 to 255) as floats in [0, 1]; float clips unchanged."""
    if not isinstance(clips, torch.Tensor):
        raise ValueError(f"clips must be a tensor, got {type(clips).__name__}")
    if clips.dtype == torch.uint8:
        return clips.float().div_(255)
    if not clips.is_floating_point():
        raise ValueError(f"clips must be bytes (torch.uint8) or floats, got {clips.dtype}")
    return clips


class _FloatClips(torch.utils.data.Dataset):
    """``(clip, label)`` pairs, each clip turned into floats (:func:`as_float`) when it is drawn."""

    def __init__(self, clips: torch.Tensor, labels: torch.Tensor):
        self.clips, self.labels = clips, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return as_float(self.clips[i]), self.labels[i]


# ---------------------------------------------------------------------------------------------------------
# time reversal


def _check_clips(clips, name: str = "clips") -> torch.Tensor:
    if not isinstance(clips, torch.Tensor):
        raise ValueError(f"{name} must be a tensor (N, C, T, H, W) or (C, T, H, W), got {type(clips).__name__}")
    if clips.ndim not in (4, 5):
        raise ValueError(f"{name} must have shape (N, C, T, H, W) or (C, T, H, W), got {tuple(clips.shape)}")
    return clips


def reverse_time(clips: torch.Tensor) -> torch.Tensor:
    """The clips played backwards: frame ``t`` becomes frame ``T - 1 - t`` (time is dimension -3 of
    ``(N, C, T, H, W)`` or ``(C, T, H, W)``)."""
    return _check_clips(clips).flip(-3)


def reversed_labels(labels: torch.Tensor, classes=ACTIONS) -> torch.Tensor:
    """The label of each clip's time reversal, by :data:`REVERSE`: int64, the shape of ``labels``.

    ``classes`` are the names the labels index; each one's reversal must be among them.
    """
    classes = tuple(classes)
    missing = [c for c in classes if c not in REVERSE or REVERSE[c] not in classes]
    if missing:
        raise ValueError(f"the reversal of {missing} is not among the classes {classes}")
    if not isinstance(labels, torch.Tensor) or labels.dtype not in (torch.int64, torch.int32):
        raise ValueError("labels must be an integer tensor of class indices")
    if labels.numel() and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(f"labels must lie in [0, {len(classes)}), got {labels.min().item()}..{labels.max().item()}")
    table = torch.tensor([classes.index(REVERSE[c]) for c in classes], dtype=torch.long)
    return table[labels.long()]


def class_mask(labels: torch.Tensor, names, classes=ACTIONS) -> torch.Tensor:
    """A boolean mask of the clips whose label is one of ``names`` (e.g. :data:`DIRECTION_CLASSES`)."""
    classes = tuple(classes)
    unknown = [c for c in names if c not in classes]
    if unknown:
        raise ValueError(f"{unknown} are not among the classes {classes}")
    wanted = torch.tensor([classes.index(c) for c in names], dtype=torch.long)
    return torch.isin(labels.long().cpu(), wanted)


# ---------------------------------------------------------------------------------------------------------
# viewing


def _frames_hwc(clip: torch.Tensor) -> np.ndarray:
    """(C, T, H, W) in [0, 1] -> (T, H, W, C) NumPy for imshow (grey if one channel)."""
    clip = as_float(_check_clips(clip).detach().cpu())
    if clip.ndim != 4 or clip.shape[0] not in (1, 3):
        raise ValueError(f"a clip must have shape (C, T, H, W) with C = 1 or 3, got {tuple(clip.shape)}")
    x = clip.clamp(0, 1).permute(1, 2, 3, 0).numpy()
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def show_clips(clips, titles=None, frames=None, title: str | None = None, scale: float = 0.9):
    """A static figure of clips: one row per clip, one column per shown frame (all of them by default,
    or the frame indices ``frames``). ``titles`` label the rows. Returns the figure."""
    import matplotlib.pyplot as plt

    clips = _check_clips(clips)
    if clips.ndim == 4:
        clips = clips[None]
    t = clips.shape[2]
    frames = list(range(t)) if frames is None else [int(f) for f in frames]
    if not frames or min(frames) < 0 or max(frames) >= t:
        raise ValueError(f"frames must be indices in [0, {t}), got {frames}")
    if titles is not None and len(titles) != len(clips):
        raise ValueError(f"titles must name each of the {len(clips)} clips, got {len(titles)}")
    rows, cols = len(clips), len(frames)
    fig, axes = plt.subplots(rows, cols, figsize=(scale * cols, scale * rows + (0.4 if title else 0)), squeeze=False)
    for r in range(rows):
        images = _frames_hwc(clips[r])
        for c, f in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(images[f], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={f}", fontsize=8)
        if titles is not None:
            axes[r, 0].set_ylabel(titles[r], fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# matplotlib's player draws its buttons with Font Awesome icons loaded from a CDN: offline (and on the
# book's website, which loads nothing from elsewhere) they would be blank. Text symbols replace them.
_BUTTON_SYMBOLS = {
    "fa-minus": "\u2212",  # slower
    "fa-fast-backward": "\u23ee",  # first frame
    "fa-step-backward": "\u25c0\u258f",  # previous frame
    "fa-play fa-flip-horizontal": "\u25c0",  # play backwards
    "fa-pause": "\u23f8",  # pause
    "fa-play": "\u25b6",  # play
    "fa-step-forward": "\u2595\u25b6",  # next frame
    "fa-fast-forward": "\u23ed",  # last frame
    "fa-plus": "+",  # faster
}


def _offline_player(html: str, alt: str) -> str:
    """matplotlib's JavaScript player with no external stylesheet, text buttons and alternative text."""
    import re

    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html)
    for icon, symbol in _BUTTON_SYMBOLS.items():
        html = html.replace(f'<i class="fa {icon}"></i>', symbol)
    if '<i class="fa' in html or "font-awesome" in html:
        raise RuntimeError("matplotlib's animation player changed: an icon or stylesheet was not replaced")
    alt = alt.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return re.sub(r'<img id="(_anim_img\w+)">', rf'<img id="\1" alt="{alt}">', html, count=1)


def animate_clips(clips, titles=None, ncols: int | None = None, fps: float = 6, scale: float = 1.4, dpi: int = 80):
    """The clips playing side by side, with play, pause and step buttons: an ``IPython.display.HTML``
    made by matplotlib's ``FuncAnimation.to_jshtml``, whose frames are embedded PNG images and whose
    buttons are JavaScript, so that it also plays on the static website, offline (the buttons are text
    symbols, not icons from the web).

    ``titles`` label the clips; ``ncols`` clips per row (all in one row by default); ``scale`` inches per
    clip at ``dpi`` dots per inch. The figure used to draw the frames is closed, so that it is not shown a
    second time. Every frame is embedded: keep it to a few clips.
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    clips = _check_clips(clips)
    if clips.ndim == 4:
        clips = clips[None]
    if titles is not None and len(titles) != len(clips):
        raise ValueError(f"titles must name each of the {len(clips)} clips, got {len(titles)}")
    fps = _check_number("fps", fps, 0.1, 60)
    dpi = _check_int("dpi", dpi, 10)
    n = len(clips)
    ncols = n if ncols is None else _check_int("ncols", ncols, 1)
    nrows = math.ceil(n / ncols)
    frames = [_frames_hwc(c) for c in clips]
    t = frames[0].shape[0]
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows + 0.3), squeeze=False, dpi=dpi)
    shown = []
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            shown.append(ax.imshow(frames[i][0], interpolation="nearest"))
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    label = fig.suptitle(f"frame 0 of {t}", fontsize=9)
    fig.tight_layout()

    def draw(k):
        for image, f in zip(shown, frames):
            image.set_data(f[k])
        label.set_text(f"frame {k} of {t}")
        return [*shown, label]

    anim = FuncAnimation(fig, draw, frames=t, interval=1000 / fps, blit=False)
    html = anim.to_jshtml(fps=fps, default_mode="loop")
    plt.close(fig)
    what = ", ".join(map(str, titles)) if titles is not None else f"{n} clip{'s' * (n > 1)}"
    return HTML(_offline_player(html, f"Animation of {t} frames: {what}"))
