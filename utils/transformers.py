"""Transformers (chapter 10): attention, the Vision Transformer, and what attention looks at.

The copies of what chapter 10 writes out in its notebooks, for the notebooks that come after:

* :func:`scaled_dot_product_attention`: ``softmax(Q Kᵀ / √d + mask) V``, returning the attention weights
  too. A boolean ``mask`` follows ``torch.nn.functional.scaled_dot_product_attention``: ``True`` where a
  query may attend to a key; a float mask is added to the scores.
* :class:`MultiHeadAttention`: self-attention over ``(batch, tokens, dim)`` with the parameter names of
  ``torch.nn.MultiheadAttention`` (one fused ``in_proj_weight`` of shape ``(3·dim, dim)``, ``in_proj_bias``,
  ``out_proj``), so that its weights load into it and back.
* :func:`sinusoidal_positions`: the fixed positional encoding of "Attention is all you need".
* :func:`patchify`: images cut into flattened, non-overlapping patches, in the order the Vision
  Transformer reads them (row by row; each patch channel-major, as a convolution's weight is laid out).
* :class:`EncoderBlock`, :class:`Encoder`, :class:`VisionTransformer`: the Vision Transformer (pre-norm
  blocks, a class token, learned position embeddings) with torchvision's module and parameter names, and
  its initialisation drawn in the same order: for the same seed, the same weights as
  ``torchvision.models.VisionTransformer`` (``in_channels`` other than 3 is this copy's addition, for grey
  digits). ``model(x, need_weights=True)`` also returns each layer's attention weights.
* :func:`attention_rollout`: Abnar & Zuidema's attention rollout (2020): the head-averaged attention of
  each layer, with the residual connection as ``0.5·A + 0.5·I``, multiplied through the layers.
* :func:`fit_cosine`: the chapter's training recipe (AdamW, a cosine decay of the learning rate to 0).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn


def scaled_dot_product_attention(q, k, v, mask=None):
    """``(output, weights)`` of scaled dot-product attention.

    ``q``: ``(..., Lq, d)``; ``k``: ``(..., Lk, d)``; ``v``: ``(..., Lk, dv)``; ``mask`` broadcastable to
    ``(..., Lq, Lk)``: boolean (``True`` = may attend) or float (added to the scores). A query that may
    attend to no key at all raises ``ValueError`` (its softmax would be 0/0).
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.ndim < 2 or not t.is_floating_point():
            raise ValueError(f"{name} must be a float tensor (..., tokens, dim), got {getattr(t, 'shape', t)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys must have the same size, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values must be as many, got {k.shape[-2]} and {v.shape[-2]}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        if mask.dtype == torch.bool:
            if not mask.any(-1).all():
                raise ValueError("the mask leaves a query with no key to attend to")
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention with ``torch.nn.MultiheadAttention``'s parameter names (batch first).

    ``forward(x, mask=None, need_weights=False)`` returns ``(output, weights)``: ``weights`` is
    ``(batch, heads, tokens, tokens)`` when asked for, else ``None``. ``dropout`` acts on the attention
    weights in training mode, as in ``nn.MultiheadAttention``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        # nn.MultiheadAttention's initialisation, in its order (out_proj's weight keeps nn.Linear's)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, mask=None, need_weights: bool = False):
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"expected (batch, tokens, {self.embed_dim}), got {tuple(x.shape)}")
        b, n, d = x.shape
        h = self.num_heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        # (batch, tokens, dim) -> (batch, heads, tokens, dim / heads)
        q, k, v = (t.reshape(b, n, h, d // h).transpose(1, 2) for t in (q, k, v))
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        if self.training and self.dropout > 0:
            out = F.dropout(weights, self.dropout) @ v
        out = self.out_proj(out.transpose(1, 2).reshape(b, n, d))
        return out, (weights if need_weights else None)


def sinusoidal_positions(length: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """``(length, dim)``: ``sin(p / base^(2i/dim))`` in even columns, ``cos`` in odd ones (Vaswani et al.)."""
    if length < 1 or dim < 2 or dim % 2:
        raise ValueError(f"length must be >= 1 and dim even and >= 2, got {length} and {dim}")
    position = torch.arange(length, dtype=torch.float64)[:, None]
    frequency = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.zeros(length, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table.float()


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, (H/p)·(W/p), C·p·p)``: patches row by row, each flattened channel-major."""
    if images.ndim != 4:
        raise ValueError(f"expected images (B, C, H, W), got {tuple(images.shape)}")
    b, c, height, width = images.shape
    p = patch_size
    if p < 1 or height % p or width % p:
        raise ValueError(f"the image size {height} x {width} is not a multiple of the patch size {p}")
    x = images.reshape(b, c, height // p, p, width // p, p)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, (height // p) * (width // p), c * p * p)


LayerNorm = partial(nn.LayerNorm, eps=1e-6)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: ``x + Attention(LN(x))``, then ``x + MLP(LN(x))`` (torchvision's names).

    ``forward(x, need_weights=False)`` returns ``(x, weights)``; ``weights`` is ``None`` unless asked for.
    """

    def __init__(self, num_heads, hidden_dim, mlp_dim, dropout=0.0, attention_dropout=0.0):
        super().__init__()
        self.ln_1 = LayerNorm(hidden_dim)
        self.self_attention = MultiHeadAttention(hidden_dim, num_heads, attention_dropout)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = LayerNorm(hidden_dim)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, hidden_dim),
            nn.Dropout(dropout),
        )
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x, need_weights: bool = False):
        y, weights = self.self_attention(self.ln_1(x), need_weights=need_weights)
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x)), weights


class Encoder(nn.Module):
    """Learned position embeddings, the blocks (``layers.encoder_layer_N``), a final layer norm."""

    def __init__(self, seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout=0.0,
                 attention_dropout=0.0):  # fmt: skip
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            OrderedDict(
                (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout, attention_dropout))
                for i in range(num_layers)
            )
        )
        self.ln = LayerNorm(hidden_dim)

    def forward(self, x, need_weights: bool = False):
        if x.ndim != 3 or x.shape[1:] != self.pos_embedding.shape[1:]:
            raise ValueError(f"expected (batch, {tuple(self.pos_embedding.shape[1:])}), got {tuple(x.shape)}")
        x = self.dropout(x + self.pos_embedding)
        all_weights = []
        for layer in self.layers:
            x, weights = layer(x, need_weights)
            all_weights.append(weights)
        return self.ln(x), (all_weights if need_weights else None)


class VisionTransformer(nn.Module):
    """The Vision Transformer of Dosovitskiy et al. (2021), with torchvision's names and initialisation.

    ``VisionTransformer(224, 16, 12, 12, 768, 3072)`` is ViT-B/16 (torchvision's ``vit_b_16``).
    ``forward(x)`` gives the logits; ``forward(x, need_weights=True)`` gives ``(logits, weights)`` with one
    ``(batch, heads, tokens, tokens)`` tensor per layer (token 0 is the class token).
    """

    def __init__(self, image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim, dropout=0.0,
                 attention_dropout=0.0, num_classes=1000, in_channels=3):  # fmt: skip
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} is not a multiple of patch_size={patch_size}")
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size, stride=patch_size)
        self.seq_length = (image_size // patch_size) ** 2 + 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.encoder = Encoder(self.seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))
        fan_in = in_channels * patch_size * patch_size
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        nn.init.zeros_(self.heads.head.weight)
        nn.init.zeros_(self.heads.head.bias)

    def tokens(self, x):
        """The patch embeddings with the class token in front: ``(batch, 1 + patches, hidden_dim)``."""
        if x.ndim != 4 or x.shape[1] != self.conv_proj.in_channels or x.shape[-2:] != (self.image_size,) * 2:
            raise ValueError(
                f"expected images (batch, {self.conv_proj.in_channels}, {self.image_size}, {self.image_size}),"
                f" got {tuple(x.shape)}"
            )
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        return torch.cat([self.class_token.expand(len(x), -1, -1), x], dim=1)

    def forward(self, x, need_weights: bool = False):
        x, weights = self.encoder(self.tokens(x), need_weights)
        logits = self.heads(x[:, 0])
        return (logits, weights) if need_weights else logits


def attention_rollout(weights, residual: bool = True) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) of a list of ``(batch, heads, tokens, tokens)`` weights.

    Each layer's weights are averaged over heads; with ``residual`` the skip connection is counted as
    ``0.5·A + 0.5·I`` (rows renormalised), and the layers are multiplied from the first up:
    ``R = Â_L ··· Â_1``. Row ``i`` of the ``(batch, tokens, tokens)`` result says how much each input token
    contributes to output token ``i``; every row sums to 1.
    """
    if not weights or any(w is None or w.ndim != 4 or w.shape[-1] != w.shape[-2] for w in weights):
        raise ValueError("expected a non-empty list of (batch, heads, tokens, tokens) attention weights")
    result = None
    for w in weights:
        a = w.mean(dim=1)
        if residual:
            a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
            a = a / a.sum(dim=-1, keepdim=True)
        result = a if result is None else a @ result
    return result


def fit_cosine(model, train_loader, val_loader=None, *, epochs: int, lr: float = 3e-3, weight_decay: float = 0.05,
               **fit_options):  # fmt: skip
    """Chapter 10's training recipe (notebook 3 chose it for the digit ViT and LeNet-5 alike): AdamW with
    ``lr`` and decoupled ``weight_decay`` on every parameter, the learning rate decayed from ``lr`` to 0
    along a cosine, one step per batch, no warm-up; then :func:`utils.fit` (``fit_options``: ``device``,
    ``progress``, ``desc``). Returns its :class:`~utils.training.History`."""
    from .training import fit

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(train_loader))
    return fit(model, train_loader, val_loader, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
               **fit_options)  # fmt: skip
