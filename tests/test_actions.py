"""utils.actions: generated action clips, time reversal and the clip viewer."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from utils import actions as A


def actor_only(action, n=9, size=32, seed=0, **kwargs):
    """Clips of one action with nothing but the actor: no background, distractors, shake or noise."""
    return A.make_action_clips(
        n, size=size, actions=(action,), distractors=0, jitter=0, noise=0, background=False, seed=seed, **kwargs
    )


def ink(clips):
    """Coverage of the actor per pixel (N, T, H, W): the frames are black but for the actor."""
    return clips.clips.amax(dim=1)


def centroids(clips):
    w = ink(clips)
    t, h, wd = w.shape[1:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(wd, dtype=torch.float32), indexing="ij")
    mass = w.sum(dim=(-2, -1))
    return torch.stack([(w * xs).sum(dim=(-2, -1)) / mass, (w * ys).sum(dim=(-2, -1)) / mass], dim=-1)


def test_shapes_labels_and_range():
    d = A.make_action_clips(18, n_frames=12, size=24, seed=3)
    assert d.clips.shape == (18, 3, 12, 24, 24) and d.clips.dtype == torch.float32
    assert 0 <= d.clips.min() and d.clips.max() <= 1
    assert d.classes == A.ACTIONS
    assert torch.bincount(d.labels, minlength=9).tolist() == [2] * 9
    assert d.centres.shape == (18, 12, 2) and d.angles.shape == (18, 12) and d.radii.shape == (18, 12)
    assert len(d) == 18 and len(d.dataset()) == 18
    x, y = d.dataset()[0]
    assert x.shape == (3, 12, 24, 24) and y.dtype == torch.int64


def test_same_seed_same_clips_other_seed_other_clips():
    a = A.make_action_clips(9, seed=5)
    b = A.make_action_clips(9, seed=5)
    c = A.make_action_clips(9, seed=6)
    assert torch.equal(a.clips, b.clips) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.clips, c.clips)


def test_bytes_are_the_floats_rounded():
    f = A.make_action_clips(18, seed=4)
    b = A.make_action_clips(18, seed=4, dtype=torch.uint8)
    assert b.clips.dtype == torch.uint8 and torch.equal(b.labels, f.labels) and torch.equal(b.centres, f.centres)
    assert torch.equal(b.clips, (f.clips * 255).round().to(torch.uint8))
    back = A.as_float(b.clips)
    assert back.dtype == torch.float32 and (back - f.clips).abs().max() <= 1 / 510 + 1e-6
    assert A.as_float(f.clips) is f.clips
    x, y = b.dataset()[3]
    assert x.dtype == torch.float32 and torch.equal(x, back[3]) and y == b.labels[3]
    with pytest.raises(ValueError, match="bytes"):
        A.as_float(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="tensor"):
        A.as_float(np.zeros(2))


def test_chunks_are_balanced_shuffled_and_distinct():
    # 30 clips per class: a chunk of 25 per class and one of 5, each with its own random stream
    d = A.make_action_clips(270, size=16, n_frames=8, seed=2)
    assert torch.bincount(d.labels, minlength=9).tolist() == [30] * 9
    assert (d.labels[:-1] != d.labels[1:]).float().mean() > 0.7  # shuffled across the chunks
    assert len({c.numpy().tobytes() for c in d.clips}) == 270
    for k in range(9):  # the parameters drawn for the two chunks differ
        assert len(set(d.speeds[d.labels == k].tolist())) == 30
    # the clip-level fields travel with their clip: a growing actor ends larger than it starts
    grow = d.labels == A.ACTIONS.index("grow")
    assert (d.radii[grow, -1] > d.radii[grow, 0]).all()


def test_memory_does_not_grow_with_a_multiple_of_the_clips():
    # the result as bytes is 133 MB; generated at once as floats the peak was 2.6 GB
    import subprocess
    import sys

    code = (
        "import resource, torch; from utils.actions import make_action_clips; torch.set_num_threads(1);"
        "r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "c = make_action_clips(2700, dtype=torch.uint8);"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r) / 1024, c.clips.nbytes / 2**20)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    grown, result = map(float, out)
    assert result == 2700 * 3 * 16 * 32 * 32 / 2**20
    assert grown < result + 400, f"make_action_clips(2700) grew the memory by {grown:.0f} MB"


def test_labels_follow_the_actions_given():
    d = A.make_action_clips(6, actions=("grow", "left"), seed=0)
    assert d.classes == ("grow", "left")
    grow = d.labels == 0
    assert (d.radii[grow, -1] > d.radii[grow, 0]).all()
    assert (d.centres[~grow, -1, 0] < d.centres[~grow, 0, 0]).all()


@pytest.mark.parametrize("action, axis, sign", [("left", 0, -1), ("right", 0, 1), ("up", 1, -1), ("down", 1, 1)])
def test_moves_go_the_way_they_are_named(action, axis, sign):
    d = actor_only(action)
    c = centroids(d)  # measured on the pixels, not taken from the generator's bookkeeping
    step = (c[:, -1] - c[:, 0]) / (c.shape[1] - 1)
    along = sign * step[:, axis]
    size = d.clips.shape[-1]
    assert (along > 0.8 * A.SPEED[0] * size).all() and (along < 1.2 * A.SPEED[1] * size).all()
    assert (step[:, 1 - axis].abs() < 0.1).all()
    # the measured displacement agrees with the recorded centres' (the centre of a shape is the centre of
    # its bounding box, not its centroid, so compare displacements) to within the centroid's aliasing on
    # 32 pixels (up to 0.62 px over 540 clips; the clips travel 15 to 25 px); the actor stays inside
    assert torch.allclose(c - c[:, :1], d.centres - d.centres[:, :1], atol=0.75)
    assert (d.centres - d.radii[..., None] >= -0.5).all() and (d.centres + d.radii[..., None] <= size - 0.5).all()


def orientation(w):
    """The principal axis's angle (degrees, mod 180) of each frame's ink, increasing clockwise on screen."""
    h, wd = w.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(wd, dtype=torch.float64), indexing="ij")
    w = w.double()
    m = w.sum(dim=(-2, -1))
    cx = (w * xs).sum(dim=(-2, -1)) / m
    cy = (w * ys).sum(dim=(-2, -1)) / m
    dx = xs - cx[..., None, None]
    dy = ys - cy[..., None, None]
    mxx = (w * dx * dx).sum(dim=(-2, -1))
    myy = (w * dy * dy).sum(dim=(-2, -1))
    mxy = (w * dx * dy).sum(dim=(-2, -1))
    return torch.rad2deg(0.5 * torch.atan2(2 * mxy, mxx - myy))


@pytest.mark.parametrize("action, sign", [("clockwise", 1), ("anticlockwise", -1)])
def test_rotations_turn_the_way_they_are_named(action, sign):
    # bars only: their principal axis is well defined; y points down, so a growing angle is clockwise
    d = actor_only(action, n=12, size=64, seed=1)
    bars = d.shapes == A.SHAPES.index("bar")
    assert bars.sum() >= 1
    theta = orientation(ink(d)[bars])
    turn = torch.remainder(theta[:, 1:] - theta[:, :-1] + 90, 180) - 90  # per frame, in (-90, 90]
    measured = turn.mean(dim=1)
    assert (sign * measured > 0.8 * A.TURN[0]).all()
    assert torch.allclose(measured, sign * d.speeds[bars].double(), atol=1.5)
    # the centre does not move (a bar's centroid is its centre)
    c = centroids(d)[bars]
    assert (c.std(dim=1) < 0.1).all()


@pytest.mark.parametrize("action", ["grow", "shrink"])
def test_grow_and_shrink_change_the_area_geometrically(action):
    d = actor_only(action, size=64)
    area = ink(d).sum(dim=(-2, -1))
    ratio = area[:, -1] / area[:, 0]
    expected = d.speeds.double() ** (2 * (d.clips.shape[2] - 1))  # area goes with the radius squared
    if action == "shrink":
        expected = 1 / expected
    assert torch.allclose(ratio.double(), expected, rtol=0.15)


def test_bounce_goes_out_and_comes_back():
    d = actor_only("bounce", n=18, size=64)
    c = centroids(d)
    first = c[:, 5] - c[:, 0]
    last = c[:, -1] - c[:, -6]
    # the second half moves against the first
    cos = (first * last).sum(-1) / (first.norm(dim=-1) * last.norm(dim=-1))
    assert (cos < -0.9).all()


def test_reversal_of_a_clip_is_distributed_as_its_partner():
    """The statistics a time-blind model could use (where the actor is, how big, how fast) have the same
    distribution for each action's reversed clips and its partner's clips: their means differ by less
    than 4 standard errors of the difference (a false alarm has odds of about 1 in 16,000 per check)."""
    d = A.make_action_clips(1800, size=16, n_frames=8, distractors=0, jitter=0, noise=0, background=False, seed=2)

    def z(a, b):
        return ((a.mean(0) - b.mean(0)).abs() / (a.var(0) / len(a) + b.var(0) / len(b)).sqrt()).max().item()

    for a, b in A.REVERSAL_PAIRS:
        ia, ib = d.labels == A.ACTIONS.index(a), d.labels == A.ACTIONS.index(b)
        ra = d.centres[ia].flip(1)  # a's clips played backwards
        rb = d.centres[ib]
        assert z(ra[:, 0], rb[:, 0]) < 4 and z(ra[:, -1], rb[:, -1]) < 4, (a, b)
        assert z(d.radii[ia].flip(1), d.radii[ib]) < 4, (a, b)
        assert z(d.speeds[ia], d.speeds[ib]) < 4, (a, b)
    # the check has power: a clip and its own partner played forwards differ (left starts right of right)
    left, right = d.labels == A.ACTIONS.index("left"), d.labels == A.ACTIONS.index("right")
    assert z(d.centres[left][:, 0], d.centres[right][:, 0]) > 10


def test_reverse_time_and_labels():
    d = A.make_action_clips(9, seed=0)
    r = A.reverse_time(d.clips)
    assert torch.equal(r[:, :, 0], d.clips[:, :, -1]) and torch.equal(A.reverse_time(r), d.clips)
    assert torch.equal(A.reverse_time(d.clips[0]), d.clips[0].flip(1))
    names = [d.classes[i] for i in d.reversed_labels()]
    assert names == [A.REVERSE[d.classes[i]] for i in d.labels]
    assert set(A.DIRECTION_CLASSES) == set(A.ACTIONS) - {"bounce"}
    assert all(A.REVERSE[A.REVERSE[a]] == a for a in A.ACTIONS)


def test_class_mask():
    labels = torch.tensor([0, 8, 4, 8])
    assert A.class_mask(labels, ("bounce",)).tolist() == [False, True, False, True]
    assert A.class_mask(labels, A.DIRECTION_CLASSES).tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="not among the classes"):
        A.class_mask(labels, ("jump",))


def test_a_single_frame_carries_no_label():
    """The actor's shape is drawn independently of the action (chi-squared test of independence)."""
    from scipy.stats import chi2_contingency

    d = A.make_action_clips(900, seed=4)
    table = torch.zeros(9, len(A.SHAPES))
    table.index_put_((d.labels, d.shapes), torch.ones(900), accumulate=True)
    assert chi2_contingency(table.numpy()).pvalue > 0.01


def test_distractors_jitter_and_noise_are_there():
    quiet = A.make_action_clips(9, distractors=0, jitter=0, noise=0, seed=1)
    busy = A.make_action_clips(9, distractors=4, jitter=1.5, noise=0.05, seed=1)
    # noise: neighbouring pixels differ more
    dq = (quiet.clips[..., 1:] - quiet.clips[..., :-1]).abs().mean()
    db = (busy.clips[..., 1:] - busy.clips[..., :-1]).abs().mean()
    assert db > dq + 0.02
    # shake: the recorded centres of a rotating (still) actor move from frame to frame
    still = A.make_action_clips(9, actions=("clockwise",), jitter=1.5, seed=1)
    assert (still.centres.diff(dim=1).abs().amax(dim=(1, 2)) > 0.5).all()
    assert (still.centres.diff(dim=1).abs() <= 3.0 + 1e-4).all()
    # with no shake, the background stays: pixels far from the actor in every frame do not change
    plain = A.make_action_clips(9, actions=("clockwise",), distractors=0, jitter=0, noise=0, seed=1)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    centre = plain.centres[:, 0]  # (9, 2): a rotating actor stays put
    far = (xs - centre[:, 0, None, None]) ** 2 + (ys - centre[:, 1, None, None]) ** 2 > (
        1.5 * plain.radii[:, 0, None, None] + 1
    ) ** 2
    change = (plain.clips - plain.clips[:, :, :1]).abs().amax(dim=(1, 2))  # (9, H, W)
    assert far.float().mean() > 0.5
    assert change[far].max() < 1e-5 and change[~far].max() > 0.1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 10}, "multiple of the number of actions"),
        ({"n": 0}, "n must be an integer"),
        ({"n": 9, "n_frames": 4}, "n_frames"),
        ({"n": 9, "size": 8}, "size"),
        ({"n": 9, "size": 300}, "at most 256"),
        ({"n": 9, "actions": ("left", "jump")}, "distinct names"),
        ({"n": 9, "actions": "left"}, "sequence of names"),
        ({"n": 2, "actions": ("left", "left")}, "distinct names"),
        ({"n": 9, "jitter": -1}, "jitter"),
        ({"n": 9, "noise": 2}, "noise"),
        ({"n": 9, "distractors": 1.5}, "distractors"),
        ({"n": 9, "dtype": torch.float16}, "dtype must be"),
        ({"n": 9, "seed": -1}, "seed must be"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        A.make_action_clips(**kwargs)


def test_reversal_errors():
    with pytest.raises(ValueError, match="N, C, T, H, W"):
        A.reverse_time(torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="reversal of"):
        A.reversed_labels(torch.tensor([0]), classes=("left", "up"))
    with pytest.raises(ValueError, match="lie in"):
        A.reversed_labels(torch.tensor([9]))


def test_show_clips_draws_rows_of_frames():
    d = A.make_action_clips(9, seed=0)
    fig = A.show_clips(d.clips[:3], titles=["a", "b", "c"], frames=[0, 5, 15], title="clips")
    assert len(fig.axes) == 9
    shown = fig.axes[1].images[0].get_array()
    assert np.allclose(shown, d.clips[0, :, 5].permute(1, 2, 0).numpy())
    assert fig.axes[0].get_ylabel() == "a"
    with pytest.raises(ValueError, match="frames"):
        A.show_clips(d.clips[:1], frames=[16])
    with pytest.raises(ValueError, match="titles"):
        A.show_clips(d.clips[:2], titles=["a"])


def test_animate_clips_embeds_every_frame_and_its_controls():
    import matplotlib.pyplot as plt

    d = A.make_action_clips(9, n_frames=8, seed=0)
    before = plt.get_fignums()
    html = A.animate_clips(d.clips[:2], titles=["left", "right"], fps=4).data
    assert plt.get_fignums() == before  # the drawing figure is closed
    assert html.count("data:image/png;base64") == 8  # one embedded image per frame
    assert "play_animation" in html and "<script" in html
    # nothing is loaded from the web: the buttons are text, not Font Awesome icons from a CDN
    assert "http" not in html.replace("http://www.w3.org", "") and '<i class="fa' not in html
    assert 'alt="Animation of 8 frames: left, right"' in html
    for label in ("Play", "Pause", "Next frame", "Previous frame"):
        assert f'aria-label="{label}"' in html
    with pytest.raises(ValueError, match="fps"):
        A.animate_clips(d.clips[:1], fps=0)
