"""Images are read and checked by a pool of processes; the number of processes changes
nothing about the version: the same digest, records in the same order, the same report
of bad records."""

from __future__ import annotations

import hashlib
import json
import shutil

import fermion as fm


def test_any_number_of_workers_makes_the_same_version(client, tmp_path, digits_dir):
    root = tmp_path / "digits"
    shutil.copytree(digits_dir, root)
    for label in ("0", "5", "9"):  # bad records spread over the listing
        (root / label / f"junk-{label}.png").write_bytes(b"not an image")
    versions = [
        client.create_dataset(
            f"pool-{workers}", "image-classification", root, skip_invalid=True, workers=workers
        )
        for workers in (1, 2, 3)
    ]
    first = versions[0]
    assert first.num_records == len(list(digits_dir.glob("*/*.png")))
    for other in versions[1:]:
        assert other.digest == first.digest
        assert (other.spec, other.split_counts, other.class_counts) == (
            first.spec,
            first.split_counts,
            first.class_counts,
        )
        assert [p.location for p in other.skipped] == [p.location for p in first.skipped]
        for split in first.split_counts:
            ours = fm.Dataset.from_local(other.name, split, client=client).table["path"]
            theirs = fm.Dataset.from_local(first.name, split, client=client).table["path"]
            assert ours == theirs
    assert sorted(p.location for p in first.skipped) == [
        "0/junk-0.png",
        "5/junk-5.png",
        "9/junk-9.png",
    ]
    again = client.create_dataset(
        "pool-1", "image-classification", root, skip_invalid=True, workers=2
    )
    assert again.existing and again.version == 1


def test_the_digest_is_the_images_in_listing_order(client, digits_dir):
    """What a version's digest has always covered, recomputed here from the files: for
    each image in listing order its key and label as JSON and the SHA-256 of its bytes,
    then the dataset type and spec. The pool builds rows in its workers; the digest must
    not move, or re-ingesting unchanged files would make a new version."""
    created = client.create_dataset("pool-digest", "image-classification", digits_dir, workers=2)
    expected = hashlib.sha256()
    for path in sorted(digits_dir.glob("*/*.png")):
        key, label = f"{path.parent.name}/{path.name}", path.parent.name
        expected.update(json.dumps([key, label]).encode())
        expected.update(hashlib.sha256(path.read_bytes()).digest())
    spec = {"type": "image-classification", **created.spec}
    expected.update(json.dumps(spec, sort_keys=True).encode())
    assert created.digest == expected.hexdigest()
