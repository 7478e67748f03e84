"""Fixtures shared by every test module."""

import pytest
import torch


@pytest.fixture(autouse=True)
def restore_threads():
    """Runs set torch's thread count (one thread is steady on a shared machine); restore it after."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
