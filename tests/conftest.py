"""Fixtures shared by the test files."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """PyTorch on one CPU thread for the test, then as before: the small tensors of chapter 9's training
    loops run faster on one thread than on several competing for a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
