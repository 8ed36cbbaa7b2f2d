"""utils.identities.make_identities: the format, seeds, what the nuisance strength does, that identities are in
the pixels but not trivially, the groups as documented, the drawing itself, and clear errors."""

import matplotlib
import numpy as np
import pytest
import torch

from utils.identities import (
    _PARAMETER_TABLE,
    MAX_GROUPS,
    PARAMETERS,
    _draw_faces,
    make_identities,
    show_identities,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data():
    return make_identities(60, 5, groups=(0.7, 0.3), seed=0)


def _distances(x: torch.Tensor) -> torch.Tensor:
    """Root-mean-square pixel distance between every two images of ``x`` ``(N, 1, H, W)``, exactly."""
    flat = x.flatten(1).double()
    return torch.cdist(flat, flat, compute_mode="donot_use_mm_for_euclid_dist") / flat.shape[1] ** 0.5


def _rank1(images: torch.Tensor, identities: torch.Tensor) -> float:
    """Closed-set rank-1 of nearest neighbour by cosine on raw pixels: the first image of each identity is
    the gallery, the others are probes."""
    x = torch.nn.functional.normalize(images.flatten(1).double(), dim=1)
    first = torch.ones(len(identities), dtype=torch.bool)
    first[1:] = identities[1:] != identities[:-1]
    nearest = (x[~first] @ x[first].T).argmax(1)
    return (identities[first][nearest] == identities[~first]).double().mean().item()


def test_format(data):
    images, identities, groups, params, param_names, group_names, occluded = data
    assert images.shape == (300, 1, 32, 32) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    assert identities.dtype == groups.dtype == torch.int64 and identities.shape == groups.shape == (300,)
    # identity-major, per_identity images each
    assert torch.equal(identities, torch.arange(60).repeat_interleave(5))
    assert params.shape == (60, len(PARAMETERS)) and params.dtype == torch.float32
    assert param_names == PARAMETERS and len(PARAMETERS) == len(set(PARAMETERS)) == 17
    assert group_names == ("A", "B") and set(groups.tolist()) == {0, 1}
    assert (groups.view(60, 5) == groups.view(60, 5)[:, :1]).all()  # the group of the identity
    assert occluded.dtype == torch.bool and occluded.shape == (300,)
    # parameters stay in their documented ranges
    for column, (name, centre, half) in zip(params.T, _PARAMETER_TABLE):
        if name != "skin_level":
            assert (column - centre).abs().max() <= half + 1e-6, name
    assert make_identities(2, 1, size=16, seed=0).images.shape == (2, 1, 16, 16)


def test_deterministic_and_seeds_independent():
    a = make_identities(50, 3, groups=(0.5, 0.5), seed=1)
    b = make_identities(50, 3, groups=(0.5, 0.5), seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a[:4], b[:4])) and torch.equal(a.occluded, b.occluded)
    c = make_identities(50, 3, groups=(0.5, 0.5), seed=2)
    assert not torch.equal(a.images, c.images) and not torch.equal(a.params, c.params)
    # the identities of a seed do not depend on the nuisance or on the number of images per identity
    for other in (make_identities(50, 7, groups=(0.5, 0.5), nuisance=0, seed=1),):
        assert torch.equal(other.params, a.params) and torch.equal(other.groups[::7], a.groups[::3])
    # two seeds draw unrelated identities: their parameters are uncorrelated
    p1, p2 = (make_identities(400, 1, nuisance=0, seed=s).params for s in (1, 2))
    corr = [np.corrcoef(x, y)[0, 1] for x, y in zip(p1.T.numpy(), p2.T.numpy())]
    assert max(abs(r) for r in corr) < 0.2  # |r| of independent samples of 400: 0.05 typical, 0.15 rare
    assert torch.cdist(p1, p2).min() > 0.01  # no identity of one seed reappears in the other


def test_without_nuisance_all_images_of_an_identity_are_the_same():
    d = make_identities(20, 4, nuisance=0, seed=3)
    assert torch.equal(d.images, make_identities(20, 4, nuisance="none", seed=3).images)
    by_identity = d.images.view(20, 4, -1)
    assert torch.equal(by_identity, by_identity[:, :1].expand_as(by_identity))
    assert not d.occluded.any()
    # and different identities look different
    assert _distances(by_identity[:, 0, None]).add(torch.eye(20)).min() > 0.02


def test_what_is_drawn_is_the_identity():
    """Without nuisance, the background is 0.5, the cheeks have the skin's grey level, the eyes are dark."""
    size = 64
    d = make_identities(50, 1, size=size, nuisance=0, seed=4)
    p = {name: d.params[:, i] for i, name in enumerate(PARAMETERS)}
    img = d.images[:, 0]

    def at(u, v):  # the pixel nearest the face coordinates (u, v) (the face's centre is 0.08 below the image's)
        col = ((u + 1) * size / 2 - 0.5).round().long()
        row = ((v + 0.08 + 1) * size / 2 - 0.5).round().long()
        return img[torch.arange(len(img)), row, col]

    assert (img[:, [0, 0, -1, -1], [0, -1, 0, -1]] == 0.5).all()  # the corners: background
    for side in (-1, 1):
        assert torch.allclose(at(side * 0.4 * torch.ones(50), 0.2 * torch.ones(50)), p["skin_level"], atol=1e-5)
        eye = at(side * p["eye_spacing"], p["eye_y"])
        assert (eye < 0.6 * p["skin_level"]).all()


def test_the_feature_box_crops_nothing():
    """Eyes, brows, nose and mouth are drawn only in a box (for speed): at the extremes of every parameter's
    range, drawing them everywhere gives the same image."""
    rng = np.random.default_rng(0)
    centre = np.array([c for _, c, _ in _PARAMETER_TABLE])
    half = np.array([h for _, _, h in _PARAMETER_TABLE])
    corners = centre + half * rng.choice([-1.0, 1.0], (150, len(centre)))
    params = torch.from_numpy(np.concatenate([corners, centre + half * rng.uniform(-1, 1, (50, len(centre)))]))
    for resolution in (20, 48, 120):  # sizes 16, 32 and 64
        cropped = _draw_faces(params.float(), resolution)
        assert torch.equal(cropped, _draw_faces(params.float(), resolution, crop=False))


def test_identities_are_in_the_pixels_but_not_trivially():
    d = make_identities(60, 5, seed=5)
    dist = _distances(d.images)
    same = d.identities[:, None] == d.identities[None]
    within, between = dist[same & ~torch.eye(300, dtype=torch.bool)].mean(), dist[~same].mean()
    assert within < between - 0.01  # measured: 0.22 against 0.24
    # nearest neighbour on raw pixels finds the identity far more often than chance (1/60), far from always
    rank1 = _rank1(d.images, d.identities)
    assert 3 / 60 < rank1 < 0.5
    assert _rank1(make_identities(60, 5, nuisance=0, seed=5).images, d.identities) == 1.0


def test_nuisance_strength_orders_the_spread_within_an_identity():
    spread = []
    for nuisance in (0, "mild", "default", "strong"):
        d = make_identities(30, 4, nuisance=nuisance, seed=6)
        same = d.identities[:, None] == d.identities[None]
        spread.append(_distances(d.images)[same].mean().item())
    assert spread[0] == 0 and spread[0] < spread[1] < spread[2] < spread[3]
    assert make_identities(30, 4, nuisance=1.0, seed=6).images.equal(make_identities(30, 4, seed=6).images)
    # a quarter of the images are occluded at the default strength
    assert 0.2 < make_identities(400, 5, seed=7).occluded.double().mean() < 0.3


@pytest.mark.parametrize(
    "groups, n, expected",
    [((0.8, 0.2), 200, [160, 40]), ((0.5, 0.3, 0.2), 7, None), ((0.25,) * 4, 10, None), (None, 5, [5])],
)
def test_groups_follow_the_proportions(groups, n, expected):
    d = make_identities(n, 2, groups=groups, nuisance=0, seed=8)
    counts = torch.bincount(d.groups[::2], minlength=len(groups or (1,))).numpy()
    assert counts.sum() == n and len(d.group_names) == len(counts)
    if expected is not None:
        assert counts.tolist() == expected
    assert (np.abs(counts - n * np.asarray(groups or (1.0,))) < 1).all()  # each within 1 of its share


def test_later_groups_have_less_contrast_and_the_same_geometry():
    d = make_identities(400, 1, groups=(0.5, 0.5), nuisance=0, seed=9)
    g = d.groups
    geometry = d.params[:, :15]
    ratio = geometry[g == 1].std(0) / geometry[g == 0].std(0)
    assert ((ratio > 0.8) & (ratio < 1.25)).all()  # the same spread of geometry in both groups
    skin = d.params[:, PARAMETERS.index("skin_level")]
    assert skin[g == 0].min() > 0.6 and skin[g == 1].max() < 0.47  # less contrast against the 0.5 background
    # in pixels, the identities of group B are closer to each other than those of group A
    pixel = [_distances(d.images[g == k]).mean().item() for k in (0, 1)]
    assert pixel[1] < 0.8 * pixel[0]  # lower contrast: smaller differences in pixels
    # and a middle group lies in between
    three = make_identities(300, 1, groups=(0.4, 0.3, 0.3), nuisance=0, seed=9)
    skin3 = three.params[:, -1]
    means = [skin3[three.groups == k].mean().item() for k in range(3)]
    assert means[0] > means[1] > means[2]


def test_show_identities(data):
    fig = show_identities(data, identities=[3, 7], images=4)
    assert len(fig.axes) == 8
    assert fig.axes[0].get_ylabel().startswith("id 3 (") and fig.axes[4].get_ylabel().startswith("id 7 (")
    assert fig.axes[0].get_images()[0].get_clim() == (0, 1)  # grey levels as they are
    with pytest.raises(ValueError, match="fewer than"):
        show_identities(data, identities=2, images=6)
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_identities=1), "n_identities"),
        (dict(n_identities=2.0), "n_identities"),
        (dict(per_identity=0), "per_identity"),
        (dict(per_identity=True), "per_identity"),
        (dict(size=15), "size"),
        (dict(groups=(0.5, 0.4)), "summing to 1"),
        (dict(groups=(1.2, -0.2)), "positive"),
        (dict(groups=(1.0, 0.0)), "positive"),
        (dict(groups=0.5), "groups"),
        (dict(groups=(1 / (MAX_GROUPS + 1),) * (MAX_GROUPS + 1)), "groups"),
        (dict(nuisance="heavy"), "nuisance"),
        (dict(nuisance=-0.1), "nuisance"),
        (dict(nuisance=3), "nuisance"),
        (dict(seed=-1), "seed"),
    ],
)
def test_errors(kwargs, match):
    args = dict(n_identities=4, per_identity=2) | kwargs
    with pytest.raises(ValueError, match=match):
        make_identities(**args)
