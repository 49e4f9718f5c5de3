"""CSV: one table names many images, one row per box or label (the TensorFlow object detection CSV).

The header is ``filename,width,height,class,xmin,ymin,xmax,ymax`` (any column order; these names,
case-insensitive; other columns are ignored). A row is one of:

* a box: ``class`` and all four corners, in pixels of the image (``width``/``height`` needed);
* an image-level label (classification, ``labels=True``): ``class`` and no corners;
* an image without labels: ``filename`` alone (``class`` and corners empty).

Rows of one image are gathered under its ``filename`` (without folders), in table order.
Errors name the line (the header is line 1) and the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.formats.boxes import AnnotationError, Box, ImageBoxes, base_name, clipped, pixel_text, positive_size

__all__ = ["COLUMNS", "parse", "write"]

COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
_CORNERS = COLUMNS[4:]


@dataclass
class _Image:
    size: tuple[int, int] | None = None
    boxes: list[Box] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def _number(value: str, column: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise AnnotationError(f"{where}, column '{column}': {value!r} is not a number.") from None


def parse(data: bytes, *, labels: bool = False) -> list[ImageBoxes]:
    """The images a CSV table names, with their boxes (normalised, clipped) and labels."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnnotationError("The CSV file is not UTF-8 text.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().casefold() for h in next(reader)]
    except StopIteration:
        raise AnnotationError("The CSV file is empty: line 1 is the header " + ",".join(COLUMNS) + ".") from None
    except csv.Error as exc:
        raise AnnotationError(f"Line 1: {exc}") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise AnnotationError(f"Line 1: the header has no column {', '.join(repr(c) for c in missing)}.")
    at = {c: header.index(c) for c in COLUMNS}
    images: dict[str, _Image] = {}
    try:
        for row in reader:
            where = f"Line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise AnnotationError(f"{where}: the row has {len(row)} columns; the header has {len(header)}.")
            cell = {c: row[at[c]].strip() for c in COLUMNS}
            name = base_name(cell["filename"])
            if not name:
                raise AnnotationError(f"{where}, column 'filename': the row names no image.")
            image = images.setdefault(name, _Image())
            if cell["width"] or cell["height"]:  # recorded on any row; a box needs it
                size = positive_size(cell["width"], cell["height"], f"{where}, columns 'width'/'height'")
                if image.size is not None and image.size != size:
                    raise AnnotationError(
                        f"{where}: '{name}' is {size[0]} x {size[1]} here, {image.size[0]} x {image.size[1]} above."
                    )
                image.size = size
            tag = cell["class"]
            corners = [cell[c] for c in _CORNERS]
            if any(corners) and not all(corners):
                empty = next(c for c in _CORNERS if not cell[c])
                raise AnnotationError(f"{where}, column '{empty}': a box needs all of xmin, ymin, xmax, ymax.")
            if not tag:
                if any(corners):
                    raise AnnotationError(f"{where}, column 'class': the box has no class.")
                continue
            if not any(corners):
                if not labels:
                    raise AnnotationError(f"{where}: the row for '{tag}' has no box (xmin, ymin, xmax, ymax).")
                if tag not in image.labels:
                    image.labels.append(tag)
                continue
            if image.size is None:
                raise AnnotationError(f"{where}, column 'width': a box needs the image's width and height.")
            width, height = image.size
            x1, y1, x2, y2 = (_number(cell[c], c, where) for c in _CORNERS)
            image.boxes.append(clipped(tag, x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height, where))
    except csv.Error as exc:
        raise AnnotationError(f"Line {reader.line_num}: {exc}") from None
    return [
        ImageBoxes(name, tuple(i.boxes), i.size[0] if i.size else None, i.size[1] if i.size else None, tuple(i.labels))
        for name, i in images.items()
    ]


def write(images: Sequence[ImageBoxes]) -> bytes:
    """The table for ``images``: a row per box and per label, one bare row for an image without either."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for image in images:
        size = [str(image.width or ""), str(image.height or "")]
        for tag in image.labels:
            writer.writerow([image.file_name, *size, tag, "", "", "", ""])
        for box in image.boxes:
            if image.width is None or image.height is None:
                raise ValueError(f"CSV boxes need the size of {image.file_name}")
            corners = (
                box.left * image.width,
                box.top * image.height,
                (box.left + box.width) * image.width,
                (box.top + box.height) * image.height,
            )
            writer.writerow([image.file_name, *size, box.tag, *(pixel_text(v) for v in corners)])
        if not image.labels and not image.boxes:
            writer.writerow([image.file_name, *size, "", "", "", "", ""])
    return out.getvalue().encode()
