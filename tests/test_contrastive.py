"""utils.contrastive: SimCLR's head and training loop (against a loop written out), alignment, uniformity."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from utils import contrastive as C
from utils import self_supervised as S

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def digits(n=48, seed=0):
    # random blocky shapes in [0, 1], smooth enough to survive the crops: something to tell apart
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, 7, 7, generator=g) > 0.7).float()
    return F.interpolate(x, size=28, mode="bilinear", align_corners=False).clamp(0, 1)


def test_projection_head_shapes_parameters_and_errors():
    head = C.ProjectionHead()
    assert sum(p.numel() for p in head.parameters()) == 33_024  # 2 x (128 x 128 + 128)
    assert head(torch.randn(5, 128)).shape == (5, 128)
    small = C.ProjectionHead(8, 16, 4)
    assert small(torch.randn(3, 8)).shape == (3, 4)
    assert [type(m).__name__ for m in small.net] == ["Linear", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="expected features"):
        small(torch.randn(3, 9))
    with pytest.raises(ValueError, match="hidden"):
        C.ProjectionHead(8, 0, 4)


def test_alignment_equals_a_loop_and_its_closed_forms():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)
    for alpha in (1, 2, 3.5):
        loop = sum(
            math.dist((z1[i] / z1[i].norm()).tolist(), (z2[i] / z2[i].norm()).tolist()) ** alpha for i in range(7)
        )
        assert abs(C.alignment(z1, z2, alpha).item() - loop / 7) < 1e-12, alpha
    assert C.alignment(z1, 3 * z1).item() < 1e-12  # same directions, any length
    assert abs(C.alignment(z1, -z1).item() - 4) < 1e-12  # opposite: distance 2, squared
    assert abs(C.alignment(z1, -z1, alpha=1).item() - 2) < 1e-12
    # differentiable, with a finite gradient even for identical pairs
    x = z1.clone().requires_grad_(True)
    C.alignment(x, z1.clone()).backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="same shape"):
        C.alignment(z1, z2[:3])
    with pytest.raises(ValueError, match="alpha"):
        C.alignment(z1, z2, alpha=0)
    with pytest.raises(ValueError, match="z1 must be"):
        C.alignment(z1[0], z2[0])


def test_uniformity_equals_a_loop_over_pairs_and_its_closed_forms():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(9, 4, generator=g, dtype=torch.float64)
    u = [(row / row.norm()).tolist() for row in z]
    for t in (0.5, 2, 4):
        pairs = [math.exp(-t * math.dist(u[i], u[j]) ** 2) for i, j in itertools.combinations(range(9), 2)]
        assert abs(C.uniformity(z, t).item() - math.log(sum(pairs) / len(pairs))) < 1e-12, t
    assert abs(C.uniformity(torch.ones(6, 3)).item()) < 1e-6  # all equal: the worst value, 0
    for n in (2, 3, 5, 10):  # regular simplex: every squared distance is 2 + 2 / (n - 1)
        simplex = torch.eye(n, dtype=torch.float64) - 1 / n
        assert abs(C.uniformity(simplex).item() + 2 * 2 * n / (n - 1)) < 1e-10, n
    # many random directions in many dimensions: squared distances near 2, uniformity near -2t = -4
    many = torch.randn(1500, 256, generator=g)
    assert abs(C.uniformity(many).item() + 4) < 0.1
    assert C.uniformity(many).item() < C.uniformity(1 + 0.3 * many).item() < -0.1  # a cone is less uniform
    x = torch.ones(4, 3, requires_grad=True)  # finite gradient even for coincident points
    C.uniformity(x).backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="at least 2"):
        C.uniformity(z[:1])
    with pytest.raises(ValueError, match="t must be"):
        C.uniformity(z, t=-1)


def reference_simclr(encoder, images, epochs, batch_size, temperature, lr, seed):
    # SimCLR written out, independently of utils.training.train_epochs and utils.contrastive
    torch.manual_seed(seed)
    head = torch.nn.Sequential(torch.nn.Linear(encoder.out_features, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128))
    dtype = next(encoder.parameters()).dtype
    head = head.to(dtype)
    images = images.to(dtype)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        encoder.train()
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for start in range(0, len(images) - batch_size + 1, batch_size):
            x = images[order[start : start + batch_size]]
            v1 = S.augment(x, generator)
            v2 = S.augment(x, generator)
            loss = S.nt_xent(head(encoder(v1)), head(encoder(v2)), temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch_size
        losses.append(total / (len(images) // batch_size * batch_size))
    return losses, head


def test_train_simclr_equals_the_loop_written_out_and_is_deterministic():
    images = digits(40)
    kwargs = {"epochs": 2, "batch_size": 16, "temperature": 0.3, "lr": 3e-3, "seed": 5}
    torch.manual_seed(0)
    encoder = S.DigitEncoder(4)
    start = {k: v.clone() for k, v in encoder.state_dict().items()}
    history, head = C.train_simclr(encoder, images, progress=False, **kwargs)
    assert isinstance(head, C.ProjectionHead) and (head.in_features, head.out_features) == (32, 128)
    assert history.epochs == 2 and all(0 <= a <= 1 for a in history.train_acc)
    assert not torch.equal(start["features.0.weight"], encoder.state_dict()["features.0.weight"])  # in place

    reference = S.DigitEncoder(4)
    reference.load_state_dict(start)
    losses, reference_head = reference_simclr(reference, images, **kwargs)
    assert history.train_loss == pytest.approx(losses, abs=1e-6)
    for a, b in zip(encoder.state_dict().values(), reference.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)
    for a, b in zip(head.state_dict().values(), reference_head.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)

    again = S.DigitEncoder(4)
    again.load_state_dict(start)
    history_again, _ = C.train_simclr(again, images, progress=False, **kwargs)
    assert history_again.train_loss == history.train_loss  # the same seed: bit for bit
    other = S.DigitEncoder(4)
    other.load_state_dict(start)
    history_other, _ = C.train_simclr(other, images, progress=False, **{**kwargs, "seed": 6})
    assert history_other.train_loss != history.train_loss


def test_train_simclr_follows_the_encoders_dtype_and_equals_the_loop_in_float64():
    images = digits(32, seed=3)
    kwargs = {"epochs": 1, "batch_size": 16, "temperature": 0.5, "lr": 1e-3, "seed": 0}
    torch.manual_seed(0)
    encoder = S.DigitEncoder(4).double()
    reference = S.DigitEncoder(4).double()
    reference.load_state_dict(encoder.state_dict())
    history, head = C.train_simclr(encoder, images, progress=False, **kwargs)
    assert next(head.parameters()).dtype == torch.float64
    losses, reference_head = reference_simclr(reference, images, **kwargs)
    assert history.train_loss == pytest.approx(losses, abs=1e-12)
    for a, b in zip(encoder.state_dict().values(), reference.state_dict().values()):
        assert torch.allclose(a.double(), b.double(), atol=1e-10)


def test_train_simclr_learns_to_find_the_partner():
    images = digits(64, seed=2)
    torch.manual_seed(0)
    history, _ = C.train_simclr(S.DigitEncoder(8), images, epochs=20, batch_size=32, lr=3e-3, progress=False)
    # log(2N - 1): embeddings that know nothing; 1 / 63: the partner found by chance
    assert history.train_loss[-1] < min(history.train_loss[0], math.log(2 * 32 - 1)) - 0.4
    assert sum(history.train_acc[-3:]) / 3 > 0.1 > sum(history.train_acc[:3]) / 3


def test_partner_found_counts_the_partners():
    z = torch.eye(4)
    assert C.partner_found(z, z) == 8  # each view identical to its partner
    assert C.partner_found(z, z.roll(1, 0)) == 0  # each view identical to another image's view
    with pytest.raises(ValueError, match="same shape"):
        C.partner_found(z, z[:2])


def test_view_batches_drops_the_incomplete_batch_and_is_reproducible():
    images = digits(10)
    epoch = C.view_batches(images, 4, torch.Generator().manual_seed(0))
    batches = list(epoch())
    assert [tuple(v.shape) for v, _ in batches] == [(4, 1, 28, 28)] * 2
    again = list(C.view_batches(images, 4, torch.Generator().manual_seed(0))())
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(batches, again))
    assert not torch.equal(batches[0][0], batches[0][1])  # two different views


def test_train_simclr_rejects_bad_input():
    images = digits(8)
    encoder = S.DigitEncoder(2)
    cases = [
        ({"images": images[:, 0]}, "images must be"),
        ({"images": images.long()}, "images must be"),
        ({"images": images * 255}, r"\[0, 1\]"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"batch_size": 9}, "larger than"),
        ({"temperature": 0}, "temperature"),
        ({"lr": -1e-3}, "lr"),
        ({"seed": 1.5}, "seed"),
    ]
    for change, message in cases:
        kwargs = {"images": images, "epochs": 1, "batch_size": 4, "progress": False, **change}
        with pytest.raises(ValueError, match=message):
            C.train_simclr(encoder, **kwargs)
    with pytest.raises(ValueError, match="out_features"):
        C.train_simclr(torch.nn.Conv2d(1, 2, 3), images, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="nn.Module"):
        C.train_simclr(lambda x: x, images, batch_size=4, progress=False)
