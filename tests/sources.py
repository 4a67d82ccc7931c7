"""Dataset sources for tests, made from data that ships inside packages
(scikit-learn) or generated here. Nothing is downloaded."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pandas as pd
from PIL import Image

POSITIVE = ["great", "wonderful", "superb", "moving", "delightful", "brilliant", "charming", "fun"]
NEGATIVE = ["dull", "boring", "awful", "tedious", "clumsy", "bland", "tiresome", "weak"]
FILLER = ["the", "film", "story", "acting", "plot", "cast", "was", "and", "a", "its", "with", "of"]


def digits_folder(root: Path, limit: int | None = None) -> Path:
    """scikit-learn's 8x8 digits as PNG files in a class-per-folder tree."""
    from fermion.datasets.samples import write_digits_folder

    return write_digits_folder(root, count=limit)


def png_bytes(size: tuple[int, int] = (8, 8), value: int = 128) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("L", size, value).save(buffer, format="PNG")
    return buffer.getvalue()


def review_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Short synthetic reviews whose label the words give away."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(POSITIVE if label == "pos" else NEGATIVE, 2) + rng.sample(FILLER, 4)
        rng.shuffle(words)
        rows.append({"text": " ".join(words) + f" #{i}", "label": label})
    return rows


def write_rows(path: Path, rows: list[dict], fieldnames: list[str] | None = None) -> Path:
    """Write rows as CSV, JSONL or Parquet according to the file suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames or list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pd.DataFrame(rows).to_parquet(path)
    return path


def iris_rows() -> list[dict]:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["species"] = [iris.target_names[t] for t in iris.target]
    return frame.drop(columns=["target"]).to_dict("records")


def diabetes_rows() -> list[dict]:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame.to_dict("records")


WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = ("en-us", "en-gb-scotland", "en-029")  # three accents espeak-ng ships


def spoken_digits(root: Path, per_voice: int = 8, seed: int = 0) -> Path:
    """Spoken digits as WAV files in a class-per-folder tree: each of the 10 words said by
    each voice at `per_voice` speeds and pitches, through Debian's espeak-ng."""
    import shutil
    import subprocess

    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is not installed (make test installs it)"
    rng = random.Random(seed)
    for word in WORDS:
        (root / word).mkdir(parents=True, exist_ok=True)
        for voice in VOICES:
            for n in range(per_voice):
                variant = rng.choice(("m1", "m3", "f1", "f3", "m7", "f4"))
                speed, pitch = rng.randint(110, 210), rng.randint(25, 75)
                subprocess.run(
                    [espeak, "-v", f"{voice}+{variant}", "-s", str(speed), "-p", str(pitch)]
                    + ["-w", str(root / word / f"{voice}-{n}.wav"), word],
                    check=True,
                    timeout=30,
                )
    return root


def taste_interactions(path: Path, **options: int) -> Path:
    """Interactions of users with latent tastes (fermion.datasets.samples), as a CSV."""
    from fermion.datasets.samples import taste_interactions as made

    return write_rows(path, made(**options))


def shapes(root: Path, count: int = 600, layout: str = "coco", seed: int = 0) -> Path:
    """Shapes on noisy backgrounds with their boxes (fermion.datasets.samples), as a COCO
    or YOLO folder."""
    from fermion.datasets.samples import write_shapes

    return write_shapes(root, count=count, layout=layout, seed=seed)


MOVIELENS_WHEEL = (
    Path(__file__).parents[1] / "build" / "packages" / "recbole-1.2.1-py3-none-any.whl"
)
MOVIELENS_INTERACTIONS = "recbole/dataset_example/ml-100k/ml-100k.inter"


def movielens_100k(path: Path) -> Path:
    """MovieLens-100k's 100,000 ratings (943 users, 1,682 films) as a CSV of
    user,item,rating,timestamp, read from RecBole's wheel (`make movielens` fetches it)."""
    import zipfile

    if not MOVIELENS_WHEEL.is_file():
        raise FileNotFoundError(f"{MOVIELENS_WHEEL} is missing: run `make movielens`")
    with zipfile.ZipFile(MOVIELENS_WHEEL) as wheel:
        lines = wheel.read(MOVIELENS_INTERACTIONS).decode().splitlines()
    rows = [
        dict(zip(("user", "item", "rating", "timestamp"), line.split("\t"), strict=True))
        for line in lines[1:]
    ]
    return write_rows(path, rows)
