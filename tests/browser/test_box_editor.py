"""The box editor's one conversion between pixels and normalised boxes, and the canvas driven by a mouse.

Cheap: no project, no training. The modules are imported by their plain (unhashed) asset URLs.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import Studio

GEOMETRY = "/studio/assets/js/boxes/geometry.js"
EDITOR = "/studio/assets/js/boxes/editor.js"


def geometry(page: Page, body: str) -> Any:
    return page.evaluate(f"async () => {{ const g = await import('{GEOMETRY}'); {body} }}")


def close(actual: dict[str, float], expected: dict[str, float], tolerance: float = 1e-9) -> bool:
    return all(abs(actual[k] - v) <= tolerance for k, v in expected.items())


def test_pixels_and_normalised_boxes_convert_exactly_and_round_trip(studio: Studio) -> None:
    page = studio.open()
    assert geometry(page, "return g.toPixels({left: 0.25, top: 0.5, width: 0.5, height: 0.25}, 800, 600);") == {
        "x": 200,
        "y": 300,
        "w": 400,
        "h": 150,
    }
    assert geometry(page, "return g.toNormalised({x: 200, y: 300, w: 400, h: 150}, 800, 600);") == {
        "left": 0.25,
        "top": 0.5,
        "width": 0.5,
        "height": 0.25,
    }
    trips = geometry(
        page,
        """
        const out = [];
        for (const [w, h] of [[640, 480], [1023, 767], [37, 4000]]) {
          const box = {left: 0.123456, top: 0.2, width: 0.345678, height: 0.4};
          const back = g.toNormalised(g.toPixels(box, w, h), w, h);
          out.push(Math.max(...Object.keys(box).map(k => Math.abs(back[k] - box[k]))));
        }
        return out;
        """,
    )
    assert max(trips) < 1e-12


def test_boxes_are_kept_inside_the_image(studio: Studio) -> None:
    page = studio.open()
    # A rect hanging over the top-left corner is cut to the image.
    cut = geometry(page, "return g.toNormalised({x: -100, y: -50, w: 300, h: 150}, 1000, 500);")
    assert close(cut, {"left": 0, "top": 0, "width": 0.2, "height": 0.2})
    # Entirely outside: an empty box, never a negative one.
    outside = geometry(page, "return g.toNormalised({x: 1200, y: 10, w: 50, h: 50}, 1000, 500);")
    assert outside["width"] == 0 and outside["left"] == 1
    # clampBox moves a box back inside keeping its size; a too-large one shrinks to the image.
    moved = geometry(page, "return g.clampBox({left: 0.9, top: -0.1, width: 0.3, height: 0.2});")
    assert close(moved, {"left": 0.7, "top": 0, "width": 0.3, "height": 0.2})
    huge = geometry(page, "return g.clampBox({left: -1, top: 0.5, width: 2, height: 0.1});")
    assert close(huge, {"left": 0, "top": 0.5, "width": 1, "height": 0.1})


@pytest.mark.parametrize(
    ("start", "end"),
    [((100, 50), (300, 200)), ((300, 200), (100, 50)), ((300, 50), (100, 200)), ((100, 200), (300, 50))],
    ids=["down-right", "up-left", "down-left", "up-right"],
)
def test_a_drag_in_any_direction_gives_the_same_box(
    studio: Studio, start: tuple[int, int], end: tuple[int, int]
) -> None:
    page = studio.open()
    box = geometry(page, f"return g.fromCorners({start[0]}, {start[1]}, {end[0]}, {end[1]}, 400, 250);")
    assert close(box, {"left": 0.25, "top": 0.2, "width": 0.5, "height": 0.6})


def test_iou_of_boxes(studio: Studio) -> None:
    page = studio.open()
    values = geometry(
        page,
        """
        const a = {left: 0, top: 0, width: 0.5, height: 0.5};
        const half = {left: 0.25, top: 0, width: 0.5, height: 0.5};
        const apart = {left: 0.6, top: 0.6, width: 0.1, height: 0.1};
        return [g.iou(a, a), g.iou(a, half), g.iou(a, apart)];
        """,
    )
    assert values[0] == 1
    assert abs(values[1] - 1 / 3) < 1e-12
    assert values[2] == 0


def test_the_canvas_draws_moves_resizes_and_deletes_a_box_with_the_mouse(studio: Studio) -> None:
    """The BoxEditor on a generated 400×200 image, shown 400 px wide: one screen pixel is one image pixel."""
    page = studio.open()
    page.evaluate(
        f"""async () => {{
          const {{ BoxEditor }} = await import('{EDITOR}');
          const art = document.createElement('canvas');
          art.width = 400; art.height = 200;
          const c = art.getContext('2d');
          c.fillStyle = '#7a9'; c.fillRect(0, 0, 400, 200);
          const host = document.createElement('div');
          host.id = 'host';
          host.style.width = '402px'; // the stage's 1 px border on each side
          document.getElementById('main').replaceChildren(host);
          const editor = new BoxEditor(host, {{
            imageUrl: art.toDataURL(), tags: [{{id: 't1', name: 'fork'}}], activeTagId: 't1', label: 'Test image',
          }});
          window.events = [];
          for (const type of ['boxcreated', 'boxchanged', 'boxdeleted']) {{
            editor.addEventListener(type, (e) => window.events.push([type, e.detail]));
          }}
          window.editor = editor;
          await editor.ready;
        }}"""
    )
    canvas = page.get_by_role("application", name="Test image")
    bounds = canvas.bounding_box()
    assert bounds is not None
    assert round(bounds["width"]) == 400 and round(bounds["height"]) == 200
    x0, y0 = bounds["x"], bounds["y"]

    def drag(a: tuple[float, float], b: tuple[float, float]) -> None:
        page.mouse.move(x0 + a[0], y0 + a[1])
        page.mouse.down()
        page.mouse.move(x0 + (a[0] + b[0]) / 2, y0 + (a[1] + b[1]) / 2)
        page.mouse.move(x0 + b[0], y0 + b[1])
        page.mouse.up()

    def last() -> list[Any]:
        events: list[Any] = page.evaluate("window.events")
        return events[-1]

    drag((300, 150), (100, 50))  # drawn up and to the left
    kind, box = last()
    assert kind == "boxcreated" and box["tagId"] == "t1"
    assert close(box, {"left": 0.25, "top": 0.25, "width": 0.5, "height": 0.5}, 0.01)
    drag((200, 100), (240, 120))  # moved by (+40, +20)
    kind, box = last()
    assert kind == "boxchanged"
    assert close(box, {"left": 0.35, "top": 0.35, "width": 0.5, "height": 0.5}, 0.01)
    assert close(box["previous"], {"left": 0.25, "top": 0.25}, 0.01)
    drag((340, 170), (390, 195))  # the bottom-right handle, dragged out
    kind, box = last()
    assert close(box, {"left": 0.35, "top": 0.35, "width": 0.625, "height": 0.625}, 0.01)
    drag((200, 100), (600, 100))  # dragged far past the edge: it stops at the edge
    kind, box = last()
    assert close(box, {"left": 1 - 0.625, "width": 0.625}, 0.01)
    page.keyboard.press("Delete")
    kind, box = last()
    assert kind == "boxdeleted"
    assert page.evaluate("window.editor.boxes.length") == 0
    drag((10, 10), (12, 12))  # a click, not a box
    assert page.evaluate("window.events.length") == 5
