"""Sample dataset sources made from data that ships inside scikit-learn, or made up
with a known structure, so the demo, the benchmarks and a first try of Fermion need
nothing from the network."""

from __future__ import annotations

from pathlib import Path

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
