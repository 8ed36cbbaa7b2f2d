"""Generated face-like identities for chapter 5 (verification, identification, metric learning, fairness).

:func:`make_identities` draws ``n_identities`` identities and renders ``per_identity`` grey images of each.

**An identity** is one vector of face geometry and grey levels, drawn once (``PARAMETERS``, one row of
``params``): face oval width and height, eye spacing, eye height and size, eyebrow thickness and angle,
nose length and width, mouth width, thickness and curvature, hairline height and tilt, hair volume and
grey level, and skin grey level. Each identity's face is drawn once, upright, as soft-edged shapes
painted back to front (signed distances turned into pixel coverage, so edges are anti-aliased at any
size): hair, face oval, fringe, eyebrows, eyes, nose, mouth, at 1.5 times the output's resolution. Each
image then samples it through its pose (bilinear ``grid_sample``), puts it on its background, and adds
occlusion, illumination and noise, all vectorised in torch: 200 identities x 10 images at 32 x 32 take
about 0.06 s on one CPU core, 2,000 x 10 about 0.5 s. Eyes, brows, nose and mouth are darker than the
skin by fixed factors, so their contrast grows with the skin's grey level. The images are grey, one
channel.

**Nuisance**, drawn per image and scaled by ``nuisance`` (a strength: 0 draws every image of an identity
identically; ``"default"`` is 1), at strength 1:

* pose: rotation up to +-15 degrees, shift up to +-2 px at size 32 (1/16 of the image), scale +-10 %, and
  a yaw up to +-0.25 approximated by warping the face horizontally (its middle moves to one side, one
  half is compressed, the other stretched);
* illumination: background grey level (0.5 +- 0.08), global gain (x0.78 to x1.28) and offset (+-0.08),
  and a linear light gradient in a random direction, up to +-30 % at the image's edges;
* noise: Gaussian, standard deviation 0.03;
* occlusion, in a quarter of the images: dark glasses (a bar over both eyes) or a grey square patch
  (``occluded`` says which images have one).

**How hard.** Without nuisance every identity is its own nearest neighbour; with the default nuisance,
nearest neighbour by cosine on raw pixels finds the identity of 5 % of probes among 200 identities (one
gallery image each; chance 0.5 %) and verifies at an equal error rate of 0.41 (27 % and 0.28 at
``"mild"``). The identity is in the images, but pose, light and occlusion hide it from pixel
distances: a network that learns an embedding does far better (chapter 5 measures it).

**Groups** (for the fairness notebook). ``groups`` is a sequence of proportions, e.g. ``(0.8, 0.2)``;
identities are split into groups in these proportions (exactly, up to rounding) and each image
inherits its identity's group. The groups differ in one thing only, the grey level of the face, which
sets its contrast in the image: group ``g`` of ``G`` sits ``g / (G - 1)`` of the way from group 0's range
to the last group's. Group 0's faces have a grey level of 0.62 to 0.88, the last group's 0.30 to 0.46,
close to the background's (0.5 +- 0.08); since the features are darker than the face by fixed factors,
the last group's eyes, brows, nose and mouth are fainter too. The geometry of the faces is drawn the
same way in every group.

This is a *simulation* of two ways a demographic differential can arise in a biometric system: a group
under-represented in the training data (the proportions), and images in which a group's faces show less
contrast (as when capture and exposure were tuned for another group). A model trained mostly on group 0
can then show more false matches in the last group at a threshold set on all data; the chapter measures
it. The groups are abstract (named ``"A"``, ``"B"``, ...); nothing here is a claim about real people or
real faces.

**Seeds.** Everything is deterministic for ``seed``; identities and nuisance come from two independent
streams of it, so the identities of one seed do not depend on ``nuisance`` or ``per_identity``.
Different seeds give independent identities: draw training identities with ``seed=1`` and unseen test
identities with ``seed=2`` (open-set evaluation), never a slice of the same seed's identities twice.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

# (name, centre, half-range) of each identity parameter, in image units: the image spans [-1, 1],
# y grows downwards, feature positions are relative to the face's centre. The last two are grey
# levels (the skin's range is set per group, see _GROUP_SKIN).
_PARAMETER_TABLE = (
    ("face_width", 0.58, 0.08),  # half-width of the face oval
    ("face_height", 0.77, 0.08),  # half-height of the face oval
    ("eye_spacing", 0.25, 0.06),  # half the distance between the eyes' centres
    ("eye_y", -0.10, 0.08),  # height of the eyes (negative: above the face's centre)
    ("eye_size", 0.10, 0.03),  # half-width of an eye
    ("brow_thickness", 0.045, 0.02),
    ("brow_angle", 0.0, 0.35),  # radians; positive: inner ends lower (a frown)
    ("nose_length", 0.24, 0.08),  # from the eyes to the nostrils
    ("nose_width", 0.10, 0.04),  # half-width of the nostrils
    ("mouth_width", 0.20, 0.07),  # half-width of the mouth
    ("mouth_thickness", 0.055, 0.02),
    ("mouth_curve", 0.02, 0.08),  # positive: corners up (a smile)
    ("hairline", 0.68, 0.22),  # fringe's lower edge, as a fraction of the face's half-height above its centre
    ("hair_tilt", 0.0, 0.35),  # slope of the fringe's edge (a side parting)
    ("hair_volume", 0.12, 0.12),  # how far the hair reaches beyond the face oval
    ("hair_level", 0.22, 0.18),  # grey level of hair
    ("skin_level", 0.75, 0.13),  # grey level of skin (group 0; see _GROUP_SKIN)
)
PARAMETERS = tuple(name for name, _, _ in _PARAMETER_TABLE)
_GROUP_SKIN = ((0.62, 0.88), (0.30, 0.46))  # skin grey range of group 0 and of the last group
_FACE_CENTRE = 0.08  # y of the face oval's centre
_BACKGROUND = 0.5
NUISANCE_LEVELS = {"none": 0.0, "mild": 0.5, "default": 1.0, "strong": 1.5}
MAX_GROUPS = 8
_FIELD = 1.25  # unposed faces are drawn over [-_FIELD, _FIELD]: a shrunk or shifted face keeps its hair
_OVERSAMPLE = 1.5  # ... at 1.5 pixels per pixel of the output, which posing resamples bilinearly
# the box, relative to the face's centre, that eyes, brows, nose and mouth never leave: |u| <= 0.56 and
# -0.47 <= v <= 0.66; at the extremes of _PARAMETER_TABLE they reach |u| 0.50 and v -0.41 to 0.52
# (tests/test_identities.py checks that drawing them in the box alone changes nothing)
_FEATURES = (0.56, -0.47, 0.66)
_CHUNK = 2048  # images rendered at once: bounds the memory of the (chunk, size, size) intermediates
_NOISE = 0.03  # standard deviation of the pixel noise at nuisance strength 1


class Identities(NamedTuple):
    """What :func:`make_identities` returns; ``images[i]`` shows identity ``identities[i]`` of group ``groups[i]``."""

    images: torch.Tensor  # (N, 1, size, size) float32 grey in [0, 1], N = n_identities * per_identity
    identities: torch.Tensor  # (N,) int64 in 0..n_identities-1, identity-major: per_identity images each
    groups: torch.Tensor  # (N,) int64 in 0..G-1, the group of each image's identity
    params: torch.Tensor  # (n_identities, len(PARAMETERS)) float32: row k is identity k's face
    param_names: tuple[str, ...]  # PARAMETERS: the columns of params
    group_names: tuple[str, ...]  # ("A", "B", ...): group_names[g] names group g
    occluded: torch.Tensor  # (N,) bool: the image has glasses or a patch over the face


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_groups(groups) -> np.ndarray:
    if groups is None:
        return np.ones(1)
    ok = isinstance(groups, (tuple, list, np.ndarray)) and 1 <= len(groups) <= MAX_GROUPS
    ok = ok and all(isinstance(p, (int, float, np.integer, np.floating)) and not isinstance(p, bool) for p in groups)
    props = np.asarray(groups, float) if ok else None
    if not ok or not np.isfinite(props).all() or (props <= 0).any() or abs(props.sum() - 1) > 1e-6:
        raise ValueError(
            f"groups must be None or 1 to {MAX_GROUPS} positive proportions summing to 1, e.g. (0.8, 0.2); "
            f"got {groups!r}"
        )
    return props


def _check_nuisance(nuisance) -> float:
    if isinstance(nuisance, str) and nuisance in NUISANCE_LEVELS:
        return NUISANCE_LEVELS[nuisance]
    if isinstance(nuisance, (int, float, np.integer, np.floating)) and not isinstance(nuisance, bool):
        if np.isfinite(nuisance) and 0 <= nuisance <= 2:
            return float(nuisance)
    raise ValueError(f"nuisance must be one of {tuple(NUISANCE_LEVELS)} or a number in [0, 2], got {nuisance!r}")


def _group_counts(n: int, props: np.ndarray) -> np.ndarray:
    """Identities per group: ``n * props`` rounded by largest remainder (each within 1 of its share)."""
    share = n * props
    counts = np.floor(share).astype(int)
    counts[np.argsort(-(share - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


def _draw_identities(n: int, props: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The group ``(n,)`` and parameters ``(n, P)`` of ``n`` identities."""
    counts = _group_counts(n, props)
    group = rng.permutation(np.repeat(np.arange(len(props)), counts))
    z = rng.uniform(-1, 1, (n, len(_PARAMETER_TABLE)))  # drawn the same way whatever the groups
    t = group / (len(props) - 1) if len(props) > 1 else np.zeros(n)  # 0 for group 0, 1 for the last
    centre = np.array([c for _, c, _ in _PARAMETER_TABLE])
    half = np.array([h for _, _, h in _PARAMETER_TABLE])
    params = centre + half * z
    (lo0, hi0), (lo1, hi1) = _GROUP_SKIN
    lo, hi = (1 - t) * lo0 + t * lo1, (1 - t) * hi0 + t * hi1
    params[:, -1] = lo + (hi - lo) * (z[:, -1] + 1) / 2
    return group, params


def _draw_nuisance(count: int, strength: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-image nuisance, every value 0 (or 1 for factors) at ``strength`` 0."""
    u = lambda: rng.uniform(-1, 1, count)  # noqa: E731
    s = strength
    nuisance = {
        "angle": np.deg2rad(15) * s * u(),
        "shift_x": 0.125 * s * u(),  # 2 px at size 32
        "shift_y": 0.125 * s * u(),
        "scale": np.exp(np.log(1.1) * s * u()),
        "yaw": 0.25 * s * u(),
        "background": _BACKGROUND + 0.08 * s * u(),
        "gain": np.exp(0.25 * s * u()),
        "offset": 0.08 * s * u(),
        "gradient": 0.3 * s * u(),
        "gradient_dir": rng.uniform(0, 2 * np.pi, count),
    }
    occluded = rng.random(count) < min(1.0, 0.25 * s)
    glasses = rng.random(count) < 0.5
    nuisance["glasses"], nuisance["patch"] = occluded & glasses, occluded & ~glasses
    nuisance["patch_x"], nuisance["patch_y"] = 0.45 * u(), 0.45 * u()
    nuisance["patch_size"] = rng.uniform(0.2, 0.35, count)  # half-side, image units
    nuisance["patch_level"] = rng.uniform(0.1, 0.9, count)
    return nuisance


def _ellipse(u, v, a, b):
    """Approximate signed distance to the ellipse of half-axes ``a``, ``b`` centred at the origin."""
    ua, vb = u / a, v / b
    ua2, vb2 = ua / a, vb / b
    k0 = torch.sqrt(ua * ua + vb * vb)
    return k0 * (k0 - 1) / torch.sqrt(ua2 * ua2 + vb2 * vb2).clamp_min(1e-6)


def _capsule(u, v, ax, ay, bx, by, r):
    """Signed distance to the segment from ``(ax, ay)`` to ``(bx, by)`` thickened by radius ``r``."""
    pu, pv, du, dv = u - ax, v - ay, bx - ax, by - ay
    h = ((pu * du + pv * dv) / (du * du + dv * dv).clamp_min(1e-9)).clamp(0, 1)
    eu, ev = pu - du * h, pv - dv * h
    return torch.sqrt(eu * eu + ev * ev) - r


def _mirror(right: torch.Tensor) -> torch.Tensor:
    """The whole of a left-right symmetric image from its right half (the last dimension)."""
    return torch.cat([right.flip(-1), right], -1)


def _draw_faces(params: torch.Tensor, resolution: int, crop: bool = True) -> torch.Tensor:
    """Faces ``params`` ``(B, P)`` unposed, as ``(B, 2, R, R)``: grey level times coverage, and coverage.

    The image covers ``[-_FIELD, _FIELD]`` in both directions (``resolution`` even), so a posed face can be
    sampled from it without cutting its hair at the image's edge; outside face and hair the coverage is 0.
    Every part but the fringe is symmetric: it is drawn on the right half and mirrored. Eyes, brows, nose
    and mouth are drawn only in the box ``_FEATURES`` around them (``crop=False``: everywhere, for tests).
    """
    p = {name: params[:, i, None, None] for i, name in enumerate(PARAMETERS)}  # each (B, 1, 1)
    pixel = 2 * _FIELD / resolution  # edges are anti-aliased over one pixel
    grid = (torch.arange(resolution, dtype=torch.float32) + 0.5) * pixel - _FIELD
    half = resolution // 2
    u, v = grid[None, None, :], grid[None, :, None] - _FACE_CENTRE
    cover = lambda distance: (0.5 - distance / pixel).clamp_(0, 1)  # noqa: E731
    skin, hair = p["skin_level"], p["hair_level"]
    fw, fh, hv = p["face_width"], p["face_height"], p["hair_volume"]
    # hair behind the face, the face oval, then the fringe: the hair above the hairline (no seam at the
    # face's edge, which the hair behind covers)
    behind = _mirror(_ellipse(u[..., half:], v + 0.25 * fh, fw + hv, 0.8 * fh + hv))
    face = _mirror(cover(_ellipse(u[..., half:], v, fw, fh)))
    alpha = cover(behind.clone())
    img = hair * alpha
    img.lerp_(skin.expand_as(img), face)
    alpha.lerp_(torch.ones_like(alpha), face)
    img.lerp_(hair.expand_as(img), cover(torch.maximum(behind, v + p["hairline"] * fh - p["hair_tilt"] * u)))

    # the features, on the right half of their box
    if crop:
        u_max, v_min, v_max = _FEATURES
        width = min(half, math.ceil(u_max / pixel) + 2)
        top = max(0, math.floor((v_min + _FACE_CENTRE + _FIELD) / pixel) - 2)
        bottom = min(resolution, math.ceil((v_max + _FACE_CENTRE + _FIELD) / pixel) + 2)
    else:
        width, top, bottom = half, 0, resolution
    box = img[:, top:bottom, half - width : half + width]  # a view: painting it paints img
    u, v = u[..., half : half + width], v[:, top:bottom]

    def paint(distance, level):
        box.lerp_(level.expand_as(box), _mirror(cover(distance)))

    ex, ey, es = p["eye_spacing"], p["eye_y"], p["eye_size"]
    reach, ang = 1.2 * es, p["brow_angle"]
    by = ey - 0.55 * es - 0.08
    bx0, by0 = ex - reach * torch.cos(ang), by + reach * torch.sin(ang)
    bx1, by1 = ex + reach * torch.cos(ang), by - reach * torch.sin(ang)
    paint(_capsule(u, v, bx0, by0, bx1, by1, p["brow_thickness"] / 2), skin * 0.35)
    paint(_ellipse(u - ex, v - ey, es, 0.6 * es), skin * 0.2)
    # nose: a shaded bridge down from the eyes and the nostrils across its end
    ny, nw = ey + p["nose_length"], p["nose_width"]
    zero = torch.zeros_like(ny)
    paint(_capsule(u, v, zero, ey + 0.05, zero, ny, zero + 0.025), skin * 0.8)
    paint(_capsule(u, v, -nw, ny, nw, ny, zero + 0.03), skin * 0.5)
    # mouth: a parabolic stroke, its corners `curve` higher than its middle (lower for a negative curve)
    mw, curve = p["mouth_width"], p["mouth_curve"]
    my = ny + 0.14 + curve / 2
    uc = torch.minimum(u, mw)
    t = uc / mw
    du, dv = u - uc, (v - (my - curve * t * t)) / torch.sqrt(1 + (2 * curve * t / mw) ** 2)
    paint(torch.sqrt(du * du + dv * dv) - p["mouth_thickness"] / 2, skin * 0.55)
    return torch.stack([img, alpha], 1)


def _pose_grid(nz: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """Where each pixel of the posed images ``(B, size, size)`` falls in :func:`_draw_faces`' images, as
    ``grid_sample`` wants it ``(B, size, size, 2)``: undo the shift, the rotation, the scale, then the yaw."""
    col = lambda t: t[:, None, None]  # noqa: E731
    cos, sin, scale = col(torch.cos(nz["angle"])), col(torch.sin(nz["angle"])), col(nz["scale"])
    sx, sy = col(nz["shift_x"]), col(nz["shift_y"])
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) * (2 / size) - 1
    x, y = grid[None, None, :], grid[None, :, None]
    u = ((x - sx) * (cos / scale)) + ((y - sy) * (sin / scale))  # small tensors, then one (B, size, size) sum
    v = ((y - sy) * (cos / scale)) - ((x - sx) * (sin / scale))
    u = u - 0.5 * col(nz["yaw"]) * (1 - u.clamp(-1, 1).square_())  # the face's middle moves by yaw / 2
    return torch.stack([u, v], -1).div_(_FIELD)


def _pose_point(nz: dict[str, torch.Tensor], u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the point ``(u, v)`` of an unposed face lands in the posed image (the inverse of :func:`_pose_grid`,
    with the yaw warp inverted to first order)."""
    u = u + 0.5 * nz["yaw"] * (1 - u.clamp(-1, 1) ** 2)
    cos, sin, scale = torch.cos(nz["angle"]), torch.sin(nz["angle"]), nz["scale"]
    return scale * (cos * u - sin * v) + nz["shift_x"], scale * (sin * u + cos * v) + nz["shift_y"]


def _occlude(img: torch.Tensor, params: torch.Tensor, nz: dict[str, torch.Tensor], size: int) -> None:
    """Paint, in place, dark glasses over both eyes or a grey square on the images ``(B, size, size)`` that
    have them (``nz["glasses"]``, ``nz["patch"]``), soft-edged in image coordinates."""
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) * (2 / size) - 1
    x, y = grid[None, None, :], grid[None, :, None]
    for kind in ("glasses", "patch"):
        idx = torch.nonzero(nz[kind]).flatten()
        if len(idx) == 0:
            continue
        n = {k: t[idx] for k, t in nz.items()}
        if kind == "glasses":
            p = {name: params[idx, i] for i, name in enumerate(PARAMETERS)}
            ex, ey = p["eye_spacing"] + p["eye_size"], p["eye_y"] + _FACE_CENTRE
            x0, y0 = _pose_point(n, -ex, ey)
            x1, y1 = _pose_point(n, ex, ey)
            col = lambda t: t[:, None, None]  # noqa: E731
            radius = (p["eye_size"] + 0.05) * n["scale"]
            distance = _capsule(x, y, col(x0), col(y0), col(x1), col(y1), col(radius))
            level = torch.full((len(idx), 1, 1), 0.08)
        else:
            dx, dy = (x - n["patch_x"][:, None, None]).abs(), (y - n["patch_y"][:, None, None]).abs()
            distance = torch.maximum(dx, dy) - n["patch_size"][:, None, None]
            level = n["patch_level"][:, None, None]
        cover = (0.5 - distance / (2 / size)).clamp_(0, 1)
        img[idx] = torch.lerp(img[idx], level.expand(-1, size, size), cover)


def _render(canvas: torch.Tensor, params: torch.Tensor, nz: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """Posed, lit images ``(B * k, size, size)`` of the unposed faces ``canvas`` ``(B, 2, R, R)``, ``k`` images
    of each (identity-major) under ``nz``; ``params`` ``(B * k, P)``."""
    faces, count = len(canvas), len(params)
    grid = _pose_grid(nz, size).view(faces, count // faces * size, size, 2)  # each face's k images, stacked
    warped = torch.nn.functional.grid_sample(canvas, grid, align_corners=False)
    img, alpha = warped[:, 0].reshape(count, size, size), warped[:, 1].reshape(count, size, size)
    background = nz["background"][:, None, None]
    img.addcmul_(alpha, -background).add_(background)  # the face over the background
    _occlude(img, params, nz, size)
    # illumination: gain and offset, then a linear light gradient across the image
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) * (2 / size) - 1
    slope_x = (nz["gradient"] * torch.cos(nz["gradient_dir"]))[:, None, None] * grid[None, None, :]
    slope_y = (nz["gradient"] * torch.sin(nz["gradient_dir"]))[:, None, None] * grid[None, :, None]
    img.mul_(nz["gain"][:, None, None]).add_(nz["offset"][:, None, None])
    return img.mul_((slope_x + 1) + slope_y)


def make_identities(
    n_identities: int,
    per_identity: int,
    size: int = 32,
    groups=None,
    nuisance="default",
    seed: int = 0,
) -> Identities:
    """``per_identity`` grey images of each of ``n_identities`` generated identities (see the module's docstring).

    ``groups``: ``None`` (one group) or group proportions such as ``(0.8, 0.2)``; ``nuisance``: a strength
    in [0, 2] or one of ``"none"`` (0), ``"mild"`` (0.5), ``"default"`` (1), ``"strong"`` (1.5); ``seed``:
    use one seed for training identities and another for unseen test identities. Returns
    :class:`Identities`; images are identity-major (identity 0's images first) and identity ``k``'s face
    is ``params[k]`` (columns ``param_names``).

    >>> data = make_identities(200, 10, groups=(0.8, 0.2), seed=1)  # training identities
    >>> unseen = make_identities(50, 10, groups=(0.8, 0.2), seed=2)  # other identities, for testing
    """
    if not _is_int(n_identities) or n_identities < 2:
        raise ValueError(f"n_identities must be an integer >= 2, got {n_identities!r}")
    if not _is_int(per_identity) or per_identity < 1:
        raise ValueError(f"per_identity must be a positive integer, got {per_identity!r}")
    if not _is_int(size) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    props = _check_groups(groups)
    strength = _check_nuisance(nuisance)
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    identity_seed, nuisance_seed = np.random.SeedSequence(int(seed)).spawn(2)
    group, params = _draw_identities(int(n_identities), props, np.random.default_rng(identity_seed))
    count = int(n_identities) * int(per_identity)
    nuisance_rng = np.random.default_rng(nuisance_seed)
    nz = _draw_nuisance(count, strength, nuisance_rng)
    identities = torch.arange(int(n_identities)).repeat_interleave(int(per_identity))
    params_t = torch.from_numpy(params.astype(np.float32))
    nz_t = {k: torch.from_numpy(val.astype(np.float32)) for k, val in nz.items()}
    resolution = 2 * math.ceil(size * _FIELD * _OVERSAMPLE / 2)
    noise = torch.Generator().manual_seed(int(nuisance_rng.integers(2**62)))
    images = torch.empty(count, 1, size, size)
    step = max(1, _CHUNK // per_identity)  # identities per chunk
    for first in range(0, int(n_identities), step):
        last = min(first + step, int(n_identities))
        rows = slice(first * int(per_identity), last * int(per_identity))
        canvas = _draw_faces(params_t[first:last], resolution)
        img = _render(canvas, params_t[identities[rows]], {k: t[rows] for k, t in nz_t.items()}, size)
        if strength > 0:
            img.add_(torch.randn(img.shape, generator=noise), alpha=_NOISE * strength)
        images[rows, 0] = img.clamp_(0, 1)
    names = tuple(chr(ord("A") + g) for g in range(len(props)))
    return Identities(
        images,
        identities,
        torch.from_numpy(group).long()[identities],
        params_t,
        PARAMETERS,
        names,
        torch.from_numpy(nz["glasses"] | nz["patch"]),
    )


def show_identities(data: Identities, identities=6, images: int = 8, size: float = 1.0, title: str | None = None):
    """A grid of ``data``'s images, one row per identity (the first ``identities``, or those listed), each
    row labelled with its identity and group; grey levels as they are (0 black, 1 white). Returns the figure."""
    import matplotlib.pyplot as plt

    chosen = list(range(identities)) if _is_int(identities) else [int(k) for k in identities]
    if not chosen or not _is_int(images) or images < 1:
        raise ValueError(f"need at least one identity and images >= 1, got {identities!r} and {images!r}")
    rows = [torch.nonzero(data.identities == k).flatten()[:images] for k in chosen]
    for k, idx in zip(chosen, rows):
        if len(idx) < images:
            raise ValueError(f"identity {k} has {len(idx)} images, fewer than images={images}")
    fig, axes = plt.subplots(len(chosen), images, figsize=(size * images, size * len(chosen) + 0.4), squeeze=False)
    for row, k, idx in zip(axes, chosen, rows):
        for ax, i in zip(row, idx):
            ax.imshow(data.images[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(f"id {k} ({data.group_names[int(data.groups[idx[0]])]})", fontsize=8)
    fig.suptitle(title or "one identity per row, its images across")
    fig.tight_layout()
    return fig
