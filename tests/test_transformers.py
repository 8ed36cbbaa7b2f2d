"""utils.transformers: attention, the Vision Transformer (equal to torchvision's) and attention rollout."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from utils import transformers as T

TINY = dict(image_size=28, patch_size=7, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10)


def test_attention_equals_pytorch_with_and_without_masks():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g) for _ in range(3))
    out, weights = T.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5))
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    out, weights = T.scaled_dot_product_attention(q, k, v, causal)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert weights[..., 0, 1:].abs().max() == 0 and weights[..., 4, :].min() > 0
    # a float mask is added: -inf where the boolean one is False gives the same answer
    additive = torch.zeros(5, 5).masked_fill(~causal, float("-inf"))
    torch.testing.assert_close(T.scaled_dot_product_attention(q, k, v, additive)[0], out)
    # without the 1/sqrt(d) scaling the result differs: the test can fail
    assert not torch.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0))


def test_attention_rejects_bad_input():
    q = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match="same size"):
        T.scaled_dot_product_attention(q, torch.randn(2, 5, 4), torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="as many"):
        T.scaled_dot_product_attention(q, q, torch.randn(2, 4, 8))
    with pytest.raises(ValueError, match="no key"):
        T.scaled_dot_product_attention(q, q, q, torch.zeros(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="divisible"):
        T.MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="batch, tokens, 8"):
        T.MultiHeadAttention(8, 2)(torch.randn(5, 8))


def test_multi_head_attention_equals_nn_multiheadattention():
    torch.manual_seed(0)
    reference = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    torch.manual_seed(0)
    ours = T.MultiHeadAttention(16, 4)
    # the same initialisation, drawn in the same order, under the same names
    assert list(ours.state_dict()) == list(reference.state_dict())
    for name, tensor in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[name], tensor), name
    x = torch.randn(3, 7, 16)
    expected, expected_weights = reference(x, x, x, need_weights=True, average_attn_weights=False)
    out, weights = ours(x, need_weights=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(weights, expected_weights)
    assert ours(x)[1] is None


def test_self_attention_without_positions_is_permutation_equivariant():
    torch.manual_seed(0)
    attention = T.MultiHeadAttention(16, 4)
    x = torch.randn(2, 9, 16)
    order = torch.randperm(9)
    out = attention(x)[0]
    torch.testing.assert_close(attention(x[:, order])[0], out[:, order])
    # with positions added the equivariance is gone
    pos = T.sinusoidal_positions(9, 16)
    shuffled = attention(x[:, order] + pos)[0]
    assert not torch.allclose(shuffled, attention(x + pos)[0][:, order], atol=1e-3)


def test_sinusoidal_positions():
    table = T.sinusoidal_positions(50, 16)
    assert table.shape == (50, 16)
    torch.testing.assert_close(table[:, 0], torch.sin(torch.arange(50.0)))
    torch.testing.assert_close(table[:, 1], torch.cos(torch.arange(50.0)))
    angle = torch.tensor(3 / 10000 ** (14 / 16))
    torch.testing.assert_close(table[3, 14:], torch.stack([angle.sin(), angle.cos()]))
    with pytest.raises(ValueError):
        T.sinusoidal_positions(10, 7)


def test_patchify_equals_the_strided_convolution():
    torch.manual_seed(0)
    images = torch.randn(2, 3, 28, 28)
    conv = torch.nn.Conv2d(3, 5, 7, stride=7)
    patches = T.patchify(images, 7)
    assert patches.shape == (2, 16, 147)
    torch.testing.assert_close(patches[0, 1], images[0, :, 0:7, 7:14].reshape(-1))
    linear = patches @ conv.weight.reshape(5, -1).T + conv.bias
    torch.testing.assert_close(linear, conv(images).flatten(2).transpose(1, 2))
    with pytest.raises(ValueError, match="multiple"):
        T.patchify(images, 5)


def test_tiny_vision_transformer_equals_torchvision():
    torch.manual_seed(0)
    ours = T.VisionTransformer(**TINY)
    torch.manual_seed(0)
    reference = torchvision.models.VisionTransformer(**TINY)
    assert sum(p.numel() for p in ours.parameters()) == 78_346
    state = reference.state_dict()
    assert list(ours.state_dict()) == list(state)
    assert all(torch.equal(ours.state_dict()[k], state[k]) for k in state)
    torch.nn.init.normal_(reference.heads.head.weight)  # zero at initialisation: make the logits differ
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.rand(4, 3, 28, 28)
    torch.testing.assert_close(ours.eval()(x), reference.eval()(x))
    logits, weights = ours(x, need_weights=True)
    assert len(weights) == 2 and weights[0].shape == (4, 4, 17, 17)
    torch.testing.assert_close(logits, reference(x))
    grey = T.VisionTransformer(**TINY, in_channels=1)
    assert sum(p.numel() for p in grey.parameters()) == 78_346 - 2 * 49 * 64
    with pytest.raises(ValueError, match="expected images"):
        grey(x)


def test_vit_b_16_loads_strictly():
    with torch.device("meta"):
        reference = torchvision.models.vit_b_16()
        ours = T.VisionTransformer(224, 16, 12, 12, 768, 3072)
    assert sum(p.numel() for p in ours.parameters()) == 86_567_656
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)


def test_attention_rollout():
    g = torch.Generator().manual_seed(0)
    weights = [torch.rand(2, 3, 5, 5, generator=g).softmax(-1) for _ in range(3)]
    rollout = T.attention_rollout(weights)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2, 5))
    expected = torch.eye(5).expand(2, 5, 5)
    for w in weights:  # the definition, layer by layer, one matrix at a time
        a = 0.5 * w.mean(1) + 0.5 * torch.eye(5)
        expected = torch.stack([a[i] @ expected[i] for i in range(2)])
    torch.testing.assert_close(rollout, expected)
    plain = T.attention_rollout(weights, residual=False)
    torch.testing.assert_close(plain, weights[2].mean(1) @ weights[1].mean(1) @ weights[0].mean(1))
    assert not torch.allclose(plain, rollout)
    with pytest.raises(ValueError):
        T.attention_rollout([])


def test_fit_cosine_is_adamw_with_a_cosine_decay_to_zero():
    from torch.utils.data import DataLoader, TensorDataset

    import utils

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)

    def run(recipe):
        torch.manual_seed(0)
        model = T.VisionTransformer(**{**TINY, "num_layers": 1}, in_channels=1)
        loader = DataLoader(
            TensorDataset(x, y), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0)
        )
        recipe(model, loader)
        return model

    def by_hand(model, loader):
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=2 * len(loader))
        utils.fit(model, loader, epochs=2, optimizer=optimizer, scheduler=scheduler, device="cpu", progress=False)

    ours = run(lambda m, loader: T.fit_cosine(m, loader, epochs=2, device="cpu", progress=False))
    expected = run(by_hand)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), expected.parameters()))

    def constant_rate(model, loader):
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
        utils.fit(model, loader, epochs=2, optimizer=optimizer, device="cpu", progress=False)

    constant = run(constant_rate)
    assert not all(torch.equal(a, b) for a, b in zip(ours.parameters(), constant.parameters()))
    with pytest.raises(ValueError, match="epochs"):
        T.fit_cosine(ours, [], epochs=0)
