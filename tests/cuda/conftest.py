"""The CUDA tests (`@pytest.mark.cuda`): skipped without a CUDA device; run on the GPU machine with
`scripts/gpu_flagship.sh test` (or `pytest tests/cuda`)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one)")
