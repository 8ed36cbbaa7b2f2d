"""utils.diagrams: the numbers each diagram states, checked against real layers, and its style."""

import itertools

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.colors import to_rgba
from matplotlib.patches import FancyArrowPatch
from torch import nn

import utils
from utils import diagrams
from utils.plotting import describe_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CALLS = {
    "inception naive": lambda: diagrams.inception_module(reduced=False),
    "inception reduced": lambda: diagrams.inception_module(),
    "inception 4e": lambda: diagrams.inception_module(in_channels=528, size=14, widths=(256, 160, 320, 32, 128, 128)),
    "residual basic": lambda: diagrams.residual_block("basic"),
    "residual bottleneck": lambda: diagrams.residual_block("bottleneck", channels=512),
    "dense block": lambda: diagrams.dense_block(),
    "dense block 6": lambda: diagrams.dense_block(layers=6),
    "depthwise": lambda: diagrams.depthwise_separable(),
    "depthwise 5x5": lambda: diagrams.depthwise_separable(512, 1024, kernel=5, size=7),
    "inverted residual": lambda: diagrams.inverted_residual(),
    "inverted residual stride 2": lambda: diagrams.inverted_residual(16, stride=2, out_channels=24),
    "inverted residual t=1": lambda: diagrams.inverted_residual(32, expansion=1, out_channels=16),
    "mbconv": lambda: diagrams.mbconv(),
    "mbconv1 stride 2": lambda: diagrams.mbconv(32, expansion=1, kernel=3, stride=2, out_channels=16),
    "compound": lambda: diagrams.compound_scaling(),
    "compound phi 3": lambda: diagrams.compound_scaling(phi=3),
    "fcn": lambda: diagrams.fcn(),
    "fcn 512": lambda: diagrams.fcn(512),
    "unet": lambda: diagrams.unet(),
    "unet depth 2": lambda: diagrams.unet(188, depth=2, base_channels=16, out_classes=3),
    "unet depth 5": lambda: diagrams.unet(636, depth=5),
    "transposed": lambda: diagrams.transposed_conv(),
    "transposed stride 2": lambda: diagrams.transposed_conv(stride=2),
    "transposed padding": lambda: diagrams.transposed_conv([[1, -2], [0.5, 4]], np.ones((3, 3)), 2, 1),
    "transposed 3x3": lambda: diagrams.transposed_conv(np.arange(9).reshape(3, 3), [[1, -1], [2, 0.5]], 1, 1),
    "overlap tile": lambda: diagrams.overlap_tile(),
    "metric learning": lambda: diagrams.metric_learning(),
    "metric learning 2000": lambda: diagrams.metric_learning(2000, 128),
    "overlap tile image": lambda: diagrams.overlap_tile(188, 100, image=np.arange(300 * 200.0).reshape(300, 200)),
    "rnn unrolled": lambda: diagrams.rnn_unrolled(),
    "rnn unrolled 6 steps": lambda: diagrams.rnn_unrolled(9_999, 9_999, 6),
    "rnn unrolled 1 step": lambda: diagrams.rnn_unrolled(steps=1),
    "lstm cell": lambda: diagrams.lstm_cell(),
    "lstm cell large": lambda: diagrams.lstm_cell(9_999, 9_999),
    "gru cell": lambda: diagrams.gru_cell(),
    "gru cell large": lambda: diagrams.gru_cell(9_999, 9_999),
    "crnn": lambda: diagrams.crnn(),
    "crnn 3 stages": lambda: diagrams.crnn(32, 48, (16, 32, 64), 32, 37),
    "crnn 48 frames": lambda: diagrams.crnn(64, 192, (32, 64), 256, 9_999),
    "crnn 1 stage, 3 frames": lambda: diagrams.crnn(16, 6, 8, 1, 5),
    "crnn 4 stages": lambda: diagrams.crnn(9_984, 768, (9_999, 1, 2, 3), 9_999, 11),
}


@pytest.fixture
def draw():
    """Draws a diagram and closes its figure after the test."""
    figures = []

    def _draw(call):
        fig, stated = call()
        figures.append(fig)
        return fig, stated

    yield _draw
    for fig in figures:
        plt.close(fig)


# ------------------------------------------------------------------------------------------------- style
def _luminance(rgb):
    c = np.asarray(rgb[:3], dtype=float)
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _contrast(a, b):
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _over_white(rgba):
    r = np.asarray(to_rgba(rgba))
    return r[:3] * r[3] + (1 - r[3])


def _texts(fig):
    texts = list(fig.texts) + [t for ax in fig.axes for t in ax.texts]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _filled_patches(ax):
    """The patches with a visible fill (arrows are lines, not fills), in drawing order."""
    patches = [
        p
        for p in ax.patches
        if p.get_visible() and to_rgba(p.get_facecolor())[3] > 0 and not isinstance(p, FancyArrowPatch)
    ]
    return sorted(patches, key=lambda p: p.get_zorder())


def _background(text, renderer, patches=None):
    """The colour behind a text (its own box, the topmost filled patch under its centre, else white) and
    that patch's extent, or ``None`` where the text lies over an image without a box of its own.
    ``patches``: the axes' filled patches with their extents, if computed already."""
    if text.get_bbox_patch() is not None:
        return _over_white(text.get_bbox_patch().get_facecolor()), None
    box = text.get_window_extent(renderer)
    centre = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
    ax = text.axes
    if ax is None:
        return np.ones(3), None
    if patches is None:
        patches = [(p, p.get_window_extent(renderer)) for p in _filled_patches(ax)]
    under = [(p, ext) for p, ext in patches if ext.contains(*centre) and p.contains_point(centre)]
    if under:
        return _over_white(under[-1][0].get_facecolor()), under[-1][1]
    if any(im.get_window_extent(renderer).contains(*centre) for im in ax.get_images()):
        return None, None
    return np.ones(3), None


def _line_points(ax):
    """Points every 1 px along the arrows and lines of ``ax``, in display coordinates."""
    paths = [p.get_transform().transform_path(p.get_path()) for p in ax.patches if isinstance(p, FancyArrowPatch)]
    paths += [line.get_transform().transform_path(line.get_path()) for line in ax.lines]
    points = []
    for path in paths:
        for poly in path.to_polygons(closed_only=False):
            for a, b in zip(poly, poly[1:]):
                n = max(2, int(np.hypot(*(b - a))) + 1)
                points.append(a + np.linspace(0, 1, n)[:, None] * (b - a))
    return np.concatenate(points) if points else np.empty((0, 2))


def _inside(inner, outer, tol=1.0):
    return (
        inner.x0 >= outer.x0 - tol
        and inner.y0 >= outer.y0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y1 <= outer.y1 + tol
    )


def _overlap(a, b, tol=0.5):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


@pytest.mark.parametrize("name", list(CALLS))
def test_style(name, draw):
    fig, stated = draw(CALLS[name])
    assert isinstance(stated, dict) and stated
    assert describe_figure(fig), "every diagram needs a title (the website's alt text)"
    assert to_rgba(fig.get_facecolor()) == (1, 1, 1, 1), "opaque white background for the dark theme"
    assert fig.get_figwidth() <= 8.0
    assert all(not ax.axison for ax in fig.axes)
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    texts = _texts(fig)
    extents = [t.get_window_extent(renderer) for t in texts]
    lines = {ax: _line_points(ax) for ax in fig.axes}
    patches = {ax: [(p, p.get_window_extent(renderer)) for p in _filled_patches(ax)] for ax in fig.axes}
    for text, box in zip(texts, extents):
        label = repr(text.get_text())
        assert text.get_fontsize() >= 8, f"{label} is smaller than 8 pt"
        assert _inside(box, fig_box), f"{label} is outside the figure"
        background, patch_box = _background(text, renderer, patches.get(text.axes))
        assert background is not None, f"{label} lies on an image without a box behind it"
        ratio = _contrast(to_rgba(text.get_color()), background)
        assert ratio >= 4.5, f"{label}: contrast {ratio:.2f} < 4.5"
        if patch_box is not None:
            assert _inside(box, patch_box), f"{label} overflows the box it sits in"
        if text.axes is not None:
            pts, shrunk = lines[text.axes], box.padded(-1.5)
            crossing = (
                (pts[:, 0] > shrunk.x0) & (pts[:, 0] < shrunk.x1) & (pts[:, 1] > shrunk.y0) & (pts[:, 1] < shrunk.y1)
            )
            assert not crossing.any(), f"an arrow or line runs through {label}"
    for (t1, b1), (t2, b2) in itertools.combinations(zip(texts, extents), 2):
        assert not _overlap(b1, b2), f"{t1.get_text()!r} overlaps {t2.get_text()!r}"


def test_palette_text_contrast():
    for kind, (fill, edge) in diagrams.PALETTE.items():
        assert _contrast(to_rgba(diagrams.TEXT), to_rgba(fill)) >= 7, kind
        assert _contrast(to_rgba(edge), to_rgba(fill)) >= 2, f"{kind}: the edge should show against its fill"


def test_style_check_can_fail(draw):
    """The style test's helpers catch a bad label: low contrast, an overflowing box, overlapping texts."""
    fig, _ = draw(diagrams.residual_block)
    ax = fig.axes[0]
    light = ax.text(0.2, 0.2, "light grey text", color="#bbbbbb", fontsize=9)
    renderer = fig.canvas.get_renderer()
    assert _contrast(to_rgba(light.get_color()), _background(light, renderer)[0]) < 4.5
    box = diagrams._box(ax, (1, 1), 0.3, 0.2, "far too long a label", "conv")
    label = ax.texts[-1]
    background, patch_box = _background(label, renderer)
    assert patch_box is not None and not _inside(label.get_window_extent(renderer), patch_box)
    assert box.w == 0.3
    twin = ax.text(0.2, 0.2, "light grey text", fontsize=9)
    assert _overlap(light.get_window_extent(renderer), twin.get_window_extent(renderer))


# ------------------------------------------------------------------------------------------ chapter 2
def _macs(module, shape):
    """Multiply-adds counted by torch's FlopCounterMode, on the meta device (no arithmetic)."""
    return utils.count_macs(module.to("meta"), shape)


def test_inception_counts_against_layers(draw):
    _, stated = draw(lambda: diagrams.inception_module())
    assert stated["branches"] == [64, 128, 32, 32] and stated["concat"] == 256
    c, s = 192, 28
    branches = {
        "1x1": nn.Conv2d(c, 64, 1, bias=False),
        "3x3": nn.Sequential(nn.Conv2d(c, 96, 1, bias=False), nn.Conv2d(96, 128, 3, padding=1, bias=False)),
        "5x5": nn.Sequential(nn.Conv2d(c, 16, 1, bias=False), nn.Conv2d(16, 32, 5, padding=2, bias=False)),
        "pool": nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c, 32, 1, bias=False)),
    }
    x = torch.empty(1, c, s, s, device="meta")
    assert sum(m.to("meta")(x).shape[1] for m in branches.values()) == 256
    for name, module in branches.items():
        assert stated["macs"][name] == _macs(module, (1, c, s, s)), name
    _, naive = draw(lambda: diagrams.inception_module(reduced=False))
    assert naive["concat"] == 64 + 128 + 32 + 192
    assert naive["macs"]["3x3"] == _macs(nn.Conv2d(c, 128, 3, padding=1, bias=False), (1, c, s, s))
    assert naive["total_macs"] > 2 * stated["total_macs"]


def test_residual_blocks_against_torchvision(draw):
    from torchvision.models import resnet18, resnet50

    with torch.device("meta"):
        basic, bottleneck = resnet18().layer1[0], resnet50().layer1[1]
    for block, args in ((basic, ("basic", 64)), (bottleneck, ("bottleneck", 64, 4))):
        _, stated = draw(lambda args=args: diagrams.residual_block(*args))
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        assert stated["conv_channels"] == [(m.in_channels, m.out_channels) for m in convs]
        assert stated["kernels"] == [m.kernel_size[0] for m in convs]
    assert stated["in_channels"] == stated["out_channels"] == 256


def test_dense_block_channels(draw):
    c0, k, n, bn = 64, 32, 6, 4
    _, stated = draw(lambda: diagrams.dense_block(c0, k, n, bn))
    x = torch.empty(1, c0, 8, 8, device="meta")
    seen = [x.shape[1]]
    for _ in range(n):
        in_ch = x.shape[1]
        layer = nn.Sequential(nn.Conv2d(in_ch, bn * k, 1), nn.Conv2d(bn * k, k, 3, padding=1)).to("meta")
        x = torch.cat([x, layer(x)], dim=1)
        seen.append(x.shape[1])
    assert stated["channels"] == seen and stated["block_out"] == 256  # DenseNet-121's first block
    transition = nn.Sequential(nn.Conv2d(256, int(0.5 * 256), 1), nn.AvgPool2d(2)).to("meta")
    assert stated["transition_out"] == transition(x).shape[1] == 128
    assert stated["bottleneck"] == 128


def test_depthwise_separable_costs(draw):
    m, n, k, s = 32, 64, 3, 56
    _, stated = draw(lambda: diagrams.depthwise_separable(m, n, k, s))
    standard = nn.Conv2d(m, n, k, padding=1, bias=False)
    depthwise = nn.Conv2d(m, m, k, padding=1, groups=m, bias=False)
    pointwise = nn.Conv2d(m, n, 1, bias=False)
    assert stated["standard_params"] == sum(p.numel() for p in standard.parameters())
    assert stated["depthwise_params"] == sum(p.numel() for p in depthwise.parameters())
    assert stated["pointwise_params"] == sum(p.numel() for p in pointwise.parameters())
    assert stated["standard_macs"] == _macs(standard, (1, m, s, s))
    assert stated["separable_macs"] == _macs(nn.Sequential(depthwise, pointwise), (1, m, s, s))
    assert stated["ratio"] == pytest.approx(1 / n + 1 / k**2)


def test_inverted_residual_against_torchvision(draw):
    from torchvision.models import mobilenet_v2

    with torch.device("meta"):
        features = mobilenet_v2().features
    for block, args, residual in ((features[3], (24, 6, 1), True), (features[2], (16, 6, 2, 24), False)):
        _, stated = draw(lambda args=args: diagrams.inverted_residual(*args))
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        assert stated["channels"] == [
            convs[0].in_channels,
            convs[0].out_channels,
            convs[1].out_channels,
            convs[2].out_channels,
        ]
        assert stated["residual"] is residual is block.use_res_connect
    _, t1 = draw(lambda: diagrams.inverted_residual(32, expansion=1, out_channels=16))
    assert t1["channels"] == [32, 32, 32, 16] and not t1["residual"]


def test_mbconv_squeeze_from_input_channels(draw):
    from torchvision.models import efficientnet_b0
    from torchvision.ops import SqueezeExcitation

    with torch.device("meta"):
        stage = efficientnet_b0().features[3]  # MBConv6, k5, 24 -> 40, then 40 -> 40
    block = stage[1]
    _, stated = draw(lambda: diagrams.mbconv(40, 6, 5, 0.25))
    se = next(m for m in block.modules() if isinstance(m, SqueezeExcitation))
    assert stated["squeeze_channels"] == se.fc1.out_channels == 10  # from the 40 input channels, not 240
    assert stated["expanded_channels"] == se.fc1.in_channels == 240
    dw = next(m for m in block.modules() if isinstance(m, nn.Conv2d) and m.groups > 1)
    assert stated["kernel"] == dw.kernel_size[0] and stated["residual"] is block.use_res_connect
    _, first = draw(lambda: diagrams.mbconv(24, 6, 5, 0.25, stride=2, out_channels=40))
    se = next(m for m in stage[0].modules() if isinstance(m, SqueezeExcitation))
    assert first["squeeze_channels"] == se.fc1.out_channels == 6 and not first["residual"]


def test_compound_scaling(draw):
    _, stated = draw(lambda: diagrams.compound_scaling())
    assert (stated["depth"], stated["width"], stated["resolution"]) == pytest.approx((1.2, 1.1, 1.15))
    assert stated["flops"] == pytest.approx(1.2 * 1.1**2 * 1.15**2) and 1.9 < stated["flops"] < 2
    assert stated["panel_flops"][-1] == pytest.approx(6 / 5 * 1.1**2 * 1.15**2)
    _, three = draw(lambda: diagrams.compound_scaling(phi=3))
    assert three["flops"] == pytest.approx(stated["flops"] ** 3)


# ------------------------------------------------------------------------------------------ chapter 3
def test_fcn_sizes_against_vgg(draw):
    from torchvision.models import vgg16

    with torch.device("meta"):
        features = vgg16().features
    for n in (224, 512):
        _, stated = draw(lambda n=n: diagrams.fcn(n))
        x, sizes = torch.empty(1, 3, n, n, device="meta"), []
        for layer in features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                sizes.append(x.shape[-1])
        assert stated["sizes"] == sizes and stated["strides"] == [n // s for s in sizes]
        assert all(np.prod(factors) == 32 for factors in stated["upsampling"].values())  # back to the input size


def _valid_unet_sizes(n, depth, base):
    """Sizes from real layers on the meta device: 3x3 valid convolutions, 2x2 pools and up-convolutions."""
    x = torch.empty(1, 1, n, n, device="meta")
    conv = lambda c_in, c_out: nn.Conv2d(c_in, c_out, 3).to("meta")  # noqa: E731
    down, skips, c = [], [], 1
    for level in range(depth + 1):
        out = base * 2**level
        sizes = [x.shape[-1]]
        x = conv(c, out)(x)
        sizes.append(x.shape[-1])
        x = conv(out, out)(x)
        sizes.append(x.shape[-1])
        down.append(sizes)
        c = out
        if level < depth:
            skips.append(x)
            x = nn.MaxPool2d(2)(x)
    up, crops = [], []
    for level in reversed(range(depth)):
        out = base * 2**level
        x = nn.ConvTranspose2d(c, out, 2, stride=2).to("meta")(x)
        crops.append((skips[level].shape[-1], x.shape[-1]))
        sizes = [x.shape[-1]]
        x = conv(2 * out, out)(torch.empty(1, 2 * out, *x.shape[-2:], device="meta"))
        sizes.append(x.shape[-1])
        x = conv(out, out)(x)
        sizes.append(x.shape[-1])
        up.append(sizes)
        c = out
    return down, up, crops


@pytest.mark.parametrize("n,depth", [(572, 4), (188, 2), (636, 5), (92, 1)])
def test_unet_sizes_against_layers(n, depth, draw):
    _, stated = draw(lambda: diagrams.unet(n, depth=depth, base_channels=8))
    down, up, crops = _valid_unet_sizes(n, depth, 8)
    assert stated["down"] == down and stated["up"] == up and stated["crops"] == crops
    assert stated["channels"] == [8 * 2**i for i in range(depth + 1)]
    with torch.device("meta"):
        net = utils.segmentation.UNet(1, 2, width=8, depth=depth, padding=0)
    assert net(torch.empty(1, 1, n, n, device="meta")).shape[-1] == stated["output"] == up[-1][-1]


def test_unet_paper_numbers(draw):
    _, stated = draw(diagrams.unet)
    assert (stated["input"], stated["output"]) == (572, 388)
    assert [level[-1] for level in stated["down"]] == [568, 280, 136, 64, 28]
    assert stated["channels"] == [64, 128, 256, 512, 1024] and stated["out_classes"] == 2
    with torch.device("meta"):
        net = utils.segmentation.UNet(1, 2, width=64, depth=4, padding=0)
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert stated["conv_layers"] == len(convs) == 23


def test_unet_rejects_odd_sizes():
    with pytest.raises(ValueError, match="odd before a 2×2 max-pool.*nearest size that works is 572"):
        diagrams.unet(570)
    with pytest.raises(ValueError, match="depth"):
        diagrams.unet(572, depth=6)
    with pytest.raises(ValueError, match="input_size"):
        diagrams.unet(0)
    with pytest.raises(ValueError, match="base_channels"):
        diagrams.unet(572, base_channels=2.5)


@pytest.mark.parametrize(
    "x,kernel,stride,padding",
    [
        ([[0, 1], [2, 3]], [[0, 1], [2, 3]], 1, 0),
        ([[0, 1], [2, 3]], [[0, 1], [2, 3]], 2, 0),
        ([[1, -2], [0.5, 4]], np.ones((3, 3)), 2, 1),
        ([[2.0]], [[1, 2, 3], [4, 5, 6]], 1, 0),
        ([[1, 2]], [[1], [-2.5]], 2, 0),
        (np.arange(9).reshape(3, 3), [[1, -1], [2, 0.5]], 1, 1),
    ],
)
def test_transposed_conv_against_torch(x, kernel, stride, padding, draw):
    _, stated = draw(lambda: diagrams.transposed_conv(x, kernel, stride, padding))
    t = torch.tensor(np.asarray(x, dtype=np.float64))[None, None]
    k = torch.tensor(np.asarray(kernel, dtype=np.float64))[None, None]
    expected = F.conv_transpose2d(t, k, stride=stride, padding=padding)[0, 0].numpy()
    assert stated["output_size"] == expected.shape
    np.testing.assert_allclose(stated["output"], expected)
    h, w = np.shape(x)
    kh, kw = np.shape(kernel)
    assert stated["output_size"] == ((h - 1) * stride - 2 * padding + kh, (w - 1) * stride - 2 * padding + kw)


def test_overlap_tile(draw):
    _, stated = draw(diagrams.overlap_tile)
    assert (stated["margin"], stated["overlap"], stated["tiles"]) == (92, 184, (2, 2))
    assert stated["image_size"] == (776, 776)
    fig, other = draw(lambda: diagrams.overlap_tile(188, 100, image=np.zeros((300, 201))))
    assert (other["margin"], other["tiles"]) == (44, (3, 3))
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape == (44 + 300 + 44, 44 + 300 + 44)  # mirrored border + the image + tile padding


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: diagrams.inception_module(widths=(64, 96)), "widths"),
        (lambda: diagrams.inception_module(in_channels=0), "in_channels"),
        (lambda: diagrams.residual_block("wide"), "basic"),
        (lambda: diagrams.residual_block(channels=-1), "channels"),
        (lambda: diagrams.dense_block(layers=9), "layers"),
        (lambda: diagrams.dense_block(compression=0), "compression"),
        (lambda: diagrams.depthwise_separable(kernel=0), "kernel"),
        (lambda: diagrams.inverted_residual(stride=3), "stride"),
        (lambda: diagrams.mbconv(se_ratio=0), "se_ratio"),
        (lambda: diagrams.compound_scaling(alpha=0.9), "alpha"),
        (lambda: diagrams.compound_scaling(phi=-1), "phi"),
        (lambda: diagrams.fcn(225), "divisible by 32"),
        (lambda: diagrams.transposed_conv([1, 2, 3]), "2-D"),
        (lambda: diagrams.transposed_conv(padding=2), "padding"),
        (lambda: diagrams.transposed_conv(stride=0), "stride"),
        (lambda: diagrams.transposed_conv(np.ones((4, 4)), np.ones((4, 4)), stride=4), "too large to draw"),
        (lambda: diagrams.overlap_tile(388, 572), "exceed"),
        (lambda: diagrams.overlap_tile(573, 388), "even"),
        (lambda: diagrams.overlap_tile(image=np.zeros((3, 4, 5))), "2-D"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
    plt.close("all")


# ------------------------------------------------------------------------------- chapter 4 two-stage detectors
RCNN_FAMILY_CALLS = {
    "rcnn family": lambda: diagrams.rcnn_family(),
    "rcnn family large": lambda: diagrams.rcnn_family(99_999, 9_999, 999, 99_999, 99, 99, 9_999, 9_999),
    "rcnn family small": lambda: diagrams.rcnn_family(1, 1, 1, 1, 1, 1, 1, 2),
}


@pytest.mark.parametrize("name", list(RCNN_FAMILY_CALLS))
def test_rcnn_family_style(name, draw):
    CALLS.update(RCNN_FAMILY_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


def test_rcnn_family_against_torchvision(draw):
    from torchvision.models import vgg16
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    _, stated = draw(diagrams.rcnn_family)
    with torch.device("meta"):
        faster = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
        vgg = vgg16()
    rpn, heads = faster.rpn, faster.roi_heads
    assert (rpn.head.cls_logits.out_channels, rpn.head.bbox_pred.out_channels) == stated["rpn_outputs"] == (3, 12)
    assert rpn.anchor_generator.num_anchors_per_location() == [stated["anchors_per_location"]] * 5
    assert rpn._post_nms_top_n["testing"] == stated["proposals"]
    assert heads.box_roi_pool.output_size == (stated["roi_size"],) * 2
    assert heads.box_head.fc6.in_features == faster.backbone.out_channels * stated["fc_in"]
    assert heads.box_head.fc7.out_features == stated["representation"]
    assert heads.box_predictor.cls_score.out_features == stated["num_classes"]
    assert heads.box_predictor.bbox_pred.out_features == stated["box_outputs"] == 364
    # Fast R-CNN on VGG16: conv5_3 has stride 16 and fc6 takes a 512 x 7 x 7 pooled grid
    assert vgg.features[:-1](torch.empty(1, 3, 224, 224, device="meta")).shape[-1] == 224 // stated["stride"]
    assert vgg.classifier[0].in_features == 512 * stated["fc_in"]
    _, other = draw(lambda: diagrams.rcnn_family(roi_size=14, anchors_per_location=9, num_classes=21))
    assert other["rpn_outputs"] == (9, 36) and other["fc_in"] == 196 and other["box_outputs"] == 84
    assert set(other["per_region"]) == {"R-CNN", "Fast R-CNN", "Faster R-CNN"}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"regions": 0}, "regions"),
        ({"proposals": 2.5}, "proposals"),
        ({"num_classes": 1}, "num_classes"),
        ({"roi_size": -7}, "roi_size"),
        ({"regions": 100_000}, "too large"),
    ],
)
def test_rcnn_family_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.rcnn_family(**kwargs)
    plt.close("all")


# ------------------------------------------------------------------------------- chapter 4 one-stage detectors
FCOS_CALLS = {
    "fcos": lambda: diagrams.fcos(),
    "fcos 256": lambda: diagrams.fcos(256, num_classes=91),
    "fcos small": lambda: diagrams.fcos(
        (96, 128), num_classes=5, channels=32, num_convs=2, backbone_channels=(64, 128, 256)
    ),
}


@pytest.mark.parametrize("name", list(FCOS_CALLS))
def test_fcos_style(name, draw):
    CALLS.update(FCOS_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("size", [(800, 1024), (256, 256), (200, 300)])
def test_fcos_sizes_against_torchvision(size, draw):
    from torchvision.models.detection import fcos_resnet50_fpn

    _, stated = draw(lambda: diagrams.fcos(size, num_classes=91))
    with torch.device("meta"):
        model = fcos_resnet50_fpn(weights=None, weights_backbone=None)
        x = torch.empty(1, 3, *size)
        body = model.backbone.body(x)
        pyramid = list(model.backbone(x).values())
    assert [tuple(p.shape[-2:]) for p in pyramid] == stated["sizes"]
    assert [tuple(c.shape[-2:]) for c in body.values()] == stated["backbone_sizes"]
    assert [c.shape[1] for c in body.values()] == stated["backbone_channels"] == [512, 1024, 2048]
    assert {p.shape[1] for p in pyramid} == {stated["channels"]}
    if size[0] % 128 == 0:  # torchvision's stride is H // h, the nominal one when 128 divides H
        assert [size[0] // p.shape[-2] for p in pyramid] == stated["strides"]
    assert stated["locations"] == sum(p.shape[-2] * p.shape[-1] for p in pyramid)
    head = model.head
    convs = [m for m in head.classification_head.conv if isinstance(m, nn.Conv2d)]
    assert len(convs) == stated["num_convs"] and convs[0].out_channels == stated["channels"]
    outputs = stated["head_outputs"]
    assert head.classification_head.cls_logits.out_channels == outputs["classes"] == stated["num_classes"]
    assert head.regression_head.bbox_reg.out_channels == outputs["box"] == 4
    assert head.regression_head.bbox_ctrness.out_channels == outputs["centerness"] == 1


def test_fcos_ranges_are_torchvisions_rule(draw):
    _, stated = draw(diagrams.fcos)
    # torchvision's FCOS.compute_loss: (4 s, 8 s) per level, 0 below P3 and infinity above P7
    assert stated["ranges"] == [(0, 64), (64, 128), (128, 256), (256, 512), (512, float("inf"))]
    assert stated["locations"] == 100 * 128 + 50 * 64 + 25 * 32 + 13 * 16 + 7 * 8


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"input_size": (800, 1024, 3)}, "input_size"),
        ({"input_size": 16}, "input_size"),
        ({"num_classes": 0}, "num_classes"),
        ({"num_convs": 1.5}, "num_convs"),
        ({"backbone_channels": (512, 1024)}, "C3, C4, C5"),
    ],
)
def test_fcos_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.fcos(**kwargs)
    plt.close("all")


def test_metric_learning_against_the_losses(draw):
    from utils import embedding

    _, stated = draw(lambda: diagrams.metric_learning(300, 32))
    assert stated["class_vectors"] == tuple(embedding.ArcFaceHead(32, 300).weight.shape)
    assert stated["class_vectors"] == tuple(embedding.SoftmaxHead(32, 300).fc.weight.shape)
    # the contrastive loss compares pairs, the triplet loss anchors with one positive and one negative
    e, y = torch.randn(6, 32), torch.tensor([0, 0, 1, 1, 2, 2])
    assert stated["inputs"]["contrastive"] == 2 and stated["inputs"]["triplet"] == 3
    assert embedding.contrastive_loss(e, y).ndim == embedding.batch_hard_triplet_loss(e, y).ndim == 0
    assert stated["dim"] == 32 and stated["shared_network"]
    with pytest.raises(ValueError):
        diagrams.metric_learning(1)


# ------------------------------------------------------------------------------------- chapter 6 sequences
@pytest.mark.parametrize("d,h,steps", [(8, 16, 4), (3, 5, 6), (4, 2, 1)])
def test_rnn_unrolled_against_nn_rnn(d, h, steps, draw):
    _, stated = draw(lambda: diagrams.rnn_unrolled(d, h, steps))
    torch.manual_seed(0)
    rnn = nn.RNN(d, h)
    assert stated["parameters"] == sum(p.numel() for p in rnn.parameters())
    assert stated["weights"] == {name: tuple(getattr(rnn, name).shape) for name in ("weight_ih_l0", "weight_hh_l0")}
    x, h0 = torch.randn(steps, 1, d), torch.randn(1, 1, h)
    out, _ = rnn(x, h0)
    assert out.shape[0] == stated["steps"] == steps
    # the drawn recurrence, the same weights at every step, gives nn.RNN's outputs
    assert stated["shared_weights"]
    w_ih, w_hh, b_ih, b_hh = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
    hs, state = [], h0[0]
    for t in range(stated["steps"]):
        state = torch.tanh(x[t] @ w_ih.T + b_ih + state @ w_hh.T + b_hh)
        hs.append(state)
    torch.testing.assert_close(torch.stack(hs), out)
    # backpropagation through time as written under the drawing:
    # dL/dh_t = dL_t/dh_t + W_hh^T [(1 - h_{t+1}^2) * dL/dh_{t+1}]
    v = torch.randn(steps, 1, h)
    loss = sum((v[t] * hs[t]).sum() for t in range(steps))
    grads = torch.autograd.grad(loss, hs)
    for t in range(steps - 1):
        expected = v[t] + ((1 - hs[t + 1] ** 2) * grads[t + 1]) @ w_hh
        torch.testing.assert_close(grads[t], expected)


def _assert_stated_weights(stated, cell, gates):
    """The parameter count and layer 0's weight shapes a cell diagram states, against the real module."""
    d, h = cell.input_size, cell.hidden_size
    assert stated["parameters"] == sum(p.numel() for p in cell.parameters())
    assert stated["weight_ih_l0"] == tuple(cell.weight_ih_l0.shape) == (gates * h, d)
    assert stated["weight_hh_l0"] == tuple(cell.weight_hh_l0.shape) == (gates * h, h)


@pytest.mark.parametrize("d,h", [(8, 16), (3, 7)])
def test_lstm_cell_against_nn_lstm(d, h, draw):
    _, stated = draw(lambda: diagrams.lstm_cell(d, h))
    torch.manual_seed(0)
    lstm = nn.LSTM(d, h)
    _assert_stated_weights(stated, lstm, 4)
    x, h0, c0 = torch.randn(1, 1, d), torch.randn(1, 1, h), torch.randn(1, 1, h)
    _, (h1, c1) = lstm(x, (h0, c0))
    # the gates in the stated order are the row blocks of the weights, with the stated activations
    pre = x[0] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h0[0] @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}
    gates = {g: act[a](block) for g, a, block in zip(stated["gates"], stated["activations"], pre.chunk(4, dim=-1))}
    c = gates["f"] * c0[0] + gates["i"] * gates["g"]
    torch.testing.assert_close(c, c1[0])
    torch.testing.assert_close(gates["o"] * torch.tanh(c), h1[0])


@pytest.mark.parametrize("d,h", [(8, 16), (5, 3)])
def test_gru_cell_against_nn_gru(d, h, draw):
    _, stated = draw(lambda: diagrams.gru_cell(d, h))
    torch.manual_seed(0)
    gru = nn.GRU(d, h)
    _assert_stated_weights(stated, gru, 3)
    x, h0 = torch.randn(1, 1, d), torch.randn(1, 1, h)
    _, h1 = gru(x, h0)
    blocks = lambda w: dict(zip(stated["gates"], w.chunk(3, dim=0)))  # noqa: E731
    w_i, w_h, b_i, b_h = (blocks(w) for w in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0))
    xt, ht = x[0], h0[0]
    r = torch.sigmoid(xt @ w_i["r"].T + b_i["r"] + ht @ w_h["r"].T + b_h["r"])
    z = torch.sigmoid(xt @ w_i["z"].T + b_i["z"] + ht @ w_h["z"].T + b_h["z"])
    assert stated["reset_applied"] == "after W_hn"
    n = torch.tanh(xt @ w_i["n"].T + b_i["n"] + r * (ht @ w_h["n"].T + b_h["n"]))
    torch.testing.assert_close((1 - z) * n + z * ht, h1[0])
    # Cho et al.'s form, the reset before W_hn, is another function
    n_cho = torch.tanh(xt @ w_i["n"].T + b_i["n"] + (r * ht) @ w_h["n"].T + b_h["n"])
    assert not torch.allclose((1 - z) * n_cho + z * ht, h1[0])


@pytest.mark.parametrize("args", [(28, 112, (32, 64), 64, 11), (32, 48, (16, 32, 64), 32, 37), (16, 6, (8,), 5, 5)])
def test_crnn_against_layers(args, draw):
    height, width, channels, hidden, classes = args
    _, stated = draw(lambda: diagrams.crnn(*args))
    stages, cin = [], 1
    for c in channels:
        stages += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
        cin = c
    cnn = nn.Sequential(*stages).eval()
    with torch.no_grad():
        fmap = cnn(torch.zeros(1, 1, height, width))
    scale = 2 ** len(channels)
    assert tuple(fmap.shape[1:]) == (channels[-1], height // scale, width // scale)
    assert [tuple(m.shape[1:]) for m in _stage_outputs(cnn, height, width)] == stated["sizes"]
    frames = fmap.permute(3, 0, 1, 2).flatten(2)  # (W', batch, C·H'): one frame per column
    assert (frames.shape[0], frames.shape[2]) == (stated["frames"], stated["feature_size"])
    lstm = nn.LSTM(stated["feature_size"], stated["lstm_hidden"], bidirectional=stated["bidirectional"])
    linear = nn.Linear(2 * stated["lstm_hidden"], stated["num_classes"])
    with torch.no_grad():
        scores = linear(lstm(frames)[0])
    assert tuple(scores.shape) == (stated["frames"], 1, classes)
    # the drawn path decodes to "123"; CTC (blank 0, digit d -> class d + 1) finds it likely for "123" only
    path, decoded = stated["example"]["path"], stated["example"]["decoded"]
    ids = torch.tensor([0 if ch == "-" else int(ch) + 1 for ch in path])
    assert len(path) == stated["frames"] and decoded == "123"
    greedy = [int(i) for k, i in enumerate(ids) if i != 0 and (k == 0 or i != ids[k - 1])]
    assert "".join(str(i - 1) for i in greedy) == decoded
    log_probs = F.log_softmax(10.0 * F.one_hot(ids, classes).float(), dim=-1)[:, None]
    ctc = nn.CTCLoss(blank=0)
    lengths = (torch.tensor([len(path)]), torch.tensor([3]))
    assert ctc(log_probs, torch.tensor([[2, 3, 4]]), *lengths) < 0.01
    assert ctc(log_probs, torch.tensor([[2, 3, 3]]), *lengths) > 1


def _stage_outputs(cnn, height, width):
    x, outs = torch.zeros(1, 1, height, width), []
    with torch.no_grad():
        for layer in cnn:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                outs.append(x)
    return outs


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: diagrams.rnn_unrolled(steps=0), "steps"),
        (lambda: diagrams.rnn_unrolled(steps=7), "at most 6"),
        (lambda: diagrams.rnn_unrolled(input_size=2.5), "input_size"),
        (lambda: diagrams.rnn_unrolled(hidden_size=10_000), "below 10,000"),
        (lambda: diagrams.lstm_cell(hidden_size=0), "hidden_size"),
        (lambda: diagrams.lstm_cell(input_size=True), "input_size"),
        (lambda: diagrams.gru_cell(hidden_size=-16), "hidden_size"),
        (lambda: diagrams.gru_cell(input_size="8"), "input_size"),
        (lambda: diagrams.crnn(height=30), r"divisible by 2\*\*2 = 4"),
        (lambda: diagrams.crnn(width=114), "divisible"),
        (lambda: diagrams.crnn(height=28, channels=(8, 16, 32)), r"divisible by 2\*\*3 = 8"),
        (lambda: diagrams.crnn(channels=()), "1 to 4 stages"),
        (lambda: diagrams.crnn(channels=(32, 0)), "each channel count"),
        (lambda: diagrams.crnn(width=8), "frames"),
        (lambda: diagrams.crnn(width=4 * 49), "frames"),
        (lambda: diagrams.crnn(num_classes=4), "num_classes"),
        (lambda: diagrams.crnn(hidden_size=0), "hidden_size"),
    ],
)
def test_sequence_diagrams_bad_arguments(call, match):
    test_bad_arguments(call, match)


# ------------------------------------------------------------------------------------------ chapter 6 TCN
TCN_CALLS = {
    "tcn": lambda: diagrams.tcn(),
    "tcn kernel 2": lambda: diagrams.tcn(2, (1, 2, 4, 8), length=20),
    "tcn short": lambda: diagrams.tcn(3, (1,), length=2),
    "tcn deep": lambda: diagrams.tcn(3, (1, 1, 2, 2, 4, 4, 8, 8), length=64),
}


@pytest.mark.parametrize("name", list(TCN_CALLS))
def test_tcn_style(name, draw):
    CALLS.update(TCN_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("kernel,dilations,length", [(3, (1, 1, 2, 2, 4, 4), None), (2, (1, 2, 4), 12), (4, (3, 1), 9)])
def test_tcn_receptive_field_against_conv1d(kernel, dilations, length, draw):
    """The inputs the diagram colours are those on which the last output of real causal Conv1d layers
    depends: where its gradient is not zero."""
    _, stated = draw(lambda: diagrams.tcn(kernel, dilations, length))
    n = stated["length"]
    torch.manual_seed(0)
    layers = [nn.Conv1d(4, 4, kernel, dilation=d) for d in dilations]
    x = torch.randn(3, 4, n, requires_grad=True)
    h = x
    for layer, pad in zip(layers, stated["padding"]):
        h = torch.tanh(layer(F.pad(h, (pad, 0))))  # causal: zeros on the left only
        assert h.shape[-1] == n
    (grad,) = torch.autograd.grad(h[:, :, -1].sum(), x)
    seen = torch.nonzero(grad.abs().sum(dim=(0, 1))).flatten().tolist()
    assert seen == stated["seen"]
    assert stated["receptive_field"] == 1 + (kernel - 1) * sum(dilations)
    assert len(seen) == min(stated["receptive_field"], n)
    assert stated["layers"] == len(dilations) and stated["dilations"] == tuple(dilations)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kernel_size": 1}, "kernel_size"),
        ({"dilations": ()}, "dilations"),
        ({"dilations": "124"}, "dilations"),
        ({"dilations": (1, 0)}, "dilation"),
        ({"length": 0}, "length"),
        ({"length": 100}, "length"),
    ],
)
def test_tcn_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.tcn(**kwargs)
    plt.close("all")


# ------------------------------------------------------------------------------- chapter 7 coarse to fine
COARSE_TO_FINE_CALLS = {
    "coarse to fine": lambda: diagrams.coarse_to_fine(),
    "coarse to fine motorcycle": lambda: diagrams.coarse_to_fine(3, (125, 185), 12.5),
    "coarse to fine one level": lambda: diagrams.coarse_to_fine(1, (64, 64), 2),
    "coarse to fine five levels": lambda: diagrams.coarse_to_fine(5, (480, 640), 99_998, 99),
    "coarse to fine tall": lambda: diagrams.coarse_to_fine(4, (300, 20), 3.3, 1),
}


@pytest.mark.parametrize("name", list(COARSE_TO_FINE_CALLS))
def test_coarse_to_fine_style(name, draw):
    CALLS.update(COARSE_TO_FINE_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("levels,size", [(3, (128, 128)), (3, (125, 185)), (4, (97, 300)), (1, (40, 50))])
def test_coarse_to_fine_sizes_against_skimage(levels, size, draw):
    """The levels drawn are those of scikit-image's pyramid (``pyramid_reduce``, as ``optical_flow_ilk``
    builds it), coarsest first; the flow is rescaled by the ratio of the widths."""
    from skimage.registration._optical_flow_utils import _get_pyramid, _resize_flow

    _, stated = draw(lambda: diagrams.coarse_to_fine(levels, size, displacement=10.0))
    image = np.random.default_rng(0).uniform(size=size)
    pyramid = _get_pyramid(image, downscale=2, nlevel=levels, min_size=1)
    assert stated["sizes"] == [p.shape for p in pyramid]
    assert stated["levels"] == levels and stated["num_warp"] == 10
    assert stated["scales"][-1] == 1 and stated["displacements"][-1] == 10.0
    for coarse, fine, factor in zip(pyramid, pyramid[1:], stated["upsample_factors"]):
        # a constant horizontal flow of 1 px at the coarse level becomes `factor` px at the finer one
        flow = np.stack([np.zeros(coarse.shape), np.ones(coarse.shape)])  # skimage's (v, u)
        assert np.allclose(_resize_flow(flow, fine.shape)[1], factor)
    for (_, w), scale, shift in zip(stated["sizes"], stated["scales"], stated["displacements"]):
        assert scale == w / size[1] and shift == pytest.approx(10.0 * w / size[1])
    # the flow each level starts from: 0 at the coarsest, then the level above's displacement upsampled
    assert stated["starts"][0] == 0 and len(stated["starts"]) == levels
    for coarse, fine, shift, start in zip(pyramid, pyramid[1:], stated["displacements"], stated["starts"][1:]):
        flow = np.stack([np.zeros(coarse.shape), np.full(coarse.shape, shift)])  # skimage's (v, u)
        assert np.allclose(_resize_flow(flow, fine.shape)[1], start)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"levels": 0}, "levels"),
        ({"levels": 6}, "levels"),
        ({"size": 128}, "size"),
        ({"size": (128, 1)}, "size"),
        ({"levels": 5, "size": (16, 16)}, "below 2 pixels"),
        ({"displacement": -1}, "displacement"),
        ({"displacement": "8"}, "displacement"),
        ({"num_warp": 0}, "num_warp"),
    ],
)
def test_coarse_to_fine_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.coarse_to_fine(**kwargs)
    plt.close("all")


# ------------------------------------------------------------------------------------------ chapter 7 RAFT
RAFT_LARGE = dict(feature_channels=256, hidden_size=128, context_channels=128, radius=4, upsampling="convex")
RAFT_CALLS = {
    "raft small": lambda: diagrams.raft(),
    "raft large": lambda: diagrams.raft(**RAFT_LARGE),
    "raft 6 levels, large numbers": lambda: diagrams.raft((99_992,) * 2, 99_999, 9_999, 9_999, 6, 9, 99_999, "convex"),
    "raft tiny": lambda: diagrams.raft((128, 128), 1, 1, 1, 4, 1, 1),
}


@pytest.mark.parametrize("name", list(RAFT_CALLS))
def test_raft_style(name, draw):
    CALLS.update(RAFT_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("variant,size", [("small", (368, 496)), ("small", (128, 200)), ("large", (136, 128))])
def test_raft_against_torchvision(variant, size, draw):
    """Every size and count the RAFT diagram states, read from torchvision's raft_small / raft_large run on
    the meta device (shapes without arithmetic): encoder outputs, the context split, the pyramid, the
    lookup's channels, the number of predictions and the upsampling."""
    import inspect

    from torchvision.models.optical_flow import raft_large, raft_small

    _, stated = draw(lambda: diagrams.raft(size, **({} if variant == "small" else RAFT_LARGE)))
    with torch.device("meta"):
        model = (raft_small if variant == "small" else raft_large)(weights=None).eval()
    shapes = {}
    for name in ("feature_encoder", "context_encoder"):
        # a hook that returns None leaves the output alone
        getattr(model, name).register_forward_hook(lambda m, i, out, name=name: shapes.update({name: out.shape}))
    x = torch.zeros(1, 3, *size, device="meta")
    with torch.no_grad():
        predictions = model(x, x)
    updates = inspect.signature(model.forward).parameters["num_flow_updates"].default
    assert len(predictions) == updates == stated["updates"]
    assert all(p.shape == (1, 2, *size) for p in predictions) and stated["input_size"] == size
    h, w = size[0] // stated["downsample"], size[1] // stated["downsample"]
    assert model.feature_encoder.downsample_factor == stated["downsample"] == 8
    assert shapes["feature_encoder"] == (2, *stated["feature_size"]) and stated["feature_size"][1:] == (h, w)
    assert shapes["context_encoder"] == (1, sum(stated["context_split"]), h, w)
    assert model.update_block.hidden_state_size == stated["context_split"][0]
    block = model.corr_block
    assert (block.num_levels, block.radius) == (stated["levels"], stated["radius"])
    assert block.out_channels == stated["corr_channels"] == stated["levels"] * stated["window"]
    assert stated["window"] == (2 * block.radius + 1) ** 2
    assert [tuple(c.shape[-2:]) for c in block.corr_pyramid] == stated["level_sizes"]
    assert block.corr_pyramid[0].shape == (h * w, 1, h, w) and stated["volume_shape"] == (h, w, h, w)
    assert block.corr_pyramid[0].numel() * 4 == stated["volume_bytes"]
    mask = model.mask_predictor
    assert stated["upsampling"] == ("bilinear" if mask is None else "convex")
    assert stated["mask_channels"] == (0 if mask is None else mask.conv.out_channels)
    forward = inspect.signature(model.update_block.forward).parameters
    assert tuple(forward) == stated["update_inputs"]


def test_raft_loop_against_torchvision(draw):
    """The loop the RAFT diagram draws, checked on a real raft_small run (random weights, CPU): at every update
    the update block reads the current flow fₖ, its hidden state is the one it returned at the update before
    (h₀ at the first), and the next flow is fₖ + Δf (the prediction is 8 × its bilinear upsampling)."""
    import torch.nn.functional as F
    from torchvision.models.optical_flow import raft_small

    _, stated = draw(lambda: diagrams.raft((128, 128), updates=3))
    assert stated["flow_update"] == "f + Δf" and stated["recurrent"] == "hidden_state"
    torch.manual_seed(0)
    model = raft_small(weights=None).eval()
    calls = []
    model.update_block.register_forward_hook(lambda m, args, out: calls.append((args, out)))
    x1, x2 = torch.rand(2, 1, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        predictions = model(x1, x2, num_flow_updates=stated["updates"])
    assert len(calls) == len(predictions) == 3
    names = stated["update_inputs"]
    flow = torch.zeros(1, 2, 16, 16)
    for k, (args, (_, delta)) in enumerate(calls):
        inputs = dict(zip(names, args))
        assert (inputs["flow"] - flow).abs().max() < 1e-5  # the update block reads fₖ
        if k:  # the hidden state fed back
            assert torch.equal(inputs[stated["recurrent"]], calls[k - 1][1][0])
        assert inputs["corr_features"].shape[1] == stated["corr_channels"]
        flow = flow + delta  # fₖ₊₁ = fₖ + Δf
        upsampled = 8 * F.interpolate(flow, scale_factor=8, mode="bilinear", align_corners=True)
        assert (upsampled - predictions[k]).abs().max() < 1e-4
    assert flow.abs().max() > 1e-3  # the increments are not all zero: the check could fail


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"input_size": (120, 128)}, "input_size"),
        ({"input_size": (136, 132)}, "multiples of 8"),
        ({"input_size": (128, 128, 3)}, "input_size"),
        ({"levels": 7}, "levels"),
        ({"radius": 0}, "radius"),
        ({"updates": 0}, "updates"),
        ({"upsampling": "nearest"}, "upsampling"),
        ({"feature_channels": 100_000}, "too large"),
    ],
)
def test_raft_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.raft(**kwargs)
    plt.close("all")


# ------------------------------------------------------------------------------------ chapter 7 FlowNet
FLOWNET_CALLS = {
    "flownet S": lambda: diagrams.flownet(),
    "flownet C": lambda: diagrams.flownet("C"),
    "flownet S small": lambda: diagrams.flownet("S", 48, 1, (16, 32, 64, 96), (32, 16)),
    "flownet C small": lambda: diagrams.flownet("C", 48, 1, (16, 32, 64, 96), (32, 16), 16, 2, 1, 2),
    "flownet S 3 levels": lambda: diagrams.flownet("S", (8, 16), 1, (1, 2, 3), (4,)),
    "flownet C large": lambda: diagrams.flownet("C", 9_984, 9_999, (9_999,) * 6, (9_999,) * 4, 590, 48, 1, 3),
}


@pytest.mark.parametrize("name", list(FLOWNET_CALLS))
def test_flownet_style(name, draw):
    CALLS.update(FLOWNET_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


def _flownet_layers(variant, size, frame_channels, widths, up_widths, redirect=32, d=20, s2=2, level_c=3):
    """The maps of a FlowNet built from real layers on the meta device, as the reference implementation
    (ClementPinard/FlowNetPytorch, models/FlowNetS.py and FlowNetC.py) writes it, for any number of levels:
    the contracting maps, the correlation's channels and the convolution after it (C), the inputs of the
    predictions (coarse to fine) and the predictions' sizes."""
    conv = lambda i, o, k=3, s=1: nn.Conv2d(i, o, k, s, (k - 1) // 2).to("meta")  # noqa: E731
    kernels = (7, 5, 5, 3, 3, 3)
    x = torch.empty(1, frame_channels if variant == "C" else 2 * frame_channels, *size, device="meta")
    maps, out = [], {}
    for level, width in enumerate(widths, start=1):
        x = conv(x.shape[1], width, kernels[level - 1], 2)(x)
        if variant == "C" and level == level_c:
            # the correlation of two maps of this size: one channel per displacement (dy, dx), both on the
            # grid -d, -d + s2, ..., d
            shifts = [(dy, dx) for dy in range(-d, d + 1) for dx in range(-d, d + 1) if dy % s2 == dx % s2 == 0]
            out["correlation_channels"] = len(shifts)
            redir = conv(width, redirect, 1)(x)
            cat = torch.cat([redir, torch.empty(1, len(shifts), *x.shape[-2:], device="meta")], 1)
            after = conv(cat.shape[1], width)
            x = after(cat)
            out["after_correlation"] = (after.in_channels, after.out_channels)
        elif level >= 3:
            x = conv(width, width)(x)
        maps.append(x)
    flows = [conv(x.shape[1], 2)(x)]
    concat = []
    for skip, up in zip(reversed(maps[1:-1]), up_widths):
        upconv = nn.ConvTranspose2d(x.shape[1], up, 4, 2, 1).to("meta")
        upflow = nn.ConvTranspose2d(2, 2, 4, 2, 1).to("meta")
        x = torch.cat([skip, upconv(x), upflow(flows[-1])], 1)
        concat.append(x.shape[1])
        flows.append(conv(x.shape[1], 2)(x))
    out |= {"sizes": [tuple(m.shape[-2:]) for m in maps], "channels": [m.shape[1] for m in maps]}
    return out | {"concat": concat, "predictions": [tuple(f.shape[-2:]) for f in flows]}


@pytest.mark.parametrize(
    "args",
    [
        ("S", (384, 512), 3, (64, 128, 256, 512, 512, 1024), (512, 256, 128, 64)),
        ("C", (384, 512), 3, (64, 128, 256, 512, 512, 1024), (512, 256, 128, 64), 32, 20, 2, 3),
        ("S", (48, 48), 1, (16, 32, 64, 96), (32, 16)),
        ("C", (48, 48), 1, (16, 32, 64, 96), (32, 16), 16, 2, 1, 2),
        ("C", (64, 96), 2, (8, 16, 24, 32, 40), (20, 12, 6), 4, 6, 3, 3),
        ("S", (8, 16), 1, (1, 2, 3), (4,)),
    ],
)
def test_flownet_against_layers(args, draw):
    variant, size = args[:2]
    _, stated = draw(lambda: diagrams.flownet(*args))
    real = _flownet_layers(*args)
    assert stated["sizes"] == real["sizes"]
    assert stated["channels"] == real["channels"]
    assert stated["concat"] == real["concat"]
    n = len(real["sizes"])
    assert stated["predictions"] == dict(zip([f"flow{k}" for k in range(n, 1, -1)], real["predictions"]))
    assert stated["output"] == (2, *size) and stated["upsample"] == size[0] // stated["predictions"]["flow2"][0]
    if variant == "C":
        assert stated["correlation_channels"] == real["correlation_channels"]
        assert stated["after_correlation"] == real["after_correlation"]


def test_flownet_paper_numbers(draw):
    """The reference implementation's numbers: predict_flow5 ... predict_flow2 take 1026, 770, 386 and 194
    channels, and FlowNetC's conv3_1 takes 473 = 32 + 441 (a 21 × 21 patch of displacements)."""
    _, s = draw(diagrams.flownet)
    _, c = draw(lambda: diagrams.flownet("C"))
    assert s["concat"] == c["concat"] == [1026, 770, 386, 194]
    assert c["correlation_channels"] == 21 * 21 and c["after_correlation"] == (473, 256)
    assert c["displacements"] == list(range(-20, 21, 2)) and s["input"] == (6, 384, 512)
    assert s["predictions"]["flow6"] == (6, 8) and s["predictions"]["flow2"] == (96, 128)
    # the skips are the levels' last maps: conv{N}_1 from level 3 on, FlowNetC's frame-1 tower map below
    assert s["skips"] == ["conv5_1", "conv4_1", "conv3_1", "conv2"]
    assert c["skips"] == ["conv5_1", "conv4_1", "conv3_1", "conv2a"]
    _, small = draw(lambda: diagrams.flownet("C", 48, 1, (16, 32, 64, 96), (32, 16), 16, 2, 1, 2))
    assert small["skips"] == ["conv3_1", "conv2_1"]


def test_flownet_title_says_as_released(draw):
    """Only the released models' layers are titled "as released": a narrower network is not."""
    fig, _ = draw(lambda: diagrams.flownet("C"))
    assert "as released" in fig._suptitle.get_text()
    fig, _ = draw(lambda: diagrams.flownet("S", 48, 1, (16, 32, 64, 96), (32, 16)))
    assert "as released" not in fig._suptitle.get_text()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"variant": "X"}, "variant"),
        ({"input_size": (384, 500)}, "multiples of 2"),
        ({"input_size": (384, 512, 3)}, "input_size"),
        ({"widths": (64, 128)}, "3 to 6 levels"),
        ({"up_widths": (512, 256)}, "up_widths"),
        ({"widths": (64, 0, 256, 512, 512, 1024)}, "each width"),
        ({"frame_channels": 0}, "frame_channels"),
        ({"variant": "C", "max_displacement": 5}, "multiple of stride2"),
        ({"variant": "C", "correlation_level": 4}, "correlation_level"),
        ({"variant": "C", "correlation_level": 1}, "correlation_level"),
        ({"variant": "C", "redirect": 0}, "redirect"),
        ({"input_size": 2**16}, "too large"),
    ],
)
def test_flownet_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.flownet(**kwargs)
    plt.close("all")


# ------------------------------------------------------------------------------ chapter 8 fusion patterns
FUSION_CALLS = {
    "fusion patterns": lambda: diagrams.fusion_patterns(),
    "fusion patterns 10 frames": lambda: diagrams.fusion_patterns(10),
    "fusion patterns 32 frames": lambda: diagrams.fusion_patterns(32, late_frames=(0, 8)),
    "fusion patterns 4 frames": lambda: diagrams.fusion_patterns(4, 0, (1, 3), (2, 1, 1), (1, 1, 1)),
}


@pytest.mark.parametrize("name", list(FUSION_CALLS))
def test_fusion_patterns_style(name, draw):
    CALLS.update(FUSION_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


def _frames_read(output, x):
    """The frames of ``x`` (N, C, T, H, W) on which ``output`` depends: where its gradient is not zero."""
    (grad,) = torch.autograd.grad(output, x, retain_graph=True)
    return torch.nonzero(grad.abs().sum(dim=(0, 1, 3, 4))).flatten().tolist()


@pytest.mark.parametrize("n_frames", [16, 10, 12, 18])
def test_fusion_patterns_against_video_models(n_frames, draw):
    """The frames the diagram says each unit sees are those on which the units of chapter 8's models
    depend (their gradients with respect to the clip), layer by layer for slow fusion, and the white units
    are those the output does not depend on."""
    from utils import video_models as V

    _, stated = draw(lambda: diagrams.fusion_patterns(n_frames))
    torch.manual_seed(0)
    models = {
        "single frame": V.SingleFrame(5),
        "early fusion": V.EarlyFusion(5, n_frames=n_frames),
        "late fusion": V.LateFusion(5),
        "slow fusion": V.SlowFusion(5, n_frames=n_frames),
    }
    x = torch.rand(2, 3, n_frames, 32, 32, requires_grad=True)
    for name, model in models.items():
        model.eval()
        assert _frames_read(model(x).sum(), x) == stated["top"][name], name
    # slow fusion, layer by layer: each unit in time of each convolution (after its ReLU)
    slow = models["slow fusion"]
    relus = [m for m in slow.features if isinstance(m, nn.ReLU)]
    maps = []
    hooks = [r.register_forward_hook(lambda m, i, out: maps.append(out)) for r in relus]
    out = slow(x)
    for h in hooks:
        h.remove()
    for layer, fmap in zip(("conv1", "conv2", "conv3"), maps):
        units = [tuple(_frames_read(fmap[:, :, j].sum(), x)) for j in range(fmap.shape[2])]
        assert units == stated["seen"]["slow fusion"][layer], layer
        (grad,) = torch.autograd.grad(out.sum(), fmap, retain_graph=True)
        used = (grad.abs().sum(dim=(0, 1, 3, 4)) > 0).tolist()
        assert used == stated["used"]["slow fusion"][layer], layer
    assert stated["units"]["slow fusion"]["conv1"] == (n_frames - 4) // 2 + 1
    # early fusion's first convolution spans every frame: one unit in time
    assert models["early fusion"].fuse[0].kernel_size[0] == n_frames == stated["extent"]["early fusion"]["conv1"]


def test_fusion_patterns_paper_clip_uses_every_frame(draw):
    """On 10 frames (the slow fusion kernels 4, 2, 2 with stride 2 divide it exactly) every unit is read;
    on 16, frames 10 to 15 are computed in conv1 and conv2 and then dropped."""
    _, ten = draw(lambda: diagrams.fusion_patterns(10))
    assert ten["top"]["slow fusion"] == list(range(10))
    assert all(all(u) for u in ten["used"]["slow fusion"].values())
    _, sixteen = draw(diagrams.fusion_patterns)
    assert sixteen["top"]["slow fusion"] == list(range(10))
    assert sixteen["used"]["slow fusion"]["conv1"] == [True] * 4 + [False] * 3
    assert sixteen["used"]["slow fusion"]["conv2"] == [True, True, False]
    assert sixteen["top"]["late fusion"] == [0, 15] and sixteen["top"]["single frame"] == [8]
    assert sixteen["extent"]["slow fusion"] == {"conv1": 4, "conv2": 6, "conv3": 10, "fc": 10, "classifier": 10}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_frames": 1}, "n_frames"),
        ({"n_frames": 33}, "n_frames"),
        ({"single_frame": 16}, "frames must be in"),
        ({"late_frames": (3, 3)}, "distinct"),
        ({"late_frames": (0,)}, "late_frames"),
        ({"slow_kernels": (4, 2)}, "3 layers"),
        ({"slow_strides": (2, 0, 2)}, "slow stride"),
        ({"n_frames": 8}, "no input left"),
    ],
)
def test_fusion_patterns_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.fusion_patterns(**kwargs)
    plt.close("all")


# ------------------------------------------------------------------------------ chapter 8 temporal average
TEMPORAL_AVERAGE_CALLS = {
    "temporal average": lambda: diagrams.temporal_average(),
    "temporal average 3 frames": lambda: diagrams.temporal_average(3, 16, 6, 8, 32, 5),
    "temporal average 2 frames": lambda: diagrams.temporal_average(2, 8, 1, 1, 1, 1),
    "temporal average large": lambda: diagrams.temporal_average(9_999, 1_024, 9_999, 2_499, 9_999, 9_999),
}


@pytest.mark.parametrize("name", list(TEMPORAL_AVERAGE_CALLS))
def test_temporal_average_style(name, draw):
    CALLS.update(TEMPORAL_AVERAGE_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize(
    "frames,size,in_channels,width,features,num_classes",
    [(16, 32, 3, 16, 128, 9), (15, 32, 6, 16, 128, 9), (3, 16, 6, 8, 32, 5), (2, 8, 1, 1, 1, 1), (8, 64, 2, 4, 17, 3)],
)
def test_temporal_average_against_video_models(frames, size, in_channels, width, features, num_classes, draw):
    """The sizes and the parameter count the diagram states are those of utils.video_models.FrameCNN and of a
    TemporalAverage built on it (its features: 128, other counts through FrameCNN's ``features``), and its
    output does not change when the frames are reversed or shuffled."""
    from utils import video_models as V

    _, stated = draw(lambda: diagrams.temporal_average(frames, size, in_channels, width, features, num_classes))
    torch.manual_seed(0)
    frame = V.FrameCNN(in_channels, width, size, features).eval()
    sizes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
        for m in frame.features
        if isinstance(m, (nn.ReLU, nn.Flatten))
    ]
    with torch.no_grad():
        frame(torch.rand(2, in_channels, size, size))
    for h in hooks:
        h.remove()
    assert stated["sizes"] == sizes[:3]
    assert (stated["flatten"],) == sizes[3] and (stated["features"],) == sizes[4] == (frame.out_features,)
    assert stated["clip"] == (in_channels, frames, size, size) and stated["frame"] == (in_channels, size, size)
    classifier = nn.Linear(features, num_classes)
    assert stated["parameters"] == utils.count_params(frame) + utils.count_params(classifier)
    if features == 128:
        model = V.TemporalAverage(num_classes, size, in_channels, width).eval()
        assert stated["parameters"] == utils.count_params(model)
        x = torch.rand(2, in_channels, frames, size, size)
        with torch.no_grad():
            out = model(x)
            assert out.shape == (2, stated["num_classes"])
            assert torch.allclose(out, model(x.flip(2)), atol=1e-5)
            assert torch.allclose(out, model(x[:, :, torch.randperm(frames)]), atol=1e-5)
    assert stated["order_invariant"] and stated["shared_weights"] and stated["frames"] == frames


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"size": 36}, "multiple of 8"),
        ({"size": 1_032}, "at most 1024"),
        ({"size": 4}, "size"),
        ({"frames": 1}, "frames"),
        ({"width": 0}, "width"),
        ({"features": 10_000}, "too large"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_temporal_average_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.temporal_average(**kwargs)
    plt.close("all")


# --------------------------------------------------------------- chapter 8 3D convolutions and video ResNets
VIDEO_CONV_CALLS = {
    "c3d": lambda: diagrams.c3d(),
    "c3d small": lambda: diagrams.c3d(8, 32, (16, 32, 64, 64, 64)),
    "c3d large": lambda: diagrams.c3d(512, 1024, (9_999,) * 5),
    "conv2plus1d": lambda: diagrams.conv2plus1d(),
    "conv2plus1d small net": lambda: diagrams.conv2plus1d((3, 16, 32, 64), ((1, 2), (2, 2), (2, 2)), 16, 32, 9),
    "conv2plus1d stride 2": lambda: diagrams.conv2plus1d((64, 128), ((2, 2),)),
    "conv2plus1d large": lambda: diagrams.conv2plus1d((4_000, 4_000), ((2, 2),), 9_999, 9_999, 9_999),
    "conv2plus1d 4 layers": lambda: diagrams.conv2plus1d((1, 2, 3, 4, 5), num_classes=2),
    "video resnet": lambda: diagrams.video_resnet(),
    "video resnet one": lambda: diagrams.video_resnet(("mc3_18",), 8, 64, 9),
    "video resnet large": lambda: diagrams.video_resnet(("r2plus1d_18", "r3d_18"), 9_999, 9_999, 9_999),
}


@pytest.mark.parametrize("name", list(VIDEO_CONV_CALLS))
def test_video_conv_diagrams_style(name, draw):
    CALLS.update(VIDEO_CONV_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


def _c3d_layers(widths):
    """C3D's convolutions and pools as in Tran et al. 2015 (3x3x3, stride 1, padding 1; pool1 1x2x2, then
    2x2x2), on the meta device: the groups' modules in order."""
    groups, cin = [], 3
    for g, (c, n) in enumerate(zip(widths, (1, 1, 2, 2, 2))):
        convs = [nn.Conv3d(cin if i == 0 else c, c, 3, padding=1) for i in range(n)]
        pool = nn.MaxPool3d((1, 2, 2) if g == 0 else 2)
        groups.append((convs, pool))
        cin = c
    return groups


@pytest.mark.parametrize("args", [(), (8, 32, (16, 32, 64, 64, 64)), (24, 96, (8, 8, 16, 16, 32))])
def test_c3d_sizes_against_layers(args, draw):
    _, stated = draw(lambda: diagrams.c3d(*args))
    widths = args[2] if args else (64, 128, 256, 512, 512)
    x = torch.empty(1, *stated["input"], device="meta")
    sizes = []
    for g, (convs, pool) in enumerate(_c3d_layers(widths)):
        for conv in convs:
            x = conv.to("meta")(x)
            assert conv.kernel_size == stated["kernel"]
        if g < 4:
            x = pool(x)
            assert pool.kernel_size in (stated["pools"][g], stated["pools"][g][0])
            sizes.append(tuple(x.shape[1:]))
    assert sizes == stated["sizes"] and tuple(x.shape[1:]) == stated["conv5"]
    assert [len(c) for c in stated["convs"]] == [1, 1, 2, 2, 2] and stated["channels"] == list(widths)
    # a clip of 16 frames keeps 16 after pool1 and 2 after pool4, as in the paper
    if not args:
        assert stated["sizes"][0] == (64, 16, 56, 56) and stated["conv5"] == (512, 2, 7, 7)


def test_c3d_taps_sum_to_conv3d(draw):
    """The left panel's claim: a 3x3x3 convolution is the sum over its three time taps of 2D convolutions."""
    _, stated = draw(diagrams.c3d)
    torch.manual_seed(0)
    x, w = torch.randn(1, 2, 5, 6, 6, dtype=torch.float64), torch.randn(3, 2, 3, 3, 3, dtype=torch.float64)
    out = F.conv3d(x, w, padding=1)
    xp = F.pad(x, (0, 0, 0, 0, 1, 1))
    t = 2  # an output frame
    frame = sum(F.conv2d(xp[:, :, t + tau], w[:, :, tau], padding=1) for tau in range(stated["taps"]))
    assert torch.allclose(frame, out[:, :, t], atol=1e-12)


@pytest.mark.parametrize(
    "args",
    [((64, 64),), ((64, 128), ((2, 2),)), ((3, 16, 32, 64), ((1, 2), (2, 2), (2, 2)), 16, 32, 9), ((5, 7, 11),)],
)
def test_conv2plus1d_against_torchvision_and_video_models(args, draw):
    from torchvision.models.video.resnet import Conv2Plus1D, Conv3DSimple

    _, stated = draw(lambda: diagrams.conv2plus1d(*args))
    chans = stated["channels"]
    for i, (a, b) in enumerate(zip(chans, chans[1:])):
        m = stated["midplanes"][i]
        # torchvision sizes the middle channels with the same formula (its BasicBlock, from in and out planes)
        assert m == (a * b * 3 * 3 * 3) // (a * 3 * 3 + 3 * b) == V_midplanes(a, b)
        full, factorised = Conv3DSimple(a, b).to("meta"), Conv2Plus1D(a, b, m).to("meta")
        assert stated["weights_3d"][i] == full.weight.numel()
        convs = [c for c in factorised if isinstance(c, nn.Conv3d)]
        assert stated["weights_2plus1d"][i] == sum(c.weight.numel() for c in convs)
        assert [c.kernel_size for c in convs] == [(1, 3, 3), (3, 1, 1)]
    assert stated["relus"] == {"3d": len(chans) - 1, "(2+1)d": 2 * (len(chans) - 1)}
    if stated["sizes"] is not None:
        from utils import video_models as V

        # the small C3D and R2Plus1D of chapter 8: the same layers, the stated sizes after each ReLU
        for model, per_layer in ((V.C3D(9), 1), (V.R2Plus1D(9), 2)):
            model = model.to("meta").eval()
            relus = [m for m in model.features if isinstance(m, nn.ReLU)]
            shapes = []
            record = lambda m, i, o, shapes=shapes: shapes.append(tuple(o.shape[1:]))  # noqa: E731
            hooks = [r.register_forward_hook(record) for r in relus]
            out = model(torch.empty(1, 3, args[2], args[3], args[3], device="meta"))
            for h in hooks:
                h.remove()
            assert shapes[per_layer - 1 :: per_layer] == stated["sizes"]
            assert out.shape[1] == stated["num_classes"]
            bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.BatchNorm3d) for p in m.parameters())
            assert bn == stated["bn_params"]["3d" if per_layer == 1 else "(2+1)d"]


def V_midplanes(a, b):
    from utils.video_models import midplanes

    return midplanes(a, b)


@pytest.mark.parametrize("frames,size", [(16, 112), (8, 64), (5, 33), (1, 1)])
def test_video_resnet_sizes_against_torchvision(frames, size, draw):
    import torchvision

    _, stated = draw(lambda: diagrams.video_resnet(frames=frames, size=size))
    for name in diagrams.VIDEO_RESNETS:
        with torch.device("meta"):
            model = getattr(torchvision.models.video, name)().eval()
        shapes = {}
        stages = ["stem", "layer1", "layer2", "layer3", "layer4"]
        hooks = [
            getattr(model, s).register_forward_hook(
                lambda m, i, o, s=s, shapes=shapes: shapes.__setitem__(s, tuple(o.shape[1:]))
            )
            for s in stages
        ]
        out = model(torch.empty(1, 3, frames, size, size, device="meta"))
        for h in hooks:
            h.remove()
        assert {s: stated[name][s] for s in stages} == shapes, name
        assert out.shape[1] == stated["num_classes"] == model.fc.out_features
        # the kernels written: each stage's convolutions (the first of each block's conv1)
        for s in stages[1:]:
            kernels = {m.kernel_size for m in getattr(model, s).modules() if isinstance(m, nn.Conv3d)} - {(1, 1, 1)}
            text = stated[name]["kernels"][s]
            expected = {"3×3×3": {(3, 3, 3)}, "1×3×3 (2D)": {(1, 3, 3)}}
            expected["(2+1)D: 1×3×3 + 3×1×1"] = {(1, 3, 3), (3, 1, 1)}
            assert kernels == expected[text], (name, s)
        stem = [m.kernel_size for m in model.stem if isinstance(m, nn.Conv3d)]
        assert stem == ([(1, 7, 7), (3, 1, 1)] if name == "r2plus1d_18" else [(3, 7, 7)])
    # mc3_18 keeps every frame; r3d_18 and r2plus1d_18 halve time in layer2 to layer4
    if (frames, size) == (16, 112):
        assert stated["mc3_18"]["layer4"] == (512, 16, 7, 7) and stated["r3d_18"]["layer4"] == (512, 2, 7, 7)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: diagrams.c3d(12), "multiple of 8"),
        (lambda: diagrams.c3d(16, 100), "multiple of 8 and size of 16"),
        (lambda: diagrams.c3d(widths=(64, 128)), "5 groups"),
        (lambda: diagrams.c3d(1024), "too large"),
        (lambda: diagrams.conv2plus1d((64,)), "1 to 4 layers"),
        (lambda: diagrams.conv2plus1d((64, 64), ((1, 1), (2, 2))), "strides"),
        (lambda: diagrams.conv2plus1d((64, 64), frames=16), "both frames and size"),
        (lambda: diagrams.conv2plus1d((0, 64)), "channel count"),
        (lambda: diagrams.conv2plus1d((9_999, 9_999)), "too large"),
        (lambda: diagrams.video_resnet(("r3d_34",)), "variants"),
        (lambda: diagrams.video_resnet(frames=0), "frames"),
    ],
)
def test_video_conv_diagrams_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
    plt.close("all")


# ------------------------------------------------------------------------------------ chapter 8 two-stream
TWO_STREAM_CALLS = {
    "two stream": lambda: diagrams.two_stream(),
    "two stream one flow": lambda: diagrams.two_stream(64, 30, 1, 8, 32, 5),
    "two stream two flows": lambda: diagrams.two_stream(8, 3, 2, 1, 1, 1),
    "two stream large": lambda: diagrams.two_stream(64, 999, 998, 2_499, 9_999, 9_999),
}


@pytest.mark.parametrize("name", list(TWO_STREAM_CALLS))
def test_two_stream_style(name, draw):
    CALLS.update(TWO_STREAM_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


def _inputs_read(output, x):
    """The (channel, frame) pairs of ``x`` (N, C, T, H, W) on which ``output`` depends (non-zero gradient)."""
    (grad,) = torch.autograd.grad(output, x, retain_graph=True)
    return [tuple(p) for p in torch.nonzero(grad.abs().sum(dim=(0, 3, 4))).tolist()]


@pytest.mark.parametrize(
    "size,n_frames,n_flows,width,num_classes",
    [(32, 16, 10, 16, 9), (32, 16, 5, 8, 9), (16, 11, 10, 4, 3), (24, 12, 1, 2, 4), (8, 3, 2, 1, 2)],
)
def test_two_stream_against_video_models(size, n_frames, n_flows, width, num_classes, draw):
    """What the diagram states is what utils.video_models.TwoStream does: the frame and flows each stream
    reads (gradients with respect to the clip), the stack's channel order, the map sizes, the parameters
    of each stream, and the output: the log of the mean of the two streams' softmax probabilities."""
    from utils import video_models as V

    _, stated = draw(lambda: diagrams.two_stream(size, n_frames, n_flows, width, 128, num_classes))
    torch.manual_seed(0)
    model = V.TwoStream(num_classes, size, n_flows, width).eval()
    x = torch.rand(2, 5, n_frames, size, size, requires_grad=True)
    appearance, motion = model.streams(x)
    assert _inputs_read(appearance.sum(), x) == [(c, stated["middle_frame"]) for c in range(3)]
    assert _inputs_read(motion.sum(), x) == sorted((c, t) for c in (3, 4) for t, _ in stated["flow_pairs"])
    assert [b - a for a, b in stated["flow_pairs"]] == [1] * n_flows == [1] * stated["flows"]
    # the stack: channel 2i is u and 2i + 1 is v of the i-th flow (with_flow puts flow t -> t+1 at frame t)
    seen = []
    hook = model.motion.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    marked = torch.zeros(1, 5, n_frames, size, size)
    for t in range(n_frames):
        marked[:, 3, t], marked[:, 4, t] = 100 + t, -100 - t
    with torch.no_grad():
        model(marked)
    hook.remove()
    expected = [v for t, _ in stated["flow_pairs"] for v in (100 + t, -100 - t)]
    assert seen[0][0, :, 0, 0].tolist() == expected and tuple(seen[0].shape[1:]) == stated["stack"]
    sizes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
        for m in model.appearance.features
        if isinstance(m, (nn.ReLU, nn.Flatten))
    ]
    with torch.no_grad():
        model.appearance(x[:, :3, 0])
    for h in hooks:
        h.remove()
    assert stated["sizes"] == sizes[:3] and (stated["flatten"],) == sizes[3] and (stated["features"],) == sizes[4]
    assert stated["frame"] == (model.appearance.features[0].in_channels, size, size) == (3, size, size)
    assert stated["stack"][0] == model.motion.features[0].in_channels == 2 * n_flows
    assert stated["clip"] == (3, n_frames, size, size) and stated["num_classes"] == num_classes
    streams = {"appearance": (model.appearance, model.appearance_classifier)}
    streams["motion"] = (model.motion, model.motion_classifier)
    for name, parts in streams.items():
        assert stated["parameters"][name] == sum(utils.count_params(p) for p in parts), name
    assert sum(stated["parameters"].values()) == utils.count_params(model)
    assert not stated["shared_weights"] and stated["fusion"] == "mean of probabilities"
    with torch.no_grad():
        mean = (appearance.softmax(1) + motion.softmax(1)) / 2
        assert torch.allclose(model(x).exp(), mean, atol=1e-6)


def test_two_stream_features_count(draw):
    """With another feature size, the parameter count is that of FrameCNN(..., features) and its classifier."""
    from utils import video_models as V

    _, stated = draw(lambda: diagrams.two_stream(16, 8, 3, 4, 20, 6))
    for name, cin in (("appearance", 3), ("motion", 6)):
        frame, classifier = V.FrameCNN(cin, 4, 16, 20), nn.Linear(20, 6)
        assert stated["parameters"][name] == utils.count_params(frame) + utils.count_params(classifier), name


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"size": 36}, "multiple of 8"),
        ({"size": 2048}, "at most 1024"),
        ({"n_frames": 10, "n_flows": 10}, "at least 11 frames"),
        ({"n_flows": 0}, "n_flows"),
        ({"width": 0}, "width"),
        ({"num_classes": 10_000}, "too large"),
        ({"size": 1024, "width": 16}, "flattened map"),
    ],
)
def test_two_stream_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.two_stream(**kwargs)
    plt.close("all")


# ------------------------------------------------------------------------------------ chapter 8 CNN + LSTM
CNN_LSTM_CALLS = {
    "cnn lstm": lambda: diagrams.cnn_lstm(),
    "cnn lstm width 8": lambda: diagrams.cnn_lstm(width=8),
    "cnn lstm 3 frames": lambda: diagrams.cnn_lstm(3, 16, 6, 8, 32, 24, 5),
    "cnn lstm 2 frames": lambda: diagrams.cnn_lstm(2, 8, 1, 1, 1, 1, 1),
    "cnn lstm large": lambda: diagrams.cnn_lstm(9_999, 1_024, 9_999, 2_499, 9_999, 9_999, 9_999),
}


@pytest.mark.parametrize("name", list(CNN_LSTM_CALLS))
def test_cnn_lstm_style(name, draw):
    CALLS.update(CNN_LSTM_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize(
    "frames,size,in_channels,width,hidden,num_classes",
    [(16, 32, 3, 16, 128, 9), (16, 32, 3, 8, 64, 9), (3, 16, 6, 8, 24, 5), (2, 8, 1, 1, 1, 1), (8, 64, 2, 4, 17, 3)],
)
def test_cnn_lstm_against_video_models(frames, size, in_channels, width, hidden, num_classes, draw):
    """Every size and count the CNN + LSTM diagram states, read from utils.video_models.CNNLSTM: the FrameCNN's
    maps (hooks), the LSTM's weight shapes and parameters, the whole model's parameters; the output is the
    classifier applied to the LSTM's last output (its last hidden state, h_n), and it changes when the frames
    are reversed."""
    from utils import video_models as V

    _, stated = draw(lambda: diagrams.cnn_lstm(frames, size, in_channels, width, 128, hidden, num_classes))
    torch.manual_seed(0)
    model = V.CNNLSTM(num_classes, size, in_channels, width, hidden).eval()
    sizes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
        for m in model.frame.features
        if isinstance(m, (nn.ReLU, nn.Flatten))
    ]
    x = torch.rand(2, in_channels, frames, size, size)
    with torch.no_grad():
        out = model(x)
    for h in hooks:
        h.remove()
    # the FrameCNN ran once, on all 2 x frames frames: its maps are per frame
    assert stated["sizes"] == sizes[:3] and (stated["flatten"],) == sizes[3]
    assert (stated["features"],) == sizes[4] == (model.lstm.input_size,)
    assert stated["clip"] == (in_channels, frames, size, size) and stated["frame"] == (in_channels, size, size)
    shapes = {name: tuple(p.shape) for name, p in model.lstm.named_parameters() if name.startswith("weight")}
    assert shapes == stated["lstm_weights"] and stated["hidden"] == model.lstm.hidden_size
    assert stated["lstm_parameters"] == utils.count_params(model.lstm)
    assert stated["parameters"] == utils.count_params(model)
    assert out.shape == (2, stated["num_classes"])
    with torch.no_grad():
        features = model.frame(x.transpose(1, 2).flatten(0, 1)).reshape(2, frames, -1)
        _, (h_n, _) = model.lstm(features)
        assert torch.allclose(out, model.classifier(h_n[-1]), atol=1e-6)  # the last hidden state, classified
        assert not torch.allclose(out, model(x.flip(2)), atol=1e-6)
    assert stated["classified"] == "last hidden state" and stated["shared_weights"]
    assert not stated["order_invariant"] and stated["frames"] == frames


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"size": 36}, "multiple of 8"),
        ({"size": 1_032}, "at most 1024"),
        ({"frames": 1}, "frames"),
        ({"width": 0}, "width"),
        ({"hidden": 10_000}, "too large"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_cnn_lstm_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.cnn_lstm(**kwargs)
    plt.close("all")


# ---------------------------------------------------------------------- chapter 9 DigitEncoder and protocol
DIGIT_ENCODER_CALLS = {
    "digit encoder": lambda: diagrams.digit_encoder(),
    "digit encoder width 8": lambda: diagrams.digit_encoder(width=8, per_class=(1, 5, 25, 250)),
    "digit encoder small": lambda: diagrams.digit_encoder(5, 3, 1, 1),
    "digit encoder large": lambda: diagrams.digit_encoder(9_999, 9_999, 1_249, (9_999, 9_999, 9_999, 9_999)),
}


@pytest.mark.parametrize("name", list(DIGIT_ENCODER_CALLS))
def test_digit_encoder_style(name, draw):
    CALLS.update(DIGIT_ENCODER_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("size,in_channels,width", [(28, 1, 16), (28, 1, 8), (32, 3, 4), (5, 2, 1), (1, 1, 2)])
def test_digit_encoder_against_self_supervised(size, in_channels, width, draw):
    """Every size and count the DigitEncoder diagram states, read from utils.self_supervised.DigitEncoder: the
    maps after each convolution's ReLU (hooks), the strides, the features, the parameters of the convolutions
    and of batch norm."""
    from utils.self_supervised import DigitEncoder

    _, stated = draw(lambda: diagrams.digit_encoder(size, in_channels, width))
    model = DigitEncoder(width, in_channels).eval()
    sizes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
        for m in model.features
        if isinstance(m, nn.ReLU)
    ]
    with torch.no_grad():
        out = model(torch.rand(2, in_channels, size, size))
    for h in hooks:
        h.remove()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    assert stated["sizes"] == sizes and stated["input"] == (in_channels, size, size)
    assert stated["strides"] == [c.stride[0] for c in convs] and all(c.bias is None for c in convs)
    assert out.shape == (2, stated["features"]) and stated["features"] == model.out_features
    assert stated["conv_parameters"] == sum(utils.count_params(c) for c in convs)
    assert stated["norm_parameters"] == sum(utils.count_params(n) for n in norms)
    assert stated["parameters"] == utils.count_params(model)
    assert stated["frozen"] and stated["classifiers"] == ("linear probe", "k-NN")


def test_digit_encoder_per_class(draw):
    _, stated = draw(lambda: diagrams.digit_encoder(per_class=10))
    assert stated["per_class"] == (10,)
    _, stated = draw(lambda: diagrams.digit_encoder())
    assert stated["per_class"] == (1, 10, 100) and stated["parameters"] == 97_392


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"size": 0}, "size"),
        ({"in_channels": 0}, "in_channels"),
        ({"width": 1.5}, "width"),
        ({"width": 1_250}, "too large"),
        ({"per_class": ()}, "1 to 4"),
        ({"per_class": (1, 2, 3, 4, 5)}, "1 to 4"),
        ({"per_class": (1, 0)}, "per_class"),
    ],
)
def test_digit_encoder_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        diagrams.digit_encoder(**kwargs)
    plt.close("all")


# ------------------------------------------------------------------------------------- chapter 9 SimCLR
SIMCLR_CALLS = {
    "simclr": lambda: diagrams.simclr(),
    "simclr small": lambda: diagrams.simclr(2, 8, 4, 2, 0.05, 8),
    "simclr large": lambda: diagrams.simclr(1_249, 9_999, 9_999, 4_999, 1e-3, 9_999),
}


@pytest.mark.parametrize("name", list(SIMCLR_CALLS))
def test_simclr_style(name, draw):
    CALLS.update(SIMCLR_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("width,hidden,out,batch", [(16, 128, 128, 256), (4, 32, 16, 5), (1, 3, 2, 2)])
def test_simclr_against_the_encoder_and_the_loss(width, hidden, out, batch, draw):
    """The encoder's width and parameters are DigitEncoder's; the head's parameters are those of the
    stated layers; NT-Xent's loss for one anchor depends on its partner and exactly 2N - 2 negatives."""
    from utils.self_supervised import DigitEncoder, nt_xent

    _, stated = draw(lambda: diagrams.simclr(width, hidden, out, batch, 0.2))
    encoder = DigitEncoder(width)
    assert stated["features"] == encoder.out_features
    assert stated["encoder_parameters"] == sum(p.numel() for p in encoder.parameters())
    assert encoder(torch.rand(2, *stated["input"])).shape == (2, stated["features"])
    f, h, o = stated["head"]
    head = nn.Sequential(nn.Linear(f, h), nn.ReLU(), nn.Linear(h, o))
    assert stated["head_parameters"] == sum(p.numel() for p in head.parameters())
    # the anchor's loss: the per-anchor terms of nt_xent, recovered from its gradient structure
    z1, z2 = torch.randn(batch, o), torch.randn(batch, o)
    z = torch.cat([z1, z2]).requires_grad_(True)
    n = batch
    logits = torch.nn.functional.normalize(z, dim=1) @ torch.nn.functional.normalize(z, dim=1).T / 0.2
    others = torch.ones(2 * n, dtype=torch.bool)
    others[0] = False
    anchor_loss = torch.logsumexp(logits[0, others], 0) - logits[0, n]
    (grad,) = torch.autograd.grad(anchor_loss, z)
    touched = int((grad.abs().sum(1) > 0).sum())
    assert touched == 2 * n == stated["views"]  # the anchor, its partner and the negatives
    assert stated["negatives"] == touched - 2
    expected = sum(
        torch.logsumexp(logits[i, torch.arange(2 * n) != i], 0) - logits[i, (i + n) % (2 * n)] for i in range(2 * n)
    ) / (2 * n)
    assert torch.allclose(nt_xent(z1, z2, 0.2), expected, atol=1e-5)
    assert stated["shared_weights"] and stated["probe_reads"] == "h" and stated["temperature"] == 0.2
    for bad in ({"batch": 1}, {"temperature": 0}, {"width": 0}, {"out": 10_000}):
        with pytest.raises(ValueError):
            diagrams.simclr(**bad)


# ----------------------------------------------------------------------------- chapter 9 pretext tasks
PRETEXT_CALLS = {
    "rotation pretext": lambda: diagrams.rotation_pretext(),
    "rotation pretext large": lambda: diagrams.rotation_pretext(9_999, 9_999),
    "jigsaw pretext": lambda: diagrams.jigsaw_pretext(),
    "jigsaw pretext 2x2": lambda: diagrams.jigsaw_pretext(28, 2, 14, 14, 24, 64, 32),
    "inpainting pretext": lambda: diagrams.inpainting_pretext(),
    "inpainting pretext large": lambda: diagrams.inpainting_pretext(9_996, 9_000, 9_999, 9_999),
}


@pytest.mark.parametrize("name", list(PRETEXT_CALLS))
def test_pretext_style(name, draw):
    CALLS.update(PRETEXT_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


def test_pretext_diagrams_against_layers(draw):
    """The sizes the three pretext drawings state, from real tensors and layers: torch.rot90's four copies,
    the DigitEncoder's features on 8 x 8 tiles, the jigsaw tiles' largest gap, and the decoder's shapes."""
    from utils.self_supervised import DigitEncoder

    _, rot = draw(lambda: diagrams.rotation_pretext())
    x = torch.rand(1, 1, 28, 28)
    copies = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(rot["rotations"])])
    assert tuple(copies.shape) == rot["copies"] and tuple(x.shape[1:]) == rot["image"]
    assert DigitEncoder(16).eval()(copies).shape == (4, rot["features"]) and rot["head"] == (128, 4)
    _, jig = draw(lambda: diagrams.jigsaw_pretext())
    # offsets 0 and cell - tile in neighbouring cells: the widest gap between two tiles
    assert jig["max_gap"] == (10 - 8) * 2 and jig["padded"] == (30, 30) and jig["tiles"] == 9
    tiles = torch.rand(jig["tiles"], *jig["tile"])
    feats = DigitEncoder(16).eval()(tiles)
    assert feats.flatten().shape == (jig["concatenated"],) == (jig["head"][0],)
    _, inp = draw(lambda: diagrams.inpainting_pretext())
    decoder = nn.Sequential(
        nn.Linear(128, 64 * 7 * 7), nn.Unflatten(1, (64, 7, 7)), nn.ConvTranspose2d(64, 32, 4, 2, 1),
        nn.ConvTranspose2d(32, 1, 4, 2, 1),
    )  # fmt: skip
    shapes, h = [], torch.rand(2, inp["features"])
    for layer in decoder:
        h = layer(h)
        if not isinstance(layer, nn.Linear):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == inp["decoder"]
    for call, match in (
        (lambda: diagrams.jigsaw_pretext(cell=9), "do not cover"),
        (lambda: diagrams.jigsaw_pretext(tile=11), "does not fit"),
        (lambda: diagrams.jigsaw_pretext(grid=2, cell=14, n_permutations=25), "exceeds"),
        (lambda: diagrams.inpainting_pretext(size=30), "multiple of 4"),
        (lambda: diagrams.inpainting_pretext(hole=28), "smaller"),
        (lambda: diagrams.rotation_pretext(features=0), "features"),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    plt.close("all")


# ------------------------------------------------------------------------------------ chapter 9 SimSiam
SIMSIAM_CALLS = {
    "simsiam": lambda: diagrams.simsiam(),
    "simsiam small": lambda: diagrams.simsiam(2, 8, 4, 1, 8),
    "simsiam large": lambda: diagrams.simsiam(1_249, 9_999, 9_999, 9_999, 9_999),
}


@pytest.mark.parametrize("name", list(SIMSIAM_CALLS))
def test_simsiam_style(name, draw):
    CALLS.update(SIMSIAM_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("width,hidden,out,bottleneck", [(16, 128, 128, None), (4, 32, 16, 3), (1, 3, 8, None)])
def test_simsiam_against_the_layers_and_the_loss(width, hidden, out, bottleneck, draw):
    """The encoder's, projector's and predictor's sizes are those of utils.non_contrastive's modules; the
    loss sends no gradient into the targets z (the stop-gradient) and uses no other image of the batch."""
    from utils.non_contrastive import Predictor, Projector, simsiam_loss
    from utils.self_supervised import DigitEncoder

    _, stated = draw(lambda: diagrams.simsiam(width, hidden, out, bottleneck))
    encoder = DigitEncoder(width)
    assert stated["features"] == encoder.out_features
    assert stated["encoder_parameters"] == sum(p.numel() for p in encoder.parameters())
    f, h, o = stated["projector"]
    projector = Projector(f, h, o)
    assert stated["projector_parameters"] == sum(p.numel() for p in projector.parameters())
    o1, b, o2 = stated["predictor"]
    predictor = Predictor(o1, bottleneck)
    assert o1 == o2 == o and predictor.net[0].out_features == b == (bottleneck or max(out // 4, 1))
    assert stated["predictor_parameters"] == sum(p.numel() for p in predictor.parameters())
    z1 = projector(encoder(torch.rand(4, *stated["input"])))
    assert z1.shape == (4, o) and predictor(z1).shape == (4, o)
    p1, p2 = torch.randn(4, o, requires_grad=True), torch.randn(4, o, requires_grad=True)
    zz1, zz2 = torch.randn(4, o, requires_grad=True), torch.randn(4, o, requires_grad=True)
    grads = torch.autograd.grad(simsiam_loss(p1, p2, zz1, zz2), (p1, zz1, zz2), allow_unused=True)
    assert stated["stop_gradient"] and all(g is None or not g.any() for g in grads[1:])
    # no negatives: the loss of image 0 does not depend on the other images of the batch
    (g,) = torch.autograd.grad(F.cosine_similarity(p1, zz2.detach())[0], p1)
    assert stated["negatives"] == 0 and g[1:].abs().sum() == 0 and g[0].abs().sum() > 0
    assert stated["shared_weights"] and stated["probe_reads"] == "h"
    for bad in ({"width": 0}, {"bottleneck": 0}, {"out": 10_000}, {"size": 4}):
        with pytest.raises(ValueError):
            diagrams.simsiam(**bad)
    plt.close("all")


# ------------------------------------------------------------------------------ chapter 10 attention
MHA_CALLS = {
    "multi-head attention": lambda: diagrams.multi_head_attention(),
    "multi-head attention vit-b": lambda: diagrams.multi_head_attention(768, 12, 197),
    "multi-head attention one head": lambda: diagrams.multi_head_attention(2, 1, 1),
    "multi-head attention large": lambda: diagrams.multi_head_attention(3_333, 3, 9_999),
    "multi-head attention 99 heads": lambda: diagrams.multi_head_attention(3_267, 99, 9_999),
}


@pytest.mark.parametrize("name", list(MHA_CALLS))
def test_multi_head_attention_style(name, draw):
    CALLS.update(MHA_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("embed_dim,num_heads,tokens", [(64, 4, 17), (12, 3, 5), (8, 1, 2)])
def test_multi_head_attention_against_torch(embed_dim, num_heads, tokens, draw):
    """The shapes, parameter count and multiply-adds stated are those of nn.MultiheadAttention and of
    utils.transformers.MultiHeadAttention; the scores are the attention weights' entries."""
    from utils.transformers import MultiHeadAttention

    _, stated = draw(lambda: diagrams.multi_head_attention(embed_dim, num_heads, tokens))
    reference = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
    shapes = {name: tuple(p.shape) for name, p in reference.state_dict().items()}
    assert shapes == {
        "in_proj_weight": stated["in_proj_weight"], "in_proj_bias": stated["in_proj_bias"],
        "out_proj.weight": stated["out_proj_weight"], "out_proj.bias": stated["out_proj_bias"],
    }  # fmt: skip
    ours = MultiHeadAttention(embed_dim, num_heads)
    assert stated["parameters"] == utils.count_params(reference) == utils.count_params(ours)
    x = torch.randn(1, tokens, embed_dim)
    _, weights = reference(x, x, x, need_weights=True, average_attn_weights=False)
    assert tuple(weights.shape[1:]) == stated["scores"] and weights[0].numel() == stated["score_entries"]
    q, k, v = F.linear(x, reference.in_proj_weight, reference.in_proj_bias).chunk(3, dim=-1)
    head = q.reshape(1, tokens, num_heads, -1).transpose(1, 2)[0, 0]
    assert tuple(head.shape) == stated["per_head"] and stated["head_dim"] == embed_dim // num_heads
    assert stated["macs"] == utils.count_macs(ours, (1, tokens, embed_dim))
    for bad in ({"embed_dim": 10, "num_heads": 4}, {"tokens": 0}, {"num_heads": 0}, {"embed_dim": 3_334}):
        with pytest.raises(ValueError):
            diagrams.multi_head_attention(**bad)
    plt.close("all")


# ------------------------------------------------------------------------------- chapter 10 Swin windows
SWIN_CALLS = {
    "swin windows": lambda: diagrams.swin_windows(),
    "swin windows 12": lambda: diagrams.swin_windows(12, 4, 1),
    "swin windows 16": lambda: diagrams.swin_windows(16, 8, 4),
    "swin windows 4": lambda: diagrams.swin_windows(4, 2),
}


@pytest.mark.parametrize("name", list(SWIN_CALLS))
def test_swin_windows_style(name, draw):
    CALLS.update(SWIN_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize("grid,window,shift", [(8, 4, 2), (12, 4, 1), (16, 8, 4), (14, 7, 3)])
def test_swin_windows_against_swin_masks(grid, window, shift, draw):
    """The windows the drawing states, from real tensors: the regular partition by reshaping, the shifted
    windows by offsetting the boundaries, and the rolled panel's pieces against the masks of Swin's own
    code (its three slices per axis in the rolled frame): two tokens of a rolled window get the same number
    exactly where Swin's mask lets them attend to each other."""
    _, stated = draw(lambda: diagrams.swin_windows(grid, window, shift))
    n, m, s = grid, window, shift
    tokens = torch.arange(n * n).reshape(n, n)
    windows = tokens.reshape(n // m, m, n // m, m).permute(0, 2, 1, 3).reshape(-1, m * m)
    assert stated["windows"] == len(windows) and stated["tokens_per_window"] == windows.shape[1] == m * m
    assert stated["tokens"] == n * n and stated["window"] == m and stated["shift"] == s
    # the shifted partition: boundaries at s, s + m, ...: one more window per side than the regular one
    cuts = [0, *range(s, n, m), n]
    assert stated["shifted_windows"] == (len(cuts) - 1) ** 2 == (n // m + 1) ** 2
    # Swin's mask (the reference implementation's slices), in the rolled frame
    swin = torch.zeros(n, n)
    count = 0
    for h in (slice(0, -m), slice(-m, -s), slice(-s, None)):
        for w in (slice(0, -m), slice(-m, -s), slice(-s, None)):
            swin[h, w] = count
            count += 1
    ours = torch.tensor(stated["rolled_labels"], dtype=torch.float32)
    assert ours.shape == (n, n)
    pieces = []
    for part in (swin, ours):
        p = part.reshape(n // m, m, n // m, m).permute(0, 2, 1, 3).reshape(-1, m * m)
        pieces.append(p[:, :, None] == p[:, None, :])
    assert torch.equal(pieces[0], pieces[1])
    rolled_windows = ours.reshape(n // m, m, n // m, m).permute(0, 2, 1, 3).reshape(-1, m * m)
    per_window = [len(torch.unique(w)) for w in rolled_windows]
    assert stated["max_pieces"] == max(per_window) == 4
    # the rolled labels are the shifted panel's, moved by torch.roll
    assert len(torch.unique(ours)) == stated["shifted_windows"]
    assert stated["score_entries_global"] == (n * n) ** 2 and stated["score_entries_windowed"] == m * m * n * n
    for bad, match in (({"grid": 10}, "multiple"), ({"shift": 4}, "smaller"), ({"grid": 32, "window": 8}, "too large"),
                       ({"grid": 4, "window": 4}, "at least 2")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            diagrams.swin_windows(**{"grid": 8, "window": 4, **bad})
    plt.close("all")


# ---------------------------------------------------------------------------- chapter 10 Vision Transformer
VIT_CALLS = {
    "vision transformer": lambda: diagrams.vision_transformer(),
    "vision transformer b16": lambda: diagrams.vision_transformer(224, 16, 12, 12, 768, 3072, 1000, 3),
    "vision transformer small": lambda: diagrams.vision_transformer(2, 1, 1, 1, 1, 1, 1, 1),
    "vision transformer large": lambda: diagrams.vision_transformer(316, 1, 99_999, 1, 99_999, 99_999, 99_999, 3),
}


@pytest.mark.parametrize("name", list(VIT_CALLS))
def test_vision_transformer_style(name, draw):
    CALLS.update(VIT_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


@pytest.mark.parametrize(
    "config", [(28, 7, 2, 4, 64, 128, 10, 1), (28, 7, 2, 4, 64, 128, 10, 3), (32, 8, 3, 2, 16, 40, 5, 2)]
)
def test_vision_transformer_against_the_networks(config, draw):
    """Every size and parameter count the drawing states, from utils.transformers.VisionTransformer's layers
    and tensors (and from torchvision's VisionTransformer, which has the same parameters, for RGB input)."""
    import torchvision

    from utils.transformers import VisionTransformer, patchify

    size, p, layers, heads, d, m, k, c = config
    _, stated = draw(lambda: diagrams.vision_transformer(*config))
    model = VisionTransformer(size, p, layers, heads, d, m, num_classes=k, in_channels=c)
    x = torch.rand(2, c, size, size)
    patches = patchify(x, p)
    assert stated["image"] == (c, size, size) and stated["grid"] == (size // p, size // p)
    assert (stated["patches"], stated["patch_dim"]) == tuple(patches.shape[1:])
    assert model.tokens(x).shape == (2, stated["tokens"], stated["hidden_dim"])
    block = model.encoder.layers[0]
    assert stated["num_layers"] == len(model.encoder.layers) and stated["num_heads"] == block.self_attention.num_heads
    assert stated["head_dim"] * stated["num_heads"] == d and stated["mlp_dim"] == block.mlp[0].out_features
    assert model(x).shape == (2, stated["num_classes"])

    def n(module):
        return sum(t.numel() for t in module.parameters())

    params = stated["parameters"]
    assert params["patch embedding"] == n(model.conv_proj) and params["class token"] == model.class_token.numel()
    assert params["position embeddings"] == model.encoder.pos_embedding.numel()
    assert params["attention"] == n(block.ln_1) + n(block.self_attention)
    assert params["MLP"] == n(block.ln_2) + n(block.mlp) and params["block"] == n(block)
    assert params["final norm"] == n(model.encoder.ln) and params["head"] == n(model.heads)
    assert params["total"] == n(model)
    if c == 3:
        reference = torchvision.models.VisionTransformer(size, p, layers, heads, d, m, num_classes=k)
        assert params["total"] == n(reference)
    bad_arguments = (
        ({"image_size": 30}, "multiple"),
        ({"num_heads": 3}, "divisible"),
        ({"hidden_dim": 0}, "hidden_dim"),
        ({"image_size": 1_000, "patch_size": 1}, "too large"),
    )
    for bad, match in bad_arguments:
        with pytest.raises(ValueError, match=match):
            diagrams.vision_transformer(**bad)
    plt.close("all")


def test_vision_transformer_b16_counts(draw):
    """ViT-B/16's stated counts: torchvision's vit_b_16 on the meta device (86,567,656 parameters)."""
    import torchvision

    _, stated = draw(lambda: diagrams.vision_transformer(224, 16, 12, 12, 768, 3072, 1000, 3))
    with torch.device("meta"):
        reference = torchvision.models.vit_b_16()
    assert stated["parameters"]["total"] == sum(t.numel() for t in reference.parameters()) == 86_567_656
    assert stated["tokens"] == reference.seq_length == 197 and stated["patch_dim"] == 768
    plt.close("all")


# ------------------------------------------------------------------------- chapter 10 inductive bias
LOCALITY_CALLS = {
    "locality": lambda: diagrams.locality(),
    "locality 3x3, 8x8 patches": lambda: diagrams.locality(32, 3, 8),
    "locality small": lambda: diagrams.locality(4, 1, 2),
    "locality large": lambda: diagrams.locality(64, 21, 8),
}


@pytest.mark.parametrize("name", list(LOCALITY_CALLS))
def test_locality_style(name, draw):
    CALLS.update(LOCALITY_CALLS)  # the checks of test_style, on these drawings
    test_style(name, draw)


def _field(output, x):
    """Rows and columns of the input pixels on which ``output`` (a scalar) depends: its gradient's support."""
    (grad,) = torch.autograd.grad(output, x, retain_graph=True)
    rows, cols = grad[0, 0].abs().sum(1).nonzero(), grad[0, 0].abs().sum(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1), int((grad != 0).sum())


@pytest.mark.parametrize("size,kernel,patch", [(28, 5, 7), (32, 3, 8), (24, 7, 4)])
def test_locality_against_the_networks(size, kernel, patch, draw):
    """The fields the drawing states, measured as gradient supports: LeNet-5's (for 28, 5) or a conv, 2 x 2
    pooling, conv stack's units, and a ViT token after one encoder block, which depends on every pixel."""
    from utils.models import LeNet5
    from utils.transformers import VisionTransformer

    _, stated = draw(lambda: diagrams.locality(size, kernel, patch))
    torch.manual_seed(0)
    if (size, kernel) == (28, 5):
        stack = LeNet5().features
        first, second = stack[0], stack[:4]
    else:
        first = nn.Conv2d(1, 4, kernel, padding=kernel // 2)
        second = nn.Sequential(first, nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(4, 4, kernel))
    x = torch.rand(1, 1, size, size, requires_grad=True)
    c = size // 2
    k = stated["conv_field"]
    assert _field(first(x)[0, 0, c, c], x) == (k, k, k * k) and stated["kernel_size"] == k == kernel
    out = second(x)
    m = out.shape[-1] // 2
    f2 = stated["second_conv_field"]
    assert _field(out[0, 0, m, m], x) == (f2, f2, f2 * f2)
    vit = VisionTransformer(size, patch, 1, 2, 8, 16, num_classes=3, in_channels=1)
    with torch.no_grad():
        vit.encoder.pos_embedding.normal_()
    tokens = vit.encoder(vit.tokens(x))[0]
    assert tokens.shape[1] == stated["tokens"] == stated["patches"] + 1 == stated["attended"]
    assert stated["grid"] ** 2 == stated["patches"] and stated["patch_size"] == patch
    # the class token and a patch token after one block: every pixel counts (one
    # coordinate: the LayerNorm makes their sum constant)
    for i in (0, 1):
        assert _field(tokens[0, i, 0], x)[2] == stated["attention_field"] == size * size
    bad_arguments = (
        ({"kernel_size": 4}, "odd"),
        ({"kernel_size": 11}, "fit"),
        ({"patch_size": 5}, "multiple"),
        ({"image_size": 70, "patch_size": 7}, "too large"),
        ({"patch_size": 28}, "at least 2"),
    )
    for bad, match in bad_arguments:
        with pytest.raises(ValueError, match=match):
            diagrams.locality(**{"image_size": 28, "kernel_size": 5, "patch_size": 7, **bad})
    plt.close("all")
