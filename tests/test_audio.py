"""fermion.audio: decoding, resampling, clip fitting and the log-mel features, checked
against torch's own STFT and against files a user could send by mistake."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from fermion import audio
from fermion.errors import InvalidInput


def wav(samples: np.ndarray, rate: int, subtype: str = "PCM_16", format: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=format, subtype=subtype)
    return buffer.getvalue()


def tone(hz: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_the_power_spectrum_is_torchs_stft():
    features = audio.Features()
    samples = np.random.default_rng(0).normal(size=features.clip_samples).astype(np.float32)
    reference = torch.stft(
        torch.from_numpy(samples),
        n_fft=features.n_fft,
        hop_length=features.hop_length,
        win_length=features.win_length,
        window=torch.hann_window(features.win_length),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = reference.abs().pow(2).numpy()  # bins x frames
    mel = audio.mel_filterbank(features.sample_rate, features.n_fft, features.n_mels, 20.0, 8000.0)
    mel = np.log(np.maximum(mel @ power, (mel @ power).max() * 1e-8))
    expected = (mel - mel.mean()) / (mel.std() + 1e-5)
    ours = audio.log_mel(samples, features)
    assert ours.shape == (features.n_mels, features.frames) == (64, 101)
    assert np.abs(ours - expected).max() < 1e-3


def test_a_tone_lights_the_mel_band_of_its_pitch():
    features = audio.Features()
    low = audio.log_mel(tone(300, 1.0, 16_000), features).mean(axis=1).argmax()
    high = audio.log_mel(tone(3000, 1.0, 16_000), features).mean(axis=1).argmax()
    assert low < high
    # Loudness does not change the features (standardised per clip).
    quiet = audio.log_mel(tone(300, 1.0, 16_000) * 0.05, features)
    assert np.abs(quiet - audio.log_mel(tone(300, 1.0, 16_000), features)).max() < 1e-3


def test_stereo_flac_at_44k_becomes_one_mono_clip_at_16k():
    stereo = np.stack([tone(440, 0.5, 44_100), tone(440, 0.5, 44_100)], axis=1)
    data = wav(stereo, 44_100, subtype="PCM_16", format="FLAC")
    assert audio.probe(data, "x") == (44_100, 2, 0.5)
    clip = audio.clip(data, audio.Features(clip_samples=16_000), "x")
    assert clip.shape == (16_000,) and clip.dtype == np.float32
    # Half a second of tone, padded with silence on both sides.
    assert np.abs(clip[:3000]).max() == 0 and np.abs(clip[6000:10000]).max() > 0.3
    # The 440 Hz tone survives resampling: the spectrum peaks at 440 Hz.
    spectrum = np.abs(np.fft.rfft(clip[4000:12000]))
    assert abs(spectrum.argmax() * 16_000 / 8000 - 440) <= 4


def test_fit_length_cuts_long_clips_in_the_middle_unless_told():
    samples = np.arange(10, dtype=np.float32)
    assert audio.fit_length(samples, 4).tolist() == [3, 4, 5, 6]
    assert audio.fit_length(samples, 4, offset=0).tolist() == [0, 1, 2, 3]
    assert audio.fit_length(samples, 4, offset=99).tolist() == [6, 7, 8, 9]
    assert audio.fit_length(samples[:2], 5).tolist() == [0, 0, 1, 0, 0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello, not a sound", "not a readable audio file"),
        (wav(np.zeros(0, np.float32), 16_000), "holds no samples"),
        ("a string", "base64 string or an uploaded file"),
    ],
)
def test_what_is_not_sound_is_refused_with_the_reason(data, reason):
    with pytest.raises(InvalidInput, match=reason) as refused:
        audio.decode(data, "inputs[0]")
    assert refused.value.message.startswith("inputs[0]: ")
    assert "BytesIO" not in refused.value.message


def test_recordings_over_the_limit_are_refused_from_their_header():
    long = wav(np.zeros(int(audio.MAX_SECONDS * 8000) + 8000, np.int16), 8000)
    with pytest.raises(InvalidInput, match="cut the recording into clips"):
        audio.decode(long, "x")


def test_the_clip_length_holds_most_recordings_whole():
    assert audio.clip_seconds_for({"p95": 0.93}) == 1.0
    assert audio.clip_seconds_for({"p95": 0.1}) == 0.5
    assert audio.clip_seconds_for({"p95": 95.0}) == 30.0


def test_silence_is_a_valid_clip_and_its_spectrogram_an_image():
    from PIL import Image

    features = audio.Features(clip_samples=8000)
    silent = audio.silence(features)
    assert audio.clip(silent, features, "x").shape == (8000,)
    png = audio.spectrogram_png(wav(tone(500, 0.5, 22_050), 22_050), "x")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.height == 2 * features.n_mels
