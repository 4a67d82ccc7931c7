"""Sound as numbers: decoding an audio file, resampling, fitting a clip to a length, and
the log-mel spectrogram the audio networks take. NumPy only (no torch), so the dataset
reader, the trainer, a PyTorch replica and a light ONNX one compute the same features.

The mel filterbank and the framing are written here rather than taken from torchaudio,
whose releases are tied to single torch versions; the definitions follow
librosa/torchaudio (HTK mel scale, Hann window, centred frames)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from math import gcd
from typing import Any

import numpy as np

from fermion.errors import InvalidInput

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
MAX_SECONDS = 600.0  # one input; longer recordings are cut into clips before classifying
INSTALL_HINT = 'audio needs the audio extra: pip install "fermion[audio]"'


@dataclass(frozen=True)
class Features:
    """How a clip becomes a log-mel spectrogram: `n_mels` x `frames`."""

    sample_rate: int = 16_000
    clip_samples: int = 16_000
    n_fft: int = 512
    win_length: int = 400  # 25 ms at 16 kHz
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    f_min: float = 20.0

    @property
    def frames(self) -> int:
        return 1 + self.clip_samples // self.hop_length


def clip_seconds_for(durations: dict[str, float]) -> float:
    """The clip length that holds 95% of a dataset's recordings whole (`durations` is its
    spec's min/median/p95/max), in tenths of a second, between 0.5 and 30 s."""
    return min(max(np.ceil(float(durations["p95"]) * 10) / 10, 0.5), 30.0)


def _soundfile() -> Any:
    try:
        import soundfile
    except ImportError:  # pragma: no cover - the extra is part of every test install
        raise InvalidInput(INSTALL_HINT) from None
    return soundfile


def probe(data: bytes, where: str) -> tuple[int, int, float]:
    """(sample rate, channels, seconds) of encoded audio, read from its header; refuses
    what soundfile cannot read and recordings over MAX_SECONDS."""
    sf = _soundfile()
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = getattr(exc, "error_string", None) or str(exc)  # without the BytesIO repr
        raise InvalidInput(
            f"{where}: not a readable audio file ({reason.rstrip('.')}); send WAV, FLAC, OGG or MP3"
        ) from None
    seconds = info.frames / info.samplerate if info.samplerate else 0.0
    if seconds > MAX_SECONDS:
        raise InvalidInput(
            f"{where}: {seconds:.0f} s of audio, over the limit of {MAX_SECONDS:.0f} s;"
            " cut the recording into clips"
        )
    return info.samplerate, info.channels, seconds


def decode(data: Any, where: str) -> tuple[np.ndarray, int]:
    """Encoded audio (bytes) -> (mono float32 samples in [-1, 1], sample rate)."""
    if not isinstance(data, bytes | bytearray):
        raise InvalidInput(f"{where}: audio is a base64 string or an uploaded file")
    sf = _soundfile()
    sample_rate, _, _ = probe(bytes(data), where)
    try:
        samples, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        reason = getattr(exc, "error_string", None) or str(exc)
        raise InvalidInput(f"{where}: the audio data is damaged ({reason})") from None
    if not len(samples):
        raise InvalidInput(f"{where}: the audio file holds no samples")
    if not np.isfinite(samples).all():
        raise InvalidInput(f"{where}: the audio holds samples that are not finite numbers")
    return samples.mean(axis=1), sample_rate


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased), as torchaudio and librosa's soxr do it."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    common = gcd(rate, target)
    return resample_poly(samples, target // common, rate // common).astype(np.float32)


def fit_length(samples: np.ndarray, length: int, offset: int | None = None) -> np.ndarray:
    """A clip of exactly `length` samples: longer ones cut at `offset` (centred by
    default), shorter ones padded with silence on both sides."""
    extra = len(samples) - length
    if extra > 0:
        start = extra // 2 if offset is None else min(max(offset, 0), extra)
        return samples[start : start + length]
    before = -extra // 2
    return np.pad(samples, (before, -extra - before))


def clip(data: Any, features: Features, where: str) -> np.ndarray:
    """Encoded audio -> mono samples at the features' rate and clip length."""
    samples, rate = decode(data, where)
    return fit_length(resample(samples, rate, features.sample_rate), features.clip_samples)


def silence(features: Features) -> bytes:
    """A WAV file of one silent clip: a valid input to warm a model up with."""
    buffer = io.BytesIO()
    silent = np.zeros(features.clip_samples, dtype=np.float32)
    _soundfile().write(buffer, silent, features.sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@lru_cache(maxsize=8)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float
) -> np.ndarray:
    """Triangular filters on the HTK mel scale, area-normalised (Slaney): n_mels x bins."""

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(np.array(f_min)), to_mel(np.array(f_max)), n_mels + 2))
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - left) / (centre - left)
    falling = (right - bins) / (right - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return (filters * (2.0 / (right - left))).astype(np.float32)


@lru_cache(maxsize=8)
def _window(win_length: int, n_fft: int) -> np.ndarray:
    window = np.hanning(win_length + 1)[:-1]  # periodic Hann, as torch.hann_window
    before = (n_fft - win_length) // 2
    return np.pad(window, (before, n_fft - win_length - before)).astype(np.float32)


def log_mel(samples: np.ndarray, features: Features) -> np.ndarray:
    """Samples -> a log-mel spectrogram (n_mels x frames), standardised per clip so that
    loudness does not matter."""
    half = features.n_fft // 2
    padded = np.pad(samples.astype(np.float32, copy=False), half, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, features.n_fft)
    frames = frames[:: features.hop_length] * _window(features.win_length, features.n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    filters = mel_filterbank(
        features.sample_rate,
        features.n_fft,
        features.n_mels,
        features.f_min,
        features.sample_rate / 2,
    )
    mel = filters @ power.T.astype(np.float32)
    # An 80 dB range below the clip's peak (librosa's top_db): a floor relative to the
    # peak keeps the standardised features the same whatever the clip's loudness.
    mel = np.log(np.maximum(mel, max(float(mel.max()) * 1e-8, 1e-12)))
    return ((mel - mel.mean()) / (mel.std() + 1e-5)).astype(np.float32)


def spectrogram_png(data: bytes, where: str, features: Features | None = None) -> bytes:
    """A whole recording's log-mel spectrogram as a PNG (low frequencies at the bottom),
    for people to look at."""
    from PIL import Image

    features = features or Features()
    samples, rate = decode(data, where)
    samples = resample(samples, rate, features.sample_rate)
    mel = log_mel(samples, features)[::-1]
    scaled = (mel - mel.min()) / (np.ptp(mel) or 1.0)
    # A dark-to-bright ramp (black, violet, orange, yellow) that reads well on screens.
    ramp = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]])
    position = scaled * (len(ramp) - 1)
    low = np.floor(position).astype(int).clip(0, len(ramp) - 2)
    weight = (position - low)[..., None]
    pixels = ramp[low] * (1 - weight) + ramp[low + 1] * weight
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    image = image.resize((min(max(image.width, 200), 800), features.n_mels * 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
