"""Training and evaluation of classifiers, with a progress bar and a history that plots itself."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .config import get_device, model_device


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


def _placed(model: nn.Module, device) -> torch.device:
    """The device to compute on: the model's own, or ``device`` after moving the model there."""
    if device is None:
        return model_device(model)
    device = torch.device(device)
    model.to(device)
    return device


def evaluate(model: nn.Module, loader: DataLoader, loss_fn=None, device=None) -> dict[str, float]:
    """Mean loss and accuracy of a classifier over a loader: ``{"loss": ..., "accuracy": ...}``.

    Computes on the model's own device (:func:`utils.model_device`), moving each batch there; the model
    stays where it is. Passing ``device`` moves the model there (in place) first. Leaves the model in
    eval mode.
    """
    _check_loader(loader, "loader")
    device = _placed(model, device)
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


def train_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches,
    step,
    epochs: int,
    validate=None,
    progress: bool = True,
    desc: str = "training",
    scheduler=None,
) -> History:
    """The training loop that :func:`fit` and ``utils.segmentation.fit_segmentation`` share.

    For each of ``epochs`` epochs: iterate over ``batches()`` (called once per epoch), let
    ``step(batch)`` compute ``(loss, correct, counted, samples)`` (the mean loss of the batch, the number
    of correct predictions among ``counted`` predictions, and the number of samples), take an optimiser
    step, then call ``validate()`` for ``(val_loss, val_acc)`` if given. Records the mean training loss
    per sample, the training accuracy and the validation numbers in a :class:`History`, with a progress
    bar showing the latest of them.

    ``scheduler`` (a ``torch.optim.lr_scheduler``, e.g. ``OneCycleLR``), when given, steps after every
    optimiser step. It moves nothing: the model must already be where ``step`` sends the batches.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    history = History()
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)
    for _ in bar:
        model.train()
        loss_sum, correct, counted, samples = 0.0, 0, 0, 0
        for batch in batches():
            loss, batch_correct, batch_counted, batch_samples = step(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.item() * batch_samples
            correct += batch_correct
            counted += batch_counted
            samples += batch_samples
        if samples == 0:
            raise ValueError("the training data yielded no samples")
        history.train_loss.append(loss_sum / samples)
        history.train_acc.append(correct / counted)
        postfix = {"loss": f"{history.train_loss[-1]:.3f}", "acc": f"{history.train_acc[-1]:.3f}"}
        if validate is not None:
            val_loss, val_acc = validate()
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
            postfix["val_acc"] = f"{val_acc:.3f}"
        bar.set_postfix(postfix)
    history.seconds = time.perf_counter() - start
    return history


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
    scheduler=None,
) -> History:
    """Train a classifier (logits ``(N, num_classes)``, labels ``(N,)``) and return its :class:`History`.

    Defaults: Adam with learning rate ``lr``, cross-entropy loss. The model is moved (in place) to
    ``device``, or with ``device=None`` to :func:`utils.get_device` (``$DLCV_DEVICE`` or the best available),
    and stays there after training; the batches follow it, and the validation after each epoch runs on
    the model's device.
    A progress bar shows the epochs with the latest loss and accuracy. ``scheduler`` (made for
    ``optimizer``, e.g. ``OneCycleLR(optimizer, max_lr, total_steps=epochs * len(train_loader))``) steps
    after every batch.
    """
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    device = get_device() if device is None else torch.device(device)
    model.to(device)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    optimizer = torch.optim.Adam(model.parameters(), lr=lr) if optimizer is None else optimizer

    def step(batch):
        x, y = batch[0].to(device), batch[1].to(device)
        logits = model(x)
        _check_logits(logits, y)
        return loss_fn(logits, y), (logits.argmax(1) == y).sum().item(), len(y), len(y)

    def validate():
        val = evaluate(model, val_loader, loss_fn)  # on the model's device
        return val["loss"], val["accuracy"]

    return train_epochs(
        model,
        optimizer,
        lambda: train_loader,
        step,
        epochs,
        validate=None if val_loader is None else validate,
        progress=progress,
        desc=desc,
        scheduler=scheduler,
    )


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256, device=None) -> torch.Tensor:
    """The model's outputs for a batch of inputs ``(N, ...)``, computed in chunks, returned on the CPU.

    Computes on the model's own device (:func:`utils.model_device`), moving each chunk there; the model
    stays where it is. Passing ``device`` moves the model there (in place) first. Leaves the model in
    eval mode.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(f"x must be a batched tensor (N, ...), got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = _placed(model, device)
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
