"""Optical flow: generated motion with exact flow, real ground truth, warping, end-point error, baselines.

Chapter 7 writes Lucas–Kanade, Horn–Schunck and the flow networks from scratch; chapter 8 computes flow for
its two-stream networks. What both need lives here:

* :func:`make_flow_sequence` and :func:`make_flow_pair`: grey-level frames of textured shapes in front of
  a textured background, each layer moving by its own known affine motion (translation, rotation about
  its centre, scaling), with the **exact** flow from each frame to the next, the pixels that the next
  frame hides (occluded) or that leave the image, and which layer each pixel shows. The textures are sums
  of random sinusoids, so the image of a moved layer is the same function evaluated at moved coordinates:
  the ground truth has no interpolation error. :class:`FlowPairs` is a dataset of such pairs.
* :func:`stereo_motorcycle_flow`: the rectified stereo pair of ``skimage.data.stereo_motorcycle()`` as a
  flow problem with real ground truth: flow = (-disparity, 0), with the mask of pixels whose disparity is
  known.
* :func:`warp` (backward warping with :func:`torch.nn.functional.grid_sample`), :func:`endpoint_error`,
  :func:`flow_grid` and :func:`image_gradients`; :func:`local_correlation` (FlowNetC's correlation layer).
* :func:`flow_colours`: several flows coloured on one common scale (Baker et al.'s code, by
  :func:`torchvision.utils.flow_to_image`), to compare an estimate with the ground truth in a figure.
* :func:`horn_schunck`: the Horn–Schunck method (written from scratch in chapter 7, notebook 3, and proved
  equal to this copy), single-level or coarse-to-fine with warping.
* :func:`classical_flow`: one call for the baselines of the chapter's tables (zero flow, Horn–Schunck,
  scikit-image's iterative Lucas–Kanade and TV-L1, OpenCV's Farnebäck and DIS), all returning flow in the
  same layout.

Conventions, as in :func:`torchvision.utils.flow_to_image` and RAFT: a flow field is a float tensor
``(2, H, W)`` (or ``(N, 2, H, W)``) whose channel 0 is the horizontal displacement ``u`` (positive to the
right, in pixels) and channel 1 the vertical ``v`` (positive downwards). The flow from frame 1 to frame 2
maps the pixel ``(x, y)`` of frame 1 to ``(x + u, y + v)`` in frame 2, so that, where nothing is occluded,
``frame1(x, y) = frame2(x + u, y + v)`` (brightness constancy) and ``warp(frame2, flow)`` rebuilds frame 1.
scikit-image's flow functions return ``(v, u)`` (rows first): :func:`classical_flow` converts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import flow_to_image

METHODS = ("zero", "horn_schunck", "ilk", "tvl1", "farneback", "dis")
SHAPES = ("ellipse", "rectangle", "triangle")


# ---------------------------------------------------------------------------------------------------------
# checks


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_number(name: str, value, minimum: float = 0.0, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (minimum <= value <= maximum) or math.isnan(value):
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value!r}")
    return float(value)


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a tensor or a NumPy array, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {x.dtype}")
    return x


def _check_flow(flow, name: str = "flow") -> torch.Tensor:
    flow = _as_tensor(flow, name)
    if flow.ndim not in (3, 4) or flow.shape[-3] != 2:
        raise ValueError(f"{name} must have shape (2, H, W) or (N, 2, H, W) (u then v), got {tuple(flow.shape)}")
    return flow


def _gray(image, name: str) -> torch.Tensor:
    """A grey-level image as a float64 tensor (H, W); accepts (H, W) or (1, H, W)."""
    image = _as_tensor(image, name)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise ValueError(f"{name} must be a grey-level image (H, W) or (1, H, W), got {tuple(image.shape)}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"{name} must be at least 2 x 2 pixels, got {tuple(image.shape)}")
    return image.double()


def _pair(frame1, frame2) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _gray(frame1, "frame1"), _gray(frame2, "frame2")
    if a.shape != b.shape:
        raise ValueError(f"frame1 and frame2 must have the same size, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


# ---------------------------------------------------------------------------------------------------------
# warping, gradients, error


def flow_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """The pixel coordinates ``(2, H, W)``: channel 0 is x (the column), channel 1 is y (the row)."""
    height, width = _check_int("height", height, 1), _check_int("width", width, 1)
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype), torch.arange(width, device=device, dtype=dtype), indexing="ij"
    )
    return torch.stack([xs, ys])


def warp(image, flow, padding_mode: str = "border", return_valid: bool = False):
    """Backward warping: ``out(x, y) = image(x + u(x, y), y + v(x, y))``, bilinear.

    ``image`` is ``(C, H, W)`` or ``(N, C, H, W)``, ``flow`` ``(2, H, W)`` or ``(N, 2, H, W)`` in pixels on the
    same device. Warping frame 2 with the flow from frame 1 to frame 2 rebuilds frame 1 where nothing is
    occluded. Implemented with :func:`torch.nn.functional.grid_sample` (``align_corners=True``: -1 and 1
    are the centres of the first and last pixels). Outside the image the nearest border value is used
    (``padding_mode="zeros"`` gives 0). ``return_valid=True`` also returns a boolean mask of the pixels
    whose sampling point lies inside the image.
    """
    image = _as_tensor(image, "image")
    flow = _check_flow(flow)
    if padding_mode not in ("border", "zeros", "reflection"):
        raise ValueError(f"padding_mode must be 'border', 'zeros' or 'reflection', got {padding_mode!r}")
    single = image.ndim == 3
    if image.ndim not in (3, 4):
        raise ValueError(f"image must have shape (C, H, W) or (N, C, H, W), got {tuple(image.shape)}")
    if (flow.ndim == 3) != single:
        raise ValueError(f"image {tuple(image.shape)} and flow {tuple(flow.shape)} must both be batched or not")
    if single:
        image, flow = image[None], flow[None]
    if image.shape[0] != flow.shape[0] or image.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"image {tuple(image.shape)} and flow {tuple(flow.shape)} must have the same N, H and W")
    if image.device != flow.device:
        raise ValueError(f"image is on {image.device} and flow on {flow.device}: move them to one device")
    h, w = image.shape[-2:]
    flow = flow.to(image.dtype)
    pos = flow_grid(h, w, device=image.device, dtype=image.dtype)[None] + flow
    scale = torch.tensor([max(w - 1, 1), max(h - 1, 1)], device=image.device, dtype=image.dtype)
    grid = (2 * pos / scale.view(1, 2, 1, 1) - 1).permute(0, 2, 3, 1)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
    valid = (pos[:, 0] >= 0) & (pos[:, 0] <= w - 1) & (pos[:, 1] >= 0) & (pos[:, 1] <= h - 1)
    if single:
        out, valid = out[0], valid[0]
    return (out, valid) if return_valid else out


def image_gradients(image) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d/dx, d/dy)`` of an image ``(..., H, W)`` by central differences inside and one-sided differences
    at the borders: the same numbers as ``numpy.gradient`` (axis 1 then axis 0)."""
    image = _as_tensor(image, "image")
    if image.ndim < 2 or image.shape[-1] < 2 or image.shape[-2] < 2:
        raise ValueError(f"image must be at least 2 x 2 pixels (..., H, W), got {tuple(image.shape)}")

    def along(t: torch.Tensor, dim: int) -> torch.Tensor:
        n = t.shape[dim]
        first = t.narrow(dim, 1, 1) - t.narrow(dim, 0, 1)
        last = t.narrow(dim, n - 1, 1) - t.narrow(dim, n - 2, 1)
        if n == 2:
            return torch.cat([first, last], dim)
        inner = (t.narrow(dim, 2, n - 2) - t.narrow(dim, 0, n - 2)) / 2
        return torch.cat([first, inner, last], dim)

    return along(image, -1), along(image, -2)


def endpoint_error(flow, target, valid=None, reduction: str = "mean"):
    """The end-point error ``||flow - target||`` per pixel, averaged over the ``valid`` pixels.

    ``flow`` and ``target`` are ``(2, H, W)`` or ``(N, 2, H, W)``; ``valid`` (optional) a boolean mask
    ``(H, W)`` or ``(N, H, W)``. ``reduction="mean"`` returns a float (the average EPE over valid pixels,
    the number the benchmarks report), ``"none"`` the map ``(H, W)`` / ``(N, H, W)`` (NaN where not valid).
    """
    flow, target = _check_flow(flow), _check_flow(target, "target")
    if flow.shape != target.shape:
        raise ValueError(f"flow {tuple(flow.shape)} and target {tuple(target.shape)} must have the same shape")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    err = (flow.to(target.device, target.dtype) - target).norm(dim=-3)
    if valid is not None:
        valid = torch.as_tensor(valid, device=err.device)
        if valid.dtype != torch.bool or valid.shape != err.shape:
            raise ValueError(
                f"valid must be a boolean mask of shape {tuple(err.shape)}, got {valid.dtype} {tuple(valid.shape)}"
            )
        if not valid.any():
            raise ValueError("valid masks out every pixel: there is nothing to average")
    if reduction == "none":
        return err if valid is None else torch.where(valid, err, torch.full_like(err, float("nan")))
    return float(err.mean() if valid is None else err[valid].mean())


def flow_colours(flows, max_norm: float | None = None) -> np.ndarray:
    """Colour flows on one common scale with :func:`torchvision.utils.flow_to_image` (Baker et al.'s code:
    the hue is the direction, the saturation the length, white is no motion).

    ``flows`` is one flow ``(2, H, W)``, a batch ``(N, 2, H, W)`` or a list of flows ``(2, H, W)`` of one size
    (tensors or NumPy arrays, any floating dtype and device). ``flow_to_image`` divides by the longest vector
    of each call; here all the flows share one scale: a vector of length ``max_norm`` (pixels) gets the fully
    saturated colour, and longer vectors are shortened to ``max_norm`` (clipped: an overshoot shows as full
    saturation, no more). ``max_norm=None`` takes the longest vector of all the flows, which is what
    ``flow_to_image`` does with a batch. Returns uint8 images ``(N, H, W, 3)`` as a NumPy array (``(H, W, 3)``
    for a single flow ``(2, H, W)``), ready for ``plt.imshow``. Colour a disc of vectors of lengths up to
    ``max_norm`` with the same ``max_norm`` to draw the colour key.
    """
    if isinstance(flows, (list, tuple)):
        if not flows:
            raise ValueError("flows must hold at least one flow, got an empty list")
        items = [_check_flow(f, f"flows[{i}]") for i, f in enumerate(flows)]
        if any(f.ndim != 3 for f in items):
            raise ValueError("a list of flows must hold flows of shape (2, H, W), not batches")
        shapes = {tuple(f.shape) for f in items}
        if len(shapes) > 1:
            raise ValueError(f"the flows must all have one size, got {sorted(shapes)}")
        batch, single = torch.stack([f.detach().float().cpu() for f in items]), False
    else:
        flows = _check_flow(flows, "flows")
        single = flows.ndim == 3
        batch = flows.detach().float().cpu()
        batch = batch[None] if single else batch
    if not torch.isfinite(batch).all():
        raise ValueError("flows must be finite (no NaN or inf): mask unknown pixels in the image instead")
    if max_norm is not None:
        max_norm = _check_number("max_norm", max_norm, 0.0)
        if not 0 < max_norm < math.inf:
            raise ValueError(f"max_norm must be a positive, finite length in pixels, got {max_norm!r}")
        length = batch.norm(dim=1, keepdim=True)
        batch = batch * torch.clamp(max_norm / length.clamp_min(1e-30), max=1.0)
        # one more flow, whose only non-zero vector has the length max_norm: flow_to_image divides by it
        scale = torch.zeros_like(batch[:1])
        scale[0, 0, 0, 0] = max_norm
        batch = torch.cat([batch, scale])
    images = flow_to_image(batch).permute(0, 2, 3, 1).numpy()
    if max_norm is not None:
        images = images[:-1]
    return images[0] if single else images


# ---------------------------------------------------------------------------------------------------------
# generated motion with exact flow


@dataclass
class FlowSequence:
    """Frames of moving textured layers and their exact motion.

    * ``frames``: float32 ``(T, 1, H, W)`` in [0, 1].
    * ``flows``: float32 ``(T - 1, 2, H, W)``, the flow from frame ``t`` to frame ``t + 1`` (u, v), defined at
      every pixel, occluded ones included (as in the Sintel benchmark).
    * ``occluded``: bool ``(T - 1, H, W)``, pixels of frame ``t`` hidden by a layer in front in frame ``t + 1``.
    * ``outside``: bool ``(T - 1, H, W)``, pixels of frame ``t`` that move out of the image in frame ``t + 1``.
    * ``layers``: int64 ``(T, H, W)``, which layer each pixel shows (0 is the background, then the shapes
      from back to front).
    * ``motions``: float64 ``(L, 3, 3)``, each layer's motion from one frame to the next as a homogeneous
      affine matrix acting on ``(x, y, 1)``.
    """

    frames: torch.Tensor
    flows: torch.Tensor
    occluded: torch.Tensor
    outside: torch.Tensor
    layers: torch.Tensor
    motions: torch.Tensor

    def __len__(self) -> int:
        return self.frames.shape[0]

    @property
    def valid(self) -> torch.Tensor:
        """Pixels where brightness constancy holds: neither occluded nor leaving the image."""
        return ~(self.occluded | self.outside)


@dataclass
class FlowPair:
    """Two frames and the flow from the first to the second.

    ``frame1``, ``frame2``: float32 ``(1, H, W)``; ``flow``: float32 ``(2, H, W)``; ``valid``: bool ``(H, W)``,
    the pixels where the ground truth is known and brightness constancy can hold (for generated pairs:
    not occluded and not leaving the image; for the motorcycle: where the disparity was measured).
    ``occluded`` is the generated pairs' occlusion mask (None for the motorcycle).
    """

    frame1: torch.Tensor
    frame2: torch.Tensor
    flow: torch.Tensor
    valid: torch.Tensor
    occluded: torch.Tensor | None = None


def _texture(rng: np.random.Generator, n_waves: int, freq: tuple[float, float]):
    """A random texture: a function of (x, y) arrays, a sum of ``n_waves`` sinusoids, values in [0, 1]."""
    angle = rng.uniform(0, 2 * np.pi, n_waves)
    f = rng.uniform(*freq, n_waves) * 2 * np.pi
    kx, ky, phase = f * np.cos(angle), f * np.sin(angle), rng.uniform(0, 2 * np.pi, n_waves)
    amp = rng.uniform(0.5, 1.0, n_waves)
    amp = amp / np.sqrt((amp**2).sum() / 2)  # unit standard deviation over a large area
    base, contrast = rng.uniform(0.3, 0.7), rng.uniform(0.08, 0.15)

    def value(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        s = np.zeros(np.broadcast(x, y).shape)
        for k in range(n_waves):
            s += amp[k] * np.cos(kx[k] * x + ky[k] * y + phase[k])
        return np.clip(base + contrast * s, 0.0, 1.0)

    return value


def _shape(rng: np.random.Generator, size: int, kind: str, radius: tuple[float, float]):
    """A random shape as an inside test on (x, y) arrays in the layer's own (frame-0) coordinates."""
    cx, cy = rng.uniform(0.2 * size, 0.8 * size, 2)
    a, b = rng.uniform(*radius, 2)
    theta = rng.uniform(0, np.pi)
    c, s = np.cos(theta), np.sin(theta)
    corners = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.4, 0.4, 3)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx, dy = x - cx, y - cy
        p, q = c * dx + s * dy, -s * dx + c * dy
        if kind == "ellipse":
            return (p / a) ** 2 + (q / b) ** 2 <= 1
        if kind == "rectangle":
            return (np.abs(p) <= a) & (np.abs(q) <= b)
        # a triangle inscribed in the ellipse: inside all three half-planes of its edges
        # corners in increasing angle: the inside is to the left of every edge
        pts = np.stack([a * np.cos(corners), b * np.sin(corners)], 1)
        ok = np.ones(np.broadcast(p, q).shape, bool)
        for i in range(3):
            (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % 3]
            ok &= (x1 - x0) * (q - y0) - (y1 - y0) * (p - x0) >= 0
        return ok

    return inside, (cx, cy)


def _motion(rng: np.random.Generator, centre, max_shift: float, max_rotation: float, max_scale: float) -> np.ndarray:
    """A random affine step: rotate by up to ``max_rotation`` degrees and scale by up to ``1 +- max_scale``
    about ``centre``, then translate by up to ``max_shift`` pixels in a random direction."""
    r = max_shift * np.sqrt(rng.uniform())
    phi = rng.uniform(0, 2 * np.pi)
    theta = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    s = rng.uniform(1 - max_scale, 1 + max_scale)
    cx, cy = centre
    rot = s * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    m = np.eye(3)
    m[:2, :2] = rot
    m[:2, 2] = np.array([cx, cy]) - rot @ np.array([cx, cy]) + r * np.array([np.cos(phi), np.sin(phi)])
    return m


def make_flow_sequence(
    n_frames: int = 2,
    size: int = 64,
    n_shapes: int = 2,
    max_shift: float = 3.0,
    max_rotation: float = 5.0,
    max_scale: float = 0.03,
    background_shift: float | None = None,
    n_waves: int = 12,
    frequency: tuple[float, float] = (0.03, 0.12),
    noise: float = 0.0,
    seed: int = 0,
) -> FlowSequence:
    """Frames of ``n_shapes`` textured shapes (ellipses, rectangles, triangles) moving over a textured
    background, with the exact flow between consecutive frames.

    Each layer moves by its own affine step per frame: a translation of up to ``max_shift`` pixels, a
    rotation of up to ``max_rotation`` degrees and a scaling by up to ``1 +- max_scale`` about its centre
    (the background: a translation of up to ``background_shift`` pixels, default ``max_shift / 2``, and
    the same rotation and scaling limits about the image centre). Shapes later in the list are in front;
    where one passes over another, the pixels it covers in the next frame are marked ``occluded``.
    ``noise`` adds Gaussian noise of that standard deviation to every frame (the ground truth stays
    exact; brightness constancy then holds only up to the noise). ``frequency`` is the range of the
    textures' spatial frequencies in cycles per pixel (at most 0.5, the Nyquist limit). Same ``seed``,
    same sequence. Returns a :class:`FlowSequence`.
    """
    n_frames = _check_int("n_frames", n_frames, 2)
    size = _check_int("size", size, 8)
    n_shapes = _check_int("n_shapes", n_shapes, 0)
    max_shift = _check_number("max_shift", max_shift)
    max_rotation = _check_number("max_rotation", max_rotation, 0, 90)
    max_scale = _check_number("max_scale", max_scale, 0, 0.5)
    background_shift = (
        max_shift / 2 if background_shift is None else _check_number("background_shift", background_shift)
    )
    n_waves = _check_int("n_waves", n_waves, 1)
    if not (isinstance(frequency, (tuple, list)) and len(frequency) == 2):
        raise ValueError(f"frequency must be a pair (low, high) in cycles per pixel, got {frequency!r}")
    lo, hi = (_check_number("frequency", f, 0, 0.5) for f in frequency)
    if lo > hi:
        raise ValueError(f"frequency must be (low, high) with low <= high, got {frequency!r}")
    noise = _check_number("noise", noise, 0, 1)
    seed = _check_int("seed", seed, 0)

    rng = np.random.default_rng(seed)
    textures = [_texture(rng, n_waves, (lo, hi))]
    shapes = [lambda x, y: np.ones(np.broadcast(x, y).shape, bool)]
    centre = ((size - 1) / 2, (size - 1) / 2)
    motions = [_motion(rng, centre, background_shift, max_rotation, max_scale)]
    for _ in range(n_shapes):
        inside, c = _shape(rng, size, SHAPES[int(rng.integers(len(SHAPES)))], (0.12 * size, 0.25 * size))
        shapes.append(inside)
        textures.append(_texture(rng, n_waves, (lo, hi)))
        motions.append(_motion(rng, c, max_shift, max_rotation, max_scale))

    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    pts = np.stack([xs, ys, np.ones_like(xs)])  # (3, H, W)

    def render(t: int, at: np.ndarray):
        """The top layer at points ``at`` (3, ...) of frame t, and the layer coordinates there."""
        top = np.zeros(at.shape[1:], np.int64)
        coords = [None] * len(shapes)
        for i, (inside, m) in enumerate(zip(shapes, motions)):
            u = np.einsum("ij,j...->i...", np.linalg.inv(np.linalg.matrix_power(m, t)), at)
            coords[i] = u
            top[inside(u[0], u[1])] = i
        return top, coords

    frames, tops = [], []
    for t in range(n_frames):
        top, coords = render(t, pts)
        img = np.zeros((size, size))
        for i, tex in enumerate(textures):
            sel = top == i
            img[sel] = tex(coords[i][0][sel], coords[i][1][sel])
        if noise:
            img = np.clip(img + rng.normal(0, noise, img.shape), 0, 1)
        frames.append(img)
        tops.append(top)

    flows, occluded, outside = [], [], []
    for t in range(n_frames - 1):
        nxt = np.zeros((3, size, size))
        for i, m in enumerate(motions):
            sel = tops[t] == i
            nxt[:, sel] = m @ pts[:, sel]
        flows.append(nxt[:2] - pts[:2])
        top_next, _ = render(t + 1, nxt)
        occluded.append(top_next != tops[t])
        outside.append((nxt[0] < 0) | (nxt[0] > size - 1) | (nxt[1] < 0) | (nxt[1] > size - 1))

    return FlowSequence(
        frames=torch.tensor(np.stack(frames)[:, None], dtype=torch.float32),
        flows=torch.tensor(np.stack(flows), dtype=torch.float32),
        occluded=torch.tensor(np.stack(occluded)),
        outside=torch.tensor(np.stack(outside)),
        layers=torch.tensor(np.stack(tops)),
        motions=torch.tensor(np.stack(motions)),
    )


def make_flow_pair(**kwargs) -> FlowPair:
    """Two frames of :func:`make_flow_sequence` (same arguments, ``n_frames`` excluded) as a :class:`FlowPair`
    whose ``valid`` mask excludes occluded pixels and pixels that leave the image."""
    if "n_frames" in kwargs:
        raise ValueError("make_flow_pair makes two frames: use make_flow_sequence for n_frames")
    seq = make_flow_sequence(n_frames=2, **kwargs)
    return FlowPair(seq.frames[0], seq.frames[1], seq.flows[0], seq.valid[0], seq.occluded[0])


class FlowPairs(torch.utils.data.Dataset):
    """``n`` generated pairs as a dataset of ``(frames, flow)``: ``frames`` float32 ``(2, H, W)`` (frame 1 and
    frame 2 as two channels, the input of a FlowNet-style network) and ``flow`` float32 ``(2, H, W)``.

    Pair ``i`` is :func:`make_flow_pair` with ``seed = seed * 1_000_003 + i`` and the other arguments as
    given, so two datasets with different seeds share no pair. All pairs are generated once, up front.
    For evaluation, the dataset keeps the masks ``valid``, ``occluded`` and ``outside`` (bool ``(n, H, W)``)
    and ``layers`` (int64 ``(n, H, W)``, the layer each pixel of frame 1 shows: 0 is the background).
    """

    def __init__(self, n: int, seed: int = 0, **kwargs):
        n = _check_int("n", n, 1)
        seed = _check_int("seed", seed, 0)
        if "n_frames" in kwargs:
            raise ValueError("FlowPairs holds pairs: n_frames is not an argument")
        seqs = [make_flow_sequence(n_frames=2, seed=seed * 1_000_003 + i, **kwargs) for i in range(n)]
        self.frames = torch.stack([s.frames[:, 0] for s in seqs])
        self.flows = torch.stack([s.flows[0] for s in seqs])
        self.valid = torch.stack([s.valid[0] for s in seqs])
        self.occluded = torch.stack([s.occluded[0] for s in seqs])
        self.outside = torch.stack([s.outside[0] for s in seqs])
        self.layers = torch.stack([s.layers[0] for s in seqs])

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i):
        return self.frames[i], self.flows[i]


# ---------------------------------------------------------------------------------------------------------
# correlation


def local_correlation(f1, f2, max_displacement: int, stride: int = 1) -> torch.Tensor:
    """FlowNetC's correlation layer (patch size 1, the setting FlowNetC uses): for every pixel ``x`` of ``f1``
    and every displacement ``(dy, dx)`` with ``|dy|, |dx| <= max_displacement`` in steps of ``stride``, the
    dot product of the feature vectors ``f1(x)`` and ``f2(x + (dx, dy))`` divided by the number of channels,
    0 where the displaced pixel leaves the map.

    ``f1``, ``f2``: float tensors ``(N, C, H, W)`` on one device. Returns ``(N, K * K, H, W)`` with
    ``K = 2 * max_displacement / stride + 1``, channels in the order (dy, then dx), each from its most
    negative value: channel ``K * K // 2`` is displacement 0. Written in chapter 7, notebook 4, from
    scratch and checked against a loop over pixels; this copy is for the notebooks after it.
    """
    f1, f2 = _as_tensor(f1, "f1"), _as_tensor(f2, "f2")
    if f1.ndim != 4 or f1.shape != f2.shape:
        raise ValueError(
            f"f1 and f2 must be feature maps (N, C, H, W) of one shape, got {tuple(f1.shape)} and {tuple(f2.shape)}"
        )
    d = _check_int("max_displacement", max_displacement, 0)
    stride = _check_int("stride", stride, 1)
    if d % stride:
        raise ValueError(f"max_displacement ({d}) must be a multiple of stride ({stride})")
    c, h, w = f1.shape[1:]
    padded = F.pad(f2, (d, d, d, d))  # zeros outside the map
    starts = range(0, 2 * d + 1, stride)  # displacement + d
    out = [(f1 * padded[:, :, y : y + h, x : x + w]).sum(dim=1) for y in starts for x in starts]
    return torch.stack(out, dim=1) / c


# ---------------------------------------------------------------------------------------------------------
# real ground truth


def stereo_motorcycle_flow(scale: float = 0.25) -> FlowPair:
    """The Middlebury motorcycle stereo pair shipped with scikit-image, as optical flow with ground truth.

    The pair is rectified: a point at column ``x`` of the left image is at column ``x - d`` of the right
    image, ``d`` the disparity, on the same row. The flow from the left image (frame 1) to the right
    (frame 2) is therefore ``(-d, 0)``. Frames are grey levels in [0, 1] resized by ``scale`` (with
    antialiasing; disparities are sampled at the nearest pixel and multiplied by the same factor). ``valid``
    marks pixels whose disparity is known (92.7% at ``scale=1``), whose match lies inside the right image and
    which are not hidden in the right image by a nearer surface (``occluded``: a pixel further right, with a
    larger disparity, lands at the same place or left of it): as for generated pairs, brightness constancy
    cannot hold for the others (83% of the pixels are valid at ``scale=1``, 6.9% occluded). The flow is
    ``(-d, 0)`` wherever the disparity is known, 0 elsewhere. scikit-image's pair (``scale=1``) is 500 x 741
    pixels with disparities from 7 to 60: the Middlebury 2014 images already downsampled 4 times
    (``skimage.data.stereo_motorcycle``'s documentation), so ``scale=0.25`` is 1/16 of the benchmark's
    resolution. Tests check the sign (warping the right image by this flow rebuilds the left one, by its
    opposite it does not) and the occlusion mask (where it fails).
    """
    scale = _check_number("scale", scale, 0.01, 1.0)
    from skimage.color import rgb2gray
    from skimage.data import stereo_motorcycle
    from skimage.transform import resize

    left, right, disp = stereo_motorcycle()
    h, w = disp.shape
    shape = (max(2, round(h * scale)), max(2, round(w * scale)))
    f = shape[1] / w  # the horizontal factor: disparity is horizontal
    g1 = resize(rgb2gray(left), shape, anti_aliasing=scale < 1)
    g2 = resize(rgb2gray(right), shape, anti_aliasing=scale < 1)
    d = resize(disp.astype(np.float64), shape, order=0, anti_aliasing=False, preserve_range=True) * f
    known = np.isfinite(d)
    u = np.where(known, -d, 0.0)
    target = np.arange(shape[1])[None, :] + u  # where each pixel lands in the right image
    # a pixel whose match lies left of the right image's first column cannot be seen in frame 2
    outside = known & (target < 0)
    occluded = known & _hidden_by_right_neighbours(np.where(known, target, np.inf))
    valid = known & ~outside & ~occluded
    flow = np.stack([u, np.zeros(shape)])
    return FlowPair(
        frame1=torch.tensor(g1[None], dtype=torch.float32),
        frame2=torch.tensor(g2[None], dtype=torch.float32),
        flow=torch.tensor(flow, dtype=torch.float32),
        valid=torch.tensor(valid),
        occluded=torch.tensor(occluded),
    )


def _hidden_by_right_neighbours(target: np.ndarray) -> np.ndarray:
    """Half-occlusion in a rectified pair: the pixel at column x of the left image, landing at ``target[x]``
    in the right image, is hidden there when a pixel to its right (nearer the camera: a larger disparity)
    lands at the same place or to its left. Seen along a row, visible points keep their order."""
    # the smallest target of the pixels strictly to the right of each pixel, per row
    right_min = np.minimum.accumulate(target[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([right_min[:, 1:], np.full((target.shape[0], 1), np.inf)], axis=1)
    return right_min <= target


# ---------------------------------------------------------------------------------------------------------
# Horn–Schunck

# the weights of Horn and Schunck's local average (their Laplacian estimate): 1/6 for the four neighbours,
# 1/12 for the four diagonal ones
HS_AVERAGE = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]], dtype=torch.float64)


def neighbour_average(field: torch.Tensor) -> torch.Tensor:
    """Horn and Schunck's weighted average of the 8 neighbours of each pixel (edges replicated), for a
    field ``(C, H, W)``; ``field - neighbour_average(field)`` is their estimate of minus the Laplacian / 3."""
    field = _as_tensor(field, "field")
    if field.ndim != 3:
        raise ValueError(f"field must have shape (C, H, W), got {tuple(field.shape)}")
    k = HS_AVERAGE.to(field.device, field.dtype).expand(field.shape[0], 1, 3, 3)
    return F.conv2d(F.pad(field[None], (1, 1, 1, 1), mode="replicate"), k, groups=field.shape[0])[0]


def horn_schunck_linearised(ix, iy, it, alpha: float, n_iter: int, flow0=None) -> torch.Tensor:
    """Horn and Schunck's iteration on one level, for the data term ``ix u + iy v + it = 0`` and the
    smoothness weight ``alpha`` (intensities in [0, 1]):
    ``u <- u_avg - ix (ix u_avg + iy v_avg + it) / (alpha^2 + ix^2 + iy^2)``, the same for ``v`` with ``iy``.
    ``ix``, ``iy``, ``it`` are float tensors ``(H, W)``; returns the flow ``(2, H, W)`` after ``n_iter``
    iterations started from ``flow0`` (default zero)."""
    alpha = _check_number("alpha", alpha, 0)
    if alpha == 0:
        raise ValueError("alpha must be > 0: without smoothness the system is singular where the gradient is 0")
    n_iter = _check_int("n_iter", n_iter, 0)
    flow = torch.zeros((2, *ix.shape), dtype=ix.dtype, device=ix.device) if flow0 is None else flow0.clone()
    denom = alpha**2 + ix**2 + iy**2
    for _ in range(n_iter):
        avg = neighbour_average(flow)
        common = (ix * avg[0] + iy * avg[1] + it) / denom
        flow = torch.stack([avg[0] - ix * common, avg[1] - iy * common])
    return flow


def _pyramid(image: torch.Tensor, levels: int, min_size: int) -> list[torch.Tensor]:
    """Coarse-to-fine list of ``image`` (H, W) halved with antialiasing until ``levels`` or ``min_size``."""
    out = [image]
    while len(out) < levels and min(out[-1].shape) // 2 >= min_size:
        h, w = out[-1].shape
        out.append(
            F.interpolate(
                out[-1][None, None], size=(h // 2, w // 2), mode="bilinear", antialias=True, align_corners=False
            )[0, 0]
        )
    return out[::-1]


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a flow ``(2, H, W)`` to ``size = (H', W')``, its components scaled by W'/W and H'/H."""
    flow = _check_flow(flow)
    if flow.ndim != 3:
        raise ValueError(f"flow must have shape (2, H, W), got {tuple(flow.shape)}")
    h, w = flow.shape[-2:]
    out = F.interpolate(flow[None], size=size, mode="bilinear", align_corners=False)[0]
    return out * torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device).view(2, 1, 1)


def horn_schunck(
    frame1, frame2, alpha: float = 0.05, n_iter: int = 200, levels: int = 1, warps: int = 1, min_size: int = 16
) -> torch.Tensor:
    """The Horn–Schunck optical flow from ``frame1`` to ``frame2`` (grey levels in [0, 1], ``(H, W)`` or
    ``(1, H, W)``), as a float32 tensor ``(2, H, W)`` (u, v) on the frames' device.

    At each level of a pyramid of ``levels`` (halving with antialiasing, coarsest side at least
    ``min_size``), the flow from the level above is upsampled; then ``warps`` times: frame 2 is warped
    back by the current flow ``w0`` (:func:`warp`), the brightness-constancy equation is linearised about it
    (``ix``, ``iy``: :func:`image_gradients` of the mean of frame 1 and the warped frame 2;
    ``it = warped - frame1 - ix u0 - iy v0``, so the unknown is the whole flow) and ``n_iter`` iterations
    of :func:`horn_schunck_linearised` refine it. ``levels=1, warps=1`` is the original single-level
    method of Horn and Schunck (1981) with central-difference derivatives.
    """
    a, b = _pair(frame1, frame2)
    levels = _check_int("levels", levels, 1)
    warps = _check_int("warps", warps, 1)
    min_size = _check_int("min_size", min_size, 2)
    p1, p2 = _pyramid(a, levels, min_size), _pyramid(b, levels, min_size)
    flow = torch.zeros((2, *p1[0].shape), dtype=torch.float64, device=a.device)
    for i, (f1, f2) in enumerate(zip(p1, p2)):
        if i > 0:
            flow = resize_flow(flow, f1.shape)
        for _ in range(warps):
            w2 = warp(f2[None], flow)[0]
            ix, iy = image_gradients((f1 + w2) / 2)
            it = w2 - f1 - ix * flow[0] - iy * flow[1]
            flow = horn_schunck_linearised(ix, iy, it, alpha, n_iter, flow0=flow)
    return flow.float()


# ---------------------------------------------------------------------------------------------------------
# the baselines of the chapter's tables


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return np.clip(np.rint(image.cpu().numpy() * 255), 0, 255).astype(np.uint8)


def classical_flow(method: str, frame1, frame2, **kwargs) -> torch.Tensor:
    """Flow from ``frame1`` to ``frame2`` (grey levels in [0, 1]) by a classical method, as float32 ``(2, H, W)``
    (u, v) on the frames' device.

    ``method``: ``"zero"`` (no motion), ``"horn_schunck"`` (:func:`horn_schunck`), ``"ilk"``
    (``skimage.registration.optical_flow_ilk``, coarse-to-fine iterative Lucas–Kanade), ``"tvl1"``
    (``skimage.registration.optical_flow_tvl1``), ``"farneback"`` (``cv2.calcOpticalFlowFarneback``, default
    parameters of OpenCV's tutorial: pyramid scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5,
    poly_sigma 1.2; OpenCV builds no pyramid level whose shorter side would fall below 32 pixels, so at scale
    0.5 a 96 × 96 or 125 × 185 image gets one level below full size whatever ``levels`` asks: pass a larger
    ``pyr_scale`` and ``levels`` for small images, as chapter 7's notebook 3 measures) and ``"dis"``
    (``cv2.DISOpticalFlow``, preset MEDIUM). OpenCV's methods take 8-bit images. ``kwargs`` go to the method
    (e.g. ``radius`` for ``"ilk"``, ``alpha`` for ``"horn_schunck"``, ``preset`` for ``"dis"``). OpenCV comes
    with the package ``opencv-python-headless``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    a, b = _pair(frame1, frame2)
    device = a.device
    if method == "zero":
        if kwargs:
            raise ValueError(f"zero flow takes no arguments, got {sorted(kwargs)}")
        return torch.zeros((2, *a.shape), device=device)
    if method == "horn_schunck":
        return horn_schunck(a, b, **kwargs)
    if method in ("ilk", "tvl1"):
        from skimage.registration import optical_flow_ilk, optical_flow_tvl1

        fn = optical_flow_ilk if method == "ilk" else optical_flow_tvl1
        vu = fn(a.cpu().numpy(), b.cpu().numpy(), dtype=np.float64, **kwargs)
        return torch.tensor(vu[::-1].copy(), dtype=torch.float32, device=device)
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise ImportError(
            f"classical_flow({method!r}) needs OpenCV: pip install opencv-python-headless (the book's utils "
            "installs it)"
        ) from e
    i1, i2 = _to_uint8(a), _to_uint8(b)
    if method == "farneback":
        params = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
        params.update(kwargs)
        uv = cv2.calcOpticalFlowFarneback(i1, i2, None, **params)
    else:
        preset = kwargs.pop("preset", cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        if kwargs:
            raise ValueError(f"dis takes only preset, got {sorted(kwargs)}")
        uv = cv2.DISOpticalFlow_create(preset).calc(i1, i2, None)
    return torch.tensor(np.moveaxis(uv, -1, 0).copy(), dtype=torch.float32, device=device)
