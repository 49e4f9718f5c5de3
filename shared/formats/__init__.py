"""Annotation file formats: pure functions between a format's bytes and normalised boxes.

One module per format, each with a parser and a writer (the drop folder and dataset import/export
share them):

    boxes.py     Box, ImageBoxes (what every format reads into), AnnotationError, the clipping rule
    coco.py      COCO JSON: one file, many images; pixel boxes [x, y, width, height]; labels: no bbox
    voc.py       Pascal VOC XML: one file per image; pixel corners xmin/ymin/xmax/ymax; labels: no bndbox
    yolo.py      YOLO txt: one file per image; normalised centre/size rows, class names from
                 ``classes.txt`` or ``data.yaml``
    csv.py       CSV: filename,width,height,class,xmin,ymin,xmax,ymax; labels: no corners
    datasets.py  each format's folder layout (YOLO classification: a folder per class)

Coordinates leave every parser normalised to 0..1 (left, top, width, height) and clipped to the
image; bad input raises :class:`AnnotationError` with a message a person can act on.
"""

from shared.formats.boxes import AnnotationError, Box, ImageBoxes

__all__ = ["AnnotationError", "Box", "ImageBoxes"]
