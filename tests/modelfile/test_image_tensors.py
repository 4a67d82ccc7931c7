"""The PyTorch replica's image preprocessing gives torchvision's values bit for bit:
shrunk, enlarged, kept at size, one channel or three, one image or a batch, a decoded
image as the replica holds it (a channels-last view), and on a CPU without torch's own
uint8 resize (the float-and-round path)."""

import pytest
import torch
from torchvision.transforms import v2

from fermion.modelfile.image_tensors import ImagePipeline

CASES = [
    ((3, 40, 30), (8, 8), [0.5] * 3, [0.25] * 3),  # a larger image, shrunk
    ((4, 3, 5, 7), (8, 8), [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]),  # a batch, enlarged
    ((2, 3, 8, 8), (8, 8), [0.5] * 3, [0.25] * 3),  # already the size: only normalised
    ((1, 28, 28), (16, 12), [0.13], [0.31]),  # grey, to a size of a different shape
]


def torchvision_pipeline(size, mean, std) -> v2.Compose:
    return v2.Compose(
        [
            v2.Resize(list(size), antialias=True),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )


def random_pixels(shape) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)


def force_float_resize(pipeline: ImagePipeline, monkeypatch) -> None:
    """Both sides as on a CPU without AVX2: resized in float, then rounded."""
    monkeypatch.setattr(
        "torchvision.transforms.v2.functional._geometry._do_native_uint8_resize_on_cpu",
        lambda interpolation: False,
    )
    pipeline.native = False


@pytest.mark.parametrize(("shape", "size", "mean", "std"), CASES)
@pytest.mark.parametrize("float_resize", [False, True])
def test_the_same_values_as_torchvision(shape, size, mean, std, float_resize, monkeypatch):
    images = random_pixels(shape)
    ours = ImagePipeline(size, mean, std)
    if float_resize:
        force_float_resize(ours, monkeypatch)
    expected = torchvision_pipeline(size, mean, std)(images)
    got = ours(images)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert torch.equal(got, expected)


@pytest.mark.parametrize("float_resize", [False, True])
def test_a_decoded_image_as_the_replica_holds_it(float_resize, monkeypatch):
    """Pillow's pixels (H x W x C) permuted to C x H x W: a channels-last view, which
    torchvision restrides before resizing; alone, and as a batch of one."""
    pixels = random_pixels((37, 23, 3)).permute(2, 0, 1)
    ours = ImagePipeline((8, 8), [0.5] * 3, [0.25] * 3)
    if float_resize:
        force_float_resize(ours, monkeypatch)
    theirs = torchvision_pipeline((8, 8), [0.5] * 3, [0.25] * 3)
    for images in (pixels, torch.stack([pixels])):
        assert torch.equal(ours(images), theirs(images))
