"""Data made in the tests, each with one known cause of its label, so that an
explanation can be checked against the truth."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 16  # images: SIDE x SIDE, grey
SQUARE = 5  # the bright square's side, in the top-left corner
DECIDING_WORD = "urgent"
FILLER = [
    "the",
    "team",
    "will",
    "meet",
    "on",
    "monday",
    "about",
    "the",
    "new",
    "plan",
    "for",
    "our",
    "office",
    "and",
    "send",
    "notes",
    "to",
    "everyone",
    "after",
    "lunch",
    "with",
    "a",
    "short",
    "list",
    "of",
    "open",
    "questions",
]


def feature_three_rows(n: int = 600, seed: int = 0) -> list[dict]:
    """Six features; the label is whether x3 is positive, and nothing else matters."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    return [
        {
            **{f"x{j}": round(float(v), 4) for j, v in enumerate(row)},
            "label": "yes" if row[3] > 0 else "no",
        }
        for row in x
    ]


def corner_image(has_square: bool, rng: np.random.Generator) -> Image.Image:
    pixels = rng.integers(0, 70, size=(SIDE, SIDE), dtype=np.uint8)  # a noisy dark background
    if has_square:
        pixels[:SQUARE, :SQUARE] = rng.integers(220, 256, size=(SQUARE, SQUARE))
    return Image.fromarray(pixels, mode="L")


def corner_folder(root: Path, per_class: int = 120, seed: int = 0) -> Path:
    """Class `square`: a bright square in the top-left corner; class `plain`: none."""
    rng = np.random.default_rng(seed)
    for label in ("square", "plain"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            corner_image(label == "square", rng).save(root / label / f"{i}.png")
    return root


def one_word_rows(n: int = 400, seed: int = 0) -> list[dict]:
    """Class `alarm` if the text has the word DECIDING_WORD, else `calm`; every text has
    seven filler words besides."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = rng.sample(FILLER, 7)
        label = "alarm" if i % 2 == 0 else "calm"
        if label == "alarm":
            words.insert(rng.randrange(len(words) + 1), DECIDING_WORD)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
