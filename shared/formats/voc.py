"""Pascal VOC XML: one file per image, named like the image (same stem).

Read: ``<filename>``, ``<size><width>/<height>``, and each ``<object>``'s ``<name>`` and
``<bndbox>`` ``xmin``/``ymin``/``xmax``/``ymax`` in pixels. ``difficult``, ``truncated`` and
``pose`` are not used. Classification (``labels=True``): an ``<object>`` without ``<bndbox>`` is
an image-level label; the writer writes labels that way. The file is parsed by the standard
library's expat-based parser, which resolves no external entity and refuses entity-expansion bombs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from shared.formats.boxes import AnnotationError, ImageBoxes, base_name, clipped, pixel_text, positive_size

__all__ = ["parse", "write"]


def _number(element: ElementTree.Element, tag: str, where: str) -> float:
    text = element.findtext(tag)
    if text is None:
        raise AnnotationError(f"{where} has no <{tag}>.")
    try:
        return float(text.strip())
    except ValueError:
        raise AnnotationError(f"{where}: <{tag}> must be a number, not {text.strip()!r}.") from None


def parse(data: bytes, file_name: str = "", *, labels: bool = False) -> ImageBoxes:
    """The image a VOC file describes and its boxes (normalised, clipped).

    ``file_name`` (the image's name, when the caller knows it) wins over ``<filename>``;
    ``labels``: an ``<object>`` without ``<bndbox>`` is an image-level label (else an error).
    """
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise AnnotationError(f"The Pascal VOC file is not well-formed XML: {exc}") from None
    if root.tag != "annotation":
        raise AnnotationError(f"A Pascal VOC file's root element is <annotation>, not <{root.tag}>.")
    name = file_name or base_name((root.findtext("filename") or "").strip())
    size = root.find("size")
    if size is None:
        raise AnnotationError("The Pascal VOC file has no <size> (the image's width and height).")
    width, height = positive_size(_number(size, "width", "<size>"), _number(size, "height", "<size>"), "<size>")
    boxes = []
    tags: list[str] = []
    for n, obj in enumerate(root.iter("object"), 1):
        where = f"Object {n}"
        tag = (obj.findtext("name") or "").strip()
        if not tag:
            raise AnnotationError(f"{where} has no <name>.")
        box = obj.find("bndbox")
        if box is None and labels:
            if tag not in tags:
                tags.append(tag)
            continue
        if box is None:
            raise AnnotationError(f"{where} ({tag}) has no <bndbox>.")
        x1, y1 = _number(box, "xmin", where), _number(box, "ymin", where)
        x2, y2 = _number(box, "xmax", where), _number(box, "ymax", where)
        boxes.append(clipped(tag, x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height, where))
    return ImageBoxes(name, tuple(boxes), width, height, tuple(tags))


def write(image: ImageBoxes, folder: str = "JPEGImages") -> bytes:
    """The VOC file of one image (with its pixel size): boxes in pixels, labels as ``<object>`` alone."""
    if image.width is None or image.height is None:
        raise ValueError(f"Pascal VOC needs the size of {image.file_name}")
    root = ElementTree.Element("annotation")
    ElementTree.SubElement(root, "folder").text = folder
    ElementTree.SubElement(root, "filename").text = image.file_name
    size = ElementTree.SubElement(root, "size")
    ElementTree.SubElement(size, "width").text = str(image.width)
    ElementTree.SubElement(size, "height").text = str(image.height)
    ElementTree.SubElement(size, "depth").text = "3"
    for tag in image.labels:
        ElementTree.SubElement(ElementTree.SubElement(root, "object"), "name").text = tag
    for box in image.boxes:
        obj = ElementTree.SubElement(root, "object")
        ElementTree.SubElement(obj, "name").text = box.tag
        ElementTree.SubElement(obj, "difficult").text = "0"
        corners = ElementTree.SubElement(obj, "bndbox")
        for name, value in (
            ("xmin", box.left * image.width),
            ("ymin", box.top * image.height),
            ("xmax", (box.left + box.width) * image.width),
            ("ymax", (box.top + box.height) * image.height),
        ):
            ElementTree.SubElement(corners, name).text = pixel_text(value)
    ElementTree.indent(root)
    text: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return text
