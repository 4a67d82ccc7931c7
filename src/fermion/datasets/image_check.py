"""Reading and checking images on every core, in the order they were listed.

Each image is read and decoded in full (truncated files fail only then), checked against
Pillow's pixel limit before decoding (a decompression bomb is refused, not expanded),
hashed, and, for a sample, measured for channel statistics. Chunks of images go to a
pool of worker processes; results come back in listing order, so a dataset's content
and digest do not depend on the number of workers. At most a few chunks per worker are
in flight, so memory stays flat however many images there are.

This module imports only Pillow, NumPy and fsspec (and `image_rows` adds pyarrow): the
workers start from a fork server that has them preloaded, in milliseconds, without the
server's own modules.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import multiprocessing
import multiprocessing.forkserver
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from fsspec.implementations.local import LocalFileSystem
from PIL import Image, UnidentifiedImageError

from fermion.errors import ServerUnavailable

Image.preinit()  # the common formats' plugins: loaded once by the fork server, not per worker

MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's own bomb threshold
_BOMB = f"over the limit of {MAX_PIXELS:,} (a decompression bomb?)"
STATS_SIDE = 64  # channel statistics come from thumbnails: cheap, and close enough
# Images up to this many pixels are also stored decoded (1 or 3 bytes a pixel), so that
# loaders copy them instead of decoding them every epoch; larger ones only as encoded.
MAX_STORED_PIXELS = 128 * 128
# The most bytes one Arrow binary array holds (its offsets are 32-bit): the largest image
# file a record can hold, and the most a chunk's batch of images may total.
MAX_COLUMN_BYTES = 2**31 - 1
CHUNK = 64  # images per task: large enough that passing them between processes is cheap
IN_FLIGHT_PER_WORKER = 4
# What the workers import before they start (the fork server preloads them once).
WORKER_MODULES = ("fermion.datasets.image_check", "fermion.datasets.image_rows")
T = TypeVar("T")


@dataclass(slots=True)
class Entry:
    where: str  # how a problem report names it
    path: str  # full path in the source filesystem
    key: str  # path relative to the source root: the record's identity
    label: str
    with_stats: bool = False  # measure its channel statistics


@dataclass(slots=True)
class Checked:
    entry: Entry
    data: bytes = b""
    sha256: bytes = b""
    size: tuple[int, int] = (0, 0)
    mode: str = ""
    sums: np.ndarray | None = None  # per channel: sum, sum of squares, pixel count
    pixels: bytes | None = None  # decoded, row by row, in `pixels_mode`
    pixels_mode: str = ""  # L or RGB
    problem: str | None = None


def available_cpus() -> int:
    """The CPUs this process may run on (a container's or taskset's share, not the
    machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_images(fs: Any, entries: Iterable[Entry], workers: int) -> Iterator[Checked]:
    """Every entry, checked, in order; `workers` processes (1: in this process)."""
    for checked in map_chunks(check_chunk, fs, entries, workers):
        yield from checked


def map_chunks(
    task: Callable[..., T], fs: Any, entries: Iterable[Entry], workers: int, *args: Any
) -> Iterator[T]:
    """`task(fs, chunk, *args)` for each chunk of CHUNK entries, the results in listing
    order; on `workers` processes (1: in this process). `task` must live in one of
    WORKER_MODULES, which the workers have loaded before they start."""
    if isinstance(fs, LocalFileSystem):
        fs = None  # plain reads: a third of the time per image went to fsspec's layers
    chunks = _chunks(entries)
    if workers <= 1:
        for chunk in chunks:
            yield task(fs, chunk, *args)
        return
    context = _worker_context()
    pending: deque[Future] = deque()
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for chunk in chunks:
                pending.append(pool.submit(task, fs, chunk, *args))
                if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    except BrokenProcessPool:
        raise ServerUnavailable(
            "a worker decoding images ended abruptly (out of memory?); nothing was written."
            " Retry with fewer --workers"
        ) from None
    finally:
        for future in pending:  # the caller stopped early: drop what is left
            future.cancel()


def start_worker_server() -> None:
    """Start the fork server the workers come from, with WORKER_MODULES loaded (about
    0.25 s that an ingest would otherwise wait for). The server calls this at start, in
    the background; an ingest that comes first starts it the same way."""
    _worker_context()
    multiprocessing.forkserver.ensure_running()


def _worker_context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_MODULES))
    return context


def _chunks(entries: Iterable[Entry]) -> Iterator[list[Entry]]:
    iterator = iter(entries)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        yield chunk


def check_chunk(fs: Any, entries: list[Entry]) -> list[Checked]:
    """`fs`: the source's filesystem, or None for local files."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return [check_image(fs, entry) for entry in entries]


def _read(fs: Any, path: str) -> bytes:
    if fs is None:
        with open(path, "rb") as f:
            return f.read()
    return fs.cat_file(path)


def check_image(fs: Any, entry: Entry) -> Checked:
    """Read and fully decode one image (inside `check_chunk`'s warning filter)."""
    checked = Checked(entry)
    try:
        checked.data = _read(fs, entry.path)
    except (FileNotFoundError, IsADirectoryError):
        checked.problem = "image file not found"
        return checked
    if not checked.data:
        checked.problem = "empty file"
        return checked
    if len(checked.data) > MAX_COLUMN_BYTES:
        checked.problem = (
            f"file of {len(checked.data):,} bytes: larger than an image record holds (2 GiB)"
        )
        return checked
    try:
        with Image.open(io.BytesIO(checked.data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                checked.problem = f"image declares {width}x{height} pixels: {_BOMB}"
                return checked
            image.load()  # decodes every byte: truncated data fails here
            checked.size, checked.mode = image.size, image.mode
            if entry.with_stats:
                checked.sums = _channel_sums(image)
            if width * height <= MAX_STORED_PIXELS:
                decoded = image if image.mode in ("L", "RGB") else image.convert("RGB")
                checked.pixels, checked.pixels_mode = decoded.tobytes(), decoded.mode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        checked.problem = f"image declares too many pixels: {_BOMB}"
    except UnidentifiedImageError:
        checked.problem = "cannot decode: not an image, or an unsupported format"
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        checked.problem = f"cannot decode image: {exc}"
    if checked.problem is None:
        checked.sha256 = hashlib.sha256(checked.data).digest()
    return checked


def _channel_sums(image: Image.Image) -> np.ndarray:
    """[sum R, G, B, sum R^2, G^2, B^2, pixels] of the image scaled to [0, 1]."""
    thumb = image.convert("RGB")
    if max(thumb.size) > STATS_SIDE:
        thumb.thumbnail((STATS_SIDE, STATS_SIDE))
    pixels = np.asarray(thumb, dtype=np.float32).reshape(-1, 3) / 255.0
    return np.concatenate([pixels.sum(0), (pixels * pixels).sum(0), [len(pixels)]])
