import pytest


@pytest.fixture(scope="module")
def digits(jobs_server, digits_dir) -> str:
    """The digits registered on this module's jobs server."""
    with jobs_server.client() as client:
        client.create_dataset("train-digits", "image-classification", digits_dir)
    return "train-digits"
