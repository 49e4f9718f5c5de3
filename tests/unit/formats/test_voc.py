"""Pascal VOC XML -> the boxes of one image."""

from __future__ import annotations

import pytest

from shared.formats import AnnotationError, ImageBoxes, voc

VOC = b"""<?xml version="1.0"?>
<annotation>
  <folder>images</folder>
  <filename>street.jpg</filename>
  <size><width>400</width><height>200</height><depth>3</depth></size>
  <object><name>car</name><difficult>0</difficult>
    <bndbox><xmin>100</xmin><ymin>50</ymin><xmax>300</xmax><ymax>150</ymax></bndbox></object>
  <object><name>person</name>
    <bndbox><xmin>-20</xmin><ymin>100.0</ymin><xmax>40</xmax><ymax>260</ymax></bndbox></object>
</annotation>"""


def test_boxes_normalised_and_clipped() -> None:
    parsed = voc.parse(VOC)
    assert (parsed.file_name, parsed.width, parsed.height) == ("street.jpg", 400, 200)
    assert [b.tag for b in parsed.boxes] == ["car", "person"]
    assert [(b.left, b.top, b.width, b.height) for b in parsed.boxes] == [
        (0.25, 0.25, 0.5, 0.5),
        pytest.approx((0.0, 0.5, 0.1, 0.5)),  # the part left of the image is cut off
    ]


def test_the_callers_file_name_wins() -> None:
    assert voc.parse(VOC, file_name="street").file_name == "street"


def test_an_image_without_objects() -> None:
    data = b"<annotation><size><width>4</width><height>4</height></size></annotation>"
    assert voc.parse(data, "x") == ImageBoxes("x", (), 4, 4)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<annotation><size>", "not well-formed"),
        (b"<root/>", "root element is <annotation>"),
        (b"<annotation/>", "no <size>"),
        (b"<annotation><size><width>a</width><height>4</height></size></annotation>", "must be a number"),
        (
            b"<annotation><size><width>4</width><height>4</height></size><object><name>c</name></object></annotation>",
            "no <bndbox>",
        ),
        (
            b"<annotation><size><width>4</width><height>4</height></size><object><bndbox/></object></annotation>",
            "no <name>",
        ),
        (
            b"<annotation><size><width>4</width><height>4</height></size><object><name>c</name><bndbox>"
            b"<xmin>3</xmin><ymin>0</ymin><xmax>1</xmax><ymax>2</ymax></bndbox></object></annotation>",
            "positive width",
        ),
    ],
)
def test_malformed_input_says_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(AnnotationError, match=message):
        voc.parse(data)


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
        b'<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
        b'<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>'
        b"<annotation><filename>&h;</filename></annotation>"
    )
    with pytest.raises(AnnotationError):
        voc.parse(bomb)
