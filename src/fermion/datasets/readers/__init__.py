"""Source readers: one per dataset type. Each streams validated `Record`s from a
`Source`, reports bad records to a `ProblemReport`, and says afterwards what a
loader needs to know (columns, image statistics, clip lengths) in `spec()`."""

from __future__ import annotations

from fermion.datasets.readers.audio import AudioReader
from fermion.datasets.readers.base import SourceReader
from fermion.datasets.readers.detection import DetectionReader
from fermion.datasets.readers.image import ImageReader
from fermion.datasets.readers.interactions import InteractionsReader
from fermion.datasets.readers.tabular import TabularReader
from fermion.datasets.readers.text import TextReader
from fermion.datasets.records import ProblemReport
from fermion.datasets.source import Source
from fermion.payloads import DatasetCreate, DatasetType


def make_reader(request: DatasetCreate, source: Source, report: ProblemReport) -> SourceReader:
    if request.type is DatasetType.IMAGE_CLASSIFICATION:
        return ImageReader(source, request, report)
    if request.type is DatasetType.AUDIO_CLASSIFICATION:
        return AudioReader(source, request, report)
    if request.type is DatasetType.OBJECT_DETECTION:
        return DetectionReader(source, request, report)
    if request.type is DatasetType.RECOMMENDATION:
        return InteractionsReader(source, request, report)
    if request.type is DatasetType.TEXT_CLASSIFICATION:
        return TextReader(source, request, report)
    return TabularReader(source, request, report)


__all__ = ["SourceReader", "make_reader"]
