import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: small ops are faster on one thread anyway
    yield
    torch.set_num_threads(threads)
