"""utils.embedding: the embedding network, the four losses against independent computations, the sampler,
the training loop and the evaluation."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from utils import embedding as emb
from utils.identities import make_identities


def _batch(p=4, k=3, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(p * k, d, generator=g, dtype=torch.float64), torch.arange(p).repeat_interleave(k)


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_small_net_shapes_and_names():
    net = emb.EmbeddingNet(dim=24)
    assert net(torch.rand(5, 1, 32, 32)).shape == (5, 24)
    names = {n.split(".")[0] for n, _ in net.named_parameters()}
    assert names == {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"}
    with pytest.raises(ValueError, match="expected images"):
        net(torch.rand(5, 3, 32, 32))
    for bad in ({"widths": (8, 16)}, {"blocks": (1, 0, 1, 1)}, {"dim": 0}, {"stem": "big"}):
        with pytest.raises(ValueError):
            emb.EmbeddingNet(**bad)


def test_resnet18_is_torchvision_with_a_new_fc():
    ours = emb.embedding_resnet18(dim=128)
    reference = torchvision.models.resnet18()
    reference.fc = torch.nn.Linear(512, 128)
    assert sum(p.numel() for p in ours.parameters()) == 11_689_512 - 513_000 + 65_664
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval()
    reference.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


def test_contrastive_loss_equals_a_loop_over_pairs():
    x, y = _batch()
    u = _unit(x)
    margin = 0.7
    total, pairs = 0.0, 0
    for i, j in itertools.combinations(range(len(y)), 2):
        d = math.dist(u[i], u[j])
        total += (d**2 if y[i] == y[j] else max(0.0, margin - d) ** 2) / 2
        pairs += 1
    assert emb.contrastive_loss(x, y, margin).item() == pytest.approx(total / pairs, rel=1e-12)
    with pytest.raises(ValueError, match="margin"):
        emb.contrastive_loss(x, y, 0)


def test_batch_hard_triplet_loss_equals_the_hardest_of_all_triplets():
    x, y = _batch(p=5, k=4, seed=1)
    u = _unit(x)
    margin = 0.3
    per_anchor = []
    for a in range(len(y)):
        losses = [
            max(0.0, margin + math.dist(u[a], u[p]) - math.dist(u[a], u[n]))
            for p in range(len(y))
            for n in range(len(y))
            if p != a and y[p] == y[a] and y[n] != y[a]
        ]
        per_anchor.append(max(losses))
    assert emb.batch_hard_triplet_loss(x, y, margin).item() == pytest.approx(np.mean(per_anchor), rel=1e-12)
    with pytest.raises(ValueError, match="twice"):
        emb.batch_hard_triplet_loss(x[:5], torch.tensor([0, 0, 1, 1, 2]))
    with pytest.raises(ValueError, match="labels"):
        emb.batch_hard_triplet_loss(x, y[:-1])


def test_losses_have_finite_gradients_on_identical_embeddings():
    x = torch.ones(6, 4, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    for loss in (emb.contrastive_loss, emb.batch_hard_triplet_loss):
        loss(x, y).backward()
        assert torch.isfinite(x.grad).all()
        x.grad = None


def test_arcface_equals_the_angle_computed_with_arccos():
    torch.manual_seed(0)
    head = emb.ArcFaceHead(8, 5, scale=10.0, margin=0.4).double()
    x, y = _batch(p=5, k=2, seed=2)
    cos = _unit(x) @ _unit(head.weight.detach()).T
    theta = np.arccos(np.clip(cos, -1, 1))
    logits = cos.copy()
    for i, c in enumerate(y.tolist()):
        if theta[i, c] + 0.4 < math.pi:
            logits[i, c] = math.cos(theta[i, c] + 0.4)
        else:
            logits[i, c] = cos[i, c] - 0.4 * math.sin(0.4)
    logits *= 10.0
    expected = np.mean([np.log(np.exp(row).sum()) - row[c] for row, c in zip(logits, y.tolist())])
    assert head(x, y).item() == pytest.approx(expected, rel=1e-10)
    # past pi - m the replacement keeps the target logit decreasing in the angle
    far = -head.weight.detach()[:1]
    assert head.logits(far, torch.tensor([0]))[0, 0].item() == pytest.approx(10 * (-1 - 0.4 * math.sin(0.4)))


def test_arcface_without_margin_is_a_scaled_cosine_softmax():
    head = emb.ArcFaceHead(8, 5, scale=4.0, margin=1e-9).double()
    x, y = _batch(p=5, k=2, seed=3)
    cos = F.normalize(x, dim=1) @ F.normalize(head.weight, dim=1).T
    assert head(x, y).item() == pytest.approx(F.cross_entropy(4 * cos, y).item(), rel=1e-6)
    with pytest.raises(ValueError, match="pi/2"):
        emb.ArcFaceHead(8, 5, margin=2.0)
    with pytest.raises(ValueError, match="training identities"):
        head(x, y + 1)


def test_softmax_head_is_cross_entropy_of_a_linear_layer():
    head = emb.SoftmaxHead(8, 5).double()
    x, y = _batch(p=5, k=2, seed=4)
    logits = x @ head.fc.weight.T + head.fc.bias
    log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    assert head(x, y).item() == pytest.approx(-log_p[torch.arange(10), y].mean().item(), rel=1e-12)
    with pytest.raises(ValueError):
        emb.SoftmaxHead(8, 1)


def test_pk_batch():
    labels = torch.tensor([0] * 5 + [1] * 2 + [2] * 4 + [3] * 4)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        idx = emb.pk_batch(labels, 3, 3, g)
        chosen = labels[idx].view(3, 3)
        assert len(set(idx.tolist())) == 9
        assert (chosen == chosen[:, :1]).all() and len(set(chosen[:, 0].tolist())) == 3
        assert 1 not in chosen.tolist()  # identity 1 has only two images
    with pytest.raises(ValueError, match="only 3 identities"):
        emb.pk_batch(labels, 4, 3)
    with pytest.raises(ValueError, match="integer"):
        emb.pk_batch(labels.float(), 2, 2)


def test_fit_embedding_learns_unseen_identities():
    train = make_identities(40, 6, nuisance="mild", seed=1)
    test = make_identities(20, 3, nuisance="mild", seed=2)
    torch.manual_seed(0)
    net = emb.EmbeddingNet(widths=(8, 8, 16, 16), dim=16)
    before = emb.evaluate_embeddings(emb.embed(net, test.images), test.identities)
    history = emb.fit_embedding(
        net,
        emb.contrastive_loss,
        train.images,
        train.identities,
        steps=60,
        identities=8,
        per_identity=3,
        device="cpu",
        progress=False,
    )
    after = emb.evaluate_embeddings(emb.embed(net, test.images), test.identities)
    assert len(history.loss) == len(history.lr) == 60 and history.seconds > 0
    assert np.mean(history.loss[-10:]) < 0.7 * np.mean(history.loss[:10])
    assert after["EER"] < before["EER"] and after["rank-1"] > before["rank-1"]
    assert history.smoothed(5).shape == (60,)
    with pytest.raises(ValueError, match="steps"):
        emb.fit_embedding(net, emb.contrastive_loss, train.images, train.identities, steps=0)
    with pytest.raises(ValueError, match="labels"):
        emb.fit_embedding(net, emb.contrastive_loss, train.images, train.identities[:-1], steps=1)


def test_fit_embedding_trains_the_head():
    train = make_identities(10, 4, nuisance="none", seed=1)
    head = emb.ArcFaceHead(16, 10)
    before = head.weight.detach().clone()
    net = emb.EmbeddingNet(widths=(4, 4, 8, 8), dim=16)
    emb.fit_embedding(net, head, train.images, train.identities, steps=3, identities=4, per_identity=2, progress=False)
    assert not torch.equal(before, head.weight.detach().cpu())


def test_evaluate_embeddings():
    labels = np.repeat(np.arange(6), 3)
    perfect = np.eye(6)[labels] + 0.01 * np.random.default_rng(0).normal(size=(18, 6))
    result = emb.evaluate_embeddings(perfect, labels)
    assert result == {"EER": 0.0, "TAR@FAR": 1.0, "rank-1": 1.0}
    shuffled = emb.evaluate_embeddings(perfect, np.random.default_rng(1).permutation(labels))
    assert shuffled["EER"] > 0.2 and shuffled["rank-1"] < 0.8
    with pytest.raises(ValueError, match="none left as a probe"):
        emb.evaluate_embeddings(perfect, labels, gallery_per_identity=3)
    with pytest.raises(ValueError, match="need embeddings"):
        emb.evaluate_embeddings(perfect, labels[:-1])


def test_embed_is_unit_length():
    net = emb.EmbeddingNet(widths=(4, 4, 8, 8), dim=5)
    e = emb.embed(net, torch.rand(7, 1, 32, 32), batch_size=3)
    assert e.shape == (7, 5) and torch.allclose(e.norm(dim=1), torch.ones(7))
