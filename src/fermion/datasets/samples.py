"""Sample dataset sources made from data that ships inside scikit-learn, or made up
with a known structure, so the demo, the benchmarks and a first try of Fermion need
nothing from the network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def write_digits_folder(dest: str | Path, count: int | None = None, size: int = 8) -> Path:
    """Write scikit-learn's handwritten digits (1,797 images, 8x8) as PNG files in a
    class-per-folder tree. `count` above 1,797 repeats the images with a little noise
    (for scale tests); `size` upsamples them."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    dest = Path(dest)
    total = count if count is not None else len(digits.images)
    rng = np.random.default_rng(0)
    for i in range(total):
        image, target = digits.images[i % len(digits.images)], digits.target[i % len(digits.images)]
        pixels = image * 255 / 16
        if i >= len(digits.images):
            pixels = pixels + rng.normal(0, 8, pixels.shape)
        picture = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
        if size != 8:
            picture = picture.resize((size, size), Image.Resampling.BILINEAR)
        folder = dest / str(target)
        folder.mkdir(parents=True, exist_ok=True)
        picture.save(folder / f"{i:06d}.png")
    return dest


def split_across_sites(
    source: str | Path,
    dest: str | Path,
    owners: dict[str, str],
    mostly: float = 0.85,
    holdout: float = 0.15,
    seed: int = 0,
) -> dict[str, Path]:
    """A class-per-folder tree cut into federated sites' shares, unevenly as real sites
    hold data: `owners` maps a site to the classes it mostly holds ({"a": "0123", ...});
    each image of such a class goes to its owner with probability `mostly`, else to
    another site. `holdout` of the images go to no site (to score models on), and
    `union` holds every site's images together (centralised training on the same data).
    Returns {"site-a": folder, ..., "holdout": folder, "union": folder}."""
    import random
    import shutil

    source, dest = Path(source), Path(dest)
    owner = {c: site for site, classes in owners.items() for c in classes}
    rng = random.Random(seed)
    for images in sorted(p for p in source.iterdir() if p.is_dir()):
        for image in sorted(images.iterdir()):
            if rng.random() < holdout:
                places = ["holdout"]
            else:
                mine = owner[images.name]
                others = [s for s in owners if s != mine]
                site = mine if rng.random() < mostly or not others else rng.choice(others)
                places = [f"site-{site}", "union"]
            for place in places:
                (dest / place / images.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(image, dest / place / images.name / image.name)
    return {p.name: p for p in dest.iterdir() if p.is_dir()}


def taste_interactions(
    users: int = 400, items: int = 300, tastes: int = 10, seed: int = 0
) -> list[dict]:
    """Interactions (user, item, rating, timestamp rows) of users with latent tastes:
    each item has one of `tastes` genres and a popularity; each user likes two genres
    and picks most of 15-35 items from them (popular ones more often), the rest anywhere.
    A recommender that learns the tastes beats the popularity ranking by far."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, tastes, items)
    popularity = rng.lognormal(0.0, 0.8, items)
    rows = []
    for user in range(users):
        liked = rng.choice(tastes, 2, replace=False)
        inside = np.isin(genre, liked)
        weights = np.where(inside, popularity * 15, popularity)
        count = int(rng.integers(15, 36))
        chosen = rng.choice(items, count, replace=False, p=weights / weights.sum())
        times = np.sort(rng.uniform(0, 1e6, count)) + 1.6e9
        for item, time in zip(chosen, times, strict=True):
            rating = int(rng.integers(3, 6)) if inside[item] else int(rng.integers(1, 4))
            rows.append(
                {"user": f"u{user}", "item": f"i{item}", "rating": rating, "timestamp": round(time)}
            )
    return rows


SHAPES = ("circle", "square", "triangle")


def write_shapes(
    dest: str | Path, count: int = 600, layout: str = "coco", size: int = 128, seed: int = 0
) -> Path:
    """Object detection data: `count` images of `size` pixels, each with one to three
    circles, squares and triangles of 18-44 pixels (apart from each other) in random
    colours on a noisy background, labelled as a COCO folder (`annotations.json` and
    `images/`) or a YOLO folder (`images/`, `labels/` and `data.yaml`)."""
    from PIL import Image, ImageDraw

    root = Path(dest)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for n in range(count):
        pixels = rng.integers(0, 256, 3) + rng.normal(0, 40, (size, size, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        boxes = _shapes_on(ImageDraw.Draw(image), rng, size)
        name = f"{n:05d}.png"
        image.save(root / "images" / name)
        images.append({"id": n + 1, "file_name": name, "width": size, "height": size})
        for x0, y0, x1, y1, kind in boxes:
            box = [x0, y0, x1 - x0, y1 - y0]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": n + 1, "category_id": kind + 1,
                 "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
            )  # fmt: skip
            if layout == "yolo":
                line = f"{kind} {(x0 + x1) / 2 / size:.6f} {(y0 + y1) / 2 / size:.6f}"
                line += f" {(x1 - x0) / size:.6f} {(y1 - y0) / size:.6f}\n"
                (root / "labels").mkdir(exist_ok=True)
                with open(root / "labels" / f"{n:05d}.txt", "a") as f:
                    f.write(line)
    if layout == "yolo":
        (root / "data.yaml").write_text("names:\n" + "".join(f"  - {s}\n" for s in SHAPES))
    else:
        categories = [{"id": i + 1, "name": s} for i, s in enumerate(SHAPES)]
        document = {"images": images, "annotations": annotations, "categories": categories}
        (root / "annotations.json").write_text(json.dumps(document))
    return root


def _shapes_on(draw: Any, rng: np.random.Generator, size: int) -> list[tuple[int, ...]]:
    """Draws one to three shapes that do not overlap; their boxes and kinds."""
    boxes: list[tuple[int, ...]] = []
    for _ in range(int(rng.integers(1, 4))):
        side = int(rng.integers(18, 45))
        x0, y0 = (int(v) for v in rng.integers(0, size - side, 2))
        x1, y1 = x0 + side, y0 + side
        if any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes):
            continue
        kind = int(rng.integers(0, len(SHAPES)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=color)
        elif kind == 1:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=color)
        else:
            draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), (x0 + side / 2, y0)], fill=color)
        boxes.append((x0, y0, x1, y1, kind))
    return boxes
