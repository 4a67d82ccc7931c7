"""The model folder's contract on its own: what is written reads back typed, a folder of
an older Fermion loads, one that cannot be read is refused with what is wrong, and a
save that fails leaves nothing half-written."""

from __future__ import annotations

import json

import pytest
import torch

from fermion import modelfile
from fermion.errors import InvalidInput
from fermion.modelfile import architectures
from fermion.modelfile.inputs import Preprocessor
from tests.serving import folders


def test_what_is_written_reads_back_typed(tmp_path):
    folder = folders.text_model(tmp_path / "text")
    manifest = modelfile.read_manifest(folder)
    assert isinstance(manifest.preprocessing, modelfile.WordPreprocessing)
    assert manifest.preprocessing.vocab == folders.VOCAB
    assert manifest.spec.format == modelfile.FORMAT_VERSION
    assert manifest.spec.architecture == "SmallTransformer"
    model = modelfile.load(folder)
    pre = Preprocessor(model)
    batch = pre.collate([pre.prepare("great movie", "x"), pre.prepare("awful boring plot", "y")])
    assert model.network(batch).shape == (2, 2)


def test_a_folder_of_an_older_fermion_loads(tmp_path):
    """Format 1 had no version field, and its text models said kind "word" (the
    tokenizer's own kind overwrote "text"): such folders load as they are."""
    folder = folders.text_model(tmp_path / "old")
    spec = json.loads((folder / "config.json").read_text())
    del spec["format"]
    (folder / "config.json").write_text(json.dumps(spec))
    pre = json.loads((folder / "preprocessing.json").read_text())
    (folder / "preprocessing.json").write_text(json.dumps({**pre, "kind": "word"}))
    model = modelfile.load(folder)
    assert model.spec.format == 1 and model.preprocessing.kind == "text"


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        (
            "config.json",
            {"format": 99, "dataset_type": "image-classification", "model": "small-cnn"},
            "newer than this Fermion reads",
        ),
        ("config.json", {"dataset_type": "video", "model": "x"}, "dataset_type"),
        ("preprocessing.json", {"kind": "sound"}, "does not describe a preprocessing"),
        ("preprocessing.json", {"kind": "image", "mean": [0.5]}, "image_size"),
        ("labels.json", {"0": "a"}, "not a list of class names"),
    ],
)
def test_a_folder_that_cannot_be_read_says_what_is_wrong(tmp_path, file, content, message):
    folder = folders.image_model(tmp_path / "m")
    (folder / file).write_text(json.dumps(content))
    with pytest.raises(InvalidInput, match=message):
        modelfile.load(folder)


def test_weights_of_another_shape_are_refused_with_the_first_difference(tmp_path):
    folder = folders.image_model(tmp_path / "m")
    labels = json.loads((folder / "labels.json").read_text())
    (folder / "labels.json").write_text(json.dumps(labels[:3]))
    with pytest.raises(InvalidInput, match="do not fit a small-cnn with 3 outputs"):
        modelfile.load(folder)


def test_a_failed_save_leaves_the_previous_folder_whole(tmp_path):
    folder = folders.image_model(tmp_path / "m")
    before = sorted(p.name for p in folder.iterdir())
    network = architectures.SmallCNN(10)
    spec = modelfile.ModelSpec(dataset_type="image-classification", model="small-cnn")
    pre = modelfile.ImagePreprocessing(image_size=(8, 8), mean=[0.5] * 3, std=[0.25] * 3)
    with pytest.raises(FileNotFoundError):
        modelfile.save(
            folder,
            network,
            spec,
            folders.DIGIT_LABELS,
            pre,
            code={"net.py": tmp_path / "missing.py"},
        )
    assert sorted(p.name for p in folder.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folder left
    modelfile.load(folder)


def test_the_networks_take_what_the_preprocessing_makes(tmp_path):
    for make in (folders.image_model, folders.text_model, folders.tabular_model):
        model = modelfile.load(make(tmp_path / make.__name__))
        pre = Preprocessor(model)
        with torch.inference_mode():
            out = model.network(pre.collate([pre.prepare(pre.example, "example")]))
        assert out.shape[0] == 1
