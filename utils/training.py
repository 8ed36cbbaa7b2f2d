"""Training and evaluation of classifiers, with a progress bar and a history that plots itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .config import get_device


@dataclass
class History:
    """Per-epoch loss and accuracy of a training run (``val_*`` are empty without a validation loader)."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def plot(self, title: str | None = None, axes=None):
        """Loss and accuracy curves side by side; returns the matplotlib figure."""
        from .plotting import plot_history

        return plot_history(self, title=title, axes=axes)

    def __str__(self) -> str:
        if not self.epochs:
            return "History(no epochs)"
        parts = [f"{self.epochs} epochs in {self.seconds:.1f} s", f"train acc {self.train_acc[-1]:.3f}"]
        if self.val_acc:
            parts.append(f"val acc {self.val_acc[-1]:.3f}")
        return "History(" + ", ".join(parts) + ")"


def _check_loader(loader, name: str) -> None:
    if not isinstance(loader, DataLoader):
        raise ValueError(f"{name} must be a torch.utils.data.DataLoader, got {type(loader).__name__}")


def _check_logits(logits: torch.Tensor, y: torch.Tensor) -> None:
    if logits.ndim != 2:
        raise ValueError(
            f"the model must return logits of shape (N, num_classes), got {tuple(logits.shape)}; "
            "add nn.Flatten() and a final nn.Linear"
        )
    if y.dtype != torch.long:
        raise ValueError(f"labels must be integer class indices (torch.long), got {y.dtype}")


def evaluate(model: nn.Module, loader: DataLoader, loss_fn=None, device=None) -> dict[str, float]:
    """Mean loss and accuracy of a classifier over a loader: ``{"loss": ..., "accuracy": ...}``."""
    _check_loader(loader, "loader")
    device = get_device() if device is None else torch.device(device)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            _check_logits(logits, y)
            loss_sum += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
    if total == 0:
        raise ValueError("the loader yielded no samples")
    return {"loss": loss_sum / total, "accuracy": correct / total}


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    epochs: int = 5,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn=None,
    device=None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train a classifier (logits ``(N, num_classes)``, labels ``(N,)``) and return its :class:`History`.

    Defaults: Adam with learning rate ``lr``, cross-entropy loss, the best available device.
    A progress bar shows the epochs with the latest loss and accuracy.
    """
    import time

    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    device = get_device() if device is None else torch.device(device)
    model.to(device)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    optimizer = torch.optim.Adam(model.parameters(), lr=lr) if optimizer is None else optimizer
    history = History()
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)
    for _ in bar:
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            _check_logits(logits, y)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
        history.train_loss.append(loss_sum / total)
        history.train_acc.append(correct / total)
        postfix = {"loss": f"{history.train_loss[-1]:.3f}", "acc": f"{history.train_acc[-1]:.3f}"}
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn, device)
            history.val_loss.append(val["loss"])
            history.val_acc.append(val["accuracy"])
            postfix["val_acc"] = f"{val['accuracy']:.3f}"
        bar.set_postfix(postfix)
    history.seconds = time.perf_counter() - start
    return history


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256, device=None) -> torch.Tensor:
    """The model's outputs for a batch of inputs ``(N, ...)``, computed in chunks, returned on the CPU."""
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(f"x must be a batched tensor (N, ...), got {getattr(x, 'shape', type(x).__name__)}")
    device = get_device() if device is None else torch.device(device)
    model.to(device).eval()
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
