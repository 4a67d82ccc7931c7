"""A BERT-family encoder from a local folder: a tiny BERT is made here from a config and
saved with its own WordPiece vocabulary, then trained with `--pretrained PATH`."""

from __future__ import annotations

import pytest
import transformers  # the `text` extra (in dev)

from fermion import modelfile
from tests import sources
from tests.training.test_train import model_metrics, trained


def tiny_bert(folder, texts: list[str]) -> str:
    words = sorted({w for t in texts for w in t.lower().replace("#", " ").split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *map(str, range(10))]
    folder.mkdir(parents=True)
    tokenizer = transformers.BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)})
    tokenizer.save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
    )
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    return str(folder)


def test_a_tiny_bert_saved_locally(jobs, jobs_server, tmp_path):
    rows = sources.review_rows(400)
    jobs.create_dataset(
        "bert-reviews", "text-classification", sources.write_rows(tmp_path / "r.csv", rows)
    )
    path = tiny_bert(tmp_path / "tiny-bert", [r["text"] for r in rows])
    job, config, logs = trained(
        jobs, "bert-reviews", pretrained=path, epochs=10, lr=5e-3, memory="3Gi"
    )
    assert config["model"] == "bert"
    assert model_metrics(jobs_server, job.id)["test"]["accuracy"] > 0.8, logs  # chance 0.5
    folder = jobs_server.artifacts / "jobs" / str(job.id) / "artifacts" / "model"
    assert (folder / "tokenizer" / "tokenizer.json").exists()
    assert modelfile.read_manifest(folder).preprocessing.kind == "hf-tokenizer"


def test_bert_needs_a_local_folder(jobs, tmp_path):
    import fermion as fm

    jobs.create_dataset(
        "bert-reviews-2",
        "text-classification",
        sources.write_rows(tmp_path / "r.csv", sources.review_rows(40)),
    )
    with pytest.raises(fm.InvalidInput, match="--pretrained PATH"):
        jobs.train("bert-reviews-2", model="bert")
