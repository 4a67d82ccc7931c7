"""The model folder: what a trained model is on disk. The trainer and `model import`
write it; replicas, evaluation, export and the registry read it. Training and serving
meet here and nowhere else.

schema.py         typed contents: the ModelSpec and the preprocessing, a union on `kind`
folder.py         save (whole or not at all), read_manifest, load
catalog.py        the architectures offered by name, per dataset type
architectures.py  the networks, and the user's own class
tokenizer.py      the word tokenizer of the small Transformer
detectors.py      object detectors (torchvision's) with Fermion's input and output
inputs.py         raw inputs (images, text, records, sound) -> the network's batch
importing.py      folders from models trained elsewhere (torchvision, Hugging Face)
export.py         TorchScript and ONNX, checked against PyTorch
"""

from fermion.modelfile.folder import LoadedModel, Manifest, load, read_manifest, save
from fermion.modelfile.schema import (
    FORMAT_VERSION,
    AudioPreprocessing,
    DetectionPreprocessing,
    HFAudioPreprocessing,
    HFTokenizerPreprocessing,
    ImagePreprocessing,
    InteractionsPreprocessing,
    ModelSpec,
    Preprocessing,
    TabularPreprocessing,
    WordPreprocessing,
)

__all__ = [
    "FORMAT_VERSION",
    "AudioPreprocessing",
    "DetectionPreprocessing",
    "HFAudioPreprocessing",
    "HFTokenizerPreprocessing",
    "ImagePreprocessing",
    "InteractionsPreprocessing",
    "LoadedModel",
    "Manifest",
    "ModelSpec",
    "Preprocessing",
    "TabularPreprocessing",
    "WordPreprocessing",
    "load",
    "read_manifest",
    "save",
]
