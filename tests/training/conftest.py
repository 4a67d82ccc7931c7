import pytest


@pytest.fixture(scope="module")
def digits(jobs_server, digits_dir) -> str:
    """The digits registered on this module's jobs server."""
    with jobs_server.client() as client:
        client.create_dataset("train-digits", "image-classification", digits_dir)
    return "train-digits"


@pytest.fixture(scope="module")
def few_digits(jobs_server, tmp_path_factory) -> str:
    """300 of the digits, for runs whose cost is per sample and not what is tested (bf16
    is emulated on CPUs without AMX/AVX512-BF16: a few samples a second for resnet18)."""
    from tests import sources

    folder = sources.digits_folder(tmp_path_factory.mktemp("few") / "digits", limit=300)
    with jobs_server.client() as client:
        client.create_dataset("few-digits", "image-classification", folder)
    return "few-digits"
