"""A light replica tokenizes a Hugging Face model's text with the `tokenizers` library
alone; the ids and masks must be those transformers gives the PyTorch replica, on
whichever side the tokenizer cuts long texts and pads short ones."""

from __future__ import annotations

import numpy as np
import pytest
import transformers

from fermion.errors import InvalidInput
from fermion.modelfile.schema import HFTokenizerPreprocessing
from fermion.modelfile.text_arrays import FastTokenizer

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "great", "dull", "film", "plot"]
TEXTS = ["a great film", "dull", "a dull plot a great plot a dull film", "Plot, FILM!"]


def _saved(folder, **options) -> transformers.PreTrainedTokenizerBase:
    vocab = {word: i for i, word in enumerate(WORDS)}
    tokenizer = transformers.BertTokenizerFast(vocab=vocab, **options)
    tokenizer.save_pretrained(folder / "tokenizer")
    return tokenizer


@pytest.mark.parametrize(
    "options", [{}, {"truncation_side": "left"}, {"padding_side": "left"}], ids=str
)
def test_ids_and_masks_are_those_transformers_gives(tmp_path, options):
    reference = _saved(tmp_path, **options)
    ours = FastTokenizer(tmp_path, HFTokenizerPreprocessing(max_len=6))
    expected = reference.pad(
        [reference(t, truncation=True, max_length=6) for t in TEXTS], return_tensors="np"
    )
    batch = ours.collate([ours.ids(t) for t in TEXTS])
    assert np.array_equal(batch["input_ids"], expected["input_ids"])
    assert np.array_equal(batch["attention_mask"], expected["attention_mask"])


def test_a_tokenizer_without_a_padding_token_is_refused(tmp_path):
    _saved(tmp_path, pad_token=None)
    with pytest.raises(InvalidInput, match="names no padding token"):
        FastTokenizer(tmp_path, HFTokenizerPreprocessing(max_len=6))
