"""The trainer's data: a registered dataset's splits as loaders, with the preprocessing
each model type needs (augmentation for images and sound, a vocabulary for text, feature
statistics for tables). Loaders are plain and unsharded: Accelerate shards them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from fermion import audio
from fermion.datasets.loading import Dataset
from fermion.modelfile.schema import (
    AudioPreprocessing,
    HFAudioPreprocessing,
    HFTokenizerPreprocessing,
    ImagePreprocessing,
    Preprocessing,
    TabularPreprocessing,
)
from fermion.modelfile.tokenizer import WordTokenizer, pad_ids
from fermion.payloads import DatasetType
from fermion.training.config import TrainConfig

HF_MAX_LEN = 128


class AudioTransform:
    """Samples -> what the network takes: a log-mel spectrogram tensor (1 x mels x frames)
    for Fermion's networks, the samples themselves for a Hugging Face model's feature
    extractor. For training, the clip is first shifted in time by up to a tenth of its
    length and given noise 15-40 dB below the signal, so the network learns words, not
    where they start or how clean the recording is. A class, not a closure: loader
    workers may receive it pickled."""

    def __init__(self, features: audio.Features, augment: bool, log_mel: bool = True) -> None:
        self.features = features
        self.augment = augment
        self.log_mel = log_mel

    def __call__(self, samples: torch.Tensor) -> torch.Tensor:
        clip = samples.numpy()
        if self.augment:
            rng = np.random.default_rng(torch.randint(0, 2**31, ()).item())
            limit = len(clip) // 10
            clip = np.roll(clip, int(rng.integers(-limit, limit + 1)))
            power = float(np.mean(clip**2)) or 1e-8
            noise_db = rng.uniform(15, 40)
            noise = rng.normal(0, np.sqrt(power / 10 ** (noise_db / 10)), len(clip))
            clip = (clip + noise).astype(np.float32)
        if not self.log_mel:
            return torch.from_numpy(clip)
        return torch.from_numpy(audio.log_mel(clip, self.features)).unsqueeze(0)


class ExtractFeatures:
    """Collates clips through a Hugging Face feature extractor: (inputs dict, labels)."""

    def __init__(self, extractor: Any, sample_rate: int) -> None:
        self.extractor = extractor
        self.sample_rate = sample_rate

    def __call__(self, batch: list[tuple[torch.Tensor, int]]) -> tuple[dict, torch.Tensor]:
        clips = [x.numpy() for x, _ in batch]
        inputs = self.extractor(
            clips, sampling_rate=self.sample_rate, return_tensors="pt", padding=True
        )
        return dict(inputs), torch.tensor([y for _, y in batch])


def pad_batch(batch: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return pad_ids([ids for ids, _ in batch]), torch.tensor([label for _, label in batch])


def image_transform(spec: dict, size: int, augment: str) -> Callable:
    """PIL image -> normalised tensor, with augmentation for training."""
    from torchvision.transforms import v2

    steps: list[Any] = []
    if augment == "light":
        steps.append(v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)))
    elif augment == "standard":
        steps += [
            v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
        ]
    steps += [
        v2.PILToTensor(),
        v2.Resize([size, size], antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(spec["mean"], spec["std"]),
    ]
    return v2.Compose(steps)


@dataclass
class Data:
    train: Any
    validation: Any
    test: Any
    classes: list[str]
    collate: Callable | None = None
    preprocessing: Preprocessing | None = None  # saved with the model
    hf_processor: Any = None  # a Hugging Face tokenizer or feature extractor, saved with the model
    model_inputs: dict[str, Any] = field(default_factory=dict)  # what building the model needs
    seen: dict[str, Any] = field(default_factory=dict)  # recommendation: histories, by split


def build_data(config: TrainConfig, client: Any) -> Data:
    kind = DatasetType(config.dataset_type)
    if kind is DatasetType.IMAGE_CLASSIFICATION:
        return image_data(config, client)
    if kind is DatasetType.AUDIO_CLASSIFICATION:
        return audio_data(config, client)
    if kind is DatasetType.OBJECT_DETECTION:
        from fermion.training.detection import detection_data

        return detection_data(config, client)
    if kind is DatasetType.RECOMMENDATION:
        from fermion.training.ranking import interactions_data

        return interactions_data(config, client)
    if kind is DatasetType.TEXT_CLASSIFICATION and config.model == "bert":
        return hf_text_data(config, client)
    if kind is DatasetType.TEXT_CLASSIFICATION:
        return word_text_data(config, client)
    return tabular_data(config, client)


def image_data(config: TrainConfig, client: Any) -> Data:
    """Images, augmented for training, resized for evaluation."""
    probe = Dataset.from_local(config.dataset, split="validation", client=client)
    spec = probe.info.spec
    size = config.image_size or spec["image_size"][0]
    train = Dataset.from_local(
        config.dataset,
        "train",
        client=client,
        transform=image_transform(spec, size, config.augment),
    )
    evaluate = {
        s: Dataset.from_local(config.dataset, s, client=client, image_size=size)
        for s in ("validation", "test")
    }
    preprocessing = ImagePreprocessing(
        image_size=(size, size), mode="RGB", mean=spec["mean"], std=spec["std"]
    )
    return Data(
        train,
        evaluate["validation"],
        evaluate["test"],
        train.classes,
        preprocessing=preprocessing,
        model_inputs=preprocessing.shape_inputs(),
    )


def audio_data(config: TrainConfig, client: Any) -> Data:
    """Sound as clips of one length: log-mel spectrograms for Fermion's networks, or the
    samples through the feature extractor of a Hugging Face model (`hf-audio`)."""
    probe = Dataset.from_local(config.dataset, split="validation", client=client)
    extractor, collate = None, None
    if config.model == "hf-audio":
        from transformers import AutoFeatureExtractor

        extractor = AutoFeatureExtractor.from_pretrained(config.pretrained, local_files_only=True)
        rate = int(extractor.sampling_rate)
        seconds = probe.features.clip_samples / probe.features.sample_rate
        preprocessing: Preprocessing = HFAudioPreprocessing(
            sample_rate=rate, clip_samples=round(rate * seconds)
        )
        collate = ExtractFeatures(extractor, rate)
    else:
        preprocessing = AudioPreprocessing(clip_samples=probe.features.clip_samples)
    features = preprocessing.features()
    splits = {
        s: Dataset.from_local(
            config.dataset,
            s,
            client=client,
            sample_rate=features.sample_rate,
            clip_seconds=features.clip_samples / features.sample_rate,
            transform=AudioTransform(
                features,
                augment=s == "train" and config.augment != "none",
                log_mel=extractor is None,
            ),
        )
        for s in ("train", "validation", "test")
    }
    return Data(
        splits["train"],
        splits["validation"],
        splits["test"],
        probe.classes,
        collate=collate,
        preprocessing=preprocessing,
        hf_processor=extractor,
        model_inputs=preprocessing.shape_inputs(),
    )


def word_text_data(config: TrainConfig, client: Any) -> Data:
    """Text for the small Transformer: a word vocabulary fitted on the training split."""
    raw = Dataset.from_local(config.dataset, "train", client=client)
    tokenizer = WordTokenizer.fit(raw.table["text"])
    preprocessing = tokenizer.preprocessing()
    splits = {
        s: Dataset.from_local(config.dataset, s, client=client, tokenizer=tokenizer)
        for s in ("train", "validation", "test")
    }
    return Data(
        splits["train"],
        splits["validation"],
        splits["test"],
        raw.classes,
        collate=pad_batch,
        preprocessing=preprocessing,
        model_inputs=preprocessing.shape_inputs(),
    )


def tabular_data(config: TrainConfig, client: Any) -> Data:
    """Records, with the training split's feature (and target) statistics."""
    splits = {
        s: Dataset.from_local(config.dataset, s, client=client)
        for s in ("train", "validation", "test")
    }
    features = torch.stack([x for x, _ in splits["train"]])  # statistics of train only
    targets = torch.stack([torch.as_tensor(y, dtype=torch.float32) for _, y in splits["train"]])
    columns = splits["train"].info.spec["feature_columns"]
    return Data(
        splits["train"],
        splits["validation"],
        splits["test"],
        splits["train"].classes,
        preprocessing=TabularPreprocessing(
            feature_columns=columns, mean=features.mean(0).tolist(), std=features.std(0).tolist()
        ),
        model_inputs={
            "in_features": len(columns),
            "mean": features.mean(0),
            "std": features.std(0),
            "target_mean": targets.mean().item(),
            "target_std": targets.std().item(),
        },
    )


def hf_text_data(config: TrainConfig, client: Any) -> Data:
    """Text for a Hugging Face encoder: its own tokenizer, from the same folder."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(config.pretrained, local_files_only=True)

    def encode(text: str) -> dict[str, list[int]]:
        return dict(tokenizer(text, truncation=True, max_length=HF_MAX_LEN))

    def collate(batch: list[tuple[dict, int]]) -> tuple[dict, torch.Tensor]:
        padded = tokenizer.pad([x for x, _ in batch], return_tensors="pt")
        return dict(padded), torch.tensor([y for _, y in batch])

    splits = {
        s: Dataset.from_local(config.dataset, s, client=client, tokenizer=encode)
        for s in ("train", "validation", "test")
    }
    return Data(
        splits["train"],
        splits["validation"],
        splits["test"],
        splits["train"].classes,
        collate=collate,
        hf_processor=tokenizer,
        preprocessing=HFTokenizerPreprocessing(max_len=HF_MAX_LEN),
    )


def loader(
    dataset: Any,
    config: TrainConfig,
    data: Data,
    shuffle: bool,
    generator: torch.Generator | None = None,
) -> DataLoader:
    generator = generator or torch.Generator().manual_seed(config.seed)
    decoded = (
        DatasetType.IMAGE_CLASSIFICATION,
        DatasetType.AUDIO_CLASSIFICATION,
        DatasetType.OBJECT_DETECTION,
    )
    workers = 2 if DatasetType(config.dataset_type) in decoded else 0
    # Workers are not kept between epochs: fresh ones are seeded from (seed, epoch), which
    # a resumed run can repeat; long-lived ones would carry their random state along.
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=workers,
        collate_fn=data.collate,
    )
