"""utils.non_contrastive: SimSiam's heads, loss and stop-gradient, the collapse statistic, the training loop."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import non_contrastive as N
from utils.self_supervised import DigitEncoder

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_embedding_std_against_numpy_and_its_two_limits():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(50, 7, generator=g) + 0.5
    unit = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
    assert N.embedding_std(z) == pytest.approx(unit.std(axis=0, ddof=0).mean(), abs=1e-7)
    # invariant to the length of each row: only directions count
    scales = torch.rand(50, 1, generator=g) * 10 + 0.1
    assert N.embedding_std(z * scales) == pytest.approx(N.embedding_std(z), abs=1e-7)
    # collapse: one direction for every row (whatever the lengths) -> 0
    assert N.embedding_std(torch.randn(1, 16, generator=g).repeat(100, 1) * scales[:, :1].repeat(2, 1)) < 1e-7
    # directions uniform on the sphere -> about 1 / sqrt(d)
    for d in (16, 128):
        spread = N.embedding_std(torch.randn(4000, d, generator=g))
        assert spread == pytest.approx(1 / math.sqrt(d), rel=0.02)


@pytest.mark.parametrize("bad", [torch.zeros(5), torch.zeros(1, 4), torch.zeros(3, 4, dtype=torch.long), [[0.0]]])
def test_embedding_std_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="N >= 2"):
        N.embedding_std(bad)
    with pytest.raises(ValueError, match="NaN"):
        N.embedding_std(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))


def test_heads_shapes_parameters_and_bottleneck():
    projector, predictor = N.Projector(), N.Predictor()
    assert projector(torch.rand(4, 128)).shape == (4, 128) and predictor(torch.rand(4, 128)).shape == (4, 128)
    # predictor: 128 -> 32 (no bias) + batch norm (2 x 32) -> 128 (with bias)
    assert sum(p.numel() for p in predictor.parameters()) == 128 * 32 + 2 * 32 + 32 * 128 + 128
    assert predictor.net[0].out_features == 32 and predictor.net[0].bias is None
    assert sum(p.numel() for p in projector.parameters()) == 128 * 128 + 2 * 128 + 128 * 128 + 128
    assert N.Predictor(64, 8).net[0].out_features == 8
    for make in (lambda: N.Predictor(0), lambda: N.Predictor(8, 0), lambda: N.Projector(4, 2.5, 4)):
        with pytest.raises(ValueError, match="positive integer"):
            make()


def test_loss_formula_and_the_stop_gradient():
    g = torch.Generator().manual_seed(1)
    p1, p2, z1, z2 = (torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(4))
    expected = (
        sum(
            -(p @ z).item() / (p.norm() * z.norm()).item() / 2
            for pp, zz in ((p1, z2), (p2, z1))
            for p, z in zip(pp, zz)
        )
        / 6
    )
    for sg in (True, False):
        loss = N.simsiam_loss(p1, p2, z1, z2, stop_gradient=sg)
        assert loss.item() == pytest.approx(expected, abs=1e-12)
        grads = torch.autograd.grad(loss, (p1, p2, z1, z2), allow_unused=True)
        # the predictor's outputs get a gradient either way
        assert grads[0].abs().sum() > 0 and grads[1].abs().sum() > 0
        # the targets z: none through the stop-gradient, some without it
        for gz in grads[2:]:
            if sg:
                assert gz is None or torch.count_nonzero(gz) == 0
            else:
                assert gz.abs().sum() > 1e-3
    # identical p and z: the minimum, -1; opposite: the maximum, +1
    z = torch.randn(4, 3, generator=g)
    assert N.simsiam_loss(z, z, z, z).item() == pytest.approx(-1, abs=1e-6)
    assert N.simsiam_loss(-z, -z, z, z).item() == pytest.approx(1, abs=1e-6)
    assert N.negative_cosine(z, 2 * z).item() == pytest.approx(-1, abs=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        N.simsiam_loss(z, z, z, z[:3])


def _digits(n=64, seed=0):
    return torch.rand(n, 1, 12, 12, generator=torch.Generator().manual_seed(seed))


def _train(stop_gradient=True, epochs=2, seed=0, images=None):
    torch.manual_seed(100)
    encoder = DigitEncoder(2)
    history, projector, predictor = N.train_simsiam(
        encoder, _digits() if images is None else images, epochs=epochs, batch_size=16, lr=1e-2, seed=seed,
        stop_gradient=stop_gradient, progress=False,
    )  # fmt: skip
    return encoder, history, projector, predictor


def test_train_simsiam_trains_in_place_deterministically_and_records_the_std():
    torch.manual_seed(100)
    initial = [p.clone() for p in DigitEncoder(2).parameters()]
    encoder, history, projector, predictor = _train()
    assert all(not torch.equal(a, b) for a, b in zip(initial, encoder.parameters()))
    assert history.epochs == 2 and len(history.embedding_std) == 2 and len(history.step_embedding_std) == 8
    assert history.embedding_std[0] == pytest.approx(sum(history.step_embedding_std[:4]) / 4)
    assert all(0 <= s <= 1 for s in history.step_embedding_std) and all(-1 <= x <= 1 for x in history.train_loss)
    assert isinstance(projector, N.Projector) and isinstance(predictor, N.Predictor)
    again = _train()[0]
    assert all(torch.equal(a, b) for a, b in zip(encoder.parameters(), again.parameters()))
    other_seed = _train(seed=1)[0]
    assert any(not torch.equal(a, b) for a, b in zip(encoder.parameters(), other_seed.parameters()))


def test_the_first_step_follows_the_documented_recipe():
    """One step of train_simsiam equals one step written out here: the seeds, the views, the loss, Adam."""
    from utils.self_supervised import two_views

    images = _digits(32, seed=3)
    encoder, history, projector, predictor = _train(epochs=1, images=images[:16])  # one batch: one step
    torch.manual_seed(100)
    enc = DigitEncoder(2)
    torch.manual_seed(0)
    proj, pred = N.Projector(16, 16, 16), N.Predictor(16)
    params = [*enc.parameters(), *proj.parameters(), *pred.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    g = torch.Generator().manual_seed(0)
    v1, v2 = two_views(images[:16][torch.randperm(16, generator=g)], g)
    z1, z2 = proj(enc(v1)), proj(enc(v2))
    p1, p2 = pred(z1), pred(z2)
    loss = -(F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean()) / 2
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert history.train_loss[0] == pytest.approx(loss.item(), abs=1e-6)
    for a, b in zip([*encoder.parameters(), *projector.parameters(), *predictor.parameters()], params):
        assert torch.allclose(a, b, atol=1e-6)


def test_without_the_stop_gradient_the_embeddings_collapse():
    """The claim of the notebook, in miniature: the same run without the stop-gradient drives the loss to -1
    and the spread of the normalised embeddings towards 0; with it the spread stays."""
    images = _digits(96, seed=5)
    _, with_sg, _, _ = _train(True, epochs=12, images=images)
    _, without, _, _ = _train(False, epochs=12, images=images)
    assert without.train_loss[-1] < -0.95 and without.embedding_std[-1] < 0.3 * without.embedding_std[0]
    assert with_sg.embedding_std[-1] > 2 * without.embedding_std[-1]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"batch_size": 65}, "batch_size"),
        ({"lr": 0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"weight_decay": float("nan")}, "weight_decay"),
        ({"seed": 1.5}, "seed"),
        ({"images": torch.rand(64, 12, 12)}, "images"),
        ({"images": torch.rand(64, 1, 12, 12) * 2}, r"\[0, 1\]"),
        ({"encoder": torch.nn.Identity()}, "out_features"),
        ({"images": torch.rand(64, 3, 12, 12)}, "channels"),
    ],
)
def test_train_simsiam_rejects_bad_input(kwargs, match):
    arguments = {"encoder": DigitEncoder(2), "images": _digits(), "epochs": 1, "batch_size": 16, "lr": 1e-3, "seed": 0}
    arguments |= kwargs
    encoder, images = arguments.pop("encoder"), arguments.pop("images")
    with pytest.raises(ValueError, match=match):
        N.train_simsiam(encoder, images, progress=False, **arguments)
