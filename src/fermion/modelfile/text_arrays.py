"""Text -> token id arrays without torch or transformers, for light replicas.

`WordIds` is Fermion's word tokenizer with NumPy padding. `FastTokenizer` runs a Hugging
Face model's `tokenizer.json` with the `tokenizers` library (what transformers' fast
tokenizers are built on), truncated to the model's length on the tokenizer's own side
and padded with its own pad token on its own side, as `AutoTokenizer(...)` and `.pad()`
do.
A tokenizer saved without `tokenizer.json` (a slow, Python-only one) is refused: its
model is served by PyTorch replicas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fermion.errors import InvalidInput
from fermion.modelfile.schema import HFTokenizerPreprocessing, WordPreprocessing
from fermion.modelfile.tokenizer import PAD, WordTokenizer


class WordIds:
    def __init__(self, spec: WordPreprocessing) -> None:
        self.tokenizer = WordTokenizer.from_preprocessing(spec)

    def ids(self, text: str) -> list[int]:
        return self.tokenizer(text)

    @staticmethod
    def collate(items: list[list[int]]) -> np.ndarray:
        """One (batch, longest) array, padded with 0: `tokenizer.pad_ids` in NumPy."""
        ids = np.full((len(items), max(len(i) for i in items)), PAD, dtype=np.int64)
        for row, tokens in enumerate(items):
            ids[row, : len(tokens)] = tokens
        return ids


class FastTokenizer:
    def __init__(self, folder: Path, spec: HFTokenizerPreprocessing) -> None:
        from tokenizers import Tokenizer

        where = folder / spec.folder
        if not (where / "tokenizer.json").is_file():
            raise InvalidInput(
                f"{folder.name}'s tokenizer has no tokenizer.json (a fast tokenizer's file),"
                " which the light runtime needs: deploy it with --runtime torch"
            )
        self.tokenizer = Tokenizer.from_file(str(where / "tokenizer.json"))
        config = _json(where / "tokenizer_config.json")
        # The side to cut a long text on: transformers takes its config's, then the file's.
        saved = (self.tokenizer.truncation or {}).get("direction", "right")
        side = config.get("truncation_side", saved)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=spec.max_len, direction=side)
        pad = config.get("pad_token") or _json(where / "special_tokens_map.json").get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        pad_id = self.tokenizer.token_to_id(pad) if pad else None
        if pad_id is None:
            raise InvalidInput(
                f"{folder.name}'s tokenizer names no padding token, which batches of texts"
                " need: deploy it with --runtime torch"
            )
        self.pad_id = pad_id
        self.left = config.get("padding_side") == "left"

    def ids(self, text: str) -> tuple[list[int], list[int]]:
        encoding = self.tokenizer.encode(text)
        return encoding.ids, encoding.attention_mask

    def collate(self, items: list[tuple[list[int], list[int]]]) -> dict[str, np.ndarray]:
        longest = max(len(ids) for ids, _ in items)
        input_ids = np.full((len(items), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(items), longest), dtype=np.int64)
        for row, (ids, attention) in enumerate(items):
            place = slice(longest - len(ids), None) if self.left else slice(0, len(ids))
            input_ids[row, place], mask[row, place] = ids, attention
        return {"input_ids": input_ids, "attention_mask": mask}


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}
