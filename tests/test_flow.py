import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

import utils.flow as fl

# ---------------------------------------------------------------------------------------------------------
# warping, gradients, error


def test_warp_equals_scipy_bilinear_interpolation():
    rng = np.random.default_rng(0)
    img = rng.uniform(size=(2, 9, 13))
    flow = rng.normal(0, 3, size=(2, 9, 13))
    out = fl.warp(torch.tensor(img), torch.tensor(flow))
    ys, xs = np.mgrid[0:9, 0:13]
    coords = [ys + flow[1], xs + flow[0]]  # scipy wants rows then columns
    for c in range(2):
        ref = ndi.map_coordinates(img[c], coords, order=1, mode="nearest")
        np.testing.assert_allclose(out[c].numpy(), ref, atol=1e-12)


def test_warp_by_an_integer_shift_moves_the_image_and_marks_what_comes_from_outside():
    img = torch.arange(30.0).view(1, 5, 6)
    flow = torch.zeros(2, 5, 6)
    flow[0] = 2  # sample two pixels to the right
    out, valid = fl.warp(img, flow, return_valid=True)
    assert torch.equal(out[0, :, :4], img[0, :, 2:])
    assert torch.equal(valid[:, :4], torch.ones(5, 4, dtype=torch.bool)) and not valid[:, 4:].any()
    zeros = fl.warp(img, flow, padding_mode="zeros")
    assert (zeros[0, :, 5] == 0).all()


def test_warp_batched_and_errors():
    img, flow = torch.rand(3, 2, 7, 8), torch.randn(3, 2, 7, 8)
    out = fl.warp(img, flow)
    for i in range(3):
        assert torch.allclose(out[i], fl.warp(img[i], flow[i]), atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        fl.warp(img, flow[:, :1])
    with pytest.raises(ValueError, match="batched"):
        fl.warp(img[0], flow)
    with pytest.raises(ValueError, match="same N, H and W"):
        fl.warp(img, flow[:, :, :6])
    with pytest.raises(ValueError, match="padding_mode"):
        fl.warp(img, flow, padding_mode="edge")
    with pytest.raises(ValueError, match="floating point"):
        fl.warp(img.long(), flow)


def test_image_gradients_equal_numpy_gradient():
    a = np.random.default_rng(1).normal(size=(6, 7))
    gx, gy = fl.image_gradients(torch.tensor(a))
    ny, nx = np.gradient(a)
    np.testing.assert_allclose(gx.numpy(), nx, atol=1e-14)
    np.testing.assert_allclose(gy.numpy(), ny, atol=1e-14)
    gx, gy = fl.image_gradients(torch.tensor(a[:2, :2]))
    np.testing.assert_allclose(gx.numpy(), np.gradient(a[:2, :2])[1])
    with pytest.raises(ValueError, match="2 x 2"):
        fl.image_gradients(torch.zeros(1, 5))


def test_flow_grid_is_x_then_y():
    g = fl.flow_grid(3, 4)
    assert g.shape == (2, 3, 4) and g[0, 2, 3] == 3 and g[1, 2, 3] == 2


def test_endpoint_error_against_numpy_and_errors():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 5, 6)), rng.normal(size=(2, 5, 6))
    valid = rng.uniform(size=(5, 6)) < 0.5
    ref = np.sqrt(((a - b) ** 2).sum(0))
    ta, tb = torch.tensor(a), torch.tensor(b)
    assert fl.endpoint_error(ta, tb) == pytest.approx(ref.mean())
    assert fl.endpoint_error(ta, tb, torch.tensor(valid)) == pytest.approx(ref[valid].mean())
    m = fl.endpoint_error(ta, tb, torch.tensor(valid), reduction="none")
    assert torch.isnan(m[~torch.tensor(valid)]).all()
    np.testing.assert_allclose(m[torch.tensor(valid)].numpy(), ref[valid])
    with pytest.raises(ValueError, match="same shape"):
        fl.endpoint_error(ta, tb[:, :4])
    with pytest.raises(ValueError, match="boolean mask"):
        fl.endpoint_error(ta, tb, torch.ones(5, 6))
    with pytest.raises(ValueError, match="nothing to average"):
        fl.endpoint_error(ta, tb, torch.zeros(5, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        fl.endpoint_error(ta[:1], tb[:1])
    with pytest.raises(ValueError, match="reduction"):
        fl.endpoint_error(ta, tb, reduction="sum")


# ---------------------------------------------------------------------------------------------------------
# generated motion


def test_sequence_shapes_types_and_determinism():
    s = fl.make_flow_sequence(n_frames=4, size=32, n_shapes=3, seed=3)
    assert s.frames.shape == (4, 1, 32, 32) and s.frames.dtype == torch.float32
    assert s.flows.shape == (3, 2, 32, 32) and s.occluded.shape == s.outside.shape == (3, 32, 32)
    assert s.layers.shape == (4, 32, 32) and s.motions.shape == (4, 3, 3) and len(s) == 4
    assert 0 <= s.frames.min() and s.frames.max() <= 1
    assert set(s.layers.unique().tolist()) <= {0, 1, 2, 3}
    again, other = (
        fl.make_flow_sequence(n_frames=4, size=32, n_shapes=3, seed=3),
        fl.make_flow_sequence(n_frames=4, size=32, n_shapes=3, seed=4),
    )
    assert torch.equal(s.frames, again.frames) and torch.equal(s.flows, again.flows)
    assert not torch.equal(s.frames, other.frames)


def test_flow_is_each_layers_motion_applied_to_the_pixels_it_shows():
    s = fl.make_flow_sequence(n_frames=3, size=24, n_shapes=2, seed=5)
    ys, xs = np.mgrid[0:24, 0:24].astype(float)
    pts = np.stack([xs, ys, np.ones_like(xs)]).reshape(3, -1)
    for t in range(2):
        layers = s.layers[t].reshape(-1).numpy()
        moved = np.stack([s.motions[k].numpy() @ pts[:, i] for i, k in enumerate(layers)], 1)
        np.testing.assert_allclose(s.flows[t].reshape(2, -1).numpy(), (moved - pts)[:2], atol=1e-5)


def test_brightness_constancy_holds_exactly_up_to_interpolation():
    # background only, low frequencies: bilinear interpolation of frame 2 is nearly exact
    s = fl.make_flow_sequence(size=48, n_shapes=0, frequency=(0.01, 0.02), max_shift=4, seed=6)
    rebuilt = fl.warp(s.frames[1], s.flows[0])
    err = (rebuilt - s.frames[0]).abs()[0][s.valid[0]]
    assert err.max() < 2e-3
    assert (s.frames[1] - s.frames[0]).abs()[0][s.valid[0]].mean() > 10 * err.mean()  # there is motion


def test_occluded_pixels_break_brightness_constancy_and_valid_ones_keep_it():
    errs_valid, errs_occ = [], []
    for seed in range(6):
        s = fl.make_flow_sequence(size=64, n_shapes=4, max_shift=5, frequency=(0.01, 0.03), seed=seed)
        err = (fl.warp(s.frames[1], s.flows[0]) - s.frames[0]).abs()[0]
        # pixels of frame 2 next to a layer boundary mix two layers under bilinear interpolation
        near = torch.tensor(
            ndi.binary_dilation(ndi.generic_gradient_magnitude(s.layers[1].numpy(), ndi.sobel) > 0, iterations=2)
        )
        sampled = fl.warp(near[None].float(), s.flows[0])[0] > 0
        keep = s.valid[0] & ~sampled
        errs_valid.append(err[keep])
        errs_occ.append(err[s.occluded[0] & ~s.outside[0]])
    valid, occ = torch.cat(errs_valid), torch.cat(errs_occ)
    assert len(occ) > 50 and valid.max() < 0.01 and occ.mean() > 5 * valid.mean()


def test_background_alone_has_no_occlusion_and_shapes_are_in_front():
    s = fl.make_flow_sequence(size=32, n_shapes=0, seed=7)
    assert not s.occluded.any() and (s.layers == 0).all()
    s = fl.make_flow_sequence(size=64, n_shapes=3, max_shift=0, max_rotation=0, max_scale=0, background_shift=0, seed=8)
    assert torch.equal(s.frames[0], s.frames[1]) and (s.flows == 0).all() and not s.occluded.any()


def test_shifts_are_bounded():
    for seed in range(5):
        s = fl.make_flow_sequence(
            size=32, n_shapes=2, max_shift=2.0, max_rotation=0, max_scale=0, background_shift=1.0, seed=seed
        )
        mag = s.flows[0].norm(dim=0)
        assert mag[s.layers[0] == 0].max() <= 1.0 + 1e-5 and mag.max() <= 2.0 + 1e-5


def test_pair_and_dataset():
    p = fl.make_flow_pair(size=32, seed=1)
    assert p.frame1.shape == p.frame2.shape == (1, 32, 32) and p.flow.shape == (2, 32, 32)
    assert p.valid.dtype == torch.bool and p.occluded is not None and not (p.valid & p.occluded).any()
    ds = fl.FlowPairs(5, seed=2, size=32)
    frames, flow = ds[3]
    q = fl.make_flow_pair(size=32, seed=2 * 1_000_003 + 3)
    assert torch.equal(frames, torch.cat([q.frame1, q.frame2])) and torch.equal(flow, q.flow)
    assert len(ds) == 5 and ds.valid.shape == (5, 32, 32)
    assert torch.equal(ds.occluded[3], q.occluded) and torch.equal(ds.valid[3], q.valid)
    seq = fl.make_flow_sequence(size=32, seed=2 * 1_000_003 + 3)
    assert torch.equal(ds.layers[3], seq.layers[0]) and torch.equal(ds.outside[3], seq.outside[0])
    with pytest.raises(ValueError, match="n_frames"):
        fl.FlowPairs(2, n_frames=3)
    other = fl.FlowPairs(5, seed=3, size=32)
    assert not any(torch.equal(a, b) for a in ds.frames for b in other.frames)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_frames=1), "n_frames"),
        (dict(size=4), "size"),
        (dict(n_shapes=-1), "n_shapes"),
        (dict(max_shift=-1), "max_shift"),
        (dict(max_rotation=100), "max_rotation"),
        (dict(max_scale=0.9), "max_scale"),
        (dict(frequency=(0.1, 0.6)), "frequency"),
        (dict(frequency=(0.2, 0.1)), "low <= high"),
        (dict(frequency=0.1), "pair"),
        (dict(noise=-0.1), "noise"),
        (dict(seed=1.5), "seed"),
        (dict(size=True), "size"),
    ],
)
def test_generator_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fl.make_flow_sequence(**kwargs)


def test_pair_refuses_n_frames():
    with pytest.raises(ValueError, match="make_flow_sequence"):
        fl.make_flow_pair(n_frames=3)


def test_noise_changes_frames_not_flow():
    a, b = fl.make_flow_sequence(size=32, seed=9), fl.make_flow_sequence(size=32, seed=9, noise=0.05)
    assert torch.equal(a.flows, b.flows) and not torch.equal(a.frames, b.frames)
    assert 0.02 < (a.frames - b.frames).std() < 0.08


# ---------------------------------------------------------------------------------------------------------
# the motorcycle


def test_motorcycle_flow_is_minus_the_disparity():
    from skimage.data import stereo_motorcycle

    full = fl.stereo_motorcycle_flow(1.0)
    _, _, disp = stereo_motorcycle()
    known = np.isfinite(disp)
    assert abs(known.mean() - 0.927) < 0.001
    np.testing.assert_allclose(full.flow[0].numpy()[known], -disp[known], rtol=1e-6)
    # valid: known, the match x - d inside the right image, and not occluded there
    inside = np.arange(disp.shape[1])[None, :] - np.where(known, disp, 0) >= 0
    assert torch.equal(full.valid, torch.tensor(known & inside) & ~full.occluded)
    assert 0.8 < full.valid.float().mean() < known.mean()
    # the occlusion mask marks where brightness constancy fails: 9 times the error of the visible pixels
    err = (fl.warp(full.frame2, full.flow) - full.frame1).abs()[0]
    assert 0.03 < full.occluded.float().mean() < 0.1
    assert err[full.occluded].mean() > 5 * err[full.valid].mean()
    assert (full.flow[1] == 0).all()
    # the warped right image rebuilds the left one much better with the flow than with its opposite
    good = (fl.warp(full.frame2, full.flow) - full.frame1).abs()[0][full.valid].mean()
    bad = (fl.warp(full.frame2, -full.flow) - full.frame1).abs()[0][full.valid].mean()
    assert good < 0.3 * bad


def test_half_occlusion_by_a_nearer_pixel_to_the_right():
    # row: pixels 0-3 far (disparity 1), pixels 4-5 near (disparity 3): 4 and 5 land at 1 and 2, hiding 2 and 3
    target = np.arange(6.0)[None] - np.array([[1, 1, 1, 1, 3, 3]])
    assert fl._hidden_by_right_neighbours(target).tolist() == [[False, False, True, True, False, False]]
    assert not fl._hidden_by_right_neighbours(np.arange(6.0)[None] - 2).any()  # one plane: nothing hidden


def test_motorcycle_scaled():
    q = fl.stereo_motorcycle_flow(0.25)
    assert q.frame1.shape == (1, 125, 185) and q.flow.shape == (2, 125, 185)
    zero = fl.endpoint_error(torch.zeros_like(q.flow), q.flow, q.valid)
    full = fl.stereo_motorcycle_flow(1.0)
    assert zero == pytest.approx(
        fl.endpoint_error(torch.zeros_like(full.flow), full.flow, full.valid) * 185 / 741, rel=0.02
    )
    with pytest.raises(ValueError, match="scale"):
        fl.stereo_motorcycle_flow(2.0)


# ---------------------------------------------------------------------------------------------------------
# Horn–Schunck


def test_neighbour_average_equals_scipy_correlate():
    a = np.random.default_rng(3).normal(size=(2, 6, 7))
    out = fl.neighbour_average(torch.tensor(a))
    k = fl.HS_AVERAGE.numpy()
    for c in range(2):
        np.testing.assert_allclose(out[c].numpy(), ndi.correlate(a[c], k, mode="nearest"), atol=1e-14)
    assert fl.HS_AVERAGE.sum() == pytest.approx(1.0)


def _hs_direct(ix, iy, it, alpha):
    """The linear system whose fixed point Horn and Schunck's iteration reaches, solved directly."""
    h, w = ix.shape
    n = h * w
    idx = np.arange(n).reshape(h, w)
    rows, cols, vals = [], [], []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            wgt = fl.HS_AVERAGE[dy + 1, dx + 1].item()
            if wgt == 0:
                continue
            src = idx[np.clip(np.arange(h) + dy, 0, h - 1)][:, np.clip(np.arange(w) + dx, 0, w - 1)]
            rows.append(idx.ravel())
            cols.append(src.ravel())
            vals.append(np.full(n, wgt))
    avg = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    lap = alpha**2 * (sp.eye(n) - avg)
    a, b, c = ix.ravel(), iy.ravel(), it.ravel()
    system = sp.bmat([[lap + sp.diags(a * a), sp.diags(a * b)], [sp.diags(a * b), lap + sp.diags(b * b)]]).tocsc()
    sol = spla.spsolve(system, -np.concatenate([a * c, b * c]))
    return sol.reshape(2, h, w)


def test_horn_schunck_iteration_converges_to_the_direct_solve():
    rng = np.random.default_rng(4)
    ix, iy, it = (torch.tensor(ndi.gaussian_filter(rng.normal(size=(12, 14)), 1.0)) for _ in range(3))
    direct = _hs_direct(ix.numpy(), iy.numpy(), it.numpy(), alpha=0.1)
    errs = [
        np.abs(fl.horn_schunck_linearised(ix, iy, it, alpha=0.1, n_iter=n).numpy() - direct).max()
        for n in (10, 100, 3000)
    ]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-8


def test_horn_schunck_recovers_a_small_motion_and_the_pyramid_a_large_one():
    small = fl.make_flow_pair(
        size=64, n_shapes=0, max_shift=1.0, max_rotation=0, max_scale=0, frequency=(0.02, 0.05), seed=1
    )
    f = fl.horn_schunck(small.frame1, small.frame2, alpha=0.05, n_iter=300)
    assert f.shape == (2, 64, 64) and f.dtype == torch.float32
    zero = fl.endpoint_error(torch.zeros_like(small.flow), small.flow, small.valid)
    assert fl.endpoint_error(f, small.flow, small.valid) < 0.2 * zero
    big = fl.make_flow_pair(
        size=64,
        n_shapes=0,
        max_shift=0,
        background_shift=6.0,
        max_rotation=0,
        max_scale=0,
        frequency=(0.03, 0.08),
        seed=2,
    )
    one = fl.endpoint_error(fl.horn_schunck(big.frame1, big.frame2), big.flow, big.valid)
    pyr = fl.endpoint_error(fl.horn_schunck(big.frame1, big.frame2, levels=3, warps=3), big.flow, big.valid)
    assert pyr < 0.5 * one


def test_horn_schunck_errors():
    a = torch.rand(16, 16)
    with pytest.raises(ValueError, match="same size"):
        fl.horn_schunck(a, torch.rand(16, 15))
    with pytest.raises(ValueError, match="grey-level"):
        fl.horn_schunck(torch.rand(3, 16, 16), torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match="alpha must be > 0"):
        fl.horn_schunck(a, a, alpha=0)
    with pytest.raises(ValueError, match="levels"):
        fl.horn_schunck(a, a, levels=0)


def test_resize_flow_scales_the_vectors():
    f = torch.ones(2, 8, 10)
    r = fl.resize_flow(f, (16, 5))
    assert (
        r.shape == (2, 16, 5)
        and torch.allclose(r[0], torch.full((16, 5), 0.5))
        and torch.allclose(r[1], torch.full((16, 5), 2.0))
    )


# ---------------------------------------------------------------------------------------------------------
# the baselines


@pytest.mark.parametrize("method", fl.METHODS)
def test_every_baseline_returns_u_then_v(method):
    # the background moves 2 pixels to the right: u = 2, v = 0
    s = fl.make_flow_sequence(
        size=64,
        n_shapes=0,
        max_shift=0,
        background_shift=0,
        max_rotation=0,
        max_scale=0,
        frequency=(0.03, 0.08),
        seed=3,
    )
    shift = torch.zeros(2, 64, 64)
    shift[0] = -2.0
    frame2 = fl.warp(s.frames[0], shift)  # frame2(x) = frame1(x - 2): content moved right by 2
    flow = fl.classical_flow(method, s.frames[0], frame2)
    assert flow.shape == (2, 64, 64) and flow.dtype == torch.float32
    inner = (slice(8, -8), slice(8, -8))
    if method == "zero":
        assert (flow == 0).all()
    else:
        assert abs(flow[0][inner].median() - 2.0) < 0.3 and flow[1][inner].abs().median() < 0.3


def test_ilk_baseline_is_skimage_reordered():
    from skimage.registration import optical_flow_ilk

    p = fl.make_flow_pair(size=48, seed=4)
    ref = optical_flow_ilk(p.frame1[0].double().numpy(), p.frame2[0].double().numpy(), radius=5)
    ours = fl.classical_flow("ilk", p.frame1, p.frame2, radius=5)
    np.testing.assert_allclose(ours[0].numpy(), ref[1], atol=1e-5)
    np.testing.assert_allclose(ours[1].numpy(), ref[0], atol=1e-5)


def test_baseline_errors():
    a = torch.rand(1, 16, 16)
    with pytest.raises(ValueError, match="method must be one of"):
        fl.classical_flow("raft", a, a)
    with pytest.raises(ValueError, match="no arguments"):
        fl.classical_flow("zero", a, a, radius=3)
    with pytest.raises(ValueError, match="preset"):
        fl.classical_flow("dis", a, a, radius=3)


# ---------------------------------------------------------------------------------------------------------
# correlation


def test_local_correlation_equals_a_loop_over_pixels_and_displacements():
    g = torch.Generator().manual_seed(0)
    f1, f2 = (
        torch.randn(2, 5, 6, 7, generator=g, dtype=torch.float64),
        torch.randn(2, 5, 6, 7, generator=g, dtype=torch.float64),
    )
    for d, stride in [(0, 1), (1, 1), (2, 1), (4, 2)]:
        out = fl.local_correlation(f1, f2, d, stride)
        offsets = list(range(-d, d + 1, stride))
        assert out.shape == (2, len(offsets) ** 2, 6, 7)
        ref = torch.zeros_like(out)
        for b in range(2):
            for y in range(6):
                for x in range(7):
                    for k, (dy, dx) in enumerate((dy, dx) for dy in offsets for dx in offsets):
                        if 0 <= y + dy < 6 and 0 <= x + dx < 7:
                            ref[b, k, y, x] = (f1[b, :, y, x] * f2[b, :, y + dy, x + dx]).sum() / 5
        assert torch.allclose(out, ref, atol=1e-12)
    # a feature map shifted by (dx, dy) = (2, -1) peaks at that displacement
    shifted = torch.roll(f1, shifts=(-1, 2), dims=(2, 3))
    peak = fl.local_correlation(f1, shifted, 2)[:, :, 2:4, 1:3].mean((0, 2, 3)).argmax().item()
    assert divmod(peak, 5) == (-1 + 2, 2 + 2)


def test_local_correlation_errors():
    a = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="one shape"):
        fl.local_correlation(a, torch.zeros(1, 2, 4, 5), 1)
    with pytest.raises(ValueError, match="multiple of stride"):
        fl.local_correlation(a, a, 3, 2)
    with pytest.raises(ValueError, match="max_displacement"):
        fl.local_correlation(a, a, -1)


# ---------------------------------------------------------------------------------------------------------
# drawing


def test_flow_colours_is_flow_to_image_on_one_scale():
    from torchvision.utils import flow_to_image

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 2, 9, 11, generator=g)
    b = 3 * b
    both = flow_to_image(torch.stack([a, b])).permute(0, 2, 3, 1).numpy()
    # a list, a batch and a NumPy batch: torchvision's colours of the batch (one scale for both)
    for flows in ([a, b], torch.stack([a, b]), torch.stack([a, b]).numpy().astype(np.float64)):
        out = fl.flow_colours(flows)
        assert out.dtype == np.uint8 and out.shape == (2, 9, 11, 3)
        np.testing.assert_array_equal(out, both)
    # one flow: (H, W, 3), as torchvision colours it alone
    np.testing.assert_array_equal(fl.flow_colours(a), flow_to_image(a).permute(1, 2, 0).numpy())
    # max_norm twice the longest vector of a: the colours torchvision gives a next to 2 a
    longest = a.norm(dim=0).max().item()
    ref = flow_to_image(torch.stack([a, 2 * a]))[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(fl.flow_colours([a], max_norm=2 * longest)[0], ref)
    # max_norm below the longest: longer vectors are clipped to max_norm, in their direction
    m = longest / 3
    length = np.linalg.norm(a.numpy(), axis=0)
    clipped = a.numpy() * np.minimum(1.0, m / length)
    ref = flow_to_image(torch.from_numpy(clipped).float()).permute(1, 2, 0).numpy()
    out = fl.flow_colours([a], max_norm=m)[0]
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert (length > m).any() and (length <= m).any()


def test_flow_colours_errors():
    f = torch.zeros(2, 4, 5)
    with pytest.raises(ValueError, match="at least one"):
        fl.flow_colours([])
    with pytest.raises(ValueError, match="one size"):
        fl.flow_colours([f, torch.zeros(2, 4, 6)])
    with pytest.raises(ValueError, match="not batches"):
        fl.flow_colours([f[None]])
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        fl.flow_colours(torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="finite"):
        fl.flow_colours(torch.full((2, 4, 5), float("nan")))
    for bad in (0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="max_norm"):
            fl.flow_colours(f, max_norm=bad)
