"""Fermion's word tokenizer, used by the small Transformer: fitted on the training split
by the trainer, rebuilt from the model folder's preprocessing by every reader. It needs
no torch (light replicas tokenize with it); only `pad_ids` makes a tensor."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from fermion.modelfile.schema import WordPreprocessing

if TYPE_CHECKING:
    import torch

TOKEN = re.compile(r"[a-z0-9']+")
PAD, UNKNOWN = 0, 1
VOCAB_SIZE = 20_000
MAX_LEN = 128


class WordTokenizer:
    """Lower-cased words, the most frequent of the training split; 0 pads, 1 is unknown."""

    def __init__(self, vocab: list[str], max_len: int = MAX_LEN) -> None:
        self.vocab = vocab
        self.index = {word: i + 2 for i, word in enumerate(vocab)}
        self.max_len = max_len

    @classmethod
    def fit(cls, texts: list[str], size: int = VOCAB_SIZE) -> WordTokenizer:
        counts = Counter(word for text in texts for word in TOKEN.findall(text.lower()))
        return cls([word for word, _ in counts.most_common(size)])

    @classmethod
    def from_preprocessing(cls, spec: WordPreprocessing) -> WordTokenizer:
        return cls(spec.vocab, spec.max_len)

    def __call__(self, text: str) -> list[int]:
        ids = [self.index.get(w, UNKNOWN) for w in TOKEN.findall(text.lower())][: self.max_len]
        return ids or [UNKNOWN]

    def preprocessing(self) -> WordPreprocessing:
        return WordPreprocessing(vocab=self.vocab, max_len=self.max_len)


def pad_ids(items: list[list[int]]) -> torch.Tensor:
    """Token id lists -> one (batch, longest) tensor, padded with 0."""
    import torch

    ids = torch.full((len(items), max(len(i) for i in items)), PAD, dtype=torch.long)
    for row, tokens in enumerate(items):
        ids[row, : len(tokens)] = torch.tensor(tokens)
    return ids
