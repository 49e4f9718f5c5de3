"""Whole datasets: the files of a folder (or zip) in one format <-> images with their tags and boxes.

The per-file parsers and writers are the format modules' (the drop folder uses the same ones);
this module places them in each format's usual layout and matches annotations to image files:

    coco   annotations.json + images/<file>              (any one .json anywhere, when reading)
    voc    Annotations/<stem>.xml + JPEGImages/<file>    (every .xml; its image by <filename>, else by stem)
    yolo   detection: classes.txt + data.yaml + images/<file> + labels/<stem>.txt (matched by stem;
           an image without a label file has no boxes); classification: train/<class>/<file> (a folder
           per class, Ultralytics' classify layout; reading, the folder an image lies in is its class
           unless it is train/, val/, valid/ or test/; an image in several class folders, matched by
           file name, has every one of those labels; an image outside a class folder has none, and is
           written at the top, where Ultralytics' train/ and val/ do not look)
    csv    annotations.csv + images/<file>                (any one .csv anywhere, when reading)

Every image file of the dataset (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.gif``) is an image; the
annotations give it its labels. Errors (:class:`AnnotationError`) start with the file at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from shared.formats import coco, voc, yolo
from shared.formats import csv as csv_table
from shared.formats.boxes import AnnotationError, Box, ImageBoxes, base_name, stem

__all__ = ["FORMATS", "IMAGE_EXTENSIONS", "DatasetImage", "is_image_file", "read", "write"]

FORMATS = ("coco", "voc", "yolo", "csv")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_SPLITS = {"train", "val", "valid", "validation", "test"}


@dataclass(frozen=True)
class DatasetImage:
    """One image of a dataset: where it lies, its labels (classification) or boxes (detection), its size
    when the annotations give it (and, for writing, its bytes)."""

    path: str
    labels: tuple[str, ...] = ()
    boxes: tuple[Box, ...] = ()
    width: int | None = None
    height: int | None = None

    @property
    def file_name(self) -> str:
        return base_name(self.path)


def is_image_file(path: str) -> bool:
    return path.casefold().endswith(IMAGE_EXTENSIONS)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise AnnotationError(f"Unknown dataset format '{fmt}': use one of {', '.join(FORMATS)}.")
    return fmt


@contextmanager
def _named(path: str) -> Iterator[None]:
    """Errors of ``path``'s content start with the file's name."""
    try:
        yield
    except AnnotationError as exc:
        raise AnnotationError(f"{path}: {exc.message}") from None


# -- reading --------------------------------------------------------------------------------------


def read(fmt: str, files: Mapping[str, bytes], *, classification: bool) -> list[DatasetImage]:
    """The images of a dataset (``files``: relative '/'-separated path -> bytes) and their labels.

    ``classification``: the project takes image labels, not boxes (a box is then an error, and so is
    a label in a detection project).
    """
    _check_format(fmt)
    images = sorted(p for p in files if is_image_file(p))
    if fmt == "yolo" and classification:
        return _yolo_classes(images)
    by_key = _unique(images, stem if fmt in ("voc", "yolo") else base_name)
    named: dict[str, ImageBoxes] = {}
    if fmt in ("coco", "csv"):
        path = _one(files, ".json", "COCO annotation file") if fmt == "coco" else _one(files, ".csv", "CSV file")
        with _named(path):
            parse = coco.parse if fmt == "coco" else csv_table.parse
            named = _match(parse(files[path], labels=classification), by_key, base_name)
    elif fmt == "voc":
        for path in sorted(p for p in files if p.casefold().endswith(".xml")):
            with _named(path):
                image = voc.parse(files[path], labels=classification)
                key = image.file_name if stem(image.file_name).casefold() in by_key else stem(path)
                named.update(_match([replace(image, file_name=key)], by_key, stem))
    else:
        classes = _yolo_class_names(files)
        for path in sorted(p for p in files if _is_yolo_label(p)):
            with _named(path):
                if classes is None:
                    raise AnnotationError("the class names are missing (classes.txt or data.yaml).")
                named.update(_match([yolo.parse(files[path], classes, stem(path))], by_key, stem))
    result = []
    for key, path in by_key.items():
        found = named.get(key)
        if found is None:
            result.append(DatasetImage(path))
            continue
        if classification and found.boxes:
            raise AnnotationError(f"{found.file_name}: a classification project takes image labels, not boxes.")
        if not classification and found.labels:
            raise AnnotationError(f"{found.file_name}: an object detection project takes boxes, not image labels.")
        result.append(DatasetImage(path, found.labels, found.boxes, found.width, found.height))
    return result


def _unique(images: Sequence[str], key: Callable[[str], str]) -> dict[str, str]:
    """Image paths by their matching key (base name, or stem), case-folded; two images with one key are an error."""
    found: dict[str, str] = {}
    for path in images:
        k = key(path).casefold()
        if k in found:
            raise AnnotationError(
                f"{path}: another image, {found[k]}, has the same name; annotations could not tell them apart."
            )
        found[k] = path
    return found


def _match(parsed: Sequence[ImageBoxes], by_key: Mapping[str, str], key: Callable[[str], str]) -> dict[str, ImageBoxes]:
    out: dict[str, ImageBoxes] = {}
    for image in parsed:
        k = key(image.file_name).casefold()
        if k not in by_key:
            raise AnnotationError(f"names the image '{image.file_name}', which is not in the dataset.")
        if k in out:
            raise AnnotationError(f"names the image '{image.file_name}' twice.")
        out[k] = image
    return out


def _one(files: Mapping[str, bytes], extension: str, what: str) -> str:
    found = sorted(p for p in files if p.casefold().endswith(extension))
    if not found:
        raise AnnotationError(f"The dataset has no {what}.")
    if len(found) > 1:
        raise AnnotationError(f"The dataset has {len(found)} {extension} files ({', '.join(found[:3])}); give one.")
    return found[0]


def _is_yolo_label(path: str) -> bool:
    return path.casefold().endswith(".txt") and base_name(path).casefold() not in yolo.CLASS_FILES


def _yolo_class_names(files: Mapping[str, bytes]) -> tuple[str, ...] | None:
    by_name = {base_name(p).casefold(): p for p in sorted(files, key=lambda p: p.count("/"), reverse=True)}
    for name in yolo.CLASS_FILES:
        path = by_name.get(name)
        if path is not None:
            parse = yolo.parse_classes if name == "classes.txt" else yolo.parse_data_yaml
            with _named(path):
                return parse(files[path])
    return None


def _yolo_classes(images: Sequence[str]) -> list[DatasetImage]:
    """Classification in YOLO: the folder an image lies in is its class; one file in several folders,
    several labels (matched by file name)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in images:
        folders = path.split("/")[:-1]
        label = folders[-1] if folders and folders[-1].casefold() not in _SPLITS else ""
        _, labels = found.setdefault(base_name(path).casefold(), (path, []))
        if label and label not in labels:
            labels.append(label)
    return [DatasetImage(path, tuple(labels)) for path, labels in found.values()]


# -- writing --------------------------------------------------------------------------------------


def write(
    fmt: str, images: Sequence[DatasetImage], tags: Sequence[str], *, classification: bool
) -> dict[str, str | bytes]:
    """Where each image goes (path -> the image's ``path`` as given, to copy its bytes from) and the
    annotation files (path -> bytes), in ``fmt``'s layout. ``tags``: every tag, in class order.

    Image names must be unique (case-folded); COCO, VOC and CSV boxes need each image's size.
    """
    _check_format(fmt)
    out: dict[str, str | bytes] = {}
    boxes = [ImageBoxes(i.file_name, i.boxes, i.width, i.height, i.labels) for i in images]
    if fmt == "yolo" and classification:
        for image in images:
            for label in image.labels:
                out[f"train/{label}/{image.file_name}"] = image.path
            if not image.labels:
                out[image.file_name] = image.path
        return out
    folder = "JPEGImages" if fmt == "voc" else "images"
    for image in images:
        out[f"{folder}/{image.file_name}"] = image.path
    if fmt == "coco":
        out["annotations.json"] = coco.write(boxes, tags)
    elif fmt == "csv":
        out["annotations.csv"] = csv_table.write(boxes)
    elif fmt == "voc":
        for one in boxes:
            out[f"Annotations/{stem(one.file_name)}.xml"] = voc.write(one)
    else:
        out["classes.txt"] = yolo.write_classes(tags)
        out["data.yaml"] = yolo.write_data_yaml(tags)
        for one in boxes:
            out[f"labels/{stem(one.file_name)}.txt"] = yolo.write(one, tags)
    return out
