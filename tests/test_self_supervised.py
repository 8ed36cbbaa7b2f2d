"""utils.self_supervised: the evaluation protocol (against scikit-learn), augmentations and NT-Xent."""

import math

import numpy as np
import pytest
import torch

from utils import self_supervised as S


def blobs(n_per_class=30, classes=4, dim=6, spread=0.6, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g) * 2
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = centres[y] + spread * torch.randn(len(y), dim, generator=g)
    return x, y


def test_few_labels_draws_per_class_at_random():
    y = torch.tensor([0] * 5 + [1] * 7 + [2] * 3)
    idx = S.few_labels(y, 3, seed=1)
    assert y[idx].bincount().tolist() == [3, 3, 3] and len(set(idx.tolist())) == 9
    assert torch.equal(idx, S.few_labels(y, 3, seed=1))
    assert any(not torch.equal(idx, S.few_labels(y, 3, seed=s)) for s in range(2, 6))
    with pytest.raises(ValueError, match="class 2 has 3 examples"):
        S.few_labels(y, 4)
    with pytest.raises(ValueError, match="per_class"):
        S.few_labels(y, 0)


def test_linear_probe_equals_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = blobs(spread=1.5)
    g = torch.Generator().manual_seed(3)  # test points near the training points
    xt = x[torch.randint(0, len(x), (300,), generator=g)] + 0.8 * torch.randn(300, x.shape[1], generator=g)
    wd = 0.05
    ours = S.linear_probe(x, y, xt, weight_decay=wd)
    scaler = StandardScaler().fit(x.numpy().astype(np.float64))
    clf = LogisticRegression(C=1 / (wd * len(x)), tol=1e-12, max_iter=10_000)
    clf.fit(scaler.transform(x.numpy().astype(np.float64)), y.numpy())
    theirs = clf.predict(scaler.transform(xt.numpy().astype(np.float64)))
    assert (ours.numpy() == theirs).all()
    # and it is a classifier: far above chance on separable blobs
    assert (S.linear_probe(*blobs(), blobs()[0]) == blobs()[1]).double().mean() > 0.95


def test_knn_predict_equals_scikit_learns():
    from sklearn.neighbors import KNeighborsClassifier

    x, y = blobs(spread=2.0)
    g = torch.Generator().manual_seed(4)
    xt = torch.randn(200, x.shape[1], generator=g) * 2
    for k in (1, 3, 5, 8):
        theirs = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(x.numpy(), y.numpy())
        assert (S.knn_predict(x, y, xt, k=k).numpy() == theirs.predict(xt.numpy())).all(), k
    # k larger than the labelled set: every test point gets the majority label
    assert (S.knn_predict(x[:3], torch.tensor([2, 2, 1]), xt, k=10) == 2).all()


def test_probe_tells_informative_from_useless_features():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat_interleave(40)
    yt = torch.arange(10).repeat_interleave(20)
    good = torch.nn.functional.one_hot(y, 10).float() + 0.3 * torch.randn(len(y), 10, generator=g)
    good_t = torch.nn.functional.one_hot(yt, 10).float() + 0.3 * torch.randn(len(yt), 10, generator=g)
    table = S.probe(good, y, good_t, yt, per_class=(1, 10), seeds=(0, 1))
    assert list(table.index) == [(1, 0), (1, 1), (10, 0), (10, 1)]
    assert list(table.columns) == ["linear probe", "k-NN"]
    assert (table.loc[10] > 0.9).all().all()
    noise, noise_t = torch.randn(len(y), 10, generator=g), torch.randn(len(yt), 10, generator=g)
    useless = S.probe(noise, y, noise_t, yt, per_class=(10,), seeds=(0, 1, 2))
    assert (useless < 0.3).all().all()


def test_augment_is_reproducible_in_range_and_the_identity_when_switched_off():
    x = torch.rand(6, 1, 28, 28)
    a = S.augment(x, torch.Generator().manual_seed(0))
    b = S.augment(x, torch.Generator().manual_seed(0))
    c = S.augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    off = dict(scale=(1, 1), rotation=0, shift=0, contrast=(1, 1), brightness=0, noise=0)
    assert torch.allclose(S.augment(x, **off), x, atol=1e-5)  # bilinear resampling rounds by 2e-6
    v1, v2 = S.two_views(x, torch.Generator().manual_seed(0))
    assert v1.shape == v2.shape == x.shape and not torch.equal(v1, v2)


def test_augment_moves_and_zooms_as_stated():
    # a bright dot at the centre column 14 of 28 (pixel centre at 14.5 / 28 of the side)
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 12:16, 12:16] = 1
    off = dict(rotation=0, contrast=(1, 1), brightness=0, noise=0)
    shifted = S.augment(x, scale=(1, 1), shift=0.1, **off, generator=torch.Generator().manual_seed(5))
    mass = shifted[0, 0]
    cols = (mass.sum(0) * torch.arange(28)).sum() / mass.sum()
    assert 0.5 < abs(cols.item() - 13.5) <= 0.1 * 28 + 0.01  # moved, by at most 10 % of the side
    zoomed = S.augment(x, scale=(0.5, 0.5), shift=0, **off)
    assert zoomed.sum() == pytest.approx(4 * x.sum().item(), rel=0.05)  # half the field: twice as big


def nt_xent_loop(z1, z2, t):
    """NT-Xent written anchor by anchor in float64, as in the SimCLR paper's algorithm 1."""
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        denominator = sum(math.exp(float(z[i] @ z[j]) / t) for j in range(2 * n) if j != i)
        total += -math.log(math.exp(float(z[i] @ z[p]) / t) / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_equals_the_loop_over_anchors(temperature):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    assert S.nt_xent(z1, z2, temperature).item() == pytest.approx(nt_xent_loop(z1, z2, temperature), rel=1e-5)
    # aligned pairs cost less than random ones
    assert S.nt_xent(z1, z1 + 0.01 * z2, temperature) < S.nt_xent(z1, z2, temperature)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: S.linear_probe(torch.zeros(3, 2), torch.tensor([0, 1, 1]), torch.zeros(2, 3)), "differ in width"),
        (lambda: S.linear_probe(torch.zeros(3, 2), torch.tensor([0, 0, 0]), torch.zeros(2, 2)), "at least 2 classes"),
        (lambda: S.linear_probe(torch.full((3, 2), float("nan")), torch.tensor([0, 1, 1]), torch.zeros(2, 2)), "NaN"),
        (lambda: S.knn_predict(torch.zeros(3, 2), torch.tensor([0, 1]), torch.zeros(2, 2)), "3 class indices"),
        (lambda: S.knn_predict(torch.zeros(3, 2), torch.tensor([0, 1, 1]), torch.zeros(2, 2), k=0), "k must"),
        (lambda: S.augment(torch.zeros(2, 28, 28)), "N, C, H, W"),
        (lambda: S.augment(torch.zeros(2, 1, 8, 8), scale=(0, 1)), "scale"),
        (lambda: S.augment(torch.zeros(2, 1, 8, 8), noise=-1), "noise"),
        (lambda: S.nt_xent(torch.zeros(1, 4), torch.zeros(1, 4)), "at least 2 pairs"),
        (lambda: S.nt_xent(torch.zeros(2, 4), torch.zeros(3, 4)), "same shape"),
        (lambda: S.nt_xent(torch.zeros(2, 4), torch.zeros(2, 4), temperature=0), "temperature"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_digit_encoder_shapes_parameters_and_errors():
    enc = S.DigitEncoder(width=16)
    x = torch.rand(3, 1, 28, 28)
    assert enc(x).shape == (3, 128) and enc.out_features == 128
    # conv weights (no bias) and batch norm (weight and bias), counted by hand
    chans = [1, 16, 32, 64, 128]
    expected = sum(9 * a * b + 2 * b for a, b in zip(chans[:-1], chans[1:]))
    assert sum(p.numel() for p in enc.parameters()) == expected == 97_392
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:]))) for m in enc.features
             if isinstance(m, torch.nn.Conv2d)]  # fmt: skip
    enc(x)
    assert sizes == [(28, 28), (14, 14), (7, 7), (4, 4)]
    for h in hooks:
        h.remove()
    assert (enc(x) >= 0).all()  # pooled after a ReLU
    with pytest.raises(ValueError, match="N, 1, H, W"):
        enc(torch.rand(3, 28, 28))
    with pytest.raises(ValueError, match="width"):
        S.DigitEncoder(width=0)


# --- encode, evaluate_encoder, train_supervised (the protocol for an encoder and the supervised baseline)


def bars(n_per_class=12, seed=0):
    """Grey 28 x 28 images of three classes that survive the augmentation: a horizontal bar, a vertical
    bar, a hollow square, each at a random place and brightness."""
    g = torch.Generator().manual_seed(seed)
    images, labels = [], []
    for c in range(3):
        for _ in range(n_per_class):
            x = torch.zeros(1, 28, 28)
            r, q = (int(v) for v in torch.randint(8, 20, (2,), generator=g))
            if c == 0:
                x[0, r - 1 : r + 2, 5:23] = 1
            elif c == 1:
                x[0, 5:23, q - 1 : q + 2] = 1
            else:
                x[0, 7:21, 7:21] = 1
                x[0, 10:18, 10:18] = 0
            images.append(x * (0.6 + 0.4 * torch.rand(1, generator=g)))
            labels.append(c)
    return torch.stack(images), torch.tensor(labels)


def test_encode_is_the_eval_mode_output_in_chunks_and_restores_the_mode():
    torch.manual_seed(0)
    enc = S.DigitEncoder(width=4)
    x = torch.rand(7, 1, 28, 28)
    enc(torch.rand(16, 1, 28, 28))  # a training-mode forward moves the batch-norm running statistics
    enc.train()
    h = S.encode(enc, x, batch_size=3)  # chunks of 3, 3 and 1
    assert enc.training  # the mode is restored
    enc.eval()
    with torch.no_grad():
        expected = enc(x)
    assert h.shape == (7, 32) and h.device.type == "cpu" and h.dtype == torch.float32
    assert torch.allclose(h, expected, atol=1e-6)
    enc.train()
    with torch.no_grad():
        assert not torch.allclose(enc(x), expected, atol=1e-3)  # train mode would differ: eval mattered
    with pytest.raises(ValueError, match="N, C, H, W"):
        S.encode(enc, torch.rand(7, 28, 28))
    with pytest.raises(ValueError, match="batch_size"):
        S.encode(enc, x, batch_size=0)
    with pytest.raises(ValueError, match="features"):
        S.encode(torch.nn.Conv2d(1, 2, 3), x)  # a map, not features


def test_evaluate_encoder_is_the_probe_of_the_encoded_features():
    from torch.utils.data import Subset, TensorDataset

    x, y = bars(n_per_class=20)
    torch.manual_seed(0)
    enc = S.DigitEncoder(width=4)
    pool, test = list(range(0, 60, 2)), list(range(1, 60, 2))
    expected = S.probe(S.encode(enc, x[pool]), y[pool], S.encode(enc, x[test]), y[test], (1, 5), (0, 1))
    dataset = TensorDataset(x, y)
    for a, b in [
        ((x[pool], y[pool]), (x[test], y[test])),
        (TensorDataset(x[pool], y[pool]), TensorDataset(x[test], y[test])),
        (Subset(dataset, pool), Subset(dataset, test)),  # what utils.split_dataset returns
    ]:
        table = S.evaluate_encoder(enc, a, b, per_class=(1, 5), seeds=(0, 1))
        pd_testing = pytest.importorskip("pandas").testing
        pd_testing.assert_frame_equal(table, expected)
    with pytest.raises(ValueError, match="pool must be"):
        S.evaluate_encoder(enc, x[pool], (x[test], y[test]))
    with pytest.raises(ValueError, match="30 images but 29 labels"):
        S.evaluate_encoder(enc, (x[pool], y[pool][:-1]), (x[test], y[test]))


def test_train_supervised_learns_is_deterministic_and_counts_its_steps():
    x, y = bars()
    xt, yt = bars(n_per_class=20, seed=1)

    def run(seed, **kwargs):
        torch.manual_seed(100)  # the same encoder weights every time: only `seed` varies
        enc = S.DigitEncoder(width=4)
        before = [p.detach().clone() for p in enc.parameters()]
        history, head = S.train_supervised(enc, x, y, seed=seed, progress=False, **kwargs)
        moved = any(not torch.equal(a, p) for a, p in zip(before, enc.parameters()))
        return enc, head, history, moved

    enc, head, history, moved = run(0, passes=2, min_steps=60, batch_size=16, lr=2e-2)
    assert moved  # the encoder is trained in place, not only the head
    assert isinstance(head, torch.nn.Linear) and head.in_features == 32 and head.out_features == 3
    # 36 images in batches of 16: 3 batches a pass, 60 steps at least: 20 passes
    assert history.epochs == 20
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    accuracy = (head(S.encode(enc, xt)).argmax(1) == yt).double().mean().item()
    assert accuracy > 0.9  # on new images, without augmentation (chance: 1/3)
    # the same seed, the same training; another seed, another
    enc2, head2, history2, _ = run(0, passes=2, min_steps=6, batch_size=16)
    enc3, head3, history3, _ = run(0, passes=2, min_steps=6, batch_size=16)
    enc4, head4, history4, _ = run(1, passes=2, min_steps=6, batch_size=16)
    assert history2.train_loss == history3.train_loss and torch.equal(head2.weight, head3.weight)
    assert all(torch.equal(a, b) for a, b in zip(enc2.state_dict().values(), enc3.state_dict().values()))
    assert history2.train_loss != history4.train_loss and not torch.equal(head2.weight, head4.weight)
    # more passes than min_steps asks for: the passes decide (36 images, batch 64 -> 36: 1 step a pass)
    _, _, history5, _ = run(0, passes=5, min_steps=2, batch_size=64)
    assert history5.epochs == 5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(images=torch.rand(4, 28, 28)), "N, C, H, W"),
        (dict(labels=torch.tensor([0, 1, 1])), "4 class indices"),
        (dict(labels=torch.tensor([0, 0, 0, 0])), "at least 2 classes"),
        (dict(passes=0), "passes"),
        (dict(min_steps=-1), "min_steps"),
        (dict(batch_size=0), "batch_size"),
        (dict(lr=0), "lr"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(encoder=torch.nn.Conv2d(1, 2, 3)), "out_features"),
    ],
)
def test_train_supervised_refuses_bad_input(kwargs, message):
    call = dict(encoder=S.DigitEncoder(width=4), images=torch.rand(4, 1, 28, 28), labels=torch.tensor([0, 1, 1, 0]))
    call.update(kwargs)
    with pytest.raises(ValueError, match=message):
        S.train_supervised(call.pop("encoder"), call.pop("images"), call.pop("labels"), progress=False, **call)
