"""Sample dataset sources made from data that ships inside scikit-learn, so the demo,
the benchmarks and a first try of Fermion need nothing from the network."""

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
