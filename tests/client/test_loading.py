"""`fm.Dataset.from_local` and `fm.DataLoader` on registered datasets of every type."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import fermion as fm
from tests import sources


@pytest.fixture(scope="module")
def registered(server, digits_dir, tmp_path_factory):
    """One dataset of each type, registered once for this module."""
    folder = tmp_path_factory.mktemp("loading")
    with server.client() as client:
        client.create_dataset("load-digits", "image-classification", digits_dir)
        client.create_dataset(
            "load-reviews",
            "text-classification",
            sources.write_rows(folder / "r.csv", sources.review_rows(60)),
        )
        client.create_dataset(
            "load-iris",
            "tabular-classification",
            sources.write_rows(folder / "iris.csv", sources.iris_rows()),
            label_column="species",
        )
        client.create_dataset(
            "load-diabetes",
            "tabular-regression",
            sources.write_rows(folder / "d.parquet", sources.diabetes_rows()),
        )
    return server


def test_images_as_normalised_tensors(registered, client):
    train = fm.Dataset.from_local("load-digits", client=client)
    info = client.get_dataset_version("load-digits")
    assert len(train) == info.split_counts["train"]
    assert train.classes == [str(d) for d in range(10)] and train.num_classes == 10
    x, y = train[0]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    assert 0 <= y < 10
    batch = torch.stack([train[i][0] for i in range(300)])
    assert abs(batch.mean().item()) < 0.2  # normalised with the dataset's own statistics
    assert 0.7 < batch.std().item() < 1.3


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_images_stored_decoded_load_as_the_files_decode(registered, client, digits_dir, mode):
    """Small images are stored decoded too, and batches are made from those pixels; they
    hold what Pillow decodes from the source files, normalised with the dataset's stats."""
    info = client.get_dataset_version("load-digits")
    assert info.spec["pixels"] == "L"  # the digits are 8x8 greyscale PNGs
    train = fm.Dataset.from_local("load-digits", image_mode=mode, client=client)
    assert train._image.batched  # the batch path, not the per-image decode
    mean, std = torch.tensor(info.spec["mean"]), torch.tensor(info.spec["std"])
    if mode == "L":
        mean, std = mean.mean(0, keepdim=True), std.mean(0, keepdim=True)
    indices = [0, 5, 17, 250, len(train) - 1]
    batch = train.__getitems__(indices)
    for index, (x, y) in zip(indices, batch, strict=True):
        path = train.table[index]["path"]
        pixels = np.asarray(Image.open(digits_dir / path).convert(mode), dtype=np.float32)
        pixels = torch.from_numpy(pixels).reshape(8, 8, -1).permute(2, 0, 1) / 255
        expected = (pixels - mean.view(-1, 1, 1)) / std.view(-1, 1, 1)
        assert x.shape == expected.shape and torch.allclose(x, expected, atol=1e-5)
        assert train.classes[y] == path.split("/")[0]


def test_image_size_mode_and_transform(registered, client):
    small = fm.Dataset.from_local(
        "load-digits", split="test", image_size=16, image_mode="L", normalize=False, client=client
    )
    x, _ = small[0]
    assert x.shape == (1, 16, 16) and x.min() >= 0.0 and x.max() <= 1.0
    seen = []
    custom = fm.Dataset.from_local(
        "load-digits",
        split="validation",
        client=client,
        transform=lambda image: seen.append(image.size) or 7,
    )
    assert custom[0][0] == 7 and seen == [(8, 8)]


def test_text_as_strings_or_tokens(registered, client):
    reviews = fm.Dataset.from_local("load-reviews", client=client)
    text, label = reviews[0]
    assert isinstance(text, str) and reviews.classes[label] in ("neg", "pos")
    tokens = fm.Dataset.from_local(
        "load-reviews", client=client, tokenizer=lambda s: torch.tensor([len(w) for w in s.split()])
    )
    assert tokens[0][0].dtype == torch.int64


def test_tabular_classification_and_regression(registered, client):
    iris = fm.Dataset.from_local("load-iris", split="test", client=client)
    x, y = iris[0]
    assert x.shape == (4,) and x.dtype == torch.float32
    assert iris.classes == ["setosa", "versicolor", "virginica"] and y in (0, 1, 2)
    diabetes = fm.Dataset.from_local("load-diabetes", client=client)
    x, y = diabetes[0]
    assert x.shape == (10,) and y.dtype == torch.float32


def test_versions_splits_and_errors(registered, client):
    pinned = fm.Dataset.from_local("load-iris", version=1, client=client)
    assert pinned.info.ref == "load-iris:v1"
    assert fm.Dataset.from_local("load-iris:v1", client=client).info.ref == "load-iris:v1"
    with pytest.raises(fm.InvalidInput, match="no split 'dev'"):
        fm.Dataset.from_local("load-iris", split="dev", client=client)
    with pytest.raises(fm.NotFound, match="no-such-set"):
        fm.Dataset.from_local("no-such-set", client=client)


def test_an_empty_split_loads_as_no_records(registered, client, tmp_path):
    rows = sources.write_rows(tmp_path / "iris.csv", sources.iris_rows())
    client.create_dataset(
        "load-no-test", "tabular-classification", rows, label_column="species", split=[0.9, 0.1]
    )
    test = fm.Dataset.from_local("load-no-test", split="test", client=client)
    assert len(test) == 0
    assert (
        test.table.column_names
        == fm.Dataset.from_local("load-no-test", client=client).table.column_names
    )


def test_arrow_files_are_memory_mapped_in_place(registered, client):
    train = fm.Dataset.from_local("load-digits", client=client)
    files = [c["filename"] for c in train.table.cache_files]
    assert files and all(f.startswith(str(registered.artifacts)) for f in files)


def test_dataloader_batches_and_reshuffles(registered, client):
    train = fm.Dataset.from_local("load-iris", client=client)
    loader = fm.DataLoader(train, batch_size=16, num_workers=2)
    first = torch.cat([x for x, _ in loader])
    second = torch.cat([x for x, _ in loader])
    assert first.shape == (len(train), 4)
    assert not torch.equal(first, second)  # a new order every epoch
    assert torch.equal(first.sort(dim=0).values, second.sort(dim=0).values)  # same records
    test = fm.Dataset.from_local("load-iris", split="test", client=client)
    ordered = fm.DataLoader(test, batch_size=4)  # non-train splits keep their order
    assert torch.equal(torch.cat([x for x, _ in ordered]), torch.cat([x for x, _ in ordered]))
