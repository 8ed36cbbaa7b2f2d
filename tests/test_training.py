import matplotlib
import pytest
import torch
from torch import nn

import utils

matplotlib.use("Agg")


def _blobs(n=200, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.randn(n, 2, generator=gen) * 0.5 + (y[:, None] * 2.0 - 1.0) * 1.5
    return torch.utils.data.TensorDataset(x, y)


def test_fit_learns_separable_blobs_and_records_history():
    utils.seed_everything(0)
    train, test = utils.make_loaders(_blobs(), _blobs(seed=1), batch_size=32)
    model = nn.Linear(2, 2)
    history = utils.fit(model, train, test, epochs=5, lr=0.05, device="cpu", progress=False)
    assert history.epochs == 5 and len(history.val_acc) == 5
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_acc[-1] > 0.95
    assert "5 epochs" in str(history)
    fig = history.plot(title="blobs")
    assert len(fig.axes) == 2


def test_evaluate_against_a_hand_count():
    x = torch.tensor([[2.0, 0.0], [0.0, 2.0], [3.0, 1.0], [1.0, 3.0]])
    y = torch.tensor([0, 1, 1, 1])  # argmax of the identity model: 0, 1, 0, 1 -> 3 of 4 right
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=3)
    result = utils.evaluate(nn.Identity(), loader, device="cpu")
    assert result["accuracy"] == 0.75
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(x, y).item(), rel=1e-6)


def test_predict_in_chunks_equals_one_pass():
    model = nn.Linear(3, 4)
    x = torch.randn(10, 3)
    assert torch.allclose(utils.predict(model, x, batch_size=3, device="cpu"), model(x), atol=1e-6)
    with pytest.raises(ValueError, match="batched tensor"):
        utils.predict(model, torch.randn(3), device="cpu")


def test_clear_errors():
    train, _ = utils.make_loaders(_blobs(), batch_size=8)
    with pytest.raises(ValueError, match="DataLoader"):
        utils.fit(nn.Linear(2, 2), [1, 2, 3], device="cpu")
    with pytest.raises(ValueError, match="epochs"):
        utils.fit(nn.Linear(2, 2), train, epochs=0, device="cpu")
    with pytest.raises(ValueError, match=r"logits of shape \(N, num_classes\)"):
        utils.fit(nn.Sequential(nn.Linear(2, 2), nn.Flatten(0)), train, epochs=1, device="cpu", progress=False)
    float_labels = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2), torch.zeros(4)))
    with pytest.raises(ValueError, match="torch.long"):
        utils.evaluate(nn.Linear(2, 2), float_labels, device="cpu")


def test_train_epochs_is_the_shared_loop_and_rejects_empty_data():
    from utils.training import train_epochs

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 0, 1, 0, 1])

    def step(idx):
        logits = model(x[idx])
        loss = torch.nn.functional.cross_entropy(logits, y[idx])
        return loss, (logits.argmax(1) == y[idx]).sum().item(), len(idx), len(idx)

    history = train_epochs(model, optimizer, lambda: torch.arange(6).split(4), step, 3, lambda: (0.5, 0.25), False)
    assert history.epochs == 3 and history.val_acc == [0.25] * 3 and history.seconds > 0
    assert all(0 <= a <= 1 for a in history.train_acc) and history.train_loss[-1] < history.train_loss[0]
    with pytest.raises(ValueError, match="no samples"):
        train_epochs(model, optimizer, lambda: [], step, 1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        train_epochs(model, optimizer, lambda: [], step, 0, progress=False)


def test_fit_steps_the_scheduler_after_every_batch():
    utils.seed_everything(0)
    train, _ = utils.make_loaders(_blobs(n=96), _blobs(n=8, seed=1), batch_size=32)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    rates = []
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: rates.append(step) or 0.5**step)
    utils.fit(model, train, epochs=2, optimizer=optimizer, scheduler=scheduler, device="cpu", progress=False)
    # called once at construction (step 0), then after each of 2 epochs x 3 batches
    assert rates == list(range(7))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**6)
