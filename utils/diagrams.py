"""Architecture diagrams drawn from code: the blocks of chapters 2 to 7, in one style.

Each public function draws a new matplotlib figure (the notebook shows it when the cell ends; nothing is
read from disk or the network) and returns ``(fig, stated)``: ``stated`` is a dict of every size and count
written in the picture, computed from the function's arguments, so that the notebook can assert them
against its own network. Redraw with other arguments to explore (``unet(input_size=508)``); arguments the
architecture cannot take raise ``ValueError``.

Style: one palette by kind of layer (:data:`PALETTE`: pastel fill, darker edge of the same hue, dark
text), an opaque white background (readable on the website's dark theme), text of 8 pt or more, figures
at most 8 inches wide, data flowing from top to bottom (or left to right), and a title on every figure
(the website's alternative text is made from it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle

TEXT, LINE = "#222222", "#444444"
MAX_WIDTH, TITLE_H = 8.0, 0.45  # inches: the book's column; the strip above the drawing for the title
FONT, SMALL = 9, 8  # points: text in boxes; annotations
#: kind of layer -> (fill, edge): every box of that kind, in every diagram, has these colours.
PALETTE = {
    "io": ("#eeeeee", "#707070"),  # input, output, feature maps
    "conv": ("#cfe2f3", "#3d6fa3"),  # k x k convolution
    "conv1x1": ("#d9ead3", "#4e8a3a"),  # 1 x 1 convolution
    "dwconv": ("#d0ece7", "#2e8b7a"),  # depthwise convolution
    "pool": ("#f4cccc", "#b04040"),  # pooling
    "norm": ("#fff2cc", "#a88a1e"),  # batch normalisation
    "act": ("#fde3cc", "#c06a1d"),  # activation
    "fc": ("#e1d5f0", "#6b4fa0"),  # linear / fully connected
    "merge": ("#ffffff", LINE),  # add, concatenate, scale (circles)
    "up": ("#f5d3e6", "#a8467c"),  # upsampling, transposed convolution
    "se": ("#e4efc4", "#6f8a1f"),  # squeeze-and-excitation, attention
    "reg": ("#e8e3dc", "#7a6a55"),  # regularisation: stochastic depth, dropout
    "rnn": ("#d5f1f6", "#1f7a8c"),  # recurrent layer or cell: RNN, LSTM, GRU
}


# ----------------------------------------------------------------------------------------------- primitives
@dataclass(frozen=True)
class _Box:
    """A drawn element: centre ``(x, y)`` and size ``w x h`` in inches, with its four anchor points."""

    x: float
    y: float
    w: float
    h: float

    top = property(lambda b: (b.x, b.y + b.h / 2))
    bottom = property(lambda b: (b.x, b.y - b.h / 2))
    left = property(lambda b: (b.x - b.w / 2, b.y))
    right = property(lambda b: (b.x + b.w / 2, b.y))


def _canvas(width: float, height: float, title: str):
    """A white figure ``width x (height + title)`` inches whose axes' data units are inches, axes off."""
    fig = plt.figure(figsize=(width, height + TITLE_H), facecolor="white")
    fig.patch.set_alpha(1.0)
    ax = fig.add_axes((0, 0, 1, height / (height + TITLE_H)))
    ax.set(xlim=(0, width), ylim=(0, height))
    ax.axis("off")
    fig.suptitle(title, y=1 - 0.1 / (height + TITLE_H), va="top", fontsize=12, color=TEXT)
    return fig, ax


def _text(ax, xy, text, size=SMALL, **kw):
    kw = {"ha": "center", "va": "center", "color": TEXT, **kw}
    return ax.text(*xy, text, fontsize=size, **kw)


def _box(ax, xy, w, h, text, kind, size=FONT, **kw) -> _Box:
    """A rounded box of colour ``kind`` centred on ``xy`` with ``text`` in its middle."""
    fill, edge = PALETTE[kind]
    kw = {"fc": fill, "ec": edge, "lw": 1, **kw}
    patch = FancyBboxPatch((xy[0] - w / 2, xy[1] - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.04", **kw)
    ax.add_patch(patch)
    if text:
        _text(ax, xy, text, size)
    return _Box(xy[0], xy[1], w, h)


def _op(ax, xy, symbol: str, r=0.14) -> _Box:
    """A circle for add (``+``), concatenate (``C``) or scale (``×``)."""
    ax.add_patch(Circle(xy, r, fc=PALETTE["merge"][0], ec=PALETTE["merge"][1], lw=1.1, zorder=3))
    _text(ax, xy, symbol, 11, zorder=4)
    return _Box(xy[0], xy[1], 2 * r, 2 * r)


def _arrow(ax, *points, color=LINE, lw=1.1, ls="-", style="-|>", zorder=2):
    """A polyline through ``points`` with an arrowhead at the last one (``style="-"``: none, ``"<|-|>"``: both)."""
    if len(points) > 2:
        xs, ys = zip(*points[:-1])
        ax.plot(xs, ys, color=color, lw=lw, ls=ls, solid_capstyle="butt", zorder=zorder)
    ax.add_patch(
        FancyArrowPatch(
            points[-2], points[-1], arrowstyle=style, mutation_scale=9, shrinkA=0, shrinkB=0, color=color, lw=lw,
            ls=ls, zorder=zorder,
        )
    )  # fmt: skip


def _curve(ax, start, end, height, color):
    """An arrow from ``start`` to ``end`` (at the same height) bulging ``height`` inches upwards."""
    rad = -2 * height / (end[0] - start[0])
    ax.add_patch(
        FancyArrowPatch(
            start, end, connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>", mutation_scale=8, shrinkA=0, shrinkB=0,
            color=color, lw=1,
        )
    )  # fmt: skip


def _grid(ax, top_left, values, cell, fills=None, text_colors=None, size=FONT) -> _Box:
    """A grid of cells (a 2-D list of strings, ``""`` for an empty cell) with its top-left corner at ``top_left``."""
    rows, cols = len(values), len(values[0])
    for i in range(rows):
        for j in range(cols):
            xy = (top_left[0] + j * cell, top_left[1] - (i + 1) * cell)
            fill = fills[i][j] if fills is not None else "white"
            ax.add_patch(Rectangle(xy, cell, cell, fc=fill, ec=LINE, lw=0.8))
            color = text_colors[i][j] if text_colors is not None else TEXT
            _text(ax, (xy[0] + cell / 2, xy[1] + cell / 2), values[i][j], size, color=color)
    return _Box(top_left[0] + cols * cell / 2, top_left[1] - rows * cell / 2, cols * cell, rows * cell)


def _shade(color, towards, t):
    a, b = (np.array(plt.matplotlib.colors.to_rgb(c)) for c in (color, towards))
    return tuple((1 - t) * a + t * b)


def _slab(ax, x, y, w, h, depth, kind, grid=0, zorder=1):
    """A 3-D block: front face ``w x h`` with its lower-left corner at ``(x, y)``, receding ``depth`` inches;
    ``grid`` draws a grid x grid front face (a kernel's cells). Later blocks need a higher ``zorder``."""
    fill, edge = PALETTE[kind]
    d, z = depth / math.sqrt(2), {"ec": edge, "lw": 0.8, "zorder": zorder}
    top = [(x, y + h), (x + w, y + h), (x + w + d, y + h + d), (x + d, y + h + d)]
    side = [(x + w, y), (x + w + d, y + d), (x + w + d, y + h + d), (x + w, y + h)]
    ax.add_patch(Polygon(top, fc=_shade(fill, "white", 0.5), **z))
    ax.add_patch(Polygon(side, fc=_shade(fill, edge, 0.25), **z))
    ax.add_patch(Rectangle((x, y), w, h, fc=fill, **z))
    for i in range(1, grid):
        ax.plot([x + i * w / grid] * 2, [y, y + h], color=edge, lw=0.5, zorder=zorder)
        ax.plot([x, x + w], [y + i * h / grid] * 2, color=edge, lw=0.5, zorder=zorder)
    return _Box(x + w / 2, y + h / 2, w, h)


def _width(text: str, size=FONT) -> float:
    """A box width that holds ``text`` (longest line) at ``size`` points, with a margin."""
    return max(0.45, 0.56 * size / 72 * max(len(line) for line in text.split("\n")) + 0.22)


def _row(ax, x, y, parts, h=0.3, gap=0.18, joined=False) -> _Box:
    """Boxes ``(text, kind)`` side by side, centred on ``(x, y)``: joined into one layer (read left to
    right, e.g. conv | BN | ReLU) or apart with arrows between them."""
    widths = [_width(text) for text, _ in parts]
    gap = 0 if joined else gap
    left = x - (sum(widths) + gap * (len(parts) - 1)) / 2
    prev = None
    for (text, kind), w in zip(parts, widths):
        if joined:
            ax.add_patch(Rectangle((left, y - h / 2), w, h, fc=PALETTE[kind][0], ec=PALETTE[kind][1], lw=1))
            _text(ax, (left + w / 2, y), text, FONT)
        else:
            box = _box(ax, (left + w / 2, y), w, h, text, kind)
            if prev is not None:
                _arrow(ax, prev.right, box.left)
            prev = box
        left += w + gap
    return _Box(x, y, 2 * (left - gap - x), h)


def _column(ax, x, y, items, pitch=0.5) -> list[_Box]:
    """Items from top to bottom joined by arrows: a layer (list of ``(text, kind)``, drawn joined), an op
    symbol (``"+"``) or a tensor ``(text, width)`` (a grey bar whose width shows its channels)."""
    boxes = []
    for i, item in enumerate(items):
        xy = (x, y - i * pitch)
        if isinstance(item, str):
            boxes.append(_op(ax, xy, item))
        elif isinstance(item, tuple):
            boxes.append(_box(ax, xy, item[1], 0.26, item[0], "io", SMALL))
        else:
            boxes.append(_row(ax, *xy, item, joined=True))
    for a, b in zip(boxes, boxes[1:]):
        _arrow(ax, a.bottom, b.top)
    return boxes


def _bypass(ax, src: _Box, dst: _Box, x: float, label: str):
    """The shortcut: out of the side of ``src`` to ``x``, down, into the side of ``dst``; labelled along it."""
    s, d = (src.right, dst.right) if x > src.x else (src.left, dst.left)
    _arrow(ax, s, (x, s[1]), (x, d[1]), d)
    _text(ax, (x + (0.13 if x > src.x else -0.13), (s[1] + d[1]) / 2), label, rotation=90)


def _positive_int(name, value, minimum=1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _conv(k, cin, cout, depthwise=False, stride=1):
    """A convolution's label and kind: ``("3×3 conv, 64→64", "conv")``."""
    if depthwise:
        return f"{k}×{k} depthwise, {cin}" + (f", stride {stride}" if stride > 1 else ""), "dwconv"
    return f"{k}×{k} conv, {cin}→{cout}" + (f", stride {stride}" if stride > 1 else ""), "conv1x1" if k == 1 else "conv"


def _fmt_macs(n):
    return f"{n / 1e6:.1f} M"


# ------------------------------------------------------------------------------------------ chapter 2 blocks
def inception_module(reduced: bool = True, in_channels: int = 192, size: int = 28, widths=(64, 96, 128, 16, 32, 32)):
    """GoogLeNet's inception module (3a by default): four parallel branches, then a filter concatenation.

    ``reduced=False`` draws the naive module (1×1, 3×3, 5×5 convolutions and a 3×3 max-pool on the
    input); ``reduced=True`` the one with 1×1 reductions before the 3×3 and 5×5 convolutions and after
    the pool. ``widths`` is Table 1's row: (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj).
    ``stated``: ``branches`` (output channels of each branch), ``concat`` (their sum, 256 for 3a),
    ``in_channels``, ``size``, ``macs`` (multiply-adds of each branch, biases not counted, ``"1x1"``,
    ``"3x3"``, ``"5x5"``, ``"pool"``) and ``total_macs``.
    """
    cin, size = _positive_int("in_channels", in_channels), _positive_int("size", size)
    if len(widths) != 6:
        raise ValueError(f"widths must be 6 numbers (#1x1, #3x3 red., #3x3, #5x5 red., #5x5, pool proj), got {widths}")
    n1, r3, n3, r5, n5, pp = (_positive_int("each width", w) for w in widths)
    area = size * size
    if reduced:  # (layers of the branch as (k, in, out) or "pool", output channels)
        branches = [[(1, cin, n1)], [(1, cin, r3), (3, r3, n3)], [(1, cin, r5), (5, r5, n5)], ["pool", (1, cin, pp)]]
    else:
        branches = [[(1, cin, n1)], [(3, cin, n3)], [(5, cin, n5)], ["pool"]]
    outs = [cin if b[-1] == "pool" else b[-1][2] for b in branches]
    macs = {
        name: sum(area * k * k * i * o for k, i, o in (layer for layer in b if layer != "pool"))
        for name, b in zip(("1x1", "3x3", "5x5", "pool"), branches)
    }
    rows = 2 if reduced else 1
    height = 2.05 + 0.65 * rows
    fig, ax = _canvas(7.0, height, f"Inception module ({'with 1×1 reductions' if reduced else 'naive'})")
    src = _box(ax, (3.5, height - 0.35), 2.0, 0.42, f"previous layer\n{size}×{size}×{cin}", "io")
    cat = _box(ax, (3.5, 0.55), 2.4, 0.42, f"filter concatenation\n{size}×{size}×{sum(outs)}", "io")
    for j, (branch, out) in enumerate(zip(branches, outs)):
        x, boxes = 0.95 + 1.7 * j, []
        for i, layer in enumerate(branch):
            y = height - 1.2 - 0.65 * (rows - len(branch) + i)
            text, kind = ("3×3 max pool\nstride 1", "pool") if layer == "pool" else _conv(layer[0], *layer[1:])
            boxes.append(_box(ax, (x, y), 1.4, 0.42, text.replace(", ", "\n"), kind))
        _arrow(ax, (src.x + 0.45 * (j - 1.5), src.bottom[1]), boxes[0].top)
        for a, b in zip(boxes, boxes[1:]):
            _arrow(ax, a.bottom, b.top)
        end = (cat.x + 0.5 * (j - 1.5), cat.top[1])
        _arrow(ax, boxes[-1].bottom, end)
        side = -1 if end[0] > boxes[-1].x else 1  # the label on the side away from the arrow
        below = (boxes[-1].x + 0.08 * side, boxes[-1].bottom[1] - 0.12)
        _text(ax, below, f"{out} ch", ha="right" if side < 0 else "left")
    cost = " | ".join(f"{k}: {_fmt_macs(v)}" for k, v in macs.items())
    _text(ax, (3.5, 0.13), f"multiply-adds per branch: {cost} | total {_fmt_macs(sum(macs.values()))}")
    stated = {"branches": outs, "concat": sum(outs), "in_channels": cin, "size": size, "macs": macs}
    return fig, {**stated, "total_macs": sum(macs.values())}


def residual_block(kind: str = "basic", channels: int = 64, expansion: int = 4):
    """ResNet's residual block: the convolutions F(x), the identity shortcut x, the sum and the final ReLU.

    ``kind="basic"`` (ResNet-18/34): two 3×3 convolutions with ``channels`` in and out;
    ``kind="bottleneck"`` (ResNet-50 and deeper): 1×1 (reduce to ``channels``), 3×3, 1×1 (expand to
    ``channels * expansion``) on a ``channels * expansion``-channel input.
    ``stated``: ``kind``, ``conv_channels`` (``(in, out)`` of each convolution, in order), ``kernels`` and
    ``in_channels`` / ``out_channels`` of the block.
    """
    if kind not in ("basic", "bottleneck"):
        raise ValueError(f"kind must be 'basic' or 'bottleneck', got {kind!r}")
    c, e = _positive_int("channels", channels), _positive_int("expansion", expansion)
    convs = [(3, c, c), (3, c, c)] if kind == "basic" else [(1, c * e, c), (3, c, c), (1, c, c * e)]
    cin = convs[0][1]
    rows = [[_conv(*conv), ("BN", "norm"), ("ReLU", "act")] for conv in convs]
    rows[-1] = rows[-1][:2]  # the last BN goes to the sum, the ReLU comes after it
    items = [(f"x: {cin} channels", 1.6), *rows, "+", [("ReLU", "act")], (f"output: {cin} channels", 1.6)]
    height = 0.5 * len(items) + 0.1
    fig, ax = _canvas(4.8, height, f"Residual block ({kind})")
    boxes = _column(ax, 2.2, height - 0.3, items)
    _bypass(ax, boxes[0], boxes[-3], 4.25, "identity x")
    _text(ax, (min(b.left[0] for b in boxes[1:-3]) - 0.2, (boxes[1].y + boxes[len(convs)].y) / 2), "F(x)", FONT)
    stated = {"kind": kind, "conv_channels": [(i, o) for _, i, o in convs], "kernels": [k for k, _, _ in convs]}
    return fig, {**stated, "in_channels": cin, "out_channels": cin}


def dense_block(in_channels: int = 64, growth_rate: int = 32, layers: int = 4, bn_size: int = 4, compression=0.5):
    """DenseNet's dense block and the transition after it (one figure, three parts).

    Top: every layer H_l takes the concatenation of the block's input x_0 and all earlier outputs, and
    adds ``growth_rate`` (k) channels; the block's output concatenates them all. Below: inside a layer
    (BN-ReLU-1×1 conv to ``bn_size * k``, BN-ReLU-3×3 conv to k) and the transition (BN-ReLU-1×1 conv
    to ``int(compression * c)`` channels, 2×2 average pool with stride 2).
    ``stated``: ``channels`` (after 0, 1, ..., ``layers`` layers: ``in_channels + i * growth_rate``),
    ``bottleneck`` (``bn_size * growth_rate``), ``block_out`` and ``transition_out``.
    """
    c0, k = _positive_int("in_channels", in_channels), _positive_int("growth_rate", growth_rate)
    n, bn = _positive_int("layers", layers), _positive_int("bn_size", bn_size)
    if n > 6:
        raise ValueError(f"layers must be at most 6 to fit the drawing, got {n}")
    if not 0 < compression <= 1:
        raise ValueError(f"compression must be in (0, 1], got {compression!r}")
    channels = [c0 + i * k for i in range(n + 1)]
    out = int(compression * channels[-1])
    fig, ax = _canvas(8.0, 3.0, "Dense block and transition")
    step, y = 7.0 / (2 * n + 1), 1.95
    colors = [PALETTE[key][1] for key in ("conv", "pool", "conv1x1", "act", "fc", "up", "dwconv")]
    maps, heads = [], []
    for i in range(n + 1):  # x_0, H_1, x_1, ..., H_n, x_n
        x = 0.35 + 2 * i * step
        maps.append(_box(ax, (x, y), 0.36, 0.3, f"x{chr(0x2080 + i)}", "io", ec=colors[i], lw=1.8))
        _text(ax, (x, y - 0.3), f"{c0 if i == 0 else k} ch")
        if i:
            _arrow(ax, heads[i - 1].right, maps[i].left)
        if i < n:
            heads.append(_box(ax, (x + step, y), 0.4, 0.42, f"H{chr(0x2081 + i)}", "conv"))
            _text(ax, (x + step, y - 0.36), f"in {channels[i]}")
            _arrow(ax, maps[i].right, heads[i].left, color=colors[i])
    cat = _op(ax, (maps[-1].x + step, y), "C")
    _arrow(ax, maps[-1].right, cat.left, color=colors[n])
    _text(ax, (cat.x, y - 0.3), f"{channels[-1]} ch")
    targets = [*heads, cat]
    for j, t in enumerate(targets):  # x_j reaches targets[j] straight, x_0 .. x_(j-1) by arcs, nested
        for i in range(j):
            a, count = j - i - 1, n - i - 1  # this arc's rank among the arcs leaving x_i (shortest first)
            start = (maps[i].x + 0.25 * maps[i].w * (1 - 2 * a / max(1, count)), maps[i].top[1])
            end = (t.x + 0.3 * t.w * (1 - 2 * i / max(1, j - 1)) if j > 1 else t.x, t.top[1])
            _curve(ax, start, end, 0.1 + 0.1 * (j - i), colors[i])
    layer = [("BN", "norm"), ("ReLU", "act"), (f"1×1 conv, →{bn * k}", "conv1x1"), ("BN", "norm"), ("ReLU", "act")]
    _row(ax, 4.5, 0.95, [*layer, (f"3×3 conv, →{k}", "conv")])
    _text(ax, (0.75, 0.95), "inside each H:", FONT)
    trans = [("BN", "norm"), ("ReLU", "act"), _conv(1, channels[-1], out), ("2×2 avg pool", "pool")]
    trans = _row(ax, 4.5, 0.35, trans)
    _text(ax, (0.75, 0.35), "transition:", FONT)
    _text(ax, (trans.right[0] + 0.15, 0.35), "½ size", ha="left")
    stated = {"channels": channels, "bottleneck": bn * k, "block_out": channels[-1], "transition_out": out}
    return fig, stated


def depthwise_separable(in_channels: int = 32, out_channels: int = 64, kernel: int = 3, size: int = 56):
    """A standard convolution next to its depthwise-separable factorisation (MobileNet, Howard et al. 2017).

    Standard: N = ``out_channels`` filters of k×k×M (M = ``in_channels``). Depthwise: M filters of
    k×k×1, one per input channel. Pointwise: N filters of 1×1×M. Stride 1, same padding, no biases, on a
    ``size`` × ``size`` map. ``stated``: ``standard_params``, ``depthwise_params``, ``pointwise_params``,
    ``separable_params``, ``standard_macs``, ``separable_macs`` (multiply-adds) and ``ratio``
    (separable / standard = 1/N + 1/k²).
    """
    m, n = _positive_int("in_channels", in_channels), _positive_int("out_channels", out_channels)
    k, size = _positive_int("kernel", kernel), _positive_int("size", size)
    std, dw, pw = k * k * m * n, k * k * m, m * n
    area = size * size
    stated = {"standard_params": std, "depthwise_params": dw, "pointwise_params": pw, "separable_params": dw + pw}
    stated |= {"standard_macs": std * area, "separable_macs": (dw + pw) * area, "ratio": (dw + pw) / std}
    fig, ax = _canvas(8.0, 2.95, "Standard vs depthwise-separable convolution")
    u = 0.6 / max(k, 3)  # inches per kernel cell
    panels = [
        ("each filter sees all channels", k, m, n, "conv", f"{n} filters of {k}×{k}×{m}", std),
        ("depthwise: one filter per channel", k, 1, m, "dwconv", f"{m} filters of {k}×{k}×1", dw),
        ("pointwise: 1×1 convolution", 1, m, n, "conv1x1", f"{n} filters of 1×1×{m}", pw),
    ]
    for p, (name, kk, depth, count, kind, what, params) in enumerate(panels):
        cx = 1.3 + 2.7 * p
        _text(ax, (cx, 2.45), name)
        d = min(0.45, 0.03 + 0.012 * depth)  # the depth drawn for the channels of one filter
        x0 = cx - 0.7 - kk * u / 2
        for c in range(3):  # three filters drawn, the rest implied
            _slab(ax, x0 + 0.3 * c, 1.45 - 0.1 * c, kk * u, kk * u, d, kind, grid=kk, zorder=1 + c)
        _text(ax, (x0 + 0.7 + kk * u + d / 1.41, 1.6), f"… ×{count}", FONT, ha="left")
        _text(ax, (cx, 0.98), what)
        _text(ax, (cx, 0.75), f"{params:,} weights")
        _text(ax, (cx, 0.52), f"{params * area / 1e6:.2f} M multiply-adds on {size}×{size}")
    _text(ax, (1.3, 2.7), "standard convolution", FONT)
    _text(ax, (5.35, 2.7), "depthwise-separable convolution", FONT)
    ax.plot([2.65, 2.65], [0.45, 2.8], color="#999999", lw=0.8, ls="--")
    _arrow(ax, (5.5, 1.75), (5.8, 1.75))
    _text(ax, (5.65, 1.95), "then")
    ratio = f"({dw:,} + {pw:,}) / {std:,} = 1/{n} + 1/{k * k} = {stated['ratio']:.3f}"
    _text(ax, (4.0, 0.15), f"separable / standard, in weights and in multiply-adds: {ratio}", FONT)
    return fig, stated


def inverted_residual(in_channels: int = 24, expansion: int = 6, stride: int = 1, out_channels: int | None = None):
    """MobileNetV2's inverted residual: narrow -> wide -> narrow, the skip between the narrow ends.

    1×1 expansion to ``in_channels * expansion`` + BN + ReLU6 (left out when ``expansion == 1``), 3×3
    depthwise + BN + ReLU6, 1×1 linear projection + BN (no activation). The skip is there when
    ``stride == 1`` and the output has as many channels as the input. The grey bars' widths are
    proportional to the channels. ``stated``: ``channels`` (``[in, hidden, hidden, out]``),
    ``in_channels``, ``hidden_channels``, ``out_channels``, ``residual`` (bool).
    """
    cin, e = _positive_int("in_channels", in_channels), _positive_int("expansion", expansion)
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    cout = cin if out_channels is None else _positive_int("out_channels", out_channels)
    hidden, residual = cin * e, stride == 1 and cin == cout
    bar = lambda c, name: (f"{name}{c} ch", 0.6 + 2.0 * c / max(hidden, cin, cout))  # noqa: E731
    items = [bar(cin, "x: ")]
    if e > 1:
        items += [[_conv(1, cin, hidden), ("BN", "norm"), ("ReLU6", "act")], bar(hidden, "")]
    items += [[_conv(3, hidden, hidden, True, stride), ("BN", "norm"), ("ReLU6", "act")], bar(hidden, "")]
    items += [[_conv(1, hidden, cout), ("BN", "norm")], *(["+"] if residual else []), bar(cout, "out: ")]
    height = 0.5 * len(items) + 0.1
    fig, ax = _canvas(5.6, height, "Inverted residual block (MobileNetV2)")
    boxes = _column(ax, 2.4, height - 0.3, items)
    proj = boxes[-3 if residual else -2]
    _text(ax, (proj.right[0] + 0.1, proj.y), "linear:\nno ReLU", ha="left")
    if e > 1:
        _text(ax, (boxes[2].right[0] + 0.1, boxes[2].y), f"expanded ×{e}", ha="left")
    if residual:
        _bypass(ax, boxes[0], boxes[-2], 4.75, "identity")
    else:
        _text(ax, (4.7, boxes[len(items) // 2].y), f"no skip:\n{'stride 2' if stride == 2 else 'in ≠ out'}")
    stated = {"channels": [cin, hidden, hidden, cout], "in_channels": cin, "hidden_channels": hidden}
    return fig, {**stated, "out_channels": cout, "residual": residual}


def mbconv(
    in_channels: int = 40,
    expansion: int = 6,
    kernel: int = 5,
    se_ratio: float = 0.25,
    stride: int = 1,
    out_channels: int | None = None,
):
    """EfficientNet's MBConv block with squeeze-and-excitation (torchvision's ``MBConv``).

    1×1 expansion + BN + SiLU (left out when ``expansion == 1``), k×k depthwise + BN + SiLU,
    squeeze-and-excitation (global average pool, 1×1 conv to the squeeze width, SiLU, 1×1 conv back,
    sigmoid, channel-wise scale), 1×1 projection + BN (no activation), stochastic depth on the residual
    branch and the skip (when ``stride == 1`` and in == out). The squeeze width is computed from the
    block's *input* channels, ``max(1, int(in_channels * se_ratio))``, as torchvision does.
    ``stated``: ``in_channels``, ``expanded_channels``, ``squeeze_channels``, ``out_channels``,
    ``kernel``, ``residual``.
    """
    cin, e = _positive_int("in_channels", in_channels), _positive_int("expansion", expansion)
    k = _positive_int("kernel", kernel)
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    if not 0 < se_ratio <= 1:
        raise ValueError(f"se_ratio must be in (0, 1], got {se_ratio!r}")
    cout = cin if out_channels is None else _positive_int("out_channels", out_channels)
    hidden, sq, residual = cin * e, max(1, int(cin * se_ratio)), stride == 1 and cin == cout
    top = [(f"x: {cin} channels", 1.6)]
    top += [[_conv(1, cin, hidden), ("BN", "norm"), ("SiLU", "act")]] if e > 1 else []
    top += [[_conv(k, hidden, hidden, True, stride), ("BN", "norm"), ("SiLU", "act")]]
    bottom = ["×", [_conv(1, hidden, cout), ("BN", "norm")]]
    bottom += [[("stochastic depth", "reg")], "+"] if residual else []
    bottom += [(f"output: {cout} channels", 1.6)]
    se = [("global avg pool", "pool"), _conv(1, hidden, sq), ("SiLU", "act"), _conv(1, sq, hidden), ("sigmoid", "act")]
    height = 0.5 * (len(top) + len(bottom) - 2) + 0.42 * (len(se) - 1) + 1.22 + 0.35
    fig, ax = _canvas(6.7, height, "MBConv block with squeeze-and-excitation (EfficientNet)")
    x, xs = 2.25, 5.25
    upper = _column(ax, x, height - 0.3, top)
    se_boxes = [_row(ax, xs, upper[-1].y - 0.62 - 0.42 * i, [part]) for i, part in enumerate(se)]
    lower = _column(ax, x, se_boxes[-1].y, bottom)
    _arrow(ax, upper[-1].bottom, lower[0].top)
    branch = (x, upper[-1].bottom[1] - 0.15)
    ax.plot(*branch, "o", color=LINE, ms=3)
    _arrow(ax, branch, (xs, branch[1]), se_boxes[0].top)
    for a, b in zip(se_boxes, se_boxes[1:]):
        _arrow(ax, a.bottom, b.top)
    _arrow(ax, se_boxes[-1].left, lower[0].right)
    frame_h = se_boxes[0].y - se_boxes[-1].y + 0.6
    ax.add_patch(
        FancyBboxPatch(
            (xs - 1.25, se_boxes[-1].y - 0.3), 2.5, frame_h, boxstyle="round,pad=0,rounding_size=0.08",
            fc="none", ec=PALETTE["se"][1], ls="--", lw=1.2,
        )
    )  # fmt: skip
    _text(ax, (xs, se_boxes[-1].y - 0.45), f"squeeze-and-excitation:\nsqueeze to {sq} = {cin} × {se_ratio:g} channels")
    if residual:
        _bypass(ax, upper[0], lower[-2], min(b.left[0] for b in upper + lower) - 0.3, "identity")
    stated = {"in_channels": cin, "expanded_channels": hidden, "squeeze_channels": sq, "out_channels": cout}
    return fig, {**stated, "kernel": k, "residual": residual}


def compound_scaling(alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15, phi: float = 1, base_layers: int = 5):
    """Tan & Le (2019) Fig. 2: a baseline network, scaled in width, depth, resolution, and all three.

    Each layer is a slab (its front width: the channels; its depth: the resolution); the input image's size
    follows the resolution. Depth d = α^φ, width w = β^φ, resolution r = γ^φ; FLOPs grow as d·w²·r²,
    about 2^φ for α·β²·γ² ≈ 2. Drawn to scale. ``stated``: ``depth``, ``width``, ``resolution`` (the
    multipliers), ``flops`` (α·β²·γ²)^φ, ``layers`` (baseline and deeper layer counts, ``round(base_layers
    * d)``) and ``panel_flops`` (the FLOPs factor of each of the five panels).
    """
    for name, v in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not 1 <= v <= 2:
            raise ValueError(f"{name} must be between 1 and 2, got {v!r}")
    if not 0 <= phi <= 4:
        raise ValueError(f"phi must be between 0 and 4, got {phi!r}")
    n0 = _positive_int("base_layers", base_layers)
    if not 2 <= n0 <= 6:
        raise ValueError(f"base_layers must be between 2 and 6, got {n0}")
    d, w, r = alpha**phi, beta**phi, gamma**phi
    deep = round(n0 * d)
    if deep > 14 or w * r > 2.4:
        raise ValueError(f"phi={phi} scales the network beyond what the figure can draw; use a smaller phi")
    panels = [  # caption, note, layers, width, resolution
        ("(a) baseline", "", n0, 1, 1),
        ("(b) wider", rf"$w = \beta^\phi$ = {w:.2f}", n0, w, 1),
        ("(c) deeper", rf"$d = \alpha^\phi$ = {d:.2f}", deep, 1, 1),
        ("(d) higher resolution", rf"$r = \gamma^\phi$ = {r:.2f}", n0, 1, r),
        ("(e) compound", rf"$d \cdot w^2 \cdot r^2$ = {d * w**2 * r**2:.2f}", deep, w, r),
    ]
    pitch = min(0.2, 2.6 / deep)
    height = 1.4 + pitch * (deep - 1) + 0.07 + 0.42 * r / math.sqrt(2) + 0.25
    fig, ax = _canvas(8.0, height, f"Compound scaling (φ = {phi:g})")
    flops, accent = [], PALETTE["pool"][1]
    for p, (name, note, layers, ww, rr) in enumerate(panels):
        cx = 0.8 + 1.6 * p
        side, front, depth = 0.6 * rr, 0.55 * ww, 0.42 * rr
        image = _slab(ax, cx - side / 2 - depth / 2.8, 1.1, side, 0.04, depth, "io")  # the input image
        _text(ax, (cx, 0.92), f"{round(224 * rr)}×{round(224 * rr)}")
        left, top = cx - front / 2 - depth / 2.8, 1.4 + (layers - 1) * pitch + 0.07
        for i in range(layers):
            _slab(ax, left, 1.4 + i * pitch, front, 0.07, depth, "conv")
        if ww != 1:  # the scaled dimensions, marked
            _arrow(ax, (left, 1.3), (left + front, 1.3), color=accent, style="<|-|>")
        if layers != n0:
            _arrow(ax, (left - 0.1, 1.4), (left - 0.1, top), color=accent, style="<|-|>")
        if rr != 1:
            end = image.x + side / 2 + depth / math.sqrt(2) + 0.08
            _arrow(ax, (image.x + side / 2 + 0.08, 1.1), (end, 1.1 + depth / math.sqrt(2)), color=accent, style="<|-|>")
        _text(ax, (cx, 0.67), name, FONT)
        _text(ax, (cx, 0.42), note)
        flops.append((layers / n0) * ww**2 * rr**2)
    rule = r"FLOPs grow as $d \cdot w^2 \cdot r^2$: about $2^\phi$ when $\alpha \cdot \beta^2 \cdot \gamma^2 \approx 2$"
    _text(ax, (4.0, 0.12), rule)
    stated = {"depth": d, "width": w, "resolution": r, "flops": (alpha * beta**2 * gamma**2) ** phi}
    return fig, {**stated, "layers": (n0, deep), "panel_flops": flops}


# ---------------------------------------------------------------------------------------- chapter 3 networks
def fcn(input_size: int = 224, num_classes: int = 21):
    """Fully convolutional networks (Long et al. 2015): FCN-32s, FCN-16s and FCN-8s on a VGG backbone.

    The backbone's pools have strides 2 to 32; a 1×1 convolution scores each class on pool5's map (after
    conv6-7), on pool4 and on pool3. FCN-32s upsamples the stride-32 scores ×32; FCN-16s upsamples them ×2,
    adds pool4's scores and upsamples ×16; FCN-8s also adds pool3's after a further ×2 and upsamples ×8.
    Drawn without the paper's padding of 100 and its crops: sizes are exact for an ``input_size`` divisible
    by 32. ``stated``: ``strides`` ``[2, 4, 8, 16, 32]``, ``sizes`` (pool1..pool5), ``input``, ``output``,
    ``num_classes`` and ``upsampling`` (the factors of each variant).
    """
    n, classes = _positive_int("input_size", input_size), _positive_int("num_classes", num_classes)
    if n % 32:
        raise ValueError(f"input_size must be divisible by 32 (five 2×2 pools), got {n}")
    strides = [2**i for i in range(1, 6)]
    sizes = [n // s for s in strides]
    fig, ax = _canvas(8.0, 4.3, f"Fully convolutional network: FCN-32s, 16s and 8s ({n}×{n} input)")
    base, xs = 2.75, [0.6, 1.45, 2.2, 3.05, 4.45, 5.7, 6.45, 7.35]
    names = ["image", *(f"pool{i}" for i in range(1, 6)), "conv6–7", "score"]
    slabs = []
    for i, (x, name) in enumerate(zip(xs, names)):
        h = 1.05 * 0.75 ** min(i, 5)
        kind = "io" if i == 0 else "conv1x1" if name == "score" else "conv"
        slabs.append(_box(ax, (x, base + h / 2), 0.3, h, "", kind))
        s = sizes[min(i, 5) - 1] if i else n
        detail = f"{s}×{s}" + (f"×{classes}" if name == "score" else "") + (f"\n/{strides[min(i, 5) - 1]}" if i else "")
        _text(ax, (x, base + h + 0.1), f"{name}\n{detail}", va="bottom")
        if i:
            _arrow(ax, (slabs[i - 1].right[0], base + 0.14), (slabs[i].left[0], base + 0.14))
    yf, yu, yo = 1.65, 1.02, 0.35
    score, fused = slabs[-1], []
    ax.plot(score.x, yf, "o", color=LINE, ms=3)
    _arrow(ax, (score.x, base), (score.x, yf), style="-")
    prev = (score.x, yf)
    for slab in (slabs[4], slabs[3]):  # ×2, then add pool4's scores; again with pool3's
        up = _box(ax, ((prev[0] + slab.x) / 2, yf), 0.5, 0.28, "×2", "up")
        _arrow(ax, prev, up.right)
        one = _box(ax, (slab.x, 2.25), 0.4, 0.26, "1×1", "conv1x1")
        _arrow(ax, (slab.x, base), one.top)
        fused.append(_op(ax, (slab.x, yf), "+"))
        _arrow(ax, one.bottom, fused[-1].top)
        _arrow(ax, up.left, fused[-1].right)
        prev = fused[-1].left
    outputs = [((score.x, yf), 32, "32s"), (fused[0].bottom, 16, "16s"), (fused[1].bottom, 8, "8s")]
    for start, factor, name in outputs:
        up = _box(ax, (start[0], yu), 0.7, 0.28, f"×{factor} up", "up")
        _arrow(ax, start, up.top)
        out = _box(ax, (start[0], yo), 0.95, 0.42, f"FCN-{name}\n{n}×{n}×{classes}", "io", SMALL)
        _arrow(ax, up.bottom, out.top)
    legend = "1×1: score the classes\n×2: transposed conv\n  (learned, bilinear init)\n×8, ×16, ×32: bilinear"
    _text(ax, (0.15, 1.05), legend, ha="left", linespacing=1.5)
    stated = {"strides": strides, "sizes": sizes, "input": n, "output": n, "num_classes": classes}
    return fig, {**stated, "upsampling": {"32s": [32], "16s": [2, 16], "8s": [2, 2, 8]}}


def _unet_sizes(n: int, depth: int):
    """The sizes of the valid U-Net for an ``n`` × ``n`` tile, or the first level whose pool gets an odd size."""
    down, size = [], n
    for level in range(depth + 1):
        down.append([size, size - 2, size - 4])
        if size - 4 < 1:
            return None, level
        if level < depth:
            if (size - 4) % 2:
                return None, level
            size = (size - 4) // 2
    up, crops, size = [], [], down[-1][-1]
    for level in reversed(range(depth)):
        size *= 2
        crops.append((down[level][-1], size))
        up.append([size, size - 2, size - 4])
        size -= 4
        if size < 1:
            return None, level
    return (down, up, crops), None


def unet(input_size: int = 572, depth: int = 4, base_channels: int = 64, out_classes: int = 2, in_channels: int = 1):
    """U-Net (Ronneberger et al. 2015, Fig. 1): the U of valid 3×3 convolutions with every size written.

    Each bar is a feature map (its channels above, its side in pixels below); at each level two 3×3
    valid convolutions + ReLU shrink the map by 2 each, a 2×2 max-pool halves it on the way down, a 2×2
    up-convolution doubles it (and halves the channels) on the way up, where the contracting path's map
    is centre-cropped to the same size and concatenated; a final 1×1 convolution gives ``out_classes``
    maps. ``stated``: ``input``, ``output``, ``channels`` (per level), ``down`` (per level: the three
    sizes, the deepest level last), ``up`` (per level going up: the up-convolution's size, then the two
    convolutions'), ``crops`` (``(from, to)`` per level going up), ``out_classes`` and ``conv_layers``
    (3×3, up- and 1×1 convolutions: 23 for the paper's network).
    """
    n, depth = _positive_int("input_size", input_size), _positive_int("depth", depth)
    base, classes = _positive_int("base_channels", base_channels), _positive_int("out_classes", out_classes)
    cin = _positive_int("in_channels", in_channels)
    if depth > 5:
        raise ValueError(f"depth must be between 1 and 5 to fit the drawing, got {depth}")
    sizes, bad = _unet_sizes(n, depth)
    if sizes is None:
        valid = [m for m in range(max(1, n - 64), n + 65) if _unet_sizes(m, depth)[0] is not None]
        near = min(valid, key=lambda m: abs(m - n)) if valid else "above 100"
        raise ValueError(
            f"input_size {n} does not fit a valid U-Net of depth {depth}: at level {bad} a feature map is odd "
            f"before a 2×2 max-pool or shrinks to nothing; the nearest size that works is {near}"
        )
    down, up, crops = sizes
    channels = [base * 2**i for i in range(depth + 1)]
    heights = [0.85 * 0.72**i for i in range(depth + 1)]
    ys = [0.0]  # level centres, relative to level 0
    for i in range(depth):
        ys.append(ys[-1] - heights[i] / 2 - 0.55 - heights[i + 1] / 2)
    legend_top = ys[min(1, depth)] - heights[min(1, depth)] / 2 - 0.35  # under level 1, left of level 2
    lowest = min(ys[-1] - heights[-1] / 2 - 0.3, legend_top - 1.45)
    height = 0.3 + heights[0] / 2 - lowest
    ys = [height - 0.3 - heights[0] / 2 + y for y in ys]
    legend_top += height - 0.3 - heights[0] / 2
    fig, ax = _canvas(8.0, height, f"U-Net: {n}×{n} input tile → {up[-1][-1]}×{up[-1][-1]} output map")
    slot = min(0.45, 6.75 / (4 * depth + 3))
    x0 = 0.55 + (6.75 - slot * (4 * depth + 3)) / 2
    bar_w = lambda c: 0.05 + 0.025 * math.log2(max(c, base) / base)  # noqa: E731
    colors = {k: PALETTE[k][1] for k in ("conv", "pool", "up", "conv1x1")}
    colors["copy"] = "#707070"

    def bar(s, level, c, size, kind="conv", label_side=(0, 0), double=False):
        """Bar at slot ``s`` of ``level``; label_side (channels, size): -1 left of the bar, 1 right, 0 centred."""
        x, h, w = x0 + s * slot, heights[level], bar_w(c // 2 if double else c)
        if double:  # the cropped copy and the up-convolution's output, concatenated
            _box(ax, (x - w / 2, ys[level]), w, h, "", "io")
            _box(ax, (x + w / 2, ys[level]), w, h, "", "up")
            w *= 2
        else:
            _box(ax, (x, ys[level]), w, h, "", kind)
        for text, side, yy, va in ((c, label_side[0], ys[level] + h / 2 + 0.04, "bottom"),
                                   (size, label_side[1], ys[level] - h / 2 - 0.04, "top")):  # fmt: skip
            ha = {-1: "right", 0: "center", 1: "left"}[side]
            _text(ax, (x + side * 0.03, yy), str(text), ha=ha, va=va)
        return _Box(x, ys[level], w, h)

    def convs(boxes, level):
        for a, b in zip(boxes, boxes[1:]):
            _arrow(ax, a.right, b.left, color=colors["conv"])

    lefts = []
    for level in range(depth + 1):  # contracting path and the bottom
        s, c = 2 * level, channels[level]
        first = bar(s, level, cin if level == 0 else channels[level - 1], down[level][0], "io", (-1 if level else 0, 0))
        sides = (0, 1) if level < depth else (1, 0)  # an arrow leaves below (max pool) or above (up-conv)
        group = [first, bar(s + 1, level, c, down[level][1]), bar(s + 2, level, c, down[level][2], "conv", sides)]
        convs(group, level)
        if level:
            _arrow(ax, lefts[-1][-1].bottom, first.top, color=colors["pool"])
        lefts.append(group)
    prev = lefts[-1][-1]
    for i, level in enumerate(reversed(range(depth))):  # expanding path
        s, c = 2 * depth + 2 + 2 * i, channels[level]
        cat = bar(s, level, 2 * c, up[i][0], label_side=(0, -1), double=True)
        last = bar(s + 2, level, c, up[i][2], "conv", (1 if level else 0, 0))
        group = [cat, bar(s + 1, level, c, up[i][1]), last]
        convs(group, level)
        _arrow(ax, prev.top, cat.bottom, color=colors["up"])
        src = lefts[level][-1]
        _arrow(ax, src.right, cat.left, color=colors["copy"])
        _text(ax, ((src.right[0] + cat.left[0]) / 2, ys[level] + 0.04), f"{crops[i][0]}→{crops[i][1]}", va="bottom")
        prev = last
    out = bar(4 * depth + 3, 0, classes, up[-1][-1], "io")
    _arrow(ax, prev.right, out.left, color=colors["conv1x1"])
    legend = [("conv", "conv 3×3, ReLU"), ("copy", "copy and crop"), ("pool", "max pool 2×2"),
              ("up", "up-conv 2×2"), ("conv1x1", "conv 1×1")]  # fmt: skip
    for i, (key, text) in enumerate(legend):
        yy = legend_top - 0.22 * i
        _arrow(ax, (0.15, yy), (0.5, yy), color=colors[key], lw=1.6)
        _text(ax, (0.58, yy), text, ha="left")
    _text(ax, (0.15, legend_top - 1.05), "above a map: channels\nbelow: its side in pixels", ha="left", va="top")
    stated = {"input": n, "output": up[-1][-1], "channels": channels, "down": down, "up": up, "crops": crops}
    return fig, {**stated, "out_classes": classes, "conv_layers": 2 * (depth + 1) + 3 * depth + 1}


def _number(v) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.3g}"


def transposed_conv(x=((0, 1), (2, 3)), kernel=((0, 1), (2, 3)), stride: int = 1, padding: int = 0):
    """The transposed convolution as a sliding picture (d2l's figure): each input value scales the kernel,
    the copy lands at ``stride`` × its position in the output, and the copies are summed.

    ``x`` and ``kernel`` are small 2-D arrays (at most 4×4). ``padding`` p removes p rows and columns at
    each border of the sum. ``stated``: ``output_size`` ``((h - 1)·s - 2p + kh, (w - 1)·s - 2p + kw)`` and
    ``output`` (the values, a NumPy array equal to ``F.conv_transpose2d``'s).
    """
    x, kernel = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
    if x.ndim != 2 or kernel.ndim != 2 or max(*x.shape, *kernel.shape) > 4 or min(*x.shape, *kernel.shape) < 1:
        raise ValueError(f"x and kernel must be 2-D arrays of at most 4×4, got shapes {x.shape} and {kernel.shape}")
    s, p = _positive_int("stride", stride), _positive_int("padding", padding, 0)
    (h, w), (kh, kw) = x.shape, kernel.shape
    full_h, full_w = (h - 1) * s + kh, (w - 1) * s + kw
    if full_h - 2 * p < 1 or full_w - 2 * p < 1:
        raise ValueError(f"padding {p} removes the whole {full_h}×{full_w} output")
    partial = np.zeros((h, w, full_h, full_w))
    for i in range(h):
        for j in range(w):
            partial[i, j, i * s : i * s + kh, j * s : j * s + kw] = x[i, j] * kernel
    full = partial.sum(axis=(0, 1))
    out = full[p : full_h - p, p : full_w - p]
    gap, numbers = 0.42, [_number(v) for v in (*x.ravel(), *kernel.ravel(), *partial.ravel())]
    cell = min(0.32, (MAX_WIDTH - 2.4 - (w - 1) * gap) / (w * full_w + full_w + max(w, kw)))
    longest = max(sum(0.071 if c.isdigit() else 0.045 for c in text) for text in numbers)  # inches at 8 pt
    size = FONT if cell >= longest * FONT / SMALL + 0.05 else SMALL
    if cell < longest + 0.05:
        raise ValueError(
            f"a {h}×{w} input with a {kh}×{kw} kernel and stride {s} is too large to draw with these numbers: "
            "take a smaller input or kernel, a smaller stride, or shorter values"
        )
    block_w, block_h = w * full_w * cell + (w - 1) * gap, h * (full_h * cell + 0.22) + (h - 1) * gap
    left_w = max(w, kw) * cell
    width = 0.3 + left_w + 0.8 + block_w + 0.7 + full_w * cell + 0.55
    height = max(block_h, (h + kh) * cell + 0.9) + 0.75
    fig, ax = _canvas(width, height, f"Transposed convolution (stride {s}, padding {p})")
    up, empty = PALETTE["up"][0], "white"
    top = height - 0.25
    _text(ax, (0.3 + left_w / 2, top), "input", FONT)
    _grid(ax, (0.3, top - 0.15), [[_number(v) for v in r] for r in x], cell, size=size)
    ktop = top - 0.15 - h * cell - 0.35
    _text(ax, (0.3 + left_w / 2, ktop), "kernel", FONT)
    _grid(ax, (0.3, ktop - 0.15), [[_number(v) for v in r] for r in kernel], cell, [[up] * kw] * kh, size=size)
    bx = 0.3 + left_w + 0.8
    _arrow(ax, (bx - 0.6, height / 2 - 0.15), (bx - 0.15, height / 2 - 0.15))
    gh = full_h * cell
    for i in range(h):
        for j in range(w):
            gx, gy = bx + j * (full_w * cell + gap), top - 0.22 - i * (gh + 0.22 + gap)
            placed = np.zeros((full_h, full_w), bool)
            placed[i * s : i * s + kh, j * s : j * s + kw] = True
            vals = np.where(placed, np.vectorize(_number)(partial[i, j]), "").tolist()
            fills = np.where(placed, up, empty).tolist()
            _text(ax, (gx + full_w * cell / 2, gy + 0.11), f"{_number(x[i, j])} × kernel")
            _grid(ax, (gx, gy), vals, cell, fills, size=size)
            if j:
                _text(ax, (gx - gap / 2, gy - gh / 2), "+", 11)
            if i:
                _text(ax, (gx + full_w * cell / 2, gy + 0.22 + gap / 2), "+", 11)
    ox = bx + block_w + 0.7
    _text(ax, (ox - 0.35, height / 2 - 0.15), "=", 12)
    kept = [[p <= a < full_h - p and p <= b < full_w - p for b in range(full_w)] for a in range(full_h)]
    grey = [["white" if k else "#eeeeee" for k in r] for r in kept]
    colors = [[TEXT if k else "#595959" for k in r] for r in kept]
    oy = height / 2 - 0.15 + full_h * cell / 2
    _grid(ax, (ox, oy), [[_number(v) for v in r] for r in full], cell, grey, colors, size)
    _text(ax, (ox + full_w * cell / 2, oy + 0.15), f"output {out.shape[0]}×{out.shape[1]}", FONT)
    if p:
        ax.add_patch(Rectangle((ox + p * cell, oy - (full_h - p) * cell), out.shape[1] * cell, out.shape[0] * cell,
                               fc="none", ec=PALETTE["up"][1], lw=2.2))  # fmt: skip
        _text(ax, (ox + full_w * cell / 2, oy - gh - 0.15), f"padding {p}: border cropped")
    formula = f"({h} − 1)·{s} − 2·{p} + {kh} = {out.shape[0]}"
    _text(ax, (width / 2, 0.15), f"output size (n − 1)·s − 2p + k: {formula}", FONT)
    return fig, {"output_size": out.shape, "output": out}


def _texture(n: int) -> np.ndarray:
    """A seeded, smooth grey-level texture ``n × n`` (blobs), the default picture for :func:`overlap_tile`."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.normal(size=(n, n)), n / 40)
    return np.tanh(2 * img / img.std()) + 0.15 * gaussian_filter(rng.normal(size=(n, n)), 1.5) / 0.2


def overlap_tile(input_tile: int = 572, output_tile: int = 388, image=None):
    """U-Net's overlap-tile strategy: each output tile is predicted from a larger input tile around it.

    The image (``image``, a 2-D array; default a generated texture two output tiles wide) is extended by
    mirroring at its borders by the margin (``(input_tile - output_tile) / 2``, 92 for U-Net) and cut into
    output tiles; the first tile's input tile, its output tile and the next tile's input tile are drawn.
    ``stated``: ``input_tile``, ``output_tile``, ``margin``, ``overlap`` (of neighbouring input tiles),
    ``image_size`` and ``tiles`` (rows, columns).
    """
    a, b = _positive_int("input_tile", input_tile), _positive_int("output_tile", output_tile)
    if b >= a or (a - b) % 2:
        raise ValueError(f"input_tile must exceed output_tile by an even number of pixels, got {a} and {b}")
    img = _texture(2 * b) if image is None else np.asarray(image, dtype=float)
    if img.ndim != 2 or min(img.shape) < 2:
        raise ValueError(f"image must be a 2-D array (H, W), got shape {img.shape}")
    m, (ih, iw) = (a - b) // 2, img.shape
    rows, cols = math.ceil(ih / b), math.ceil(iw / b)
    padded = np.pad(img, ((m, rows * b - ih + m), (m, cols * b - iw + m)), mode="symmetric")
    fig, ax = _canvas(7.6, 4.6, "Overlap-tile strategy: a mirrored border and overlapping input tiles")
    (ph, pw), u = padded.shape, 4.3 / max(padded.shape)  # inches per pixel
    x0, y0 = 0.15, 4.45  # the padded image's top-left corner

    def rect(px, py, w, h=None, **kw):  # a rectangle in pixel coordinates of the padded image
        h = w if h is None else h
        ax.add_patch(Rectangle((x0 + px * u, y0 - (py + h) * u), w * u, h * u, **{"fc": "none", "zorder": 2, **kw}))

    ax.imshow(padded, cmap="gray", extent=(x0, x0 + pw * u, y0 - ph * u, y0), zorder=0)
    rect(0, 0, pw, ph, fc=(1, 1, 1, 0.35), zorder=0.5)  # the mirrored border lightened, then the image drawn again
    ax.imshow(img, cmap="gray", extent=(x0 + m * u, x0 + (m + iw) * u, y0 - (m + ih) * u, y0 - m * u), zorder=1,
              vmin=padded.min(), vmax=padded.max())  # fmt: skip
    ax.set(aspect="auto", xlim=(0, 7.6), ylim=(0, 4.6))
    for r in range(rows):
        for c in range(cols):
            rect(m + c * b, m + r * b, b, ec="white", lw=0.6, ls=":")
    rect(m, m, iw, ih, ec="#d62728", lw=1.6, ls="--")
    rect(m, m, b, fc=(0.95, 0.76, 0.2, 0.4), ec="#b8860b", lw=2)
    if cols > 1:
        rect(b, 0, a, ec=PALETTE["conv1x1"][1], lw=2, ls="--")
    rect(0, 0, a, ec=PALETTE["conv"][1], lw=2.2)
    ym = y0 - (m + b / 2) * u
    _arrow(ax, (x0, ym), (x0 + m * u, ym), color="white", lw=1.5, style="<|-|>", zorder=3)
    _text(ax, (x0 + m * u / 2, ym - 0.18), str(m), bbox={"fc": "white", "ec": "none", "pad": 1}, zorder=3)
    legend = [
        (PALETTE["conv"][1], "-", "none", f"input tile {a}×{a}: what the network sees"),
        ("#b8860b", "-", (0.95, 0.76, 0.2, 0.4), f"output tile {b}×{b}: what it predicts"),
        (PALETTE["conv1x1"][1], "--", "none", f"next input tile: overlaps by {a - b} px"),
        ("#d62728", "--", "none", f"image border ({ih}×{iw})"),
        ("none", "-", (1, 1, 1, 0.35), f"mirrored border, {m} px wide"),
    ]
    for i, (edge, ls, fill, text) in enumerate(legend):
        yy = 4.1 - 0.5 * i
        if i == len(legend) - 1:  # a sample of the lightened mirrored border
            ax.imshow(padded[:m, :m], cmap="gray", extent=(4.7, 5.0, yy - 0.12, yy + 0.12))
        ax.add_patch(Rectangle((4.7, yy - 0.12), 0.3, 0.24, fc=fill, ec=edge, lw=2, ls=ls))
        _text(ax, (5.1, yy), text, ha="left", va="center")
    _text(ax, (4.7, 1.4), f"margin {m} = ({a} − {b}) / 2 on each side", ha="left")
    _text(ax, (4.7, 1.1), f"{rows}×{cols} output tiles cover the image", ha="left")
    stated = {"input_tile": a, "output_tile": b, "margin": m, "overlap": a - b}
    return fig, {**stated, "image_size": (ih, iw), "tiles": (rows, cols)}


# ------------------------------------------------------------------------------- chapter 4 two-stage detectors
def rcnn_family(
    regions: int = 2000,
    warp: int = 227,
    stride: int = 16,
    proposals: int = 1000,
    anchors_per_location: int = 3,
    roi_size: int = 7,
    representation: int = 1024,
    num_classes: int = 91,
):
    """Two-stage detectors, one row each: R-CNN, Fast R-CNN and Faster R-CNN with FPN (torchvision's).

    R-CNN warps each of ``regions`` selective-search regions to ``warp`` × ``warp`` pixels and runs the
    CNN on every one. Fast R-CNN runs the CNN once (a feature map at ``stride``) and RoI-pools each region
    to ``roi_size`` × ``roi_size``. The third row is torchvision's ``fasterrcnn_resnet50_fpn``, not the 2015
    paper's single-map VGG16 model: Faster R-CNN (Ren et al., 2015) on a feature pyramid (FPN, Lin et al.,
    2017) with RoI Align (He et al., 2017). Its region proposal network (RPN) scores
    ``anchors_per_location`` anchors at every location of the shared features (an objectness and four box
    deltas each) and keeps ``proposals``; RoI Align cuts them out, a head of two fully connected layers
    of ``representation`` units gives ``num_classes`` scores and four box deltas per class. A stacked box
    runs once per region, a single box once per image. ``stated``: the arguments, ``rpn_outputs``
    (objectness and box-delta channels of the RPN's 1×1 convolutions), ``box_outputs`` (``4 *
    num_classes``), ``fc_in`` (inputs of the first fully connected layer per channel of the pooled map,
    ``roi_size²``) and ``per_region`` (the blocks that run once per region, per detector).
    """
    regions, warp = _positive_int("regions", regions), _positive_int("warp", warp)
    stride, proposals = _positive_int("stride", stride), _positive_int("proposals", proposals)
    k, roi = _positive_int("anchors_per_location", anchors_per_location), _positive_int("roi_size", roi_size)
    rep, classes = _positive_int("representation", representation), _positive_int("num_classes", num_classes, 2)
    if max(regions, proposals) > 99_999 or max(warp, rep, classes) > 9_999 or k > 99 or roi > 99 or stride > 999:
        raise ValueError("an argument is too large to write in the drawing")
    per_region = {
        "R-CNN": ["warp", "CNN", "SVMs + box regression"],
        "Fast R-CNN": ["RoI pooling", "fc layers", "softmax + box regression"],
        "Faster R-CNN": ["RoI Align", "box head", "predictor"],
    }
    rows = [  # (title, main line: (text, kind, repeated), side input: (text, kind, column) or None, count)
        (
            "R-CNN (Girshick et al. 2014): a CNN for every region",
            [("image", "io", False), (f"selective search\n~{regions:,} regions", "reg", False),
             (f"warp each region\nto {warp}×{warp}", "up", True), ("CNN", "conv", True),
             ("SVM per class\n+ box regression", "fc", True)],
            None, regions,
        ),
        (
            "Fast R-CNN (Girshick 2015): one CNN pass, RoI pooling of each region",
            [("image", "io", False), (f"CNN, once:\nfeature map /{stride}", "conv", False),
             (f"RoI pooling\n{roi}×{roi}", "pool", True), ("fc, fc", "fc", True),
             ("softmax\n+ box regression", "fc", True)],
            (f"selective search\n~{regions:,} regions", "reg"), regions,
        ),
        (
            "Faster R-CNN with FPN and RoI Align (torchvision): an RPN replaces selective search",
            [("image", "io", False), ("backbone + FPN,\nonce", "conv", False),
             (f"RoI Align\n{roi}×{roi}", "pool", True), (f"fc {rep}, fc {rep}", "fc", True),
             (f"{classes} class scores\n+ {4 * classes} box deltas", "fc", True)],
            (f"RPN: {k} anchor{'s' if k > 1 else ''} per location,\nobjectness + 4 deltas each", "conv"), proposals,
        ),
    ]  # fmt: skip
    widths, gap, x_left = [0.75, 1.5, 1.45, 1.3, 1.55], 0.28, 0.2
    xs = [x_left + sum(widths[:i]) + gap * i + widths[i] / 2 for i in range(5)]
    height = 0.15 + 1.2 + 2 * 1.72 + 0.45
    fig, ax = _canvas(MAX_WIDTH, height, "Two-stage detectors: from R-CNN to Faster R-CNN")
    top, h = height - 0.15, 0.44
    for r, (title, line, side, count) in enumerate(rows):
        _text(ax, (x_left, top - 0.12), title, FONT, ha="left")
        y = top - 0.66
        boxes = []
        for i, (text, kind, repeated) in enumerate(line):
            label = f"{text}\n×{count:,}" if repeated else text
            box_h = h + (0.14 if repeated else 0)
            if repeated:  # a stack: the block runs once per region
                for d in (0.1, 0.05):
                    _box(ax, (xs[i] + d, y + d), widths[i], box_h, "", kind)
            boxes.append(_box(ax, (xs[i], y), widths[i], box_h, label, kind))
            if i:
                _arrow(ax, boxes[i - 1].right, boxes[i].left)
        if side is not None:
            ys = y - 0.7
            if r == 1:  # selective search works on the image
                src = _box(ax, (xs[1], ys), widths[1], h, side[0], side[1])
                _arrow(ax, boxes[0].bottom, (boxes[0].x, ys), src.left)
            else:  # the RPN works on the shared features, then keeps the best proposals
                w = max(widths[1] + 0.7 + gap, _width(side[0]))
                src = _box(ax, (xs[1] - widths[1] / 2 + w / 2, ys), w, h, side[0], side[1])
                _arrow(ax, boxes[1].bottom, (boxes[1].x, src.top[1]))
            _arrow(ax, src.right, (boxes[2].x + 0.25, ys), (boxes[2].x + 0.25, boxes[2].bottom[1]))
            label = f"{count:,} regions" if r == 1 else f"top {count:,}\nproposals"
            _text(ax, (boxes[2].x + 0.32, (ys + boxes[2].bottom[1]) / 2 - 0.02), label, ha="left")
            top = ys - h / 2 - 0.15
        else:
            top = y - h / 2 - 0.25
    legend_y = 0.22
    for d in (0.06, 0.03):
        _box(ax, (0.45 + d, legend_y + d), 0.4, 0.2, "", "io")
    _box(ax, (0.45, legend_y), 0.4, 0.2, "", "io")
    _text(ax, (0.8, legend_y), "stacked: runs once per region", ha="left")
    _box(ax, (3.55, legend_y), 0.4, 0.2, "", "io")
    _text(ax, (3.9, legend_y), "single: runs once per image", ha="left")
    stated = {"regions": regions, "warp": warp, "stride": stride, "proposals": proposals}
    stated |= {"anchors_per_location": k, "rpn_outputs": (k, 4 * k), "roi_size": roi, "fc_in": roi * roi}
    stated |= {"representation": rep, "num_classes": classes, "box_outputs": 4 * classes}
    return fig, {**stated, "per_region": per_region}


# ------------------------------------------------------------------------------- chapter 4 one-stage detectors
def fcos(input_size=(800, 1024), num_classes: int = 80, channels: int = 256, num_convs: int = 4,
         backbone_channels=(512, 1024, 2048)):  # fmt: skip
    """FCOS (Tian et al., 2019): backbone maps C3-C5, the feature pyramid P3-P7, and the head that every
    level shares (a classification tower and a regression tower).

    ``input_size`` ``(H, W)`` (or an int) sets the sizes written on every map: each stride-2 layer
    (ResNet's, P6's, P7's, padded) turns a side ``n`` into ``ceil(n / 2)``. ``channels`` are the FPN's and
    the head's, ``backbone_channels`` those of C3-C5 (ResNet-50's by default). Each level's box also
    gives its stride and the range of $\\max(l, t, r, b)$ (pixels) it detects. ``stated``: ``input_size``,
    ``strides`` (8 to 128), ``sizes`` (``(h, w)`` of P3-P7), ``backbone_sizes`` and
    ``backbone_channels`` (C3-C5), ``channels``, ``num_convs``, ``num_classes``, ``head_outputs``
    (per location: classes, box distances, centerness), ``ranges`` and ``locations`` (all levels).
    """
    size = (input_size, input_size) if isinstance(input_size, (int, np.integer)) else tuple(input_size)
    if len(size) != 2:
        raise ValueError(f"input_size must be an int or (H, W), got {input_size!r}")
    height_px, width_px = (_positive_int("input_size", s, 32) for s in size)
    k, c = _positive_int("num_classes", num_classes), _positive_int("channels", channels)
    n_convs = _positive_int("num_convs", num_convs)
    if len(backbone_channels) != 3:
        raise ValueError(f"backbone_channels must give the channels of C3, C4, C5, got {backbone_channels!r}")
    cb = [_positive_int("each backbone channel count", v) for v in backbone_channels]
    sizes, (h, w) = [], (height_px, width_px)
    for level in range(1, 8):  # strides 2 .. 128, every stride-2 layer rounds up
        h, w = (h + 1) // 2, (w + 1) // 2
        if level >= 3:
            sizes.append((h, w))
    strides = [2**i for i in range(3, 8)]
    ranges = [(0 if i == 0 else 4 * s, math.inf if i == 4 else 8 * s) for i, s in enumerate(strides)]
    fig, ax = _canvas(MAX_WIDTH, 4.75, "FCOS: backbone, feature pyramid and shared head")
    ys = [3.65 - 0.66 * i for i in range(5)]  # P3 .. P7 rows
    bw, bx, px, pw = 1.55, 0.85, 3.05, 2.0
    image = _box(ax, (bx, 4.35), bw, 0.4, f"image\n{height_px}×{width_px}×3", "io", SMALL)
    _text(ax, (px, 4.45), "feature pyramid (FPN)", FONT)
    cs = []
    for i in range(3):
        (h, w), prev = sizes[i], image if i == 0 else cs[-1]
        cs.append(_box(ax, (bx, ys[i]), bw, 0.4, f"C{i + 3}: {h}×{w}×{cb[i]}", "conv", SMALL))
        _arrow(ax, prev.bottom, cs[-1].top)
    _text(ax, (bx - 0.12, (image.bottom[1] + cs[0].top[1]) / 2), "ResNet", ha="right")
    ps = []
    for i, ((h, w), s, (lo, hi)) in enumerate(zip(sizes, strides, ranges)):
        reach = f"{lo}–{hi}" if hi != math.inf else f"> {lo}"
        label = f"P{i + 3}: {h}×{w}×{c}, stride {s}\nmax(l,t,r,b): {reach}"
        ps.append(_box(ax, (px, ys[i]), pw, 0.44, label, "io", SMALL))
    for i in range(3):
        _arrow(ax, cs[i].right, ps[i].left)
        _text(ax, ((cs[i].right[0] + ps[i].left[0]) / 2, ys[i] + 0.1), "1×1")
    for i in range(2):  # top-down: the coarser level, upsampled, is added to the finer one
        _arrow(ax, (px - 0.45, ps[i + 1].top[1]), (px - 0.45, ps[i].bottom[1]))
        _text(ax, (px - 0.35, (ps[i + 1].top[1] + ps[i].bottom[1]) / 2), "2× up, +", ha="left")
    for i in (2, 3):  # P6 from P5, P7 from ReLU(P6)
        _arrow(ax, (px + 0.45, ps[i].bottom[1]), (px + 0.45, ps[i + 1].top[1]))
        label = "3×3, stride 2" if i == 2 else "ReLU, 3×3, stride 2"
        _text(ax, (px + 0.55, (ps[i].bottom[1] + ps[i + 1].top[1]) / 2), label, ha="left")
    hx, hw = 6.45, 2.9  # the head's panel
    top, bottom = ys[0] + 0.35, ys[-1] - 0.3
    panel = _box(ax, (hx, (top + bottom) / 2), hw, top - bottom, "", "io")
    _text(ax, (hx, 4.45), "head, shared by P3–P7", FONT)
    for p in ps:
        _arrow(ax, p.right, (panel.left[0], p.y))
    tower = f"{n_convs} × (3×3 conv {c}→{c} | GN | ReLU)"
    cls_tower = _box(ax, (hx, ys[0]), 2.6, 0.4, f"classification tower\n{tower}", "conv", SMALL)
    cls_out = _box(ax, (hx, ys[1]), 2.6, 0.4, f"3×3 conv → {k}\n{k} class scores (sigmoid)", "conv", SMALL)
    reg_tower = _box(ax, (hx, ys[2] - 0.05), 2.6, 0.4, f"regression tower\n{tower}", "conv", SMALL)
    box_out = _box(ax, (hx - 0.68, ys[3] - 0.15), 1.24, 0.4, "3×3 conv → 4\n(l,t,r,b), ReLU", "conv", SMALL)
    ctr_out = _box(ax, (hx + 0.68, ys[3] - 0.15), 1.24, 0.4, "3×3 conv → 1\ncenterness", "conv", SMALL)
    _arrow(ax, cls_tower.bottom, cls_out.top)
    _arrow(ax, reg_tower.bottom, box_out.top)
    _arrow(ax, reg_tower.bottom, ctr_out.top)
    _text(ax, (hx, ys[4] - 0.1), f"per location: {k} + 4 + 1 numbers")
    locations = sum(h * w for h, w in sizes)
    _text(ax, (4.0, 0.3), f"{locations:,} locations on P3–P7; the FPN adds to each level the one above it, "
          "upsampled, before a 3×3 conv")  # fmt: skip
    stated = {"input_size": (height_px, width_px), "strides": strides, "sizes": sizes}
    stated |= {"backbone_sizes": sizes[:3], "backbone_channels": cb, "channels": c, "num_convs": n_convs}
    stated |= {"num_classes": k, "head_outputs": {"classes": k, "box": 4, "centerness": 1}, "ranges": ranges}
    return fig, {**stated, "locations": locations}


def metric_learning(n_classes: int = 500, dim: int = 64):
    """The four ways chapter 5 trains a face embedding, side by side: a Siamese pair with the contrastive
    loss, a triplet with the triplet loss, a softmax classifier over the ``n_classes`` training identities,
    and ArcFace's cosine classifier with an angular margin. Every column runs the same network ``f``
    (shared weights) on its images to ``dim``-dimensional embeddings. ``stated``: ``inputs`` (images per
    comparison, per loss), ``shared_network``, ``dim`` and ``class_vectors`` (the heads' ``(n_classes, dim)``
    weight matrix).
    """
    n, d = _positive_int("n_classes", n_classes, 2), _positive_int("dim", dim)
    columns = {
        "contrastive": (["x₁", "x₂"], "distance d", "½y·d² + ½(1−y)·\nmax(0, m − d)²"),
        "triplet": (["anchor", "pos.", "neg."], "d(a, p), d(a, n)", "max(0, m + d(a,p)\n− d(a,n))"),
        "softmax": (["x"], f"W e + b\n{n} × {d} weights", "cross-entropy\nover identities"),
        "ArcFace": (["x"], f"cos θⱼ = ê · ŵⱼ\n{n} × {d} weights", "s·cos(θ + m) for the true\nidentity, cross-entropy"),
    }
    fig, ax = _canvas(MAX_WIDTH, 3.9, "Four ways to train an embedding f")
    ys = {"title": 3.65, "x": 3.15, "f": 2.5, "e": 1.9, "head": 1.2, "loss": 0.45}
    for i, (name, (inputs, head, loss)) in enumerate(columns.items()):
        cx = 1.0 + 2.0 * i
        _text(ax, (cx, ys["title"]), name, FONT, weight="bold")
        step = 0.62 if len(inputs) == 3 else 0.7
        xs = [cx + (j - (len(inputs) - 1) / 2) * step for j in range(len(inputs))]
        fs = []
        for x, label in zip(xs, inputs):
            image = _box(ax, (x, ys["x"]), 0.56, 0.3, label, "io", SMALL)
            f = _box(ax, (x, ys["f"]), 0.4, 0.3, "f", "conv")
            e = _box(ax, (x, ys["e"]), 0.4, 0.28, "e", "io", SMALL)
            _arrow(ax, image.bottom, f.top)
            _arrow(ax, f.bottom, e.top)
            fs.append(f)
        for a, b in zip(fs, fs[1:]):
            _arrow(ax, a.right, b.left, ls="--", style="-")
        if len(fs) > 1:
            _text(ax, ((xs[0] + xs[1]) / 2, (ys["f"] + ys["e"]) / 2), "shared\nweights")
        head_box = _box(ax, (cx, ys["head"]), 1.8, 0.42, head, "fc" if len(inputs) == 1 else "merge", SMALL)
        for x in xs:
            _arrow(ax, (x, ys["e"] - 0.14), (x if len(xs) > 1 else cx, head_box.top[1]))
        loss_box = _box(ax, (cx, ys["loss"]), 1.8, 0.46, loss, "reg", SMALL)
        _arrow(ax, head_box.bottom, loss_box.top)
    inputs = {name: len(spec[0]) for name, spec in columns.items()}
    return fig, {"inputs": inputs, "shared_network": True, "dim": d, "class_vectors": (n, d)}


# ------------------------------------------------------------------------------------- chapter 6 sequences
GRADIENT = PALETTE["pool"][1]  # backpropagation's arrows and labels: dashed, in red


def _frame(ax, left, bottom, right, top):
    """The outline of a recurrent cell: a rounded, unfilled rectangle (the texts inside keep a white ground)."""
    ax.add_patch(
        FancyBboxPatch(
            (left, bottom), right - left, top - bottom, boxstyle="round,pad=0,rounding_size=0.12", fc="none",
            ec=PALETTE["rnn"][1], lw=1.3, zorder=0,
        )
    )  # fmt: skip


def _dot(ax, xy):
    """A junction: a line that splits in two."""
    ax.plot(*xy, "o", color=LINE, ms=3.5, zorder=3)


def rnn_unrolled(input_size: int = 8, hidden_size: int = 16, steps: int = 4):
    """A vanilla (Elman) RNN, folded (its cell with the loop h feeding back) and unrolled over ``steps``.

    Every step computes hₜ = tanh(W_ih xₜ + b_ih + W_hh hₜ₋₁ + b_hh) with the same weights (PyTorch's
    ``nn.RNN``, D = ``input_size``, H = ``hidden_size``); the output at step t is hₜ, h₀ enters from the
    left. The dashed red row underneath is backpropagation through time: the gradient flows from the last
    step to the first, multiplied by W_hhᵀ (and tanh's derivative) at every step. ``stated``: ``steps``,
    ``parameters`` (of ``nn.RNN(input_size, hidden_size)``: H·(D + H) + 2H), ``weights`` (the shapes of
    ``weight_ih_l0`` and ``weight_hh_l0``) and ``shared_weights``.
    """
    d, h = _positive_int("input_size", input_size), _positive_int("hidden_size", hidden_size)
    n = _positive_int("steps", steps)
    if n > 6:
        raise ValueError(f"steps must be at most 6 to fit the drawing, got {n}")
    if max(d, h) > 9_999:
        raise ValueError("input_size and hidden_size must be below 10,000 to write them in the drawing")
    params = h * (d + h) + 2 * h
    fig, ax = _canvas(MAX_WIDTH, 3.45, f"A recurrent network (Elman RNN), unrolled over {n} step{'s' * (n > 1)}")
    yo, yc, yx = 2.45, 1.7, 0.95  # outputs, cells, inputs
    _text(ax, (4.0, 3.25), r"every step: $h_t = \tanh(W_{ih}\,x_t + b_{ih} + W_{hh}\,h_{t-1} + b_{hh})$, output $h_t$",
          FONT)  # fmt: skip
    shared = (
        rf"the same weights at every step: $W_{{ih}}$ {h}×{d}, $W_{{hh}}$ {h}×{h}, $b_{{ih}}$, $b_{{hh}}$ {h}: "
        f"{params:,} parameters"
    )
    _text(ax, (4.0, 2.95), shared)
    # the folded network: one cell, its output fed back as the next step's h
    fx = 0.6
    out = _box(ax, (fx, yo), 0.5, 0.3, "$h_t$", "io")
    cell = _box(ax, (fx, yc), 0.78, 0.56, "RNN\ncell", "rnn")
    inp = _box(ax, (fx, yx), 0.5, 0.3, "$x_t$", "io")
    _arrow(ax, inp.top, cell.bottom)
    _arrow(ax, cell.top, out.bottom)
    loop_x, dy = cell.right[0] + 0.28, 0.14
    _arrow(ax, (cell.right[0], yc + dy), (loop_x, yc + dy), (loop_x, yc - dy), (cell.right[0], yc - dy))
    _text(ax, (loop_x + 0.06, yc + dy + 0.16), "$h_{t-1}$")
    _text(ax, (1.75, yc), "=", 14)
    # unrolled: h0, then one column per step
    h0 = _box(ax, (2.2, yc), 0.42, 0.3, "$h_0$", "io")
    pitch = min(1.3, (MAX_WIDTH - 0.1 - 2.6) / n)
    xs = [2.6 + pitch * (t + 0.5) for t in range(n)]
    cw = min(1.0, pitch - 0.3)
    prev = h0
    for t, x in enumerate(xs, 1):
        c = _box(ax, (x, yc), cw, 0.56, "", "rnn")
        _text(ax, (x, yc + 0.11), "tanh", FONT)
        _text(ax, (x, yc - 0.12), r"$W_{ih}, W_{hh}$")
        o = _box(ax, (x, yo), 0.5, 0.3, f"$h_{{{t}}}$", "io")
        i = _box(ax, (x, yx), 0.5, 0.3, f"$x_{{{t}}}$", "io")
        _arrow(ax, i.top, c.bottom)
        _arrow(ax, c.top, o.bottom)
        _arrow(ax, prev.right, c.left)
        prev = c
    # backpropagation through time: right to left, under the inputs
    yg = 0.5
    points = [h0.x, *xs]
    for t in range(n, 0, -1):
        _text(ax, (points[t], yg + 0.14), rf"$\partial L / \partial h_{{{t}}}$", color=GRADIENT)
        start = points[t] - 0.3
        _arrow(ax, (start, yg), (points[t - 1] + (0.3 if t > 1 else 0.22), yg), color=GRADIENT, ls="--")
    bptt = (
        r"backpropagation through time: $\partial L / \partial h_t = \partial L_t / \partial h_t + "
        r"W_{hh}^\top\,[(1 - h_{t+1}^2) \odot \partial L / \partial h_{t+1}]$"
    )
    _text(ax, (4.0, 0.13), bptt, color=GRADIENT)
    weights = {"weight_ih_l0": (h, d), "weight_hh_l0": (h, h)}
    return fig, {"steps": n, "parameters": params, "weights": weights, "shared_weights": True}


def _gate_weights(gates: str, h: int, d: int) -> str:
    """The note under a gated cell: its gates (``"i, f, g, o"``) are the row blocks of its weights."""
    k = len(gates.split(", "))
    return f"{gates}: the row blocks of weight_ih_l0 ({k}H × D = {k * h} × {d}) and weight_hh_l0 ({k * h} × {h})"


def lstm_cell(input_size: int = 8, hidden_size: int = 16):
    """The LSTM cell as in PyTorch's ``nn.LSTM`` documentation: inputs xₜ, hₜ₋₁ and cₜ₋₁; four gates i, f,
    g, o (sigmoid, sigmoid, tanh, sigmoid), each a linear map of [xₜ, hₜ₋₁]; the cell state's highway along
    the top, cₜ = f ⊙ cₜ₋₁ + i ⊙ g; and the output hₜ = o ⊙ tanh(cₜ).

    ``stated``: ``gates`` (PyTorch's order, that of the row blocks of the weights), ``activations``,
    ``weight_ih_l0`` (4H × D), ``weight_hh_l0`` (4H × H) and ``parameters`` (of ``nn.LSTM(input_size,
    hidden_size)``).
    """
    d, h = _positive_int("input_size", input_size), _positive_int("hidden_size", hidden_size)
    if max(d, h) > 9_999:
        raise ValueError("input_size and hidden_size must be below 10,000 to write them in the drawing")
    params = 4 * (h * (d + h) + 2 * h)
    fig, ax = _canvas(MAX_WIDTH, 4.45, "LSTM cell (PyTorch's nn.LSTM)")
    hw, op, gy, bus, base = 3.95, 3.0, 2.3, 1.72, 1.2  # highway, ops, gates, [x, h] bus, x's box
    _frame(ax, 1.0, bus - 0.22, 6.75, hw + 0.28)
    c_in = _box(ax, (0.45, hw), 0.62, 0.3, "$c_{t-1}$", "io")
    h_in = _box(ax, (0.45, bus), 0.62, 0.3, "$h_{t-1}$", "io")
    c_out = _box(ax, (7.45, hw), 0.5, 0.3, "$c_t$", "io")
    h_out = _box(ax, (7.45, op), 0.5, 0.3, "$h_t$", "io")
    cat = _op(ax, (1.45, bus), "C")
    x_in = _box(ax, (1.45, base - 0.2), 0.5, 0.3, "$x_t$", "io")
    _arrow(ax, h_in.right, cat.left)
    _arrow(ax, x_in.top, cat.bottom)
    xs = {"f": 2.25, "i": 3.1, "g": 4.4, "o": 5.45}
    acts = {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"}
    gates = {}
    for name, x in xs.items():
        symbol = r"\tanh" if acts[name] == "tanh" else r"\sigma"
        gates[name] = _box(ax, (x, gy), 0.72, 0.34, rf"${name}$: ${symbol}$", "fc")
        _arrow(ax, (x, bus), gates[name].bottom)
    ax.plot([cat.right[0], xs["o"]], [bus, bus], color=LINE, lw=1.1, zorder=2)
    for x in list(xs.values())[:-1]:
        _dot(ax, (x, bus))
    _text(ax, ((cat.right[0] + xs["f"]) / 2 - 0.02, bus + 0.15), r"$[x_t, h_{t-1}]$")
    # the highway: forget, then write
    forget = _op(ax, (xs["f"], hw), "⊙")
    add = _op(ax, ((xs["i"] + xs["g"]) / 2, hw), "+")
    write = _op(ax, (add.x, op), "⊙")
    _arrow(ax, c_in.right, forget.left)
    _arrow(ax, forget.right, add.left)
    _arrow(ax, add.right, c_out.left)
    _arrow(ax, gates["f"].top, forget.bottom)
    _arrow(ax, gates["i"].top, (xs["i"], op), write.left)
    _arrow(ax, gates["g"].top, (xs["g"], op), write.right)
    _arrow(ax, write.top, add.bottom)
    # read: o ⊙ tanh(c_t)
    rx = 6.15
    _dot(ax, (rx, hw))
    squash = _box(ax, (rx, (hw + op) / 2), 0.55, 0.3, r"$\tanh$", "act")
    read = _op(ax, (rx, op), "⊙")
    _arrow(ax, (rx, hw), squash.top)
    _arrow(ax, squash.bottom, read.top)
    _arrow(ax, gates["o"].top, (xs["o"], op), read.left)
    _arrow(ax, read.right, h_out.left)
    _text(ax, (forget.x + 0.2, hw + 0.14), "forget", ha="left")
    _text(ax, (add.x + 0.2, hw + 0.14), "write", ha="left")
    _text(ax, (rx + 0.22, op + 0.17), "read", ha="left")
    _text(ax, (3.5, hw + 0.4), "cell state: a highway with only ⊙ and +", FONT)
    lines = [
        r"$i = \sigma(W_{ii}\,x_t + b_{ii} + W_{hi}\,h_{t-1} + b_{hi})$; $f$ and $o$ alike ($W_{if}$, $W_{io}$, …), "
        r"$g$ with $\tanh$",
        r"$c_t = f \odot c_{t-1} + i \odot g$,   $h_t = o \odot \tanh(c_t)$   ($\odot$: element by element)",
        f"{_gate_weights('i, f, g, o', h, d)}: {params:,} parameters",
    ]
    for k, line in enumerate(lines):
        _text(ax, (4.0, 0.72 - 0.27 * k), line, FONT if k < 2 else SMALL)
    stated = {"gates": ("i", "f", "g", "o"), "activations": ("sigmoid", "sigmoid", "tanh", "sigmoid")}
    return fig, {**stated, "weight_ih_l0": (4 * h, d), "weight_hh_l0": (4 * h, h), "parameters": params}


def gru_cell(input_size: int = 8, hidden_size: int = 16):
    """The GRU cell in PyTorch's form (``nn.GRU``): the reset gate r and the update gate z are linear maps of
    [xₜ, hₜ₋₁] through a sigmoid; the candidate n = tanh(W_in xₜ + b_in + r ⊙ (W_hn hₜ₋₁ + b_hn)), the reset
    applied *after* W_hn (Cho et al. 2014 apply it before: W (r ⊙ h)); hₜ = (1 − z) ⊙ n + z ⊙ hₜ₋₁ along
    the top.

    ``stated``: ``gates`` (PyTorch's order, that of the row blocks of the weights), ``weight_ih_l0``
    (3H × D), ``weight_hh_l0`` (3H × H), ``parameters`` (of ``nn.GRU(input_size, hidden_size)``) and
    ``reset_applied``.
    """
    d, h = _positive_int("input_size", input_size), _positive_int("hidden_size", hidden_size)
    if max(d, h) > 9_999:
        raise ValueError("input_size and hidden_size must be below 10,000 to write them in the drawing")
    params = 3 * (h * (d + h) + 2 * h)
    fig, ax = _canvas(MAX_WIDTH, 5.0, "GRU cell (PyTorch's nn.GRU)")
    hw, zj, zy, bus, ry, ny, wy, xy = 4.55, 4.1, 3.7, 3.25, 2.8, 2.2, 1.65, 1.2  # levels, top to bottom
    _frame(ax, 0.8, 1.4, 7.05, hw + 0.25)
    h_in = _box(ax, (0.4, hw), 0.62, 0.3, "$h_{t-1}$", "io")
    h_out = _box(ax, (7.5, hw), 0.45, 0.3, "$h_t$", "io")
    cat = _op(ax, (1.6, bus), "C")
    x_in = _box(ax, (1.6, xy), 0.5, 0.3, "$x_t$", "io")
    keep = _op(ax, (5.6, hw), "⊙")
    add = _op(ax, (6.7, hw), "+")
    _arrow(ax, h_in.right, keep.left)
    _arrow(ax, keep.right, add.left)
    _arrow(ax, add.right, h_out.left)
    # h_{t-1} down to the gates and to W_hn; x_t up to the gates and to W_in
    drop = 1.0
    _dot(ax, (drop, hw))
    _dot(ax, (drop, bus))
    w_hn = _box(ax, (2.45, ny), 1.1, 0.3, r"$W_{hn}\,h_{t-1} + b_{hn}$", "fc")
    hop = np.linspace(np.pi, 0, 13)  # x_t's line crosses this one: a small bridge over it
    ax.plot(cat.x + 0.07 * np.cos(hop), ny + 0.07 * np.sin(hop), color=LINE, lw=1.1, zorder=2)
    _arrow(ax, (drop, hw), (drop, ny), (cat.x - 0.07, ny), style="-")
    _arrow(ax, (cat.x + 0.07, ny), w_hn.left)
    _arrow(ax, (drop, bus), cat.left)
    _arrow(ax, x_in.top, cat.bottom)
    reset, plus = _op(ax, (3.45, ny), "⊙"), _op(ax, (4.15, ny), "+")
    w_in = _box(ax, (plus.x, wy), 0.92, 0.3, r"$W_{in}\,x_t + b_{in}$", "fc")
    _arrow(ax, x_in.right, (plus.x, xy), w_in.bottom)
    _arrow(ax, w_hn.right, reset.left)
    _arrow(ax, reset.right, plus.left)
    _arrow(ax, w_in.top, plus.bottom)
    squash = _box(ax, (4.95, ny), 0.55, 0.3, r"$\tanh$", "act")
    _arrow(ax, plus.right, squash.left)
    # the gates, from [x_t, h_{t-1}]
    r = _box(ax, (reset.x, ry), 0.7, 0.3, r"$r$: $\sigma$", "fc")
    z = _box(ax, (keep.x, zy), 0.7, 0.3, r"$z$: $\sigma$", "fc")
    ax.plot([cat.right[0], z.x], [bus, bus], color=LINE, lw=1.1, zorder=2)
    _dot(ax, (r.x, bus))
    _arrow(ax, (r.x, bus), r.top)
    _arrow(ax, (z.x, bus), z.bottom)
    _arrow(ax, r.bottom, reset.top)
    _text(ax, ((cat.right[0] + r.left[0]) / 2 + 0.1, bus + 0.15), r"$[x_t, h_{t-1}]$")
    _text(ax, (2.4, (bus + w_hn.top[1]) / 2), "Cho et al. 2014:\n" + r"$W\,(r \odot h)$ instead")
    # mixing: (1 - z) ⊙ n + z ⊙ h_{t-1}
    _dot(ax, (z.x, zj))
    _arrow(ax, z.top, keep.bottom)
    one_minus = _box(ax, ((z.x + add.x) / 2 - 0.02, zj), 0.52, 0.28, "$1 - z$", "merge", SMALL)
    mix = _op(ax, (add.x, zj), "⊙")
    _arrow(ax, (z.x, zj), one_minus.left)
    _arrow(ax, one_minus.right, mix.left)
    _arrow(ax, squash.right, (add.x, ny), mix.bottom)
    _arrow(ax, mix.top, add.bottom)
    _text(ax, ((squash.right[0] + add.x) / 2, ny + 0.13), "$n$")
    _text(ax, (keep.x - 0.2, hw + 0.15), "keep", ha="right")
    lines = [
        r"$r = \sigma(W_{ir}\,x_t + b_{ir} + W_{hr}\,h_{t-1} + b_{hr})$,   "
        r"$z = \sigma(W_{iz}\,x_t + b_{iz} + W_{hz}\,h_{t-1} + b_{hz})$",
        r"$n = \tanh(W_{in}\,x_t + b_{in} + r \odot (W_{hn}\,h_{t-1} + b_{hn}))$,   "
        r"$h_t = (1 - z) \odot n + z \odot h_{t-1}$",
        f"{_gate_weights('r, z, n', h, d)}: {params:,} parameters",
    ]
    for k, line in enumerate(lines):
        _text(ax, (4.0, 0.72 - 0.27 * k), line, FONT if k < 2 else SMALL)
    stated = {"gates": ("r", "z", "n"), "weight_ih_l0": (3 * h, d), "weight_hh_l0": (3 * h, h)}
    return fig, {**stated, "parameters": params, "reset_applied": "after W_hn"}


def _ctc_example(frames: int, label: str = "123") -> list[str]:
    """A per-frame path of ``frames`` symbols (``-``: blank) that CTC decoding collapses to ``label``: each
    character, repeated twice where there is room, in the middle of its share of the frames."""
    path = ["-"] * frames
    for k, ch in enumerate(label):
        lo, hi = k * frames // len(label), (k + 1) * frames // len(label)
        repeat = 2 if hi - lo >= 4 else 1
        start = lo + (hi - lo - repeat) // 2
        path[start : start + repeat] = [ch] * repeat
    return path


def crnn(height: int = 28, width: int = 112, channels=(32, 64), hidden_size: int = 64, num_classes: int = 11):
    """CRNN (Shi, Bai and Yao, 2015) reading a string of digits: a small CNN, its feature map read column by
    column by a bidirectional LSTM, a linear layer per column and CTC.

    The input is a grey image ``height`` × ``width``; each CNN stage is a 3×3 convolution (padding 1),
    batch norm, ReLU and a 2×2 max-pool, with ``channels`` (one stage per entry), so the map has
    C × H/2ᵏ × W/2ᵏ. Each of its W/2ᵏ columns is one time step (a frame of C·H/2ᵏ features) for the
    bidirectional LSTM (``hidden_size`` units per direction); a linear layer gives ``num_classes`` scores
    per frame (class 0 the CTC blank, digit d class d + 1: at least 5 classes to read the example "123");
    CTC is the loss for training, and decoding merges repeats and drops blanks. ``stated``: ``frames``,
    ``feature_size``, ``num_classes``, ``lstm_hidden``, ``bidirectional``, ``sizes`` (C, h, w after each
    stage) and ``example`` (the per-frame path drawn and what it decodes to).
    """
    hh, ww = _positive_int("height", height), _positive_int("width", width)
    hidden, classes = _positive_int("hidden_size", hidden_size), _positive_int("num_classes", num_classes, 5)
    chans = [_positive_int("each channel count", c) for c in np.atleast_1d(channels).tolist()]
    if not 1 <= len(chans) <= 4:
        raise ValueError(f"channels must give 1 to 4 stages, got {channels!r}")
    scale = 2 ** len(chans)
    if hh % scale or ww % scale:
        raise ValueError(f"height and width must be divisible by 2**{len(chans)} = {scale}, got {hh} × {ww}")
    frames, h_out = ww // scale, hh // scale
    if not 3 <= frames <= 48:
        raise ValueError(f"width / {scale} must give between 3 and 48 frames to draw one column each, got {frames}")
    if max(hh, ww, hidden, classes, *chans) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    sizes, cin = [], 1
    for k, c in enumerate(chans, 1):
        sizes.append((c, hh // 2**k, ww // 2**k))
    feature = chans[-1] * h_out
    path = _ctc_example(frames)
    # the layout, as depths below the top of the drawing (inches)
    iw = 2.1
    ih = min(0.9, max(0.35, iw * hh / ww))
    image_d = max(0.25 * (len(chans) - 1), ih / 2 - 0.15)  # the image's centre, level with the stages' middle
    caption_d = image_d + ih / 2 + 0.13
    note_d = max(0.5 * (len(chans) - 1) + 0.15, caption_d) + 0.33
    depth, fh = 0.2, 0.42
    slab_d = note_d + 0.22 + 0.2 + depth / math.sqrt(2) + fh  # the feature map's front face, its bottom
    by_d = slab_d + 0.55  # forward LSTM
    ly_d = by_d + 0.34 + 0.6  # linear
    gy_d = ly_d + 0.47  # the per-frame path
    height_in = 0.3 + gy_d + 1.0
    title = "CRNN (Shi, Bai and Yao 2015): CNN, one frame per column, bidirectional LSTM, CTC"
    fig, ax = _canvas(MAX_WIDTH, height_in, title)
    top = height_in - 0.3
    # the CNN: one joined row per stage, the sizes beside
    stage_boxes = []
    for k, (c, h_k, w_k) in enumerate(sizes):
        y = top - 0.5 * k
        parts = [_conv(3, cin, c), ("BN", "norm"), ("ReLU", "act"), ("2×2 max pool", "pool")]
        stage_boxes.append(_row(ax, 4.9, y, parts, joined=True))
        _text(ax, (stage_boxes[-1].right[0] + 0.12, y), f"{c}×{h_k}×{w_k}", ha="left")
        if k:
            _arrow(ax, stage_boxes[-2].bottom, stage_boxes[-1].top)
        cin = c
    image = _box(ax, (1.6, top - image_d), iw, ih, "123", "io", 16)
    _text(ax, (image.x, top - caption_d), f"input 1×{hh}×{ww}")
    _arrow(ax, image.right, (stage_boxes[0].left[0] - 0.12, image.y), (stage_boxes[0].left[0] - 0.12, top),
           stage_boxes[0].left)  # fmt: skip
    # the feature map, its columns drawn: each becomes one frame
    x0, band = 0.95, 6.3
    cw = min(0.3, band / frames)
    cx, gw = x0 + band / 2, cw * frames
    gx, fy = cx - gw / 2, top - slab_d
    _slab(ax, gx, fy, gw, fh, depth, "io")
    mark = _shade(PALETTE["io"][0], PALETTE["io"][1], 0.45)
    for j in range(1, frames):
        ax.plot([gx + j * cw] * 2, [fy, fy + fh], color=PALETTE["io"][1], lw=0.6, zorder=1)
    ax.add_patch(Rectangle((gx + 2 * cw, fy), cw, fh, fc=mark, ec=PALETTE["io"][1], lw=0.8, zorder=1))
    _arrow(ax, stage_boxes[-1].bottom, (stage_boxes[-1].x, fy + fh + depth / math.sqrt(2)))
    _text(ax, (x0, top - note_d), f"feature map {chans[-1]}×{h_out}×{frames}: each column is one time step",
          ha="left")  # fmt: skip
    _text(ax, (x0, top - note_d - 0.22), f"{frames} frames of {chans[-1]}·{h_out} = {feature} features", ha="left")
    # the bidirectional LSTM reads the frames, a linear layer scores each frame
    by = top - by_d
    for j in range(frames):
        _arrow(ax, (gx + (j + 0.5) * cw, fy), (gx + (j + 0.5) * cw, by + 0.15), lw=0.8)
    units = f"{hidden} unit{'s' * (hidden > 1)}"
    _box(ax, (cx, by), band, 0.3, f"forward LSTM, {units}: frame 1 → {frames}", "rnn", SMALL)
    bwd = _box(ax, (cx, by - 0.34), band, 0.3, f"backward LSTM, {units}: frame {frames} → 1", "rnn", SMALL)
    digits = "blank + 10 digits" if classes == 11 else f"blank + {classes - 1} symbols"
    ly = top - ly_d
    lin = _box(ax, (cx, ly), band, 0.3, f"per frame: linear {2 * hidden} → {classes} ({digits}), softmax", "fc",
               SMALL)  # fmt: skip
    _arrow(ax, bwd.bottom, lin.top)
    _text(ax, (cx + 0.12, (bwd.bottom[1] + lin.top[1]) / 2), f"both directions, concatenated: 2 × {hidden}",
          ha="left")  # fmt: skip
    gy = top - gy_d
    grid = _grid(ax, (gx, gy + cw / 2), [path], cw, [["white"] * frames], size=SMALL)
    _arrow(ax, lin.bottom, (cx, grid.top[1]))
    for y, label in ((fy + fh / 2, "frames"), (by - 0.17, "BiLSTM"), (ly, "linear"), (grid.y, "argmax")):
        _text(ax, (x0 / 2, y), label)
    decoded = "".join(ch for k, ch in enumerate(path) if ch != "-" and (k == 0 or path[k - 1] != ch))
    _text(ax, (4.0, gy - cw / 2 - 0.3), "CTC: the loss sums the probabilities of every path that collapses to "
          "the label", FONT)  # fmt: skip
    rule = f"decoding: merge repeats, drop blanks (-): 1 1 - 2 - - 3 3 → 123; the path above → {decoded}"
    _text(ax, (4.0, gy - cw / 2 - 0.57), rule, FONT)
    stated = {"frames": frames, "feature_size": feature, "num_classes": classes, "lstm_hidden": hidden}
    return fig, {**stated, "bidirectional": True, "sizes": sizes, "example": {"path": path, "decoded": decoded}}


# ------------------------------------------------------------------------------------------------ chapter 6
def tcn(kernel_size: int = 3, dilations=(1, 1, 2, 2, 4, 4), length: int | None = None):
    """A stack of causal dilated 1-D convolutions (a temporal convolution network, Bai, Kolter and Koltun
    2018) unrolled over ``length`` time steps (default: the receptive field plus 4): one row of dots per
    layer, input at the bottom, and the connections that reach the last output, whose inputs are
    coloured. Layer ``i`` has dilation ``dilations[i]`` and sees its input at ``t, t - d, ..., t - (k-1) d``
    (``k = kernel_size``), padded with zeros on the left, so that nothing comes from the future.
    ``stated``: ``kernel_size``, ``dilations``, ``layers``, ``length``, ``padding`` (left zeros per layer,
    ``(k - 1) d``), ``receptive_field`` (``1 + (k - 1) * sum(dilations)``) and ``seen`` (the input positions
    the last output depends on).
    """
    k = _positive_int("kernel_size", kernel_size, 2)
    if isinstance(dilations, (str, bytes)) or not hasattr(dilations, "__len__") or not 1 <= len(dilations) <= 8:
        raise ValueError(f"dilations must be a sequence of 1 to 8 positive integers, got {dilations!r}")
    ds = tuple(_positive_int("each dilation", d) for d in dilations)
    rf = 1 + (k - 1) * sum(ds)
    n = rf + 4 if length is None else _positive_int("length", length)
    if n > 72:
        raise ValueError(f"length must be at most 72 time steps to be drawn, got {n}")
    # the positions each layer must compute for the last output, from the top down
    needed = [{n - 1}]
    for d in reversed(ds):
        needed.append({p - j * d for p in needed[-1] for j in range(k) if p - j * d >= 0})
    needed = needed[::-1]  # needed[0]: the inputs seen, needed[-1]: the last output
    rows = len(ds) + 1
    pitch, left, right = 0.42, 1.45, 7.85
    height = rows * pitch + 0.75
    title = f"Causal dilated convolutions: kernel {k}, dilations {', '.join(map(str, ds))}"
    fig, ax = _canvas(MAX_WIDTH, height, title)
    step = (right - left) / max(n - 1, 1)
    r = min(0.055, 0.32 * step)
    xs = [left + t * step for t in range(n)]
    ys = [0.75 + i * pitch for i in range(rows)]
    for i in range(rows):
        label = "input x" if i == 0 else f"conv {i}, d = {ds[i - 1]}"
        _text(ax, (0.08, ys[i]), label, SMALL, ha="left")
        for t in range(n):
            active = t in needed[i]
            kind = ("act" if i == 0 else "conv") if active else "merge"
            fill, edge = PALETTE[kind]
            ax.add_patch(Circle((xs[t], ys[i]), r, fc=fill, ec=edge if active else "#b0b0b0", lw=0.8, zorder=3))
    for i, d in enumerate(ds, start=1):
        for p in needed[i]:
            for j in range(k):
                q = p - j * d
                if q >= 0:
                    ax.plot([xs[q], xs[p]], [ys[i - 1], ys[i]], color=PALETTE["conv"][1], lw=0.7, zorder=2)
    seen = sorted(needed[0])
    y_bracket = ys[0] - 0.3
    x0, x1 = xs[seen[0]], xs[seen[-1]]
    ax.plot([x0, x0, x1, x1], [y_bracket + 0.08, y_bracket, y_bracket, y_bracket + 0.08], color=LINE, lw=1)
    label = f"receptive field: {rf} steps" + ("" if len(seen) == rf else f", {len(seen)} of them in the sequence")
    _text(ax, ((x0 + x1) / 2, y_bracket - 0.17), label, SMALL)
    _text(ax, (xs[0], ys[0] - 0.17), "t = 0", SMALL)
    _text(ax, (xs[-1], ys[-1] + 0.2), f"output at t = {n - 1}", SMALL, ha="right")
    stated = {"kernel_size": k, "dilations": ds, "layers": len(ds), "length": n}
    stated |= {"padding": [(k - 1) * d for d in ds], "receptive_field": rf, "seen": seen}
    return fig, stated


# ------------------------------------------------------------------------------------ chapter 7 optical flow
def coarse_to_fine(levels: int = 3, size=(128, 128), displacement: float = 8.0, num_warp: int = 10):
    """Coarse-to-fine optical flow with a pyramid of ``levels`` levels, as in scikit-image's
    ``optical_flow_ilk`` (and Bouguet's pyramidal Lucas–Kanade).

    Both frames (``size`` = (H, W) pixels) are reduced ``levels - 1`` times: a Gaussian blur (σ = 2/3) and a
    resampling to ⌈H/2⌉ × ⌈W/2⌉ (``skimage.transform.pyramid_reduce``). The flow is solved at the coarsest
    level starting from zero; at every finer level it is upsampled (nearest neighbour) and multiplied by the
    ratio of the sizes, and ``num_warp`` warps of frame 2 refine it. A horizontal ``displacement`` of d pixels
    at full size is d·W_k/W pixels at level k: the pyramid makes a large motion small where it is first
    estimated, and every finer level starts from the motion found above it, so its Lucas–Kanade solves only
    the residual. ``stated``: ``levels``, ``sizes`` ((H, W) per level, coarsest first), ``scales`` (W_k / W),
    ``displacements`` (``displacement`` × scale), ``upsample_factors`` (W_k+1 / W_k, between consecutive
    levels), ``starts`` (the flow each level starts from when the level above found its displacement: 0 at the
    coarsest, then the displacement above × the upsampling factor) and ``num_warp``.
    """
    n = _positive_int("levels", levels)
    if n > 5:
        raise ValueError(f"levels must be at most 5 to fit the drawing, got {n}")
    if isinstance(size, (int, np.integer)) or not hasattr(size, "__len__") or len(size) != 2:
        raise ValueError(f"size must be (H, W), got {size!r}")
    h0, w0 = (_positive_int("each side of size", s, 2) for s in size)
    if max(h0, w0) > 99_999:
        raise ValueError(f"size must be below 100,000 pixels a side to write it in the drawing, got {size!r}")
    if isinstance(displacement, bool) or not isinstance(displacement, (int, float, np.integer, np.floating)):
        raise ValueError(f"displacement must be a number of pixels, got {displacement!r}")
    if not 0 <= displacement < 1e5:
        raise ValueError(f"displacement must be between 0 and 100,000 pixels, got {displacement!r}")
    warps = _positive_int("num_warp", num_warp)
    sizes = [(h0, w0)]
    for _ in range(n - 1):
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))
    if min(sizes[-1]) < 2:
        raise ValueError(f"{n} levels reduce {h0} × {w0} below 2 pixels: use fewer levels or a larger size")
    sizes = sizes[::-1]  # coarsest first, the order of the computation
    scales = [w / w0 for _, w in sizes]
    shifts = [float(displacement) * s for s in scales]
    factors = [b[1] / a[1] for a, b in zip(sizes, sizes[1:])]
    starts = [0.0] + [f * s for f, s in zip(factors, shifts)]
    pitch = 1.0
    height = 0.95 + (n - 1) * pitch + 0.3
    plural = "s" * (n > 1)
    fig, ax = _canvas(MAX_WIDTH, height, f"Coarse-to-fine optical flow: a pyramid of {n} level{plural}, coarsest first")
    ys = [height - 0.8 - k * pitch for k in range(n)]
    u = min(1.3 / w0, 0.5 / h0)  # inches per pixel: the finest level fits in 1.3 × 0.5 inches
    px, lx, fx = 1.55, 4.1, 6.75  # centres: pyramid, Lucas–Kanade, flow
    _text(ax, (px, height - 0.15), "frames 1 and 2")
    _text(ax, (fx, height - 0.15), "flow at each level")
    lks, flows = [], []
    for k, ((h, w), y) in enumerate(zip(sizes, ys)):
        rw, rh = max(w * u, 0.04), max(h * u, 0.04)
        for dx, dy in ((0.05, 0.05), (0, 0)):  # frame 2 behind, frame 1 in front
            ax.add_patch(
                Rectangle((px - rw / 2 + dx, y + 0.05 + dy), rw, rh, fc=PALETTE["io"][0], ec=PALETTE["io"][1], lw=1)
            )
        level = n - 1 - k
        name = "full size" if level == 0 else f"1/{round(1 / scales[k])}" + (", coarsest" if k == 0 else "")
        _text(ax, (px, y - 0.12), f"level {level}: {h}×{w} ({name})")
        warp_text = f"iterative LK, {warps} warp{'s' * (warps > 1)}"
        if k == 0:
            lk_text = f"{warp_text}:\nsolves the whole {_number(round(shifts[k], 3))} px"
        else:
            lk_text = f"{warp_text}, from {_number(round(starts[k], 3))} px:\nsolves only the residual"
        lk = _box(ax, (lx, y + 0.12), max(2.55, _width(lk_text, SMALL)), 0.42, lk_text, "conv", SMALL)
        flow = _box(ax, (fx, y + 0.12), 1.7, 0.42, f"flow {h}×{w}\nshift {_number(round(shifts[k], 3))} px", "io",
                    SMALL)  # fmt: skip
        _arrow(ax, (px + max(rw / 2 + 0.05, 0.35) + 0.05, lk.y), lk.left)
        _arrow(ax, lk.right, flow.left)
        lks.append(lk)
        flows.append(flow)
    _text(ax, (lx, height - 0.15), "start: flow = 0")
    _arrow(ax, (lx, height - 0.27), lks[0].top)
    for k in range(n - 1):
        ymid = (lks[k].bottom[1] + lks[k + 1].top[1]) / 2
        label = f"upsample, flow × {_number(round(factors[k], 3))}"
        up = _box(ax, (lx, ymid), _width(label, SMALL), 0.24, label, "up", SMALL)
        _arrow(ax, flows[k].bottom, (fx, ymid), up.right)
        _arrow(ax, up.bottom, lks[k + 1].top)
    if n > 1:  # building the pyramid: upwards, beside it
        bx = 0.3
        _arrow(ax, (bx, ys[-1] + 0.1), (bx, ys[0] + 0.3))
        _text(ax, (bx + 0.14, (ys[0] + ys[-1]) / 2 + 0.2), "blur (σ = 2/3), halve", rotation=90)
    stated = {"levels": n, "sizes": sizes, "scales": scales, "displacements": shifts}
    return fig, {**stated, "upsample_factors": factors, "starts": starts, "num_warp": warps}


# ---------------------------------------------------------------------------------------- chapter 7 RAFT
def raft(input_size=(368, 496), feature_channels: int = 128, hidden_size: int = 96, context_channels: int = 64,
         levels: int = 4, radius: int = 3, updates: int = 12, upsampling: str = "bilinear"):  # fmt: skip
    """RAFT (Teed and Deng, 2020): a feature encoder shared by both frames, a context encoder on frame 1, the
    all-pairs correlation volume and its pyramid, and the recurrent update that looks up the pyramid around
    the current flow and adds an increment, ``updates`` times; then upsampling to the input's size.

    The defaults are torchvision's ``raft_small`` (``raft_large``: ``feature_channels=256,
    hidden_size=128, context_channels=128, radius=4, upsampling="convex"``). ``input_size`` ``(H, W)``
    (multiples of 8) sets the sizes written: the encoders work at 1/8 of the input, ``h = H/8``, ``w = W/8``;
    the volume is ``h × w × h × w`` and level ``Cᵐ`` of the pyramid (``m = 1 ... levels``, the paper's names)
    average-pools its last two dimensions (frame 2's) ``m - 1`` times by 2 (floor). The loop, in a dashed box:
    the lookup reads a ``(2r+1)²`` window of every level around ``(x + fₖ) / 2ᵐ⁻¹``; the update block reads
    the hidden state (fed back from the previous update), the context, the looked-up correlations and the
    flow ``fₖ``, and outputs ``Δf``; ``fₖ₊₁ = fₖ + Δf``. ``stated``:
    ``input_size``, ``downsample`` (8), ``feature_size`` ``(C, h, w)``, ``context_split`` (hidden, context
    channels of the context encoder's output), ``levels``, ``radius``, ``window`` ``(2r+1)²``,
    ``corr_channels`` (levels × window), ``level_sizes`` (frame 2's ``(h, w)`` at each level),
    ``volume_shape``, ``volume_bytes`` (float32, C¹), ``updates``, ``upsampling``, ``mask_channels``
    (8·8·9 = 576 for convex upsampling, 0 for bilinear), ``update_inputs`` (the update block's inputs, named as
    the arguments of torchvision's ``UpdateBlock.forward``), ``flow_update`` (``"f + Δf"``) and ``recurrent``
    (``"hidden_state"``, the input fed back from one update to the next).
    """
    size = (input_size, input_size) if isinstance(input_size, (int, np.integer)) else tuple(input_size)
    if len(size) != 2:
        raise ValueError(f"input_size must be an int or (H, W), got {input_size!r}")
    n_levels, r = _positive_int("levels", levels), _positive_int("radius", radius)
    if n_levels > 6:
        raise ValueError(f"levels must be at most 6 to be drawn, got {n_levels}")
    height_px, width_px = (_positive_int("input_size", s, 8 * 2**n_levels) for s in size)
    if height_px % 8 or width_px % 8:
        raise ValueError(f"input_size must be multiples of 8 (the encoders downsample by 8), got {size}")
    c, hidden = _positive_int("feature_channels", feature_channels), _positive_int("hidden_size", hidden_size)
    ctx, n_updates = _positive_int("context_channels", context_channels), _positive_int("updates", updates)
    if upsampling not in ("bilinear", "convex"):
        raise ValueError(f"upsampling must be 'bilinear' or 'convex', got {upsampling!r}")
    if max(height_px, width_px, c, hidden + ctx, n_updates) > 99_999:
        raise ValueError("an argument is too large to write in the drawing")
    h, w = height_px // 8, width_px // 8
    level_sizes = [(h // 2**i, w // 2**i) for i in range(n_levels)]
    window = (2 * r + 1) ** 2
    mask = 8 * 8 * 9 if upsampling == "convex" else 0
    volume_bytes = 4 * (h * w) ** 2
    fig, ax = _canvas(MAX_WIDTH, 4.95, "RAFT: all-pairs correlation pyramid, lookups and recurrent updates")
    # the frames and the two encoders (top left)
    f1 = _box(ax, (0.8, 4.55), 1.1, 0.4, f"frame 1\n{height_px}×{width_px}×3", "io", SMALL)
    f2 = _box(ax, (0.8, 3.9), 1.1, 0.4, f"frame 2\n{height_px}×{width_px}×3", "io", SMALL)
    enc = _box(ax, (2.5, 4.225), 1.45, 0.5, "feature encoder g\n(shared by both)", "conv", SMALL)
    _arrow(ax, f1.right, (1.55, f1.y), (1.55, enc.y + 0.1), (enc.left[0], enc.y + 0.1))
    _arrow(ax, f2.right, (1.55, f2.y), (1.55, enc.y - 0.1), (enc.left[0], enc.y - 0.1))
    feats = _box(ax, (4.3, 4.225), 1.55, 0.5, f"g(frame 1), g(frame 2)\n{c}×{h}×{w} each", "io", SMALL)
    _arrow(ax, enc.right, feats.left)
    _text(ax, ((enc.right[0] + feats.left[0]) / 2, enc.y + 0.13), "1/8")
    vol = _box(ax, (6.8, 4.225), 2.2, 0.5, f"all pairs: C = g₁ᵀg₂ / √{c}\n{h}×{w}×{h}×{w}", "fc", SMALL)
    _arrow(ax, feats.right, vol.left)
    cenc = _box(ax, (2.5, 3.2), 1.45, 0.5, "context encoder\n(frame 1 only)", "conv", SMALL)
    _arrow(ax, f1.left, (0.12, f1.y), (0.12, cenc.y), cenc.left)
    _text(ax, (cenc.right[0] + 0.1, cenc.y), f"{hidden + ctx}×{h}×{w},\nsplit", ha="left")
    hid = _box(ax, (2.0, 2.35), 1.25, 0.4, f"hidden h₀: {hidden}\ntanh", "act", SMALL)
    con = _box(ax, (3.5, 2.35), 1.25, 0.4, f"context: {ctx}\nReLU", "act", SMALL)
    _arrow(ax, (cenc.x - 0.3, cenc.bottom[1]), (cenc.x - 0.3, 2.75), (hid.x, 2.75), hid.top)
    _arrow(ax, (cenc.x + 0.3, cenc.bottom[1]), (cenc.x + 0.3, 2.75), (con.x, 2.75), con.top)
    # the pyramid C¹ ... Cᴸ: frame 2's two dimensions pooled, frame 1's kept
    _arrow(ax, vol.bottom, (vol.x, 3.8))
    top = "".join("⁰¹²³⁴⁵⁶⁷⁸⁹"[int(d)] for d in str(n_levels))
    _text(ax, (4.95, 3.58), f"pyramid C¹…C{top}: average-pool frame 2's two\ndimensions; frame 1 keeps "
          f"{h}×{w} pixels", ha="left")  # fmt: skip
    sides = [0.5 / 2 ** (i / 2) for i in range(n_levels)]
    gap = min(0.3, (2.85 - sum(sides)) / n_levels)
    x, y0 = 5.0, 2.65
    for i, ((hl, wl), s) in enumerate(zip(level_sizes, sides)):
        _slab(ax, x, y0, s, 0.8 * s, 0.12, "pool", zorder=1 + i)
        _text(ax, (x + s / 2, y0 - 0.14 - 0.14 * (i % 2) * (n_levels > 4)), f"{hl}×{wl}")
        x += s + gap
    # the update loop (bottom), in a dashed box: what runs `updates` times with the same weights.
    # The flow fₖ feeds the lookup (around x + fₖ), the update block (its motion encoder) and the
    # sum fₖ₊₁ = fₖ + Δf; the hidden state loops from one update to the next.
    look_text = (f"lookup: {2 * r + 1}×{2 * r + 1} window around\n(x + fₖ) / 2ᵐ⁻¹ in each Cᵐ:\n"
                 f"{n_levels}×{window} = {n_levels * window} channels")  # fmt: skip
    look = _box(ax, (5.1, 1.55), max(1.95, _width(look_text, SMALL)), 0.62, look_text, "pool", SMALL)
    _arrow(ax, (5.75, y0 - 0.3 - 0.14 * (n_levels > 4)), (5.75, look.top[1]))
    upd = _box(ax, (2.75, 1.05), 2.3, 0.55, f"update: motion encoder,\nConvGRU (hidden {hidden}), flow head", "rnn",
               SMALL)  # fmt: skip
    _arrow(ax, look.left, (4.0, look.y), (4.0, upd.y + 0.12), (upd.right[0], upd.y + 0.12))
    _arrow(ax, hid.bottom, (hid.x, upd.top[1]))
    _arrow(ax, con.bottom, (con.x, upd.top[1]))
    # the recurrence: hₖ out of the GRU, back in at the next update
    loop_x = upd.left[0] - 0.38
    _arrow(ax, (upd.left[0], upd.y - 0.13), (loop_x, upd.y - 0.13), (loop_x, upd.y + 0.13), (upd.left[0], upd.y + 0.13))
    _text(ax, (loop_x - 0.06, upd.y), "hₖ₊₁", ha="right")
    add = _op(ax, (4.2, 0.45), "+")
    _arrow(ax, (3.3, upd.bottom[1]), (3.3, add.y), add.left)
    _text(ax, (3.75, add.y + 0.13), "Δf")
    flow_text = f"flow fₖ (f₀ = 0)\n2×{h}×{w}"
    fw = _width(flow_text, SMALL)
    flow = _box(ax, (4.7 + fw / 2, 0.45), fw, 0.4, flow_text, "io", SMALL)
    _arrow(ax, add.right, flow.left)
    _text(ax, ((add.right[0] + flow.left[0]) / 2, add.y + 0.15), "fₖ₊₁")
    _arrow(ax, (flow.x + 0.25, flow.top[1]), (flow.x + 0.25, look.bottom[1]))
    _arrow(ax, (flow.x - 0.3, flow.top[1]), (flow.x - 0.3, upd.y - 0.12), (upd.right[0], upd.y - 0.12))
    _text(ax, (upd.right[0] + 0.3, upd.y - 0.02), "fₖ")
    _arrow(ax, (flow.x, flow.bottom[1]), (flow.x, 0.1), (add.x, 0.1), add.bottom)
    right = max(look.right[0], flow.right[0]) + 0.12
    ax.add_patch(Rectangle((0.42, 0.03), right - 0.42, 2.0, fc="none", ec=LINE, lw=1, ls="--", zorder=1))
    _text(ax, (0.52, 0.27), f"× {n_updates} updates,\nsame weights", ha="left")
    up_text = "upsample × 8,\nconvex (8·8·9 mask)" if mask else "upsample × 8,\nbilinear"
    uw = _width(up_text, SMALL)
    up = _box(ax, (MAX_WIDTH - 0.05 - uw / 2, 0.45), uw, 0.4, up_text, "up", SMALL)
    _arrow(ax, flow.right, up.left)
    _text(ax, (up.x, 1.12), f"{height_px}×{width_px}×2,\none per update")
    _arrow(ax, up.top, (up.x, 0.96))
    stated = {"input_size": (height_px, width_px), "downsample": 8, "feature_size": (c, h, w)}
    stated |= {"context_split": (hidden, ctx), "levels": n_levels, "radius": r, "window": window}
    stated |= {"corr_channels": n_levels * window, "level_sizes": level_sizes, "volume_shape": (h, w, h, w)}
    # the arrows into the update block (torchvision's UpdateBlock.forward arguments) and the loop:
    # fₖ₊₁ = fₖ + Δf, the hidden state fed back
    stated |= {"update_inputs": ("hidden_state", "context", "corr_features", "flow"), "flow_update": "f + Δf"}
    return fig, {**stated, "volume_bytes": volume_bytes, "updates": n_updates, "upsampling": upsampling,
                 "mask_channels": mask, "recurrent": "hidden_state"}  # fmt: skip


# -------------------------------------------------------------------------------------- chapter 7 FlowNet
FLOWNET_KERNELS = (7, 5, 5, 3, 3, 3)  # conv1 to conv6


def flownet(variant: str = "S", input_size=(384, 512), frame_channels: int = 3,
            widths=(64, 128, 256, 512, 512, 1024), up_widths=(512, 256, 128, 64), redirect: int = 32,
            max_displacement: int = 20, stride2: int = 2, correlation_level: int = 3):  # fmt: skip
    """FlowNet (Dosovitskiy et al. 2015): FlowNetS (``variant="S"``) or FlowNetC (``"C"``), every size written.

    The defaults are the layers of the released models, as in the reference PyTorch implementation
    (ClementPinard/FlowNetPytorch), and the title then says "as released" (the paper's text counts nine convolutions
    with ReLU; the release adds ``conv6_1`` and uses leaky ReLU), drawn for an ``input_size`` ``(H, W)`` image pair of
    ``frame_channels`` each. Level ``l`` of the contracting part (``l = 1 ... L``, ``L = len(widths)``) is a convolution
    of stride 2 (kernel 7, 5, 5, then 3) with ``widths[l-1]`` channels, from level 3 on followed by a 3×3 one
    (``conv3_1``, ...), each with a leaky ReLU: its map is ``H/2ˡ × W/2ˡ``. FlowNetS stacks the frames as
    ``2 · frame_channels`` input channels. FlowNetC runs each frame through the first ``correlation_level`` levels with
    the same weights, correlates the two maps (displacements up to ``max_displacement`` in steps of ``stride2``:
    ``(2·d/s₂ + 1)²`` channels), concatenates a 1×1 convolution (``redirect`` channels) of frame 1's map, and a 3×3
    convolution brings it back to ``widths[correlation_level-1]`` channels. The expanding part predicts flow (3×3
    convolution, 2 channels) at level L, then at each level ``L-1 ... 2``: a 4×4 transposed convolution of stride 2
    ("upconv", ``up_widths``) of the features below, concatenated with the contracting map of that level and the
    upsampled coarser flow, gives the next prediction. The finest, at 1/4 of the input, is upsampled bilinearly × 4.
    ``stated``: ``variant``, ``input`` (channels, H, W of the network's input: both frames for S, one frame for C),
    ``levels``, ``sizes`` (``(h, w)`` per level), ``channels``, ``kernels``, ``upconv``, ``concat`` (channels of each
    concatenation, coarse to fine), ``skips`` (the layer whose map each concatenation takes, coarse to fine: ``conv5_1``
    ... ``conv3_1``, then ``conv2``, or FlowNetC's frame-1 tower map ``conv2a``), ``predictions``
    (``{"flow6": (h, w), ...}``), ``output`` and ``upsample``; for C also ``correlation_level``, ``displacements`` (the
    offsets along one axis), ``correlation_channels``, ``redirect`` and ``after_correlation`` (its input and output
    channels).
    """
    if variant not in ("S", "C"):
        raise ValueError(f"variant must be 'S' (FlowNetSimple) or 'C' (FlowNetCorr), got {variant!r}")
    corr = variant == "C"
    size = (input_size, input_size) if isinstance(input_size, (int, np.integer)) else tuple(input_size)
    if len(size) != 2:
        raise ValueError(f"input_size must be an int or (H, W), got {input_size!r}")
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or not 3 <= len(widths) <= 6:
        raise ValueError(f"widths must give 3 to 6 levels, got {widths!r}")
    chans = [_positive_int("each width", c) for c in widths]
    n = len(chans)
    if isinstance(up_widths, (str, bytes)) or not hasattr(up_widths, "__len__") or len(up_widths) != n - 2:
        raise ValueError(f"up_widths must give {n - 2} widths (levels {n - 1} down to 2), got {up_widths!r}")
    ups = [_positive_int("each up width", c) for c in up_widths]
    cin = _positive_int("frame_channels", frame_channels)
    hh, ww = (_positive_int("input_size", s, 2**n) for s in size)
    if hh % 2**n or ww % 2**n:
        raise ValueError(f"input_size must be multiples of 2**{n} = {2**n} (one halving per level), got {size}")
    if max(hh, ww, cin, *chans, *ups) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    sizes = [(hh // 2**level, ww // 2**level) for level in range(1, n + 1)]
    kernels = list(FLOWNET_KERNELS[:n])
    stated = {"variant": variant, "input": (cin if corr else 2 * cin, hh, ww), "levels": n, "sizes": sizes}
    stated |= {"channels": chans, "kernels": kernels, "upconv": ups}
    if corr:
        cl = _positive_int("correlation_level", correlation_level, 2)
        if cl > min(3, n - 1):
            raise ValueError(f"correlation_level must be 2 or 3, and below the coarsest level {n}, got {cl}")
        d, s2 = _positive_int("max_displacement", max_displacement), _positive_int("stride2", stride2)
        if d % s2:
            raise ValueError(f"max_displacement ({d}) must be a multiple of stride2 ({s2})")
        r = _positive_int("redirect", redirect)
        offsets = list(range(-d, d + 1, s2))
        n_corr = len(offsets) ** 2
        if max(n_corr + r, d) > 9_999:
            raise ValueError("the correlation is too large to write in the drawing")
        stated |= {"correlation_level": cl, "displacements": offsets, "correlation_channels": n_corr}
        stated |= {"redirect": r, "after_correlation": (r + n_corr, chans[cl - 1])}
    concat = []  # coarse to fine: levels n-1 ... 2
    below = chans[-1]
    for level, up in zip(range(n - 1, 1, -1), ups):
        below = chans[level - 1] + up + 2
        concat.append(below)
    stated |= {"concat": concat, "predictions": {f"flow{lv}": sizes[lv - 1] for lv in range(n, 1, -1)}}
    stated |= {"output": (2, hh, ww), "upsample": 4}

    # the layout: one row per level (C: two more, the correlation and the convolution after it)
    pitch, bh = 0.56, 0.38
    rows = ["in"] + list(range(1, n + 1))
    if corr:
        rows = ["in"] + list(range(1, cl + 1)) + ["corr", "after"] + list(range(cl + 1, n + 1))
    legend = ["k×k/2: a k×k convolution of stride 2; every convolution but the predictions is followed by a "
              "leaky ReLU (0.1)",
              "upconv 4×4/2: a transposed convolution that doubles the size; flowN↑: the same on flowN's "
              "2 channels (u, v)",
              "dashed frame: one concatenation (skip | upconv | flowN↑), which feeds both the prediction and "
              "the next upconv"]  # fmt: skip
    if corr:
        legend.append(f"frames 1 and 2 go through the same layers (shared weights); correlation: "
                      f"{len(offsets)}×{len(offsets)} displacements from −{d} to {d} in steps of {s2}")  # fmt: skip
    height = 0.3 + pitch * len(rows) + 0.55 + 0.17 * (len(legend) - 3)
    y_of = {row: height - 0.45 - pitch * i for i, row in enumerate(rows)}
    feature_row = {lv: ("after" if corr and lv == cl else lv) for lv in range(1, n + 1)}  # the skip's row
    # the defaults are the layers of the released models (which the paper's text describes differently)
    released = chans == [64, 128, 256, 512, 512, 1024] and ups == [512, 256, 128, 64]
    if corr:
        released = released and (r, d, s2, cl) == (32, 20, 2, 3)
    name = f"FlowNet{variant}{' as released' if released else ''}"
    title = (f"{name}: the two frames stacked, a contracting and an expanding part" if not corr else
             f"{name}: one tower per frame, a correlation, the same expanding part")  # fmt: skip
    fig, ax = _canvas(MAX_WIDTH, height, title)
    enc_x, tw, t_left, t_right = 2.2, 1.18, 1.57, 2.83  # encoder column; C: tower width and centres
    cat_left, pred_x = 3.62, 6.955
    # the size of the maps on each row, at the far left
    for lv in range(1, n + 1):
        h, w = sizes[lv - 1]
        _text(ax, (0.06, y_of[feature_row[lv]]), f"1/{2**lv}: {h}×{w}", ha="left")
        if corr and lv == cl:
            _text(ax, (0.06, y_of[cl]), f"1/{2**lv}: {h}×{w}", ha="left")

    def layer_text(lv, c_in=None):
        k = kernels[lv - 1]
        first = f"conv{lv} {k}×{k}/2 → {chans[lv - 1]}"
        if lv >= 3 and not (corr and lv == cl):
            return first + f"\nconv{lv}_1 3×3 → {chans[lv - 1]}"
        return first

    enc = {}  # the box whose output is the level's features
    if not corr:
        enc_in = _box(ax, (enc_x, y_of["in"]), 2.45, bh, f"frames 1 and 2 stacked\n{2 * cin}×{hh}×{ww}", "io", SMALL)
        prev = enc_in
        for lv in range(1, n + 1):
            box = _box(ax, (enc_x, y_of[lv]), 2.45, bh, layer_text(lv), "conv", SMALL)
            _arrow(ax, prev.bottom, box.top)
            enc[lv], prev = box, box
    else:
        # frame 1 on the left (its features are redirected and skipped), frame 2 on the right
        a_prev = _box(ax, (t_left, y_of["in"]), tw, bh, f"frame 1\n{cin}×{hh}×{ww}", "io", SMALL)
        b_prev = _box(ax, (t_right, y_of["in"]), tw, bh, f"frame 2\n{cin}×{hh}×{ww}", "io", SMALL)
        for lv in range(1, cl + 1):
            text = layer_text(lv).replace(" → ", "\n→ ", 1) if len(layer_text(lv)) > 15 else layer_text(lv)
            a = _box(ax, (t_left, y_of[lv]), tw, bh, text, "conv", SMALL)
            b = _box(ax, (t_right, y_of[lv]), tw, bh, text, "conv", SMALL)
            _arrow(ax, a_prev.bottom, a.top)
            _arrow(ax, b_prev.bottom, b.top)
            enc[lv], a_prev, b_prev = a, a, b
        red = _box(ax, (t_left, y_of["corr"]), tw, bh, f"conv_redir\n1×1 → {r}", "conv1x1", SMALL)
        cor = _box(ax, (t_right, y_of["corr"]), tw, bh, f"correlation\nd={d}, s₂={s2}: {n_corr}", "se", SMALL)
        _arrow(ax, a_prev.bottom, red.top)
        _arrow(ax, b_prev.bottom, cor.top)
        _arrow(ax, (a_prev.right[0] - 0.1, a_prev.bottom[1]), (cor.left[0] + 0.1, cor.top[1]))
        after = _box(ax, (enc_x, y_of["after"]), 2.45, bh,
                     f"concatenate: {r} + {n_corr} = {r + n_corr}\nconv{cl}_1 3×3 → {chans[cl - 1]}", "conv",
                     SMALL)  # fmt: skip
        _arrow(ax, red.bottom, (red.x, after.top[1]))
        _arrow(ax, cor.bottom, (cor.x, after.top[1]))
        enc[cl] = after
        prev = after
        for lv in range(cl + 1, n + 1):
            box = _box(ax, (enc_x, y_of[lv]), 2.45, bh, layer_text(lv), "conv", SMALL)
            _arrow(ax, prev.bottom, box.top)
            enc[lv], prev = box, box
    # the expanding part: a concatenation (skip | upconv | upsampled flow) and a prediction per level
    pw = 1.6
    top = enc[n]
    pred = {n: _box(ax, (pred_x, y_of[n]), pw, bh, f"predict flow{n}\n3×3: {chans[-1]} → 2", "conv", SMALL)}
    _arrow(ax, top.right, pred[n].left)
    below_y = y_of[n]  # where the features to upconvolve come from: first the coarsest level's arrow
    margin = 0.04  # between a concatenation's boxes and the dashed frame around them
    for i, lv in enumerate(range(n - 1, 1, -1)):
        y = y_of[feature_row[lv]]
        # the skip is the level's last map: frame 1's tower map (C, below the correlation), conv{lv}_1 from
        # level 3 on and after the correlation, else conv{lv}
        skip = f"conv{lv}a" if corr and lv < cl else f"conv{lv}_1" if lv >= 3 or corr else f"conv{lv}"
        stated.setdefault("skips", []).append(skip)
        parts = [(f"{skip}\n{chans[lv - 1]}", "io"), (f"upconv\n4×4/2 → {ups[i]}", "up"),
                 (f"flow{lv + 1}↑\n2", "up")]  # fmt: skip
        widths_in = [_width(t, SMALL) for t, _ in parts]
        x, boxes = cat_left, []
        for (text, kind), wd in zip(parts, widths_in):
            boxes.append(_box(ax, (x + wd / 2, y), wd, bh, text, kind, SMALL))
            x += wd
        frame_left, frame_right, frame_top = cat_left - margin, x + margin, y + bh / 2 + margin
        ax.add_patch(Rectangle((frame_left, y - bh / 2 - margin), frame_right - frame_left, bh + 2 * margin,
                               fill=False, ec=LINE, lw=0.9, ls=(0, (3, 2)), zorder=1))  # fmt: skip
        if corr and lv < cl:  # frame 1's tower map: under the row, past frame 2's tower, into the skip
            gap = y - pitch / 2
            start = enc[lv].x + 0.3
            _arrow(ax, (start, y - bh / 2), (start, gap), (boxes[0].x, gap), (boxes[0].x, y - bh / 2))
        else:
            _arrow(ax, enc[lv].right, boxes[0].left)
        _arrow(ax, (boxes[1].x, below_y), boxes[1].bottom)  # the concatenation below, upconvolved
        p = pred[lv + 1]  # the coarser prediction, upsampled
        mid = (p.top[1] + y - bh / 2) / 2
        _arrow(ax, (p.x + 0.5, p.top[1]), (p.x + 0.5, mid), (boxes[2].x, mid), boxes[2].bottom)
        pred[lv] = _box(ax, (pred_x, y), pw, bh, f"predict flow{lv}\n3×3: {concat[i]} → 2", "conv", SMALL)
        _arrow(ax, (frame_right, y), pred[lv].left)
        below_y = frame_top
    out = _box(ax, (pred_x, y_of["in"]), pw, bh, f"bilinear × 4\nflow 2×{hh}×{ww}", "io", SMALL)
    _arrow(ax, pred[2].top, out.bottom)
    for i, line in enumerate(legend):
        _text(ax, (0.06, 0.45 - 0.17 * i + 0.17 * (len(legend) - 3)), line, ha="left")
    return fig, stated


def _frame_cnn(size, in_channels: int, width: int, features: int):
    """The numbers a drawing of ``utils.video_models.FrameCNN`` states: the side ``s`` checked (a multiple of
    8, at most 1024), the map ``sizes`` ((C, h, w) after each of the three convolutions of stride 2), the
    ``flat`` length and the ``parameters`` (convolutions without bias, batch norm, linear layer)."""
    s = _positive_int("size", size, 8)
    if s % 8 or s > 1024:
        raise ValueError(f"size must be a multiple of 8 (three convolutions of stride 2), at most 1024, got {s}")
    w = width
    sizes = [(c, s // 2**i, s // 2**i) for i, c in enumerate([w, 2 * w, 4 * w], 1)]
    flat = 4 * w * (s // 8) ** 2
    convs = [(in_channels, w), (w, 2 * w), (2 * w, 4 * w)]
    return s, sizes, flat, sum(9 * a * b + 2 * b for a, b in convs) + flat * features + features


# ------------------------------------------------------------------------------ chapter 8 action recognition
FUSION_MODELS = ("single frame", "early fusion", "late fusion", "slow fusion")
FUSION_LAYERS = ("conv1", "conv2", "conv3", "fc", "classifier")


def _span(frames) -> str:
    """Frames as text: ``"0–15"`` for a run, ``"0, 15"`` otherwise."""
    frames = sorted(frames)
    if len(frames) > 2 and frames == list(range(frames[0], frames[-1] + 1)):
        return f"{frames[0]}–{frames[-1]}"
    return ", ".join(map(str, frames))


def fusion_patterns(n_frames: int = 16, single_frame: int | None = None, late_frames=None,
                    slow_kernels=(4, 2, 2), slow_strides=(2, 2, 2)):  # fmt: skip
    """Where a video network combines its frames, the four patterns of Karpathy et al. (2014, figure 1) side
    by side, for a clip of ``n_frames`` frames and three convolutions, a fully connected layer (fc) and a
    classifier, as in chapter 8's ``utils.video_models``:

    * **single frame**: 2D convolutions on frame ``single_frame`` (default ``n_frames // 2``, the middle).
    * **early fusion**: a first convolution whose kernel spans all ``n_frames`` frames (one unit in time),
      then 2D layers.
    * **late fusion**: the same 2D network (shared weights) on two frames ``late_frames`` (default the first
      and the last), each with its own fc; the classifier reads both.
    * **slow fusion**: 3D convolutions with temporal kernels ``slow_kernels`` and strides ``slow_strides``
      (no temporal padding): layer l has ``(t - k) // s + 1`` units in time; whatever is left after the
      third is averaged. With the defaults on 16 frames: 7, 3, then 1 unit; the last sees frames 0–9 only.

    Each layer is a row of dots, one per position in time, joined to the positions below that it reads;
    the frames the classifier depends on are coloured. Beside each row: the frames one unit sees (a range,
    or ``k each`` when the layer has several units of ``k`` frames). ``stated``: ``n_frames``, ``models``,
    ``layers``, ``seen`` (``{model: {layer: [frames of each unit, a tuple per unit]}}``), ``units`` (units
    in time per layer), ``extent`` (the most frames one unit of the layer sees) and ``top`` (the frames the
    classifier sees).
    """
    t = _positive_int("n_frames", n_frames, 2)
    if t > 32:
        raise ValueError(f"n_frames must be at most 32 to be drawn, got {t}")
    single = t // 2 if single_frame is None else _positive_int("single_frame", single_frame, 0)
    late = (0, t - 1) if late_frames is None else tuple(late_frames)
    if len(late) != 2 or not all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) for f in late):
        raise ValueError(f"late_frames must be two frame indices, got {late_frames!r}")
    late = tuple(int(f) for f in late)
    if not 0 <= single < t or not all(0 <= f < t for f in late) or late[0] == late[1]:
        raise ValueError(f"frames must be in [0, {t}) and the late frames distinct, got {single}, {late}")
    ks, ss = tuple(slow_kernels), tuple(slow_strides)
    if len(ks) != 3 or len(ss) != 3:
        raise ValueError(f"slow_kernels and slow_strides must give 3 layers, got {ks} and {ss}")
    ks = tuple(_positive_int("each slow kernel", k) for k in ks)
    ss = tuple(_positive_int("each slow stride", s) for s in ss)

    # the frames each unit of each layer sees: one tuple per unit (position in time)
    seen = {m: {} for m in FUSION_MODELS}
    reads = {m: {} for m in FUSION_MODELS}  # the units of the layer below each unit reads
    tower = {"conv1": [(single,)], "conv2": [(single,)], "conv3": [(single,)], "fc": [(single,)]}
    seen["single frame"] = {**tower, "classifier": [(single,)]}
    seen["early fusion"] = {layer: [tuple(range(t))] for layer in FUSION_LAYERS}
    seen["late fusion"] = {layer: [(late[0],), (late[1],)] for layer in FUSION_LAYERS[:4]}
    seen["late fusion"]["classifier"] = [tuple(sorted(late))]
    for m in FUSION_MODELS[:3]:
        first = {"single frame": [(single,)], "early fusion": [tuple(range(t))], "late fusion": [(f,) for f in late]}
        reads[m]["conv1"] = first[m]  # frame indices
        for layer in FUSION_LAYERS[1:4]:
            reads[m][layer] = [(i,) for i in range(len(seen[m][layer]))]
        reads[m]["classifier"] = [tuple(range(len(seen[m]["fc"])))]
    units = [tuple([f]) for f in range(t)]  # the input: one unit per frame
    for layer, k, s in zip(FUSION_LAYERS[:3], ks, ss):
        n = (len(units) - k) // s + 1
        if n < 1:
            raise ValueError(f"slow fusion's {layer} (temporal kernel {k}) has no input left: use more frames")
        reads["slow fusion"][layer] = [tuple(range(j * s, j * s + k)) for j in range(n)]
        units = [tuple(sorted({f for i in r for f in units[i]})) for r in reads["slow fusion"][layer]]
        seen["slow fusion"][layer] = units
    # time left after conv3 is averaged: fc and the classifier see every unit of conv3
    both = tuple(sorted({f for u in units for f in u}))
    seen["slow fusion"] |= {"fc": [both], "classifier": [both]}
    reads["slow fusion"] |= {"fc": [tuple(range(len(units)))], "classifier": [(0,)]}
    top = {m: list(seen[m]["classifier"][0]) for m in FUSION_MODELS}
    # the units the classifier depends on, from the top down (slow fusion computes some that nothing reads)
    used = {m: {"classifier": [True]} for m in FUSION_MODELS}
    for m in FUSION_MODELS:
        for layer, below in zip(FUSION_LAYERS[:0:-1], FUSION_LAYERS[-2::-1]):
            read = {i for u, r in zip(used[m][layer], reads[m][layer]) if u for i in r}
            used[m][below] = [i in read for i in range(len(seen[m][below]))]

    # layout: a column of row labels, then four panels; in each, the dots and, at their right, the text
    label_w, panel_w, dots_w, pitch = 0.72, (MAX_WIDTH - 0.72) / 4, 1.12, 0.42
    height = 0.5 + pitch * 5 + 0.95
    fig, ax = _canvas(MAX_WIDTH, height, f"Where the frames meet: four ways to fuse time, {t} frames in")
    y_in = 0.95
    ys = [y_in + pitch * (i + 1) for i in range(5)]
    for name, y in zip(("frames",) + FUSION_LAYERS, [y_in, *ys]):
        _text(ax, (0.06, y), name, ha="left")
    step = dots_w / t
    fw, fh, r = 0.8 * step, 0.16, min(0.045, 0.3 * step + 0.015)
    footers = {
        "single frame": f"2D layers on\nframe {single}",
        "early fusion": f"conv1 in 3D over\nall {t} frames, then 2D",
        "late fusion": f"shared 2D tower on\nframes {late[0]} and {late[1]}",
        "slow fusion": f"3D, kernels {', '.join(map(str, ks))} in time,\nstrides {', '.join(map(str, ss))}",
    }
    for p, m in enumerate(FUSION_MODELS):
        x0 = label_w + p * panel_w
        xs = [x0 + 0.04 + (f + 0.5) * step for f in range(t)]

        def centre(frames, xs=xs):
            return (xs[min(frames)] + xs[max(frames)]) / 2

        _text(ax, (x0 + panel_w / 2, height - 0.3), m, FONT, weight="bold")
        for f in range(t):
            kind = "act" if f in top[m] else "io"
            fill, edge = PALETTE[kind]
            ax.add_patch(Rectangle((xs[f] - fw / 2, y_in - fh / 2), fw, fh, fc=fill, ec=edge, lw=0.7, zorder=3))
        for f in sorted({0, t - 1, min(top[m]), max(top[m])}):
            _text(ax, (xs[f], y_in - fh / 2 - 0.12), str(f))
        prev = [(xs[f], y_in + fh / 2) for f in range(t)]  # where a unit of the layer below is read
        for layer, y in zip(FUSION_LAYERS, ys):
            kind = "conv" if layer.startswith("conv") else "fc"
            fill, edge = PALETTE[kind]
            here = [(centre(u), y) for u in seen[m][layer]]
            for (x, _), below, alive in zip(here, reads[m][layer], used[m][layer]):
                for i in below:
                    colour = edge if alive else "#b0b0b0"
                    ax.plot([prev[i][0], x], [prev[i][1], y - r], color=colour, lw=0.6, zorder=2)
            for (x, _), alive in zip(here, used[m][layer]):
                fc, ec = (fill, edge) if alive else ("white", "#9a9a9a")
                ax.add_patch(Circle((x, y), r, fc=fc, ec=ec, lw=0.8, zorder=3))
            units_here = seen[m][layer]
            text = _span(units_here[0]) if len(units_here) == 1 else (
                f"{len(units_here[0])} each" if len({len(u) for u in units_here}) == 1 else "")  # fmt: skip
            if len(units_here) > 1 and all(len(u) == 1 for u in units_here):
                text = " | ".join(str(u[0]) for u in units_here)
            _text(ax, (x0 + 0.1 + dots_w, y), text, ha="left")
            prev = [(x, y + r) for x, _ in here]
        _text(ax, (x0 + panel_w / 2, 0.42), footers[m], ha="center")
    legend = ("coloured frames: those the classifier depends on; white dots: units computed but never read; "
              "beside each layer: the frames one unit sees")  # fmt: skip
    _text(ax, (MAX_WIDTH / 2, 0.1), legend, ha="center")
    counts = {m: {layer: len(seen[m][layer]) for layer in FUSION_LAYERS} for m in FUSION_MODELS}
    extent = {m: {layer: max(len(u) for u in seen[m][layer]) for layer in FUSION_LAYERS} for m in FUSION_MODELS}
    stated = {"n_frames": t, "models": FUSION_MODELS, "layers": FUSION_LAYERS, "seen": seen}
    return fig, {**stated, "units": counts, "extent": extent, "top": top, "used": used}


def temporal_average(frames: int = 16, size: int = 32, in_channels: int = 3, width: int = 16, features: int = 128,
                     num_classes: int = 9):  # fmt: skip
    """The simplest video classifier: one 2D CNN applied to every frame, its features averaged over time, a
    linear classifier (``utils.video_models.TemporalAverage``, after the "single frame" baseline of Karpathy
    et al. 2014).

    Left: a clip of ``frames`` frames (``in_channels`` × ``size`` × ``size`` each), every frame through the
    same network (shared weights), one vector of ``features`` numbers per frame, their mean over time, a
    linear layer to ``num_classes`` scores. Right: the per-frame network (``utils.video_models.FrameCNN``):
    three 3×3 convolutions of stride 2 (``width``, 2 · ``width``, 4 · ``width`` channels; no bias, batch norm,
    ReLU), the map flattened into a linear layer (``features``, ReLU). The mean is the only place where the
    frames meet, so any reordering of them (time reversal included) leaves the output unchanged.
    ``stated``: ``frames``, ``clip`` (C, T, H, W), ``frame`` (C, H, W), ``sizes`` ((C, h, w) after each
    convolution), ``flatten``, ``features``, ``num_classes``, ``parameters`` (of the whole model),
    ``shared_weights``, ``pooling`` ("mean over time") and ``order_invariant``.
    """
    t = _positive_int("frames", frames, 2)
    cin, w = _positive_int("in_channels", in_channels), _positive_int("width", width)
    f, k = _positive_int("features", features), _positive_int("num_classes", num_classes)
    s, sizes, flat, cnn_params = _frame_cnn(size, cin, w, f)
    if max(t, s, cin, 4 * w, f, k) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    params = cnn_params + f * k + k
    fig, ax = _canvas(MAX_WIDTH, 4.6, "Temporal average: one 2D CNN on every frame, features averaged over time")
    # left: the clip, frame by frame
    shown = list(range(1, t + 1)) if t <= 4 else [1, 2, 3, None, t]
    pitch = 0.86 if len(shown) > 3 else 1.2
    xs = [2.3 + pitch * (i - (len(shown) - 1) / 2) for i in range(len(shown))]
    y_frame, y_cnn, y_feat, y_mean, y_lin, y_out = 3.75, 3.05, 2.4, 1.75, 1.2, 0.68
    _text(ax, (2.3, 4.3), f"clip {cin}×{t}×{s}×{s} (channels × frames × height × width)", FONT)
    feats = []
    for x, i in zip(xs, shown):
        if i is None:
            for y in (y_frame, y_cnn, y_feat):
                _text(ax, (x, y), "…", 12)
            continue
        fr = _box(ax, (x, y_frame), 0.7, 0.38, f"frame {i}", "io", SMALL)
        cnn = _box(ax, (x, y_cnn), 0.7, 0.38, "FrameCNN", "conv", SMALL)
        feat = _box(ax, (x, y_feat), 0.7, 0.3, f"{f}", "io", SMALL)
        _arrow(ax, fr.bottom, cnn.top)
        _arrow(ax, cnn.bottom, feat.top)
        feats.append(feat)
    mean = _box(ax, (2.3, y_mean), 2.6, 0.34, f"mean over the {t} frames → {f}", "pool", SMALL)
    for feat in feats:
        end = (2.3 + 0.55 * (feat.x - 2.3) / max(abs(xs[0] - 2.3), 1e-9), mean.top[1])
        _arrow(ax, feat.bottom, end)
    lin = _box(ax, (2.3, y_lin), 2.6, 0.34, f"linear {f} → {k}", "fc", SMALL)
    out = _box(ax, (2.3, y_out), 2.6, 0.32, f"{k} class scores (logits)", "io", SMALL)
    _arrow(ax, mean.bottom, lin.top)
    _arrow(ax, lin.bottom, out.top)
    # right: inside FrameCNN, for one frame
    ins = [cin] + [c for c, _, _ in sizes[:-1]]
    rows = [[(f"conv 3×3/2, {a}→{b}", "conv"), ("BN", "norm"), ("ReLU", "act")] for a, (b, _, _) in zip(ins, sizes)]
    # the column's centre: as far right as the widest row and its size, written after it, allow
    widest = max(sum(_width(text) for text, _ in row) / 2 + 0.08 + 0.075 * len(f"{c}×{h}×{h}")
                 for row, (c, h, _) in zip(rows, sizes))  # fmt: skip
    rx = min(5.75, MAX_WIDTH - 0.05 - widest)
    _text(ax, (rx + 0.35, 4.3), "FrameCNN, for one frame", FONT)
    items = [(f"frame {cin}×{s}×{s}", 1.5), *rows]
    flat_text = f"flatten: {4 * w}·{s // 8}·{s // 8} = {flat}"
    items += [(flat_text, max(2.2, _width(flat_text, SMALL))), [(f"linear {flat}→{f}", "fc"), ("ReLU", "act")],
              (f"features: {f}", 1.5)]  # fmt: skip
    boxes = _column(ax, rx, 3.9, items, pitch=0.47)
    for box, (c, h, ww) in zip(boxes[1:4], sizes):
        _text(ax, (box.right[0] + 0.08, box.y), f"{c}×{h}×{ww}", ha="left")
    left = min(4.45, min(b.left[0] for b in boxes) - 0.08)
    ax.add_patch(Rectangle((left, 0.9), 7.95 - left, 3.25, fill=False, ec=LINE, lw=0.9, ls=(0, (3, 2)), zorder=0))
    _text(ax, (4.0, 0.3), "every FrameCNN box is the same network (shared weights), applied to each frame alone",
          ha="center")  # fmt: skip
    _text(ax, (4.0, 0.1), "the mean is the only place where the frames meet: reordering them cannot change the output",
          ha="center")  # fmt: skip
    stated = {"frames": t, "clip": (cin, t, s, s), "frame": (cin, s, s), "sizes": sizes, "flatten": flat}
    stated |= {"features": f, "num_classes": k, "parameters": params, "shared_weights": True}
    return fig, stated | {"pooling": "mean over time", "order_invariant": True}


# ------------------------------------------------------------------- chapter 8 3D convolutions, video ResNets
C3D_WIDTHS = (64, 128, 256, 512, 512)  # conv1a, conv2a, conv3a/b, conv4a/b, conv5a/b (Tran et al. 2015)


def _shape_text(shape) -> str:
    return "×".join(map(str, shape))


def c3d(frames: int = 16, size: int = 112, widths=C3D_WIDTHS):
    """A 3D convolution as a sum of 2D convolutions over its kernel's time taps (left), and C3D (Tran et al.
    2015, right): eight 3×3×3 convolutions (stride 1, padding 1: the size is kept, each followed by a ReLU)
    in five groups (``conv1a``; ``conv2a``; ``conv3a``, ``conv3b``; ``conv4a``, ``conv4b``; ``conv5a``,
    ``conv5b``) with ``widths`` channels, max-pooling after each group: ``pool1`` 1×2×2 (time is not merged
    yet), ``pool2`` to ``pool5`` 2×2×2, then two fully connected layers of 4,096 units and a softmax, on a
    clip of 3 × ``frames`` × ``size`` × ``size`` (the paper's is 3×16×112×112).
    ``stated``: ``input`` (C, T, H, W), ``kernel`` (3, 3, 3), ``taps`` (3), ``convs`` (the names in each
    group), ``channels``, ``pools`` (each pool's kernel, also its stride), ``sizes`` ((C, T, H, W) after
    pool1 ... pool4), ``conv5`` (after ``conv5b``, before ``pool5``) and ``fc`` ((4096, 4096)).
    """
    t, s = _positive_int("frames", frames, 8), _positive_int("size", size, 16)
    if t % 8 or s % 16:
        raise ValueError(f"frames must be a multiple of 8 and size of 16 (pool2 to pool4 halve them), got {t}, {s}")
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) != 5:
        raise ValueError(f"widths must give the channels of the 5 groups, got {widths!r}")
    chans = [_positive_int("each width", c) for c in widths]
    if t > 512 or s > 1024 or max(chans) > 9_999:
        raise ValueError("an argument is too large to write in the drawing (frames <= 512, size <= 1024)")
    convs = [["conv1a"], ["conv2a"], ["conv3a", "conv3b"], ["conv4a", "conv4b"], ["conv5a", "conv5b"]]
    pools = [(1, 2, 2)] + [(2, 2, 2)] * 4
    sizes, shape = [], (t, s, s)
    for c, p in zip(chans[:4], pools[:4]):
        shape = tuple(d // k for d, k in zip(shape, p))
        sizes.append((c, *shape))
    conv5 = (chans[4], *shape)
    fig, ax = _canvas(MAX_WIDTH, 4.0, "A 3D convolution is a sum of 2D ones; C3D: 3×3×3 convolutions everywhere")
    # left: output frame t = sum over the taps tau of a 2D convolution of input frame t + tau - 1
    _text(ax, (1.85, 3.8), "one 3×3×3 convolution, at output frame t", FONT)
    names = ["t−2", "t−1", "t", "t+1", "t+2"]
    frames_y, conv_y, add_y, out_y = 3.25, 2.4, 1.65, 1.05
    xs = [0.3 + 0.78 * i for i in range(5)]
    boxes = []
    for i, (x, name) in enumerate(zip(xs, names)):
        used = 1 <= i <= 3
        kind = "io" if used else "merge"
        boxes.append(_box(ax, (x, frames_y), 0.62, 0.42, f"frame\n{name}", kind, SMALL, ls="-" if used else "--"))
    add = _op(ax, (xs[2], add_y), "+")
    for tau, i in enumerate(range(1, 4)):
        conv = _box(ax, (xs[i], conv_y), 0.72, 0.46, f"2D conv\nW[:, :, {tau}]", "conv", SMALL)
        _arrow(ax, boxes[i].bottom, conv.top)
        if i == 2:
            _arrow(ax, conv.bottom, add.top)
        else:
            _arrow(ax, conv.bottom, (conv.x, add_y), add.left if i < 2 else add.right)
    out = _box(ax, (xs[2], out_y), 1.35, 0.42, "output frame t\nC_out×H×W", "io", SMALL)
    _arrow(ax, add.bottom, out.top)
    _text(ax, (1.85, 0.45), "kernel W: C_out × C_in × 3 × 3 × 3, three 2D kernels;", ha="center")
    _text(ax, (1.85, 0.22), "output frame t + 1 reads frames t, t + 1, t + 2", ha="center")
    ax.plot([3.72, 3.72], [0.1, 3.85], color="#999999", lw=0.8, ls="--")
    # right: C3D, one row per group, the size after it at the right
    cx, size_x = 5.4, 6.78
    _text(ax, (cx + 0.4, 3.8), "C3D (Tran et al. 2015)", FONT)
    rows = [_box(ax, (cx, 3.42), 1.9, 0.28, f"clip 3×{t}×{s}×{s}", "io", SMALL)]
    for g, (names_g, c, p) in enumerate(zip(convs, chans, pools)):
        y = 2.98 - 0.44 * g
        label = f"{', '.join(names_g)}: 3×3×3, {c}".replace("a, conv", "a, ")
        parts = [(label, "conv")] + ([(f"pool{g + 1} {_shape_text(p)}", "pool")] if g < 4 else [])
        rows.append(_row(ax, cx, y, parts, h=0.28, joined=True))
        _text(ax, (size_x, y), _shape_text(sizes[g] if g < 4 else conv5), ha="left")
    parts = [("pool5 2×2×2", "pool"), ("fc6, fc7: 4096", "fc"), ("softmax", "fc")]
    rows.append(_row(ax, cx, 2.98 - 0.44 * 5, parts, h=0.28, joined=True))
    for a, b in zip(rows, rows[1:]):
        _arrow(ax, a.bottom, b.top)
    _text(ax, (cx + 0.4, 0.45), "every convolution: stride 1, padding 1, ReLU;", ha="center")
    _text(ax, (cx + 0.4, 0.22), "pool1 is 1×2×2: time is merged from pool2 on", ha="center")
    stated = {"input": (3, t, s, s), "kernel": (3, 3, 3), "taps": 3, "convs": convs, "channels": chans}
    return fig, {**stated, "pools": pools, "sizes": sizes, "conv5": conv5, "fc": (4096, 4096)}


def _video_midplanes(n_in: int, n_out: int, kt: int = 3, k: int = 3) -> int:
    return (kt * k * k * n_in * n_out) // (k * k * n_in + kt * n_out)


def conv2plus1d(channels=(64, 64), strides=None, frames: int | None = None, size: int | None = None,
                num_classes: int | None = None):  # fmt: skip
    """A stack of 3×3×3 convolutions (left) beside its (2+1)D factorisation (right, Tran et al. 2018).

    Layer ``i`` goes from ``channels[i]`` to ``channels[i + 1]`` channels with stride ``strides[i]`` =
    ``(temporal, spatial)`` (default 1, 1): on the left a 3×3×3 convolution, batch norm and ReLU; on the
    right a 1×3×3 convolution (the spatial stride) to M_i channels, batch norm, ReLU, then a 3×1×1
    convolution (the temporal stride) to ``channels[i + 1]``, batch norm and ReLU, with
    M_i = ⌊3·9·N_in·N_out / (9·N_in + 3·N_out)⌋ so that both have about the same weights (biases: none).
    With ``frames`` and ``size`` the output size of each layer is written; with ``num_classes`` both end in
    global average pooling and a linear classifier. ``stated``: ``channels``, ``strides``, ``midplanes``,
    ``weights_3d`` and ``weights_2plus1d`` (convolution weights per layer), ``bn_params`` (batch-norm
    parameters per column), ``relus`` (``{"3d": n, "(2+1)d": 2 n}``), ``sizes`` ((C, T, H, W) after each
    layer, when given) and ``num_classes``.
    """
    if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or not 2 <= len(channels) <= 5:
        raise ValueError(f"channels must give 1 to 4 layers (2 to 5 numbers), got {channels!r}")
    chans = [_positive_int("each channel count", c) for c in channels]
    n = len(chans) - 1
    strides = [(1, 1)] * n if strides is None else [tuple(s) for s in strides]
    if len(strides) != n or any(len(s) != 2 for s in strides):
        raise ValueError(f"strides must give (temporal, spatial) for each of the {n} layers, got {strides!r}")
    strides = [(_positive_int("each stride", a), _positive_int("each stride", b)) for a, b in strides]
    if (frames is None) != (size is None):
        raise ValueError("give both frames and size, or neither")
    classes = None if num_classes is None else _positive_int("num_classes", num_classes)
    mids = [_video_midplanes(a, b) for a, b in zip(chans, chans[1:])]
    if min(mids) < 1:
        raise ValueError(f"the channels give a (2+1)D convolution with no middle channel: {mids}")
    if max(*chans, *mids, frames or 0, size or 0, classes or 0) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    w3 = [27 * a * b for a, b in zip(chans, chans[1:])]
    w21 = [9 * a * m + 3 * m * b for a, m, b in zip(chans, mids, chans[1:])]
    sizes = None
    if frames is not None:
        t, s = _positive_int("frames", frames), _positive_int("size", size)
        sizes = []
        for c, (st, ss) in zip(chans[1:], strides):
            t, s = (t - 1) // st + 1, (s - 1) // ss + 1  # kernel 3, padding 1
            sizes.append((c, t, s, s))

    def conv_text(kernel, a, b, stride):
        return f"{kernel} conv, {a}→{b}" + (f", stride {stride}" if stride != "1×1×1" else "")

    pitch = 0.42
    rows = 2 * n + (0 if sizes is None else n) + (1 if classes else 0)  # below the input
    height = 0.8 + pitch * rows + 1.05
    title = "3D convolution vs its (2+1)D factorisation" if n == 1 else "3D convolutions vs their (2+1)D factorisation"
    title += " (same weights)" if w3 == w21 else ""
    fig, ax = _canvas(MAX_WIDTH, height, title)
    lx, rx = 1.95, 5.85
    top = height - 0.35
    _text(ax, (lx, top), "3D: 3×3×3 kernels", FONT, weight="bold")
    _text(ax, (rx, top), "(2+1)D: 1×3×3, then 3×1×1", FONT, weight="bold")
    first = f"input: {chans[0]} channels" if sizes is None else f"input {chans[0]}×{frames}×{size}×{size}"
    y = top - 0.42
    left_prev = _box(ax, (lx, y), _width(first, SMALL), 0.26, first, "io", SMALL)
    right_prev = _box(ax, (rx, y), _width(first, SMALL), 0.26, first, "io", SMALL)
    for i, (a, b, m, (st, ss)) in enumerate(zip(chans, chans[1:], mids, strides)):
        ya, yb = y - pitch, y - 2 * pitch
        full = f"{st}×{ss}×{ss}"
        left = _row(ax, lx, (ya + yb) / 2, [(conv_text("3×3×3", a, b, full), "conv"), ("BN", "norm"),
                                             ("ReLU", "act")], h=0.28, joined=True)  # fmt: skip
        spatial = _row(ax, rx, ya, [(conv_text("1×3×3", a, m, f"1×{ss}×{ss}"), "conv"), ("BN", "norm"),
                                    ("ReLU", "act")], h=0.28, joined=True)  # fmt: skip
        temporal = _row(ax, rx, yb, [(conv_text("3×1×1", m, b, f"{st}×1×1"), "conv"), ("BN", "norm"),
                                     ("ReLU", "act")], h=0.28, joined=True)  # fmt: skip
        _arrow(ax, left_prev.bottom, left.top)
        _arrow(ax, right_prev.bottom, spatial.top)
        _arrow(ax, spatial.bottom, temporal.top)
        left_prev, right_prev = left, temporal
        y = yb
        if sizes is not None:
            y -= pitch
            text = _shape_text(sizes[i])
            left_prev_ = _box(ax, (lx, y), _width(text, SMALL), 0.26, text, "io", SMALL)
            right_prev_ = _box(ax, (rx, y), _width(text, SMALL), 0.26, text, "io", SMALL)
            _arrow(ax, left_prev.bottom, left_prev_.top)
            _arrow(ax, right_prev.bottom, right_prev_.top)
            left_prev, right_prev = left_prev_, right_prev_
    if classes:
        y -= pitch
        parts = [("global average pool", "pool"), (f"linear {chans[-1]}→{classes}", "fc")]
        for x, prev in ((lx, left_prev), (rx, right_prev)):
            head = _row(ax, x, y, parts, h=0.28, joined=True)
            _arrow(ax, prev.bottom, head.top)
    bn3, bn21 = 2 * sum(chans[1:]), 2 * sum(chans[1:]) + 2 * sum(mids)
    y -= 0.45
    _text(ax, (lx, y), f"convolution weights: {sum(w3):,}; batch norm: {bn3:,}")
    _text(ax, (rx, y), f"convolution weights: {sum(w21):,}; batch norm: {bn21:,}")
    _text(ax, (lx, y - 0.22), f"ReLUs: {n}")
    _text(ax, (rx, y - 0.22), f"ReLUs: {2 * n}")
    ms = ", ".join(map(str, mids))
    rule = f"M = ⌊3·9·N_in·N_out / (9·N_in + 3·N_out)⌋: {ms}"
    _text(ax, (MAX_WIDTH / 2, 0.12), rule + " (as many weights as the 3D kernel, to rounding)", ha="center")
    stated = {"channels": chans, "strides": strides, "midplanes": mids, "weights_3d": w3, "weights_2plus1d": w21}
    return fig, {**stated, "bn_params": {"3d": bn3, "(2+1)d": bn21}, "relus": {"3d": n, "(2+1)d": 2 * n},
                 "sizes": sizes, "num_classes": classes}  # fmt: skip


VIDEO_RESNETS = ("r3d_18", "mc3_18", "r2plus1d_18")


def video_resnet(variants=VIDEO_RESNETS, frames: int = 16, size: int = 112, num_classes: int = 400):
    """torchvision's 18-layer video ResNets side by side (Tran et al. 2018): the stem, the four stages of two
    basic blocks (64, 128, 256, 512 channels) and the head, with each stage's kernels and output size for a
    clip of 3 × ``frames`` × ``size`` × ``size``.

    * ``r3d_18``: a 3×7×7 stem (stride 1×2×2) and 3×3×3 convolutions; ``layer2`` to ``layer4`` halve time,
      height and width (stride 2×2×2 in their first block).
    * ``mc3_18`` (mixed convolutions): the same 3D stem and ``layer1``, then 1×3×3 (2D) convolutions whose
      stride 1×2×2 leaves time alone.
    * ``r2plus1d_18``: every convolution factorised into 1×k×k then 3×1×1 (the stem with 45 middle
      channels), strides as ``r3d_18``.

    ``stated``: ``{variant: {"stem": (C, T, H, W), "layer1": ..., "layer4": ..., "kernels": {stage: text}}}``,
    plus ``frames``, ``size`` and ``num_classes``.
    """
    variants = tuple(variants)
    if not variants or len(set(variants)) != len(variants) or any(v not in VIDEO_RESNETS for v in variants):
        raise ValueError(f"variants must be distinct names from {VIDEO_RESNETS}, got {variants!r}")
    t0, s0 = _positive_int("frames", frames), _positive_int("size", size)
    classes = _positive_int("num_classes", num_classes)
    if max(t0, s0, classes) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    half = lambda d: (d - 1) // 2 + 1  # noqa: E731  (kernel 3 or 7, padding 1 or 3, stride 2)
    stated = {}
    for v in variants:
        t, s = t0, half(s0)
        sizes = {"stem": (64, t, s, s)}
        kernels = {"stem": "1×7×7 (45) + 3×1×1" if v == "r2plus1d_18" else "3×7×7 conv"}
        for i, c in enumerate((64, 128, 256, 512), start=1):
            if i > 1:
                s = half(s)
                t = t if v == "mc3_18" else half(t)
            sizes[f"layer{i}"] = (c, t, s, s)
            if v == "r2plus1d_18":
                kernels[f"layer{i}"] = "(2+1)D: 1×3×3 + 3×1×1"
            else:
                kernels[f"layer{i}"] = "3×3×3" if v == "r3d_18" or i == 1 else "1×3×3 (2D)"
        stated[v] = {**sizes, "kernels": kernels}
    n = len(variants)
    label_w = 0.62
    col_w = (MAX_WIDTH - label_w - 0.05) / n
    pitch, bh = 0.52, 0.4
    stages = ["stem", "layer1", "layer2", "layer3", "layer4"]
    height = 0.55 + pitch * (len(stages) + 2) + 0.4
    fig, ax = _canvas(MAX_WIDTH, height, f"torchvision's 18-layer video ResNets on a {t0}×{s0}×{s0} clip")
    top = height - 0.3
    ys = [top - 0.42 - pitch * i for i in range(len(stages) + 2)]
    for name, y in zip(["input", *stages, "head"], ys):
        _text(ax, (0.05, y), name, ha="left")
    for j, v in enumerate(variants):
        cx = label_w + col_w * (j + 0.5)
        bw = col_w - 0.16
        _text(ax, (cx, top), v, FONT, weight="bold")
        prev = _box(ax, (cx, ys[0]), bw, 0.28, f"clip 3×{t0}×{s0}×{s0}", "io", SMALL)
        for stage, y in zip(stages, ys[1:]):
            kind = "conv"
            blocks = "" if stage == "stem" else "2 blocks, "
            text = f"{blocks}{stated[v]['kernels'][stage]}\n{_shape_text(stated[v][stage])}"
            box = _box(ax, (cx, y), bw, bh, text, kind, SMALL)
            _arrow(ax, prev.bottom, box.top)
            prev = box
        head = _box(ax, (cx, ys[-1]), bw, 0.28, f"avg pool, fc 512→{classes}", "fc", SMALL)
        _arrow(ax, prev.bottom, head.top)
    legend = ("a block: two convolutions with batch norm and ReLU, and a shortcut (a strided 1×1×1 convolution "
              "where the shape changes)")  # fmt: skip
    _text(ax, (MAX_WIDTH / 2, 0.15), legend, ha="center")
    return fig, {**stated, "frames": t0, "size": s0, "num_classes": classes}


# ------------------------------------------------------------------------------------- chapter 8 two-stream
def two_stream(size: int = 32, n_frames: int = 16, n_flows: int = 10, width: int = 16, features: int = 128,
               num_classes: int = 9):  # fmt: skip
    """The two-stream network of Simonyan and Zisserman (2014), as ``utils.video_models.TwoStream`` builds it.

    From a clip of ``n_frames`` RGB frames of ``size`` × ``size`` pixels (numbered from 0), the **spatial**
    (appearance) stream sees the middle frame ``n_frames // 2``; the **temporal** (motion) stream sees a stack
    of the ``n_flows`` optical flows around the middle, from frame ``s`` to ``s + 1`` up to ``s + L - 1`` to
    ``s + L`` with ``s = (n_frames - 1 - L) // 2``, computed beforehand (not learned) and stacked as ``2L``
    channels u, v, u, v, ... (the paper's "optical flow stacking"). Each stream is a ``FrameCNN``: three 3×3
    convolutions of stride 2 (``width``, 2 · ``width``, 4 · ``width`` channels; no bias, batch norm, ReLU),
    the map flattened into a linear layer (``features``, ReLU), then its own linear classifier and softmax.
    The two streams share no weights and differ only in their first convolution's input channels; their
    class probabilities are averaged (late fusion). ``stated``: ``clip`` (C, T, H, W), ``middle_frame``,
    ``frame`` (C, H, W), ``flows``, ``flow_pairs`` (the (t, t + 1) of each flow, in stacking order),
    ``stack`` (2L, H, W), ``sizes`` ((C, h, w) after each convolution, the same in both streams),
    ``flatten``, ``features``, ``num_classes``, ``parameters`` (``{"appearance": ..., "motion": ...}``),
    ``shared_weights`` (False) and ``fusion`` ("mean of probabilities").
    """
    t = _positive_int("n_frames", n_frames, 2)
    n = _positive_int("n_flows", n_flows)
    if n >= t:
        raise ValueError(f"{n} flows need clips of at least {n + 1} frames, got n_frames={t}")
    w, f = _positive_int("width", width), _positive_int("features", features)
    k = _positive_int("num_classes", num_classes)
    s, sizes, flat, appearance = _frame_cnn(size, 3, w, f)
    if max(t, 2 * n, 4 * w, f, k) > 9_999 or t > 999:
        raise ValueError("an argument is too large to write in the drawing")
    start, middle = (t - 1 - n) // 2, t // 2
    pairs = [(start + i, start + i + 1) for i in range(n)]
    if flat > 999_999:
        raise ValueError(f"the flattened map ({flat} numbers) is too large to write in the drawing")
    # each stream: its frame network and its own classifier
    params = {"appearance": appearance + f * k + k, "motion": _frame_cnn(s, 2 * n, w, f)[3] + f * k + k}
    fig, ax = _canvas(MAX_WIDTH, 5.9, "Two-stream network: a frame for appearance, stacked optical flow for motion")
    xl, xr, xm, pitch = 2.05, 5.95, 4.0, 0.5
    y = [5.65 - pitch * i for i in range(11)]  # the rows, from the top
    clip = _box(ax, (xm, y[0]), 3.3, 0.3, f"clip 3×{t}×{s}×{s} (frames 0–{t - 1})", "io", SMALL)
    frame = _box(ax, (xl, y[2]), 2.3, 0.38, f"frame {middle} (the middle), RGB\n3×{s}×{s}", "io", SMALL)
    flow_text = f"optical flow, frames {pairs[0][0]}→{pairs[0][1]}" + (
        f", …, {pairs[-1][0]}→{pairs[-1][1]}" if n > 1 else "")  # fmt: skip
    flow = _box(ax, (xr, y[1]), 3.0, 0.38, f"{flow_text}\n{n} flow{'s' * (n > 1)}, computed beforehand (not learned)",
                "merge", SMALL)  # fmt: skip
    order = "u, v" if n == 1 else ("u, v, u, v" if n == 2 else "u, v, u, v, …")
    stack = _box(ax, (xr, y[2]), 2.3, 0.38, f"stacked: {order}\n{2 * n}×{s}×{s}", "io", SMALL)
    _arrow(ax, (clip.left[0] + 0.3, clip.bottom[1]), (xl, y[0] - 0.25), frame.top)
    _arrow(ax, (clip.right[0] - 0.3, clip.bottom[1]), (xr, y[0] - 0.25), flow.top)
    _arrow(ax, flow.bottom, stack.top)
    columns = {}
    for x, cin, top in ((xl, 3, frame), (xr, 2 * n, stack)):
        items = [[(f"conv 3×3/2, {a}→{b}", "conv"), ("BN", "norm"), ("ReLU", "act")]
                 for a, b in ((cin, w), (w, 2 * w), (2 * w, 4 * w))]  # fmt: skip
        flat_text = f"flatten: {4 * w}·{s // 8}·{s // 8} = {flat}"
        items += [(flat_text, max(2.2, _width(flat_text, SMALL))), [(f"linear {flat}→{f}", "fc"), ("ReLU", "act")],
                  [(f"linear {f}→{k}", "fc"), ("softmax", "act")]]  # fmt: skip
        boxes = _column(ax, x, y[3], items, pitch=pitch)
        _arrow(ax, top.bottom, boxes[0].top)
        columns[x] = boxes
    for (c, h, ww), yy in zip(sizes, y[3:6]):
        _text(ax, (xm, yy), f"{c}×{h}×{ww}")
    _text(ax, (xm, y[3] + 0.3), "both streams' maps")
    names = ((0.2, "spatial stream (appearance)"), (MAX_WIDTH - 0.2, "temporal stream (motion)"))
    for x, name in names:
        _text(ax, (x, (y[3] + y[8]) / 2), name, FONT, rotation=90)
    mean = _box(ax, (xm, y[9]), 3.0, 0.32, f"mean of the two probability vectors → {k}", "pool", SMALL)
    for x in (xl, xr):
        last = columns[x][-1]
        _arrow(ax, last.bottom, (x, mean.y), mean.left if x < xm else mean.right)
    out = _box(ax, (xm, y[10]), 3.0, 0.3, f"{k} class probabilities (late fusion)", "io", SMALL)
    _arrow(ax, mean.bottom, out.top)
    _text(ax, (xm, 0.15), "the streams share no weights: each is a FrameCNN with its own classifier; only the "
          "first convolution's input differs", ha="center")  # fmt: skip
    stated = {"clip": (3, t, s, s), "middle_frame": middle, "frame": (3, s, s), "flows": n, "flow_pairs": pairs}
    stated |= {"stack": (2 * n, s, s), "sizes": sizes, "flatten": flat, "features": f, "num_classes": k}
    return fig, stated | {"parameters": params, "shared_weights": False, "fusion": "mean of probabilities"}


# ------------------------------------------------------------------------------------- chapter 8 CNN + LSTM
def cnn_lstm(frames: int = 16, size: int = 32, in_channels: int = 3, width: int = 16, features: int = 128,
             hidden: int = 128, num_classes: int = 9):  # fmt: skip
    """A CNN + LSTM video classifier (Donahue et al. 2015, Ng et al. 2015), as ``utils.video_models.CNNLSTM``
    builds it: the same 2D CNN on every frame, an LSTM over the sequence of frame features, the last hidden
    state classified.

    A clip of ``frames`` frames (``in_channels`` × ``size`` × ``size`` each) is read frame by frame: every
    frame goes through the same ``FrameCNN`` (shared weights: three 3×3 convolutions of stride 2 with
    ``width``, 2 · ``width`` and 4 · ``width`` channels, batch norm and ReLU, the map flattened into a linear
    layer of ``features`` numbers and a ReLU), and the LSTM (``nn.LSTM(features, hidden)``) takes one step per
    frame, carrying its hidden and cell states (h, c) from frame to frame, starting from zeros. Only the last
    hidden state, which has seen every frame, goes to the linear classifier (``num_classes`` scores); the
    earlier ones are computed and not used. ``stated``: ``frames``, ``clip`` (C, T, H, W), ``frame``
    (C, H, W), ``sizes`` ((C, h, w) after each convolution), ``flatten``, ``features``, ``hidden``,
    ``num_classes``, ``lstm_weights`` (the shapes of ``weight_ih_l0`` (4·hidden × features) and
    ``weight_hh_l0`` (4·hidden × hidden)), ``lstm_parameters``, ``parameters`` (of the whole model),
    ``shared_weights``, ``classified`` ("last hidden state") and ``order_invariant`` (False).
    """
    t = _positive_int("frames", frames, 2)
    cin, w = _positive_int("in_channels", in_channels), _positive_int("width", width)
    f, h = _positive_int("features", features), _positive_int("hidden", hidden)
    k = _positive_int("num_classes", num_classes)
    s, sizes, flat, cnn_params = _frame_cnn(size, cin, w, f)
    if max(t, s, cin, 4 * w, f, h, k) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    lstm_params = 4 * (h * (f + h) + 2 * h)
    params = cnn_params + lstm_params + h * k + k
    fig, ax = _canvas(MAX_WIDTH, 4.75, "CNN + LSTM: one 2D CNN on every frame, an LSTM over the frames' features")
    shown = list(range(1, t + 1)) if t <= 4 else [1, 2, 3, None, t]
    pitch = (6.83 - 1.95) / (len(shown) - 1)  # the last frame's column is above the classifier, right
    xs = [1.95 + pitch * i for i in range(len(shown))]
    y_frame, y_cnn, y_feat, y_lstm, y_lin, y_out = 3.85, 3.2, 2.6, 1.9, 1.1, 0.5
    _text(ax, ((xs[0] + xs[-1]) / 2, 4.45), f"clip {cin}×{t}×{s}×{s} (channels × frames × height × width)", FONT)
    h0 = _box(ax, (0.5, y_lstm), 0.72, 0.42, "$h_0, c_0$\n= 0", "io", SMALL)
    prev, cells = h0, []
    for j, (x, i) in enumerate(zip(xs, shown)):
        if i is None:
            for y in (y_frame, y_cnn, y_feat):
                _text(ax, (x, y), "…", 12)
            _text(ax, (x, y_lstm), "…", 12)
            _arrow(ax, prev.right, (x - 0.2, y_lstm))
            _text(ax, ((prev.right[0] + x - 0.2) / 2, y_lstm + 0.16), f"$h_{{{shown[j - 1]}}}, c_{{{shown[j - 1]}}}$")
            prev = _Box(x, y_lstm, 0.4, 0.1)
            continue
        fr = _box(ax, (x, y_frame), 0.74, 0.34, f"frame {i}", "io", SMALL)
        cnn = _box(ax, (x, y_cnn), 0.74, 0.34, "FrameCNN", "conv", SMALL)
        feat = _box(ax, (x, y_feat), 0.5, 0.28, f"{f}", "io", SMALL)
        cell = _box(ax, (x, y_lstm), 0.62, 0.42, "LSTM", "rnn", SMALL)
        _arrow(ax, fr.bottom, cnn.top)
        _arrow(ax, cnn.bottom, feat.top)
        _arrow(ax, feat.bottom, cell.top)
        _arrow(ax, prev.right, cell.left)
        if prev is not h0:  # the state carried in: that of the frame before this one
            _text(ax, ((prev.right[0] + cell.left[0]) / 2, y_lstm + 0.16), f"$h_{{{i - 1}}}, c_{{{i - 1}}}$")
        prev = cell
        cells.append(cell)
    last = cells[-1]
    lin = _box(ax, (last.x, y_lin), 1.35, 0.32, f"linear {h} → {k}", "fc", SMALL)
    out = _box(ax, (last.x, y_out), 1.35, 0.3, f"{k} class score{'s' * (k > 1)}", "io", SMALL)
    _arrow(ax, last.bottom, lin.top)
    _arrow(ax, lin.bottom, out.top)
    _text(ax, (last.x + 0.1, (last.bottom[1] + lin.top[1]) / 2), f"$h_{{{t}}}$: {h}", ha="left")
    notes = [
        "FrameCNN, the same weights for every frame: three 3×3 convolutions of stride 2",
        f"({', '.join(f'{c}×{a}×{b}' for c, a, b in sizes)}), flatten {flat:,}, linear → {f}, ReLU",
        f"LSTM: nn.LSTM({f}, {h}), one step per frame, (h, c) carried from frame to frame",
        f"parameters: FrameCNN {cnn_params:,}, LSTM {lstm_params:,}, classifier {h * k + k:,}",
        f"only the last hidden state $h_{{{t}}}$, which has seen every frame, is classified",
    ]
    for n, line in enumerate(notes):
        _text(ax, (0.12, 1.3 - 0.25 * n), line, ha="left")
    stated = {"frames": t, "clip": (cin, t, s, s), "frame": (cin, s, s), "sizes": sizes, "flatten": flat}
    stated |= {"features": f, "hidden": h, "num_classes": k, "lstm_weights": {"weight_ih_l0": (4 * h, f),
               "weight_hh_l0": (4 * h, h)}, "lstm_parameters": lstm_params, "parameters": params}  # fmt: skip
    return fig, stated | {"shared_weights": True, "classified": "last hidden state", "order_invariant": False}


# ------------------------------------------------------------------------------ chapter 9 self-supervised
def digit_encoder(size: int = 28, in_channels: int = 1, width: int = 16, per_class=(1, 10, 100)):
    """Chapter 9's ``DigitEncoder`` (``utils.self_supervised``) and the protocol that judges its features.

    Left, the encoder: a 3 × 3 convolution with ``width`` channels, then three of stride 2 (2, 4 and 8 ×
    ``width`` channels), each without bias and followed by batch norm and ReLU, then global average pooling
    to ``8 × width`` features. Right, the evaluation protocol: ``per_class`` labelled images of each class
    go through the **frozen** encoder, and a linear probe (logistic regression on standardised features,
    fitted with L-BFGS) and a k-NN classifier (cosine similarity, majority vote) are measured on the test
    set. ``stated``: ``input`` (C, H, W), ``sizes`` ((C, h, w) after each convolution), ``strides``,
    ``features``, ``conv_parameters``, ``norm_parameters``, ``parameters``, ``per_class``, ``frozen``
    (True) and ``classifiers``.
    """
    s, cin = _positive_int("size", size), _positive_int("in_channels", in_channels)
    w = _positive_int("width", width)
    if isinstance(per_class, (int, np.integer)):
        per_class = (per_class,)
    per_class = tuple(_positive_int("per_class", m) for m in per_class)
    if not per_class or len(per_class) > 4:
        raise ValueError(f"per_class must hold 1 to 4 numbers of labels per class, got {per_class!r}")
    if max(s, cin, 8 * w, *per_class) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    chans, strides = [cin, w, 2 * w, 4 * w, 8 * w], [1, 2, 2, 2]
    sizes, side = [], s
    for c, stride in zip(chans[1:], strides):
        side = (side - 1) // stride + 1  # 3 x 3, padding 1
        sizes.append((c, side, side))
    conv_params = sum(9 * a * b for a, b in zip(chans[:-1], chans[1:]))
    norm_params = 2 * sum(chans[1:])
    fig, ax = _canvas(MAX_WIDTH, 4.4, "DigitEncoder and the protocol: frozen features, a linear probe and k-NN")
    x = 1.9
    _text(ax, (x, 4.25), "DigitEncoder", FONT, weight="bold")
    prev = _box(ax, (x, 3.8), 1.9, 0.32, f"image {cin}×{s}×{s}", "io", SMALL)
    for y, a, (c, h, hw), stride in zip((3.22, 2.64, 2.06, 1.48), chans, sizes, strides):
        conv = _box(ax, (x, y), 2.4, 0.4, f"3×3 conv {a}→{c}, stride {stride}\nbatch norm, ReLU", "conv", SMALL)
        _arrow(ax, prev.bottom, conv.top)
        _text(ax, (x + 1.32, y), f"{c}×{h}×{hw}", ha="left")
        prev = conv
    gap = _box(ax, (x, 0.95), 2.4, 0.32, "global average pooling", "pool", SMALL)
    feat = _box(ax, (x, 0.4), 1.9, 0.32, f"{8 * w} features", "io", SMALL)
    _arrow(ax, prev.bottom, gap.top)
    _arrow(ax, gap.bottom, feat.top)
    cx = 6.1
    m_text = ", ".join(str(m) for m in per_class)
    _text(ax, (cx, 4.25), "The evaluation protocol", FONT, weight="bold")
    labelled = _box(ax, (cx, 3.7), 3.3, 0.46, f"m labelled images per class\n(m = {m_text}), drawn at random", "io",
                    SMALL)  # fmt: skip
    frozen = _box(ax, (cx, 2.85), 3.3, 0.46, "the same encoder, frozen (no gradient):\ntheir features", "conv", SMALL)
    _arrow(ax, labelled.bottom, frozen.top)
    _arrow(ax, feat.right, (4.3, feat.y), (4.3, frozen.y), frozen.left)
    probe = _box(ax, (5.25, 1.75), 1.6, 0.72, "linear probe\nlogistic regression,\nstandardised, L-BFGS", "fc", SMALL)
    knn = _box(ax, (7.05, 1.75), 1.5, 0.72, "k-NN\nk nearest by cosine,\nmajority vote", "se", SMALL)
    for box in (probe, knn):
        _arrow(ax, (box.x, frozen.bottom[1]), box.top)
        out = _box(ax, (box.x, 0.78), box.w, 0.4, "accuracy on\nthe test set", "io", SMALL)
        _arrow(ax, box.bottom, out.top)
    total = conv_params + norm_params
    counts = f"DigitEncoder's parameters: {total:,}\n(convolutions {conv_params:,}, batch norm {norm_params:,})"
    _text(ax, (cx, 0.25), counts)
    stated = {"input": (cin, s, s), "sizes": sizes, "strides": strides, "features": 8 * w}
    stated |= {"conv_parameters": conv_params, "norm_parameters": norm_params, "parameters": total}
    return fig, stated | {"per_class": per_class, "frozen": True, "classifiers": ("linear probe", "k-NN")}


# ----------------------------------------------------------------------------------------- chapter 9 SimCLR
def simclr(width: int = 16, hidden: int = 128, out: int = 128, batch: int = 256, temperature: float = 0.5,
           size: int = 28):  # fmt: skip
    """SimCLR (Chen et al. 2020) as chapter 9 trains it on grey digits.

    Each of the ``batch`` images x (1 × ``size`` × ``size``) gives two random views t(x), t′(x) (crop and
    resize, rotation, shift, contrast, brightness, noise: ``utils.self_supervised.augment``); the same
    encoder f (``utils.self_supervised.DigitEncoder(width)``: four 3×3 convolutions with batch norm and ReLU,
    global average pooling) maps each view to its representation h (``8 · width`` numbers), and the same
    projection head g (linear ``8 · width`` → ``hidden``, ReLU, linear ``hidden`` → ``out``) to z. NT-Xent
    at ``temperature`` scores each of the 2N views on picking its partner among the other 2N − 1, so each
    anchor has 2N − 2 negatives. After training, g is discarded and the linear probe and k-NN read h.
    ``stated``: ``input``, ``views_per_image``, ``views`` (2N), ``negatives`` (2N − 2), ``features``,
    ``encoder_parameters``, ``head`` (the three widths), ``head_parameters``, ``temperature``,
    ``shared_weights`` (True) and ``probe_reads`` ("h").
    """
    w, hid, o = _positive_int("width", width), _positive_int("hidden", hidden), _positive_int("out", out)
    n, s = _positive_int("batch", batch, 2), _positive_int("size", size, 8)
    if not (isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if max(8 * w, hid, o, 2 * n, s) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    f = 8 * w
    chans = [1, w, 2 * w, 4 * w, 8 * w]
    encoder_params = sum(9 * a * b + 2 * b for a, b in zip(chans[:-1], chans[1:]))
    head_params = f * hid + hid + hid * o + o
    fig, ax = _canvas(MAX_WIDTH, 5.3, "SimCLR: two views, one encoder, one projection head, NT-Xent")
    xl, xr, xm = 2.3, 5.7, 4.0
    ys = {"x": 5.0, "view": 4.15, "f": 3.35, "h": 2.6, "g": 1.85, "z": 1.15, "loss": 0.4}
    image = _box(ax, (xm, ys["x"]), 2.6, 0.34, f"image x, 1×{s}×{s}", "io", SMALL)
    encoder_text = f"encoder f: 4 conv 3×3 + BN + ReLU,\nglobal average pool ({encoder_params:,} params)"
    head_text = f"head g: linear {f}→{hid}, ReLU,\nlinear {hid}→{o} ({head_params:,} params)"
    columns = []
    for x, t, i in ((xl, "t", "ᵢ"), (xr, "t′", "ⱼ")):
        view = _box(ax, (x, ys["view"]), 1.9, 0.34, f"view x̃{i} = {t}(x)", "io", SMALL)
        _arrow(ax, (x + (0.5 if x < xm else -0.5), image.bottom[1]), (x, image.bottom[1] - 0.2), view.top)
        _text(ax, (x + (-0.55 if x < xm else 0.55), (image.bottom[1] + view.top[1]) / 2 + 0.02), f"{t} ~ T")
        enc = _box(ax, (x, ys["f"]), _width(encoder_text, SMALL), 0.46, encoder_text, "conv", SMALL)
        h = _box(ax, (x, ys["h"]), 2.1, 0.34, f"h{i}: {f} features", "io", SMALL)
        g = _box(ax, (x, ys["g"]), _width(head_text, SMALL), 0.46, head_text, "fc", SMALL)
        z = _box(ax, (x, ys["z"]), 1.5, 0.34, f"z{i}: {o} numbers", "io", SMALL)
        for a, b in ((view, enc), (enc, h), (h, g), (g, z)):
            _arrow(ax, a.bottom, b.top)
        columns.append({"enc": enc, "g": g, "z": z, "h": h})
    for key in ("enc", "g"):
        a, b = columns[0][key], columns[1][key]
        _arrow(ax, a.right, b.left, ls="--", style="-")
        _text(ax, (xm, a.y + 0.11), "shared")
    _text(ax, (xm, columns[0]["h"].y), "the probe reads h\n(g is discarded)")
    loss_text = f"NT-Xent (τ = {temperature:g}): pick the partner among the other {2 * n - 1};\n" + \
        f"{n} images → {2 * n} views, {2 * n - 2} negatives per anchor"  # fmt: skip
    loss = _box(ax, (xm, ys["loss"]), _width(loss_text, SMALL), 0.46, loss_text, "reg", SMALL)
    for col in columns:
        z = col["z"]
        _arrow(ax, z.bottom, (z.x, loss.top[1]))
    stated = {"input": (1, s, s), "views_per_image": 2, "views": 2 * n, "negatives": 2 * n - 2, "features": f}
    stated |= {"encoder_parameters": encoder_params, "head": (f, hid, o), "head_parameters": head_params}
    return fig, stated | {"temperature": temperature, "shared_weights": True, "probe_reads": "h"}


# ------------------------------------------------------------------------------- chapter 9 pretext tasks
def _pretext_rows(ax, rows, x0=0.2, x1=MAX_WIDTH - 0.2, h=0.5):
    """Rows of boxes ``(text, kind)`` read left to right, one row per ``(y, parts)``, spread over
    ``x0``–``x1`` with arrows between neighbours; the last box of a row feeds the first of the next.
    Returns the boxes, row by row."""
    drawn = []
    for y, parts in rows:
        widths = [_width(text, SMALL) for text, _ in parts]
        gap = (x1 - x0 - sum(widths)) / max(len(parts) - 1, 1)
        if gap < 0.2:
            raise ValueError("a row of the drawing is too wide")
        left, row = x0, []
        for (text, kind), w in zip(parts, widths):
            box = _box(ax, (left + w / 2, y), w, h, text, kind, SMALL)
            if row:
                _arrow(ax, row[-1].right, box.left)
            row.append(box)
            left += w + gap
        if drawn:
            prev = drawn[-1][-1]
            mid = (prev.bottom[1] + row[0].top[1]) / 2
            _arrow(ax, prev.bottom, (prev.x, mid), (row[0].x, mid), row[0].top)
        drawn.append(row)
    return drawn


def rotation_pretext(size: int = 28, features: int = 128):
    """Rotation prediction (Gidaris et al. 2018) as chapter 9 trains it: every unlabelled ``size`` × ``size``
    grey image is rotated by 0°, 90°, 180° and 270° (``torch.rot90`` with k = 0, 1, 2, 3), the chapter's
    ``DigitEncoder`` turns each rotated copy into ``features`` numbers, and a linear head predicts k with the
    cross-entropy. ``stated``: ``image`` (1, H, W), ``rotations`` (4), ``copies`` ((4, 1, H, W) per image),
    ``features``, ``head`` ((in, out) of the linear layer) and ``target`` ("k")."""
    s, f = _positive_int("size", size, 4), _positive_int("features", features)
    if max(s, f) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    fig, ax = _canvas(MAX_WIDTH, 2.3, "Rotation prediction: which of four rotations was applied?")
    rows = [
        (1.85, [(f"unlabelled image\n1×{s}×{s}", "io"), ("torch.rot90(x, k)\nk = 0, 1, 2, 3", "merge"),
                (f"4 copies\n0°, 90°, 180°, 270°\n4×1×{s}×{s}", "io")]),
        (0.55, [("DigitEncoder\n(the same weights\nfor every copy)", "conv"), (f"{f} features\nper copy", "io"),
                (f"linear {f} → 4", "fc"), ("cross-entropy\nwith the k applied", "reg")]),
    ]  # fmt: skip
    _pretext_rows(ax, rows, h=0.62)
    stated = {"image": (1, s, s), "rotations": 4, "copies": (4, 1, s, s), "features": f, "head": (f, 4)}
    return fig, stated | {"target": "k"}


def jigsaw_pretext(size: int = 28, grid: int = 3, cell: int = 10, tile: int = 8, n_permutations: int = 24,
                   features: int = 128, hidden: int = 256):  # fmt: skip
    """The jigsaw puzzle (Noroozi & Favaro 2016) as chapter 9 trains it: the ``size`` × ``size`` image is
    padded with zeros to ``grid · cell`` pixels and cut into ``grid`` × ``grid`` cells; from each cell a
    ``tile`` × ``tile`` tile is cut at a random offset (the gap and the jitter: neighbouring tiles do not
    touch), the tiles are shuffled by one of ``n_permutations`` fixed permutations, each goes through the same
    ``DigitEncoder`` (``features`` numbers), the ``grid²`` feature vectors are concatenated in their shuffled
    order, and an MLP (``hidden`` units) predicts which permutation was applied. ``stated``: ``padded``,
    ``tiles``, ``tile`` (1, t, t), ``max_gap`` (the largest gap between neighbouring tiles, pixels),
    ``n_permutations``, ``features``, ``concatenated`` and ``head`` ((in, hidden, out))."""
    s, g = _positive_int("size", size, 4), _positive_int("grid", grid, 2)
    c, t = _positive_int("cell", cell), _positive_int("tile", tile)
    p, f, hh = _positive_int("n_permutations", n_permutations, 2), _positive_int("features", features), \
        _positive_int("hidden", hidden)  # fmt: skip
    if g * c < s:
        raise ValueError(f"{g}×{g} cells of {c} pixels do not cover a {s}-pixel image")
    if t > c:
        raise ValueError(f"a tile of {t} pixels does not fit in a cell of {c}")
    if p > math.factorial(g * g) or max(p, f, hh, g * g * f, s) > 99_999:
        raise ValueError("n_permutations exceeds the permutations of the tiles, or an argument is too large")
    n, gap = g * g, 2 * (c - t)
    fig, ax = _canvas(MAX_WIDTH, 2.3, "Jigsaw puzzle: which permutation shuffled the tiles?")
    rows = [
        (1.85, [(f"unlabelled image\n1×{s}×{s}", "io"), (f"pad to {g * c}×{g * c},\n{g}×{g} cells of {c}×{c}", "merge"),
                (f"in each cell a {t}×{t} tile\nat a random offset\n(gap 0–{gap} pixels)", "merge"),
                (f"shuffle by one of\n{p} fixed permutations", "merge")]),
        (0.55, [(f"{n} tiles\n1×{t}×{t}", "io"), ("DigitEncoder\n(the same weights\nfor every tile)", "conv"),
                (f"concatenate\n{n} × {f} = {n * f}", "io"), (f"MLP {n * f} → {hh}\n→ {p}", "fc"),
                ("cross-entropy with\nthe permutation", "reg")]),
    ]  # fmt: skip
    _pretext_rows(ax, rows, h=0.62)
    stated = {"padded": (g * c, g * c), "tiles": n, "tile": (1, t, t), "max_gap": gap, "n_permutations": p}
    return fig, stated | {"features": f, "concatenated": n * f, "head": (n * f, hh, p)}


def inpainting_pretext(size: int = 28, hole: int = 12, features: int = 128, channels: int = 64):
    """Inpainting (Pathak et al. 2016, the context encoder) as chapter 9 trains it: a ``hole`` × ``hole``
    square at a random place of the ``size`` × ``size`` image is filled with grey (0.5), the chapter's
    ``DigitEncoder`` encodes the damaged image to ``features`` numbers, and a decoder (a linear layer to
    ``channels`` × size/4 × size/4, then two transposed convolutions of stride 2, the last with a sigmoid)
    redraws the whole image; the loss is the squared error on the hole's pixels only. ``stated``: ``image``,
    ``hole`` ((h, w)), ``fill`` (0.5), ``features``, ``decoder`` (the (C, H, W) after each decoder layer) and
    ``loss`` ("squared error in the hole")."""
    s, k = _positive_int("size", size, 8), _positive_int("hole", hole)
    f, ch = _positive_int("features", features), _positive_int("channels", channels, 2)
    if s % 4:
        raise ValueError(f"size must be a multiple of 4 (two upsamplings by 2), got {s}")
    if k >= s:
        raise ValueError(f"the hole ({k}) must be smaller than the image ({s})")
    if max(s, f, ch) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    q = s // 4
    decoder = [(ch, q, q), (ch // 2, 2 * q, 2 * q), (1, s, s)]
    fig, ax = _canvas(MAX_WIDTH, 2.3, "Inpainting: redraw the pixels under a grey square")
    rows = [
        (1.85, [(f"unlabelled image\n1×{s}×{s}", "io"), (f"a {k}×{k} square at a\nrandom place set to 0.5", "merge"),
                ("DigitEncoder", "conv"), (f"{f} features", "io")]),
        (0.55, [(f"linear {f} →\n{ch}×{q}×{q}", "fc"), (f"transposed conv\n4×4/2 → {ch // 2}×{2 * q}×{2 * q}", "up"),
                (f"transposed conv\n4×4/2 → 1×{s}×{s}\nsigmoid", "up"),
                ("squared error\non the hole's\npixels only", "reg")]),
    ]  # fmt: skip
    _pretext_rows(ax, rows, h=0.62)
    stated = {"image": (1, s, s), "hole": (k, k), "fill": 0.5, "features": f, "decoder": decoder}
    return fig, stated | {"loss": "squared error in the hole"}


# ------------------------------------------------------------------------------------ chapter 9 SimSiam
def simsiam(width: int = 16, hidden: int = 128, out: int = 128, bottleneck: int | None = None, size: int = 28):
    """SimSiam (Chen and He 2021) as chapter 9 trains it on grey digits (``utils.non_contrastive``).

    Two random views x₁, x₂ of an image (``utils.self_supervised.augment``) go through the same encoder f
    (``DigitEncoder(width)``: four 3×3 convolutions with batch norm and ReLU, global average pooling, ``8 ·
    width`` features h), the same projector g (linear ``8 · width`` → ``hidden`` without bias, batch norm,
    ReLU, linear ``hidden`` → ``out``) to z, and the same predictor q (the bottleneck: linear ``out`` →
    ``bottleneck`` without bias, batch norm, ReLU, linear ``bottleneck`` → ``out``; default ``out // 4``) to p.
    The loss ½ D(p₁, sg(z₂)) + ½ D(p₂, sg(z₁)), D the negative cosine similarity, compares each view's
    prediction with the other view's z under a stop-gradient (sg): no gradient flows into the targets, and
    there are no negatives. ``stated``: ``input``, ``features``, ``encoder_parameters``, ``projector`` (the
    three widths), ``projector_parameters``, ``predictor`` (the three widths), ``predictor_parameters``,
    ``negatives`` (0), ``stop_gradient`` (True), ``shared_weights`` (True) and ``probe_reads`` ("h")."""
    w, hid, o = _positive_int("width", width), _positive_int("hidden", hidden), _positive_int("out", out)
    s = _positive_int("size", size, 8)
    b = max(o // 4, 1) if bottleneck is None else _positive_int("bottleneck", bottleneck)
    if max(8 * w, hid, o, b, s) > 9_999:
        raise ValueError("an argument is too large to write in the drawing")
    f = 8 * w
    chans = [1, w, 2 * w, 4 * w, 8 * w]
    encoder_params = sum(9 * a * c + 2 * c for a, c in zip(chans[:-1], chans[1:]))
    projector_params = f * hid + 2 * hid + hid * o + o
    predictor_params = o * b + 2 * b + b * o + o
    fig, ax = _canvas(MAX_WIDTH, 5.9, "SimSiam: two views, a predictor, a stop-gradient and no negatives")
    xl, xr, xm = 1.75, 6.25, 4.0
    ys = {"x": 5.6, "view": 4.85, "f": 4.15, "h": 3.5, "g": 2.85, "z": 2.2, "q": 1.5, "p": 0.85}
    image = _box(ax, (xm, ys["x"]), 2.6, 0.34, f"image x, 1×{s}×{s}", "io", SMALL)
    encoder_text = f"encoder f: 4 conv 3×3 + BN + ReLU,\nglobal average pool ({encoder_params:,} params)"
    projector_text = f"projector g: linear {f}→{hid}, BN,\nReLU, linear {hid}→{o} ({projector_params:,} params)"
    predictor_text = f"predictor q: linear {o}→{b}, BN,\nReLU, linear {b}→{o} ({predictor_params:,} params)"
    columns = []
    for x, i, t, side in ((xl, "₁", "t", 1), (xr, "₂", "t′", -1)):
        view = _box(ax, (x, ys["view"]), 1.7, 0.34, f"view x{i} = {t}(x)", "io", SMALL)
        _arrow(ax, (xm - side * 0.6, image.bottom[1]), (xm - side * 0.6, view.y), view.right if side > 0 else view.left)
        boxes = {"view": view}
        boxes["f"] = _box(ax, (x, ys["f"]), _width(encoder_text, SMALL), 0.46, encoder_text, "conv", SMALL)
        boxes["h"] = _box(ax, (x, ys["h"]), 1.9, 0.34, f"h{i}: {f} features", "io", SMALL)
        boxes["g"] = _box(ax, (x, ys["g"]), _width(projector_text, SMALL), 0.46, projector_text, "fc", SMALL)
        boxes["z"] = _box(ax, (x, ys["z"]), 1.5, 0.34, f"z{i}: {o} numbers", "io", SMALL)
        boxes["q"] = _box(ax, (x, ys["q"]), _width(predictor_text, SMALL), 0.46, predictor_text, "se", SMALL)
        boxes["p"] = _box(ax, (x, ys["p"]), 1.5, 0.34, f"p{i}: {o} numbers", "io", SMALL)
        for a, c in (("view", "f"), ("f", "h"), ("h", "g"), ("g", "z"), ("z", "q"), ("q", "p")):
            _arrow(ax, boxes[a].bottom, boxes[c].top)
        columns.append(boxes)
    for key in ("f", "g", "q"):
        a, c = columns[0][key], columns[1][key]
        _arrow(ax, a.right, c.left, ls="--", style="-")
        _text(ax, (xm, a.y + 0.11), "shared")
    _text(ax, (xm, ys["h"]), "the probe reads h\n(g and q are discarded)")
    loss_text = "loss ½ D(p₁, sg(z₂)) + ½ D(p₂, sg(z₁))\nD = −cosine similarity; no negatives"
    loss = _box(ax, (xm, 0.3), _width(loss_text, SMALL), 0.46, loss_text, "reg", SMALL)
    red = PALETTE["pool"][1]
    for boxes, side in ((columns[0], 1), (columns[1], -1)):
        p, z = boxes["p"], boxes["z"]
        _arrow(ax, p.bottom, (p.x, loss.y), loss.left if side > 0 else loss.right)
        # the target: z, crossing to the other side's loss term, through the stop-gradient
        xs = xm - side * 0.35
        start = z.right if side > 0 else z.left
        _arrow(ax, start, (xs, z.y), (xs, loss.top[1]), color=red, ls="--")
    _text(ax, (xm, ys["z"] + 0.3), "sg: stop-gradient\n(no gradient to z)", color=red)
    stated = {"input": (1, s, s), "features": f, "encoder_parameters": encoder_params}
    stated |= {"projector": (f, hid, o), "projector_parameters": projector_params}
    stated |= {"predictor": (o, b, o), "predictor_parameters": predictor_params, "negatives": 0}
    return fig, stated | {"stop_gradient": True, "shared_weights": True, "probe_reads": "h"}


# ---------------------------------------------------------------------------------- chapter 10 attention
def multi_head_attention(embed_dim: int = 64, num_heads: int = 4, tokens: int = 17):
    """Scaled dot-product attention (left) and multi-head self-attention (right), as in Vaswani et al.
    (2017), Figure 2, with ``torch.nn.MultiheadAttention``'s parameter names.

    Left, one head: the scores Q Kᵀ of ``tokens`` queries against ``tokens`` keys (an N × N matrix), divided
    by √d_h, optionally masked (−∞ where a query may not look), a softmax along each row, and the weighted
    sum of the values. Right: the input X (N × D, D = ``embed_dim``) goes through one fused linear map
    (``in_proj_weight`` 3D × D, ``in_proj_bias`` 3D) that gives Q, K and V; each is cut into ``num_heads``
    heads of d_h = D / H columns; every head attends on its own; the heads' outputs are concatenated and
    mixed by ``out_proj`` (D × D with a bias). ``stated`` (per image): ``embed_dim``, ``num_heads``,
    ``head_dim``, ``tokens``, ``in_proj_weight``, ``in_proj_bias``, ``out_proj_weight``, ``out_proj_bias``
    (shapes), ``parameters`` (4D² + 4D), ``per_head`` ((N, d_h) of each of q, k, v), ``scores`` ((H, N, N)),
    ``score_entries`` (H · N²) and ``macs`` (4·N·D² for the projections + 2·N²·D for the scores and the
    weighted sums; the softmax and the scaling are not counted, as by ``FlopCounterMode``).
    """
    d, h = _positive_int("embed_dim", embed_dim), _positive_int("num_heads", num_heads)
    n = _positive_int("tokens", tokens)
    if d % h:
        raise ValueError(f"embed_dim={d} is not divisible by num_heads={h}")
    if max(3 * d, n) > 9_999 or h > 99:
        raise ValueError("an argument is too large to write in the drawing")
    dh = d // h
    params = 4 * d * d + 4 * d
    macs = 4 * n * d * d + 2 * n * n * d
    fig, ax = _canvas(MAX_WIDTH, 5.6, "Scaled dot-product attention (one head) and multi-head self-attention")
    # ---- left: one head
    xl = 1.75
    _text(ax, (xl, 5.35), "one head (scaled dot-product attention)", FONT)
    ys = [4.85, 4.15, 3.5, 2.85, 2.2, 1.5, 0.85]
    q = _box(ax, (xl - 1.05, ys[0]), 0.85, 0.34, f"Q: {n}×{dh}", "io", SMALL)
    k = _box(ax, (xl, ys[0]), 0.85, 0.34, f"K: {n}×{dh}", "io", SMALL)
    v = _box(ax, (xl + 1.05, ys[0]), 0.85, 0.34, f"V: {n}×{dh}", "io", SMALL)
    mm1 = _box(ax, (xl - 0.5, ys[1]), 1.7, 0.34, f"Q Kᵀ: {n}×{n} scores", "fc", SMALL)
    scale = _box(ax, (xl - 0.5, ys[2]), 1.7, 0.34, f"÷ √dₕ = √{dh}", "norm", SMALL)
    mask = _box(ax, (xl - 0.5, ys[3]), 1.7, 0.34, "mask (optional): −∞", "reg", SMALL)
    soft = _box(ax, (xl - 0.5, ys[4]), 1.7, 0.34, "softmax along rows", "act", SMALL)
    mm2 = _box(ax, (xl, ys[5]), 2.2, 0.34, f"weights × V: {n}×{dh}", "fc", SMALL)
    out = _box(ax, (xl, ys[6]), 1.5, 0.34, f"output: {n}×{dh}", "io", SMALL)
    _arrow(ax, q.bottom, (q.x, mm1.top[1]))
    _arrow(ax, k.bottom, (k.x, mm1.top[1]))
    for a, b in ((mm1, scale), (scale, mask), (mask, soft)):
        _arrow(ax, a.bottom, b.top)
    _arrow(ax, soft.bottom, (soft.x, mm2.top[1]))
    _arrow(ax, v.bottom, (v.x, mm2.top[1]))
    _arrow(ax, mm2.bottom, out.top)
    _text(ax, (xl, 0.4), "each row of weights sums to 1", SMALL)
    # ---- right: multi-head
    xr = 5.85
    _text(ax, (xr, 5.35), f"multi-head self-attention ({h} head{'s' * (h > 1)})", FONT)
    x_in = _box(ax, (xr, ys[0]), 1.6, 0.34, f"X: {n}×{d}", "io", SMALL)
    proj_text = f"in_proj: weight {3 * d}×{d}, bias {3 * d}"
    proj = _box(ax, (xr, ys[1]), _width(proj_text, SMALL), 0.34, proj_text, "fc", SMALL)
    qkv = [_box(ax, (xr + dx, ys[2]), 0.95, 0.34, f"{name}: {n}×{d}", "io", SMALL)
           for dx, name in ((-1.1, "Q"), (0.0, "K"), (1.1, "V"))]  # fmt: skip
    _arrow(ax, x_in.bottom, proj.top)
    for box in qkv:
        _arrow(ax, (box.x, proj.bottom[1]), box.top)
    # the heads: a stack of boxes, one per head
    stack = min(h, 4)
    head_text = (f"Q, K, V cut into {h} head{'s' * (h > 1)} of dₕ = {dh} columns;\n{h} × scaled dot-product "
                 f"attention\nper head: q, k, v {n}×{dh}, scores {n}×{n}")  # fmt: skip
    for i in reversed(range(stack)):
        dx, dy = 0.09 * i, 0.09 * i
        head = _box(ax, (xr + dx, 2.45 + dy), 3.3, 0.62, "" if i else head_text, "se", SMALL)
        if i == 0:
            front = head
    for box in qkv:
        _arrow(ax, box.bottom, (box.x, front.top[1] + 0.09 * (stack - 1)))

    cat = _box(ax, (xr, ys[5]), 2.5, 0.34, f"concatenate heads: {n}×{d}", "io", SMALL)
    outp_text = f"out_proj: weight {d}×{d}, bias {d}"
    outp = _box(ax, (xr, ys[6]), _width(outp_text, SMALL), 0.34, outp_text, "fc", SMALL)
    _arrow(ax, front.bottom, cat.top)
    _arrow(ax, cat.bottom, outp.top)
    _text(ax, (xr, 0.4), f"output {n}×{d} | parameters 4D² + 4D = {params:,}", SMALL)
    _text(ax, (xr, 0.13), f"multiply-adds 4ND² + 2N²D = {macs:,}", SMALL)
    _text(ax, (xl, 0.13), f"all heads: {h}×{n}×{n} = {h * n * n:,} scores", SMALL)
    stated = {"embed_dim": d, "num_heads": h, "head_dim": dh, "tokens": n, "in_proj_weight": (3 * d, d)}
    stated |= {"in_proj_bias": (3 * d,), "out_proj_weight": (d, d), "out_proj_bias": (d,), "parameters": params}
    return fig, stated | {"per_head": (n, dh), "scores": (h, n, n), "score_entries": h * n * n, "macs": macs}


# ----------------------------------------------------------------------------- chapter 10 Swin windows
def _window_labels(grid: int, window: int, shift: int) -> np.ndarray:
    """The window of each token of a ``grid`` × ``grid`` map when the partition into ``window`` × ``window``
    windows is offset by ``shift`` tokens (0: the regular partition): boundaries at shift, shift + window, …"""
    group = (np.arange(grid) + (window - shift)) // window
    return group[:, None] * (grid // window + 1) + group[None, :]


def swin_windows(grid: int = 8, window: int = 4, shift: int | None = None):
    """Swin's windowed attention (Liu et al. 2021) on a ``grid`` × ``grid`` map of tokens, in three panels.

    Left: the regular partition into ``window`` × ``window`` windows (layer l attends only inside each).
    Middle: the partition shifted by ``shift`` tokens (default ``window // 2``) that layer l + 1 uses, whose
    windows straddle the old boundaries: more windows, some smaller. Right: Swin's trick for computing it,
    a cyclic shift of the map by −``shift`` (``torch.roll``) after which the regular partition applies
    again; a window made of pieces from different sides of the map gets a mask so that each piece attends
    only to itself. Each cell shows the shifted window its token belongs to. ``stated``: ``tokens``,
    ``window``, ``shift``, ``windows``, ``tokens_per_window``, ``shifted_windows``, ``rolled_labels`` (the
    right panel's numbers, row by row), ``max_pieces`` (the most pieces in one rolled window),
    ``score_entries_global`` (N² per head) and ``score_entries_windowed`` (M²·N per head)."""
    n, m = _positive_int("grid", grid, 2), _positive_int("window", window, 2)
    s = m // 2 if shift is None else _positive_int("shift", shift)
    if n % m or n // m < 2:
        raise ValueError(f"grid ({n}) must be a multiple of window ({m}) with at least 2 windows per side")
    if s >= m:
        raise ValueError(f"shift ({s}) must be smaller than the window ({m})")
    if n > 16:
        raise ValueError(f"grid ({n}) is too large to draw (at most 16)")
    shifted = _window_labels(n, m, s)
    rolled = np.roll(shifted, (-s, -s), axis=(0, 1))
    # the shifted windows, numbered 0, 1, ... in reading order, each with its colour
    ids = {v: i for i, v in enumerate(dict.fromkeys(shifted.flatten().tolist()))}
    kinds = ["io", "conv", "conv1x1", "norm", "pool", "fc", "act", "dwconv", "up", "se", "reg", "rnn"]
    fill = {v: PALETTE[kinds[i % len(kinds)]][0] for v, i in ids.items()}
    fig, ax = _canvas(MAX_WIDTH, 3.35, "Swin: attention inside windows, and windows shifted between layers")
    size = 2.2
    cell = size / n
    panels = [
        (0.25, shifted, f"layer l: {(n // m) ** 2} windows\nof {m}×{m} = {m * m} tokens", 0),
        (2.9, shifted, f"layer l+1: windows shifted\nby {s}: {len(ids)} windows", s),
        (5.55, rolled, f"torch.roll by −{s}: {(n // m) ** 2} windows\nagain, a mask per piece", 0),
    ]
    pieces = []
    for left, labels, caption, offset in panels:
        top = 3.1
        values = [[str(ids[labels[i, j]]) for j in range(n)] for i in range(n)]
        fills = [[fill[labels[i, j]] for j in range(n)] for i in range(n)]
        _grid(ax, (left, top), values, cell, fills=fills, size=SMALL)
        # thick lines on the window boundaries of this panel
        edges = [k for k in range(n + 1) if k in (0, n) or (k - offset) % m == 0]
        for k in edges:
            ax.plot([left + k * cell] * 2, [top, top - size], color=LINE, lw=2.2)
            ax.plot([left, left + size], [top - k * cell] * 2, color=LINE, lw=2.2)
        _text(ax, (left + size / 2, top - size - 0.35), caption)
    _text(
        ax,
        (MAX_WIDTH / 2, 0.15),
        "thick lines: the windows of each panel; number and colour of a cell: its window in layer l+1",
    )
    for i in range(0, n, m):
        for j in range(0, n, m):
            pieces.append(len(np.unique(rolled[i : i + m, j : j + m])))
    stated = {"tokens": n * n, "window": m, "shift": s, "windows": (n // m) ** 2, "tokens_per_window": m * m}
    stated |= {"shifted_windows": len(ids), "max_pieces": max(pieces)}
    stated |= {"rolled_labels": tuple(tuple(ids[v] for v in row) for row in rolled.tolist())}
    return fig, stated | {"score_entries_global": (n * n) ** 2, "score_entries_windowed": m * m * n * n}


# ---------------------------------------------------------------------------- chapter 10 Vision Transformer
def vision_transformer(image_size: int = 28, patch_size: int = 7, num_layers: int = 2, num_heads: int = 4,
                       hidden_dim: int = 64, mlp_dim: int = 128, num_classes: int = 10,
                       in_channels: int = 1):  # fmt: skip
    """The Vision Transformer (Dosovitskiy et al. 2021) as ``utils.transformers.VisionTransformer`` and
    torchvision's ``VisionTransformer`` build it (the arguments are theirs; ``in_channels`` 3 for RGB).

    Top row: the ``in_channels`` × ``image_size``² image is cut into N = (``image_size`` / ``patch_size``)²
    patches, each flattened to C·p² numbers and mapped by one linear projection (the strided convolution
    ``conv_proj``) to ``hidden_dim`` = D numbers. Second row: a learned class token is put in front
    (N + 1 tokens) and the learned position embeddings are added. Then ``num_layers`` pre-norm encoder
    blocks (LayerNorm, multi-head self-attention with ``num_heads`` heads of D / heads, residual; LayerNorm,
    MLP D → ``mlp_dim`` → D with GELU, residual), a final LayerNorm, and the linear head reads the class
    token's output. ``stated``: ``image`` (C, H, W), ``grid`` (rows, columns of patches), ``patches`` (N),
    ``patch_dim`` (C·p²), ``hidden_dim``, ``tokens`` (N + 1), ``num_layers``, ``num_heads``, ``head_dim``,
    ``mlp_dim``, ``num_classes`` and ``parameters`` (per part: ``patch embedding``, ``class token``,
    ``position embeddings``, ``attention`` and ``MLP`` (with their LayerNorm, per block), ``block``,
    ``final norm``, ``head``, ``total``).
    """
    s, p = _positive_int("image_size", image_size), _positive_int("patch_size", patch_size)
    n_layers, h = _positive_int("num_layers", num_layers), _positive_int("num_heads", num_heads)
    d, m = _positive_int("hidden_dim", hidden_dim), _positive_int("mlp_dim", mlp_dim)
    k, c = _positive_int("num_classes", num_classes), _positive_int("in_channels", in_channels)
    if s % p:
        raise ValueError(f"image_size={s} is not a multiple of patch_size={p}")
    if d % h:
        raise ValueError(f"hidden_dim={d} is not divisible by num_heads={h}")
    g = s // p
    n, patch_dim = g * g, c * p * p
    if max(s, n + 1, patch_dim, d, m, k, n_layers, c) > 99_999:
        raise ValueError("an argument is too large to write in the drawing")
    params = {
        "patch embedding": patch_dim * d + d,
        "class token": d,
        "position embeddings": (n + 1) * d,
        "attention": 2 * d + 3 * d * d + 3 * d + d * d + d,
        "MLP": 2 * d + d * m + m + m * d + d,
    }
    params["block"] = params["attention"] + params["MLP"]
    params["final norm"], params["head"] = 2 * d, d * k + k
    params["total"] = sum(params[key] for key in ("patch embedding", "class token", "position embeddings"))
    params["total"] += n_layers * params["block"] + params["final norm"] + params["head"]
    fig, ax = _canvas(MAX_WIDTH, 6.3, "The Vision Transformer: patches, tokens, encoder blocks, a class-token head")
    # row 1: image -> patches -> flattened -> linear projection -> patch tokens
    rows = [
        (5.95, [(f"image\n{c}×{s}×{s}", "io"), (f"cut into {n} patches\n{p}×{p} ({g}×{g} grid)", "merge"),
                (f"flatten: {n} × {patch_dim}\n(C·p·p each)", "io"),
                (f"linear {patch_dim} → {d}\n(conv {p}×{p}, stride {p})", "conv"), (f"patch tokens\n{n} × {d}", "io")]),
    ]  # fmt: skip
    patch_tokens = _pretext_rows(ax, rows, h=0.52)[0][-1]
    # row 2: the class token in front of the patch tokens, then the positions added
    y2 = 4.95
    cls_text = f"class token\n(learned) 1 × {d}"
    cls = _box(ax, (0.2 + _width(cls_text, SMALL) / 2, y2), _width(cls_text, SMALL), 0.52, cls_text, "fc", SMALL)
    cat_text = f"concatenate\n{n + 1} × {d}"
    cat = _box(ax, (3.0, y2), _width(cat_text, SMALL), 0.52, cat_text, "io", SMALL)
    pos_text = f"+ position embeddings\n(learned) {n + 1} × {d}"
    pos = _box(ax, (5.2, y2), _width(pos_text, SMALL), 0.52, pos_text, "fc", SMALL)
    tok_text = f"tokens\n{n + 1} × {d}"
    tokens = _box(ax, (MAX_WIDTH - 0.2 - _width(tok_text, SMALL) / 2, y2), _width(tok_text, SMALL), 0.52, tok_text,
                  "io", SMALL)  # fmt: skip
    mid = (patch_tokens.bottom[1] + cat.top[1]) / 2
    _arrow(ax, patch_tokens.bottom, (patch_tokens.x, mid), (cat.x + 0.2, mid), (cat.x + 0.2, cat.top[1]))
    _arrow(ax, cls.right, cat.left)
    _arrow(ax, cat.right, pos.left)
    _arrow(ax, pos.right, tokens.left)
    # the encoder block, with its two residual connections, framed and repeated num_layers times
    x, pitch = 2.55, 0.5
    top = 3.95
    items = [[("LayerNorm", "norm")], [(f"multi-head self-attention, {h} head{'s' * (h > 1)} × {d // h}", "se")], "+",
             [("LayerNorm", "norm")], [(f"MLP {d} → {m}, GELU, → {d}", "fc")], "+"]  # fmt: skip
    boxes = _column(ax, x, top, items, pitch)
    entry = (x, top + 0.32)
    _arrow(ax, tokens.bottom, (tokens.x, 4.45), (x, 4.45), boxes[0].top)
    for a, b in ((0, 2), (3, 5)):
        start_y = boxes[a].top[1] + 0.12
        bx = x - 1.75
        _dot(ax, (x, start_y))
        _arrow(ax, (x, start_y), (bx, start_y), (bx, boxes[b].y), boxes[b].left)
    _text(ax, (x - 1.92, (boxes[0].y + boxes[2].y) / 2), "residual", rotation=90)
    _text(ax, (x - 1.92, (boxes[3].y + boxes[5].y) / 2), "residual", rotation=90)
    left, right = x - 2.15, x + 1.75
    bottom = boxes[-1].bottom[1] - 0.12
    _frame(ax, left, bottom, right, entry[1] + 0.02)
    _text(ax, (right - 0.05, bottom - 0.14), f"× {n_layers} encoder block{'s' * (n_layers > 1)} (pre-norm)",
          FONT, ha="right")  # fmt: skip
    # after the blocks: final LayerNorm, the class token's output, the head
    hx = 6.15
    out_items = [[("LayerNorm", "norm")], (f"token 0 (class token): {d}", 2.0), [(f"head: linear {d} → {k}", "fc")],
                 (f"{k} logits", 1.2)]  # fmt: skip
    outs = _column(ax, hx, 3.45, out_items, 0.55)
    last = boxes[-1]
    _arrow(ax, last.right, (4.75, last.y), (4.75, 3.85), (hx, 3.85), outs[0].top)
    notes = [
        f"parameters: {params['total']:,}",
        f"patch embedding {params['patch embedding']:,}, class token {d:,}",
        f"positions {params['position embeddings']:,}, head {params['head']:,}",
        f"per block {params['block']:,}: attention {params['attention']:,}",
        f"MLP {params['MLP']:,} (each with its LayerNorm)",
    ]
    for i, line in enumerate(notes):
        _text(ax, (5.05, 1.35 - 0.24 * i), line, ha="left")
    stated = {"image": (c, s, s), "grid": (g, g), "patches": n, "patch_dim": patch_dim, "hidden_dim": d}
    stated |= {"tokens": n + 1, "num_layers": n_layers, "num_heads": h, "head_dim": d // h, "mlp_dim": m}
    return fig, stated | {"num_classes": k, "parameters": params}


# ------------------------------------------------------------------------- chapter 10 inductive bias
def locality(image_size: int = 28, kernel_size: int = 5, patch_size: int = 7):
    """What each unit of a CNN and of a ViT sees of an ``image_size``² image, side by side.

    Left, a convolutional network such as LeNet-5: a unit of its first ``kernel_size`` × ``kernel_size``
    convolution sees k × k pixels (**locality**); after a 2 × 2 pooling and a second k × k convolution a unit
    sees 3k − 1 pixels across (14 for LeNet-5's C3); only a dense layer at the end sees the whole image.
    Right, a Vision Transformer with ``patch_size`` × ``patch_size`` patches: the image is a grid of N
    patches, and in its very first attention layer every one of the N + 1 tokens (the class token too)
    attends to all N + 1, so every output token depends on every pixel. ``stated``: ``image_size``,
    ``kernel_size``, ``conv_field`` (k), ``second_conv_field`` (3k − 1), ``patch_size``, ``grid`` (patches
    per side), ``patches`` (N), ``tokens`` (N + 1), ``attended`` (tokens each token attends to) and
    ``attention_field`` (pixels each token depends on after one layer).
    """
    s, k = _positive_int("image_size", image_size, 4), _positive_int("kernel_size", kernel_size)
    p = _positive_int("patch_size", patch_size)
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd (a window centred on its unit), got {k}")
    if 3 * k - 1 > s:
        raise ValueError(f"the second convolution's field (3·{k} − 1 = {3 * k - 1}) must fit in the image ({s})")
    if s % p or s // p < 2:
        raise ValueError(f"image_size={s} must be a multiple of patch_size={p}, with at least 2 patches per side")
    if s > 64 or s // p > 8:
        raise ValueError(f"image_size={s} (at most 64) or its grid ({s // p}, at most 8) is too large to draw")
    g = s // p
    n, field2 = g * g, 3 * k - 1
    fig, ax = _canvas(MAX_WIDTH, 4.2, "Locality: a convolution sees a window, attention sees every patch")
    side, top = 2.6, 3.6
    # ---- left: the pixel grid, the second convolution's field and the first's inside it
    x0 = 0.55
    px = side / s
    ax.add_patch(Rectangle((x0, top - side), side, side, fc="white", ec=LINE, lw=1.0, zorder=1))
    for i in range(1, s):
        ax.plot([x0 + i * px] * 2, [top - side, top], color="#dddddd", lw=0.4, zorder=1)
        ax.plot([x0, x0 + side], [top - i * px] * 2, color="#dddddd", lw=0.4, zorder=1)
    centre = s // 2  # the unit's pixel: row and column
    fill2, edge2 = PALETTE["conv"]
    lo2 = centre - field2 // 2
    ax.add_patch(Rectangle((x0 + lo2 * px, top - (lo2 + field2) * px), field2 * px, field2 * px, fc=fill2, ec=edge2,
                           lw=1.2, zorder=2))  # fmt: skip
    lo1 = centre - k // 2
    ax.add_patch(Rectangle((x0 + lo1 * px, top - (lo1 + k) * px), k * px, k * px, fc=_shade(fill2, edge2, 0.6),
                           ec=edge2, lw=1.2, zorder=3))  # fmt: skip
    ax.add_patch(Rectangle((x0 + centre * px, top - (centre + 1) * px), px, px, fc=TEXT, ec=TEXT, lw=0.5, zorder=4))
    _text(ax, (x0 + side / 2, top + 0.25), "convolution: local windows", FONT, weight="bold")
    lines = [f"a first-layer unit (black) sees {k}×{k} pixels;", f"after 2×2 pooling and a second {k}×{k}",
             f"convolution, {field2}×{field2} (light blue);", "only a dense layer sees the whole image"]  # fmt: skip
    for i, line in enumerate(lines):
        _text(ax, (x0 + side / 2, top - side - 0.25 - 0.2 * i), line)
    # ---- right: the patch grid, one query patch, its attention to every token
    x1 = MAX_WIDTH - 0.3 - side
    cell = side / g
    fill_q, edge_q = PALETTE["se"]
    query = (1 % g, 1 % g)  # row, column
    centres = {}
    for i in range(g):
        for j in range(g):
            fc = fill_q if (i, j) == query else PALETTE["io"][0]
            ax.add_patch(Rectangle((x1 + j * cell, top - (i + 1) * cell), cell, cell, fc=fc, ec=LINE, lw=1.0,
                                   zorder=1))  # fmt: skip
            centres[i, j] = (x1 + (j + 0.5) * cell, top - (i + 0.5) * cell)
    cls = _box(ax, (x1 - 0.75, top - side / 2), 0.62, 0.42, "class\ntoken", "fc", SMALL)
    q = centres[query]
    for (i, j), c in centres.items():
        if (i, j) != query:
            ax.plot([q[0], c[0]], [q[1], c[1]], color=edge_q, lw=0.9, zorder=3)
        ax.plot(*c, "o", color=edge_q, ms=3.5, zorder=4)
    ax.plot([q[0], cls.right[0]], [q[1], cls.right[1]], color=edge_q, lw=0.9, zorder=3)
    _text(ax, (x1 + side / 2, top + 0.25), "attention: every token, from layer 1", FONT, weight="bold")
    lines = [f"{n} patches of {p}×{p} and a class token: {n + 1} tokens;", f"each attends to all {n + 1} (lines:",
             "one patch's), so after one layer every", f"token depends on all {s * s} pixels"]  # fmt: skip
    for i, line in enumerate(lines):
        _text(ax, (x1 + side / 2 - 0.3, top - side - 0.25 - 0.2 * i), line)
    stated = {"image_size": s, "kernel_size": k, "conv_field": k, "second_conv_field": field2, "patch_size": p}
    stated |= {"grid": g, "patches": n, "tokens": n + 1, "attended": n + 1, "attention_field": s * s}
    return fig, stated
