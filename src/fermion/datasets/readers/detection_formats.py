"""The two layouts object-detection datasets come in, listed as images with their boxes.

- COCO: an instances JSON (`images`, `annotations`, `categories`; a box is
  [x, y, width, height] in pixels) and the image files it names, relative to the JSON's
  folder or its `images/` subfolder. Crowd regions (`iscrowd: 1`) are not objects to
  find: COCO's own evaluation ignores them, and so does Fermion.
- YOLO: `images/` and `labels/` trees that mirror each other (`images/train/a.jpg` and
  `labels/train/a.txt`), a line `class cx cy w h` per object, normalised to [0, 1], and
  the class names in `data.yaml` (`names:`), `classes.txt` or `obj.names`. An image
  without a label file has no objects.

Both give `Labelled` images: boxes as corners (x0, y0, x1, y1), in pixels for COCO and
as fractions of the image for YOLO (the image's size is known only once it is read).
"""

from __future__ import annotations

import json
import math
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from fermion.datasets.image_check import Entry
from fermion.datasets.records import ProblemReport
from fermion.datasets.source import Source
from fermion.errors import InvalidInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
COCO_NAMES = ("annotations.json", "instances.json", "_annotations.coco.json")
YOLO_NAMES = ("data.yaml", "data.yml", "classes.txt", "obj.names")


@dataclass(slots=True)
class Labelled:
    entry: Entry
    boxes: list[list[float]] = field(default_factory=list)  # x0, y0, x1, y1
    categories: list[int] = field(default_factory=list)  # indices into the category names
    relative: bool = False  # YOLO: boxes are fractions of the image's width and height
    problems: list[str] = field(default_factory=list)  # what makes the image a bad record


class Layout(ABC):
    """A detection source: its category names, and its images with their boxes."""

    name = ""
    categories: list[str]

    @abstractmethod
    def __iter__(self) -> Iterator[Labelled]: ...


def open_layout(source: Source, report: ProblemReport) -> Layout:
    """The source's layout, recognised from its files."""
    if not source.is_dir:
        if source.suffix == ".json":
            return CocoLayout(source, source.root, report)
        raise InvalidInput(
            f"{source.display} is not a detection dataset: give a COCO instances .json file,"
            " or a folder holding one (with its images), or a YOLO folder (images/, labels/"
            " and data.yaml or classes.txt)"
        )
    fs, root = source.fs, source.root
    for name in COCO_NAMES:
        for folder in (root, posixpath.join(root, "annotations")):
            if fs.isfile(posixpath.join(folder, name)):
                return CocoLayout(source, posixpath.join(folder, name), report)
    if fs.isdir(posixpath.join(root, "labels")) or any(
        fs.isfile(posixpath.join(root, n)) for n in YOLO_NAMES
    ):
        return YoloLayout(source, report)
    instances = sorted(fs.glob(posixpath.join(root, "annotations", "instances*.json")))
    instances += sorted(fs.glob(posixpath.join(root, "*.json")))
    if len(instances) == 1:
        return CocoLayout(source, instances[0], report)
    found = f"; it has {len(instances)} JSON files: name the one to use" if instances else ""
    raise InvalidInput(
        f"{source.display} is neither a COCO folder (images and an {' or '.join(COCO_NAMES)})"
        f" nor a YOLO folder (images/, labels/ and {' or '.join(YOLO_NAMES)}){found}"
    )


class CocoLayout(Layout):
    name = "coco"

    def __init__(self, source: Source, path: str, report: ProblemReport) -> None:
        self.source, self.path, self.report = source, path, report
        self.where = source.relative(path) if source.is_dir else source.name
        try:
            with source.fs.open(path, "rb") as f:
                document = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{self.where} is not readable JSON: {exc}") from None
        if not isinstance(document, dict) or not all(
            isinstance(document.get(k), list) for k in ("images", "categories")
        ):
            raise InvalidInput(
                f"{self.where} is not a COCO instances file: it needs 'images' and"
                " 'categories' lists (and 'annotations')"
            )
        self.document = document
        self.category_of: dict[object, int] = {}
        self.categories = []
        for n, category in enumerate(sorted(document["categories"], key=_coco_id)):
            if not isinstance(category, dict) or not str(category.get("name", "")).strip():
                raise InvalidInput(f"{self.where}: category {n} has no name")
            self.category_of[category.get("id")] = len(self.categories)
            self.categories.append(str(category["name"]).strip())
        if len(set(self.categories)) != len(self.categories):
            raise InvalidInput(f"{self.where}: two categories have the same name")

    def __iter__(self) -> Iterator[Labelled]:
        images: dict[object, Labelled] = {}
        for n, image in enumerate(self.document["images"]):
            labelled = self._image(n, image)
            if labelled is not None:
                images[image["id"]] = labelled
        annotations = self.document.get("annotations") or []
        for n, annotation in enumerate(annotations if isinstance(annotations, list) else []):
            self._annotation(n, annotation, images)
        yield from images.values()

    def _image(self, n: int, image: object) -> Labelled | None:
        where = f"{self.where}: image {n}"
        name = str(image.get("file_name") or "").strip() if isinstance(image, dict) else ""
        if not name or "id" not in image:  # type: ignore[operator]
            self.report.add(where, "an image needs an 'id' and a 'file_name'")
            return None
        folder = posixpath.dirname(self.path)
        candidates = (name, posixpath.join("images", name))
        for candidate in candidates:
            path = posixpath.normpath(posixpath.join(folder, candidate))
            if self.source.fs.isfile(path):
                break
        else:
            self.report.add(where, f"image file {name!r} not found beside {self.where}")
            return None
        if not self.source.is_inside(path):
            self.report.add(where, f"path {name!r} escapes the source root")
            return None
        key = self.source.relative(path) if self.source.is_dir else name
        return Labelled(Entry(key, path, key, ""))

    def _annotation(self, n: int, annotation: object, images: dict[object, Labelled]) -> None:
        named = isinstance(annotation, dict) and "id" in annotation
        where = f"{self.where}: annotation " + (f"id {annotation['id']}" if named else f"#{n}")  # type: ignore[index]
        if not isinstance(annotation, dict):
            self.report.add(where, "an annotation must be a JSON object")
            return
        if annotation.get("iscrowd"):
            return
        image = images.get(annotation.get("image_id"))
        if image is None:
            self.report.add(where, f"image_id {annotation.get('image_id')!r} is not an image here")
            return
        category = self.category_of.get(annotation.get("category_id"))
        box = annotation.get("bbox")
        if category is None:
            image.problems.append(f"unknown category_id {annotation.get('category_id')!r}")
        elif not _numbers(box, 4):
            image.problems.append(f"bbox {box!r} is not [x, y, width, height]")
        else:
            x, y, w, h = (float(v) for v in box)  # type: ignore[union-attr]
            image.boxes.append([x, y, x + w, y + h])
            image.categories.append(category)


class YoloLayout(Layout):
    name = "yolo"

    def __init__(self, source: Source, report: ProblemReport) -> None:
        self.source, self.report = source, report
        self.categories = self._names()

    def _names(self) -> list[str]:
        fs, root = self.source.fs, self.source.root
        for name in YOLO_NAMES:
            path = posixpath.join(root, name)
            if not fs.isfile(path):
                continue
            text = fs.read_text(path, encoding="utf-8")
            names = _yaml_names(text, name) if name.endswith((".yaml", ".yml")) else text.split()
            if names:
                return names
        raise InvalidInput(
            f"{self.source.display} has no class names: a YOLO folder needs data.yaml (with"
            " names:), classes.txt or obj.names, one class per line in class-index order"
        )

    def __iter__(self) -> Iterator[Labelled]:
        fs, root = self.source.fs, self.source.root
        images_root = posixpath.join(root, "images")
        if not fs.isdir(images_root):
            raise InvalidInput(f"{self.source.display} has no images/ folder")
        for path, relative, escapes in self.source.walk_files():
            if not relative.startswith("images/"):
                continue
            if posixpath.splitext(relative)[1].lower() not in IMAGE_SUFFIXES:
                self.report.add(relative, "not an image file (unknown extension)")
                continue
            if escapes:
                self.report.add(relative, "path escapes the source root (a link to outside it)")
                continue
            labelled = Labelled(Entry(relative, path, relative, ""), relative=True)
            stem = posixpath.splitext(relative[len("images/") :])[0]
            label_file = posixpath.join(root, "labels", stem + ".txt")
            if fs.isfile(label_file):
                self._read_labels(label_file, f"labels/{stem}.txt", labelled)
            yield labelled

    def _read_labels(self, path: str, where: str, labelled: Labelled) -> None:
        try:
            text = self.source.fs.read_text(path, encoding="utf-8")
        except UnicodeDecodeError:
            labelled.problems.append(f"{where} is not UTF-8 text")
            return
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 5 or not _numbers(fields, 5):
                labelled.problems.append(f"{where}:{number}: expected 'class cx cy w h'")
                continue
            index, cx, cy, w, h = (float(v) for v in fields)
            if not index.is_integer() or not 0 <= index < len(self.categories):
                labelled.problems.append(
                    f"{where}:{number}: class {fields[0]} is not one of the"
                    f" {len(self.categories)} classes (0 to {len(self.categories) - 1})"
                )
                continue
            labelled.boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            labelled.categories.append(int(index))


def _coco_id(category: object) -> tuple[int, str]:
    value = category.get("id") if isinstance(category, dict) else None
    return (value, "") if isinstance(value, int) else (0, str(value))


def _numbers(values: object, count: int) -> bool:
    if not isinstance(values, list | tuple) or len(values) != count:
        return False
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _yaml_names(text: str, name: str) -> list[str]:
    import yaml

    try:
        names = (yaml.safe_load(text) or {}).get("names")
    except (yaml.YAMLError, AttributeError) as exc:
        raise InvalidInput(f"{name} is not a YAML mapping with names: ({exc})") from None
    if isinstance(names, dict):  # {0: person, 1: car}
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names:
        raise InvalidInput(f"{name} has no 'names:' list of class names")
    return [str(n) for n in names]
