"""The studio's page as the server renders it: every module mapped to its hashed name, and a CSP that
lets images come from the public URL when the server sits behind one."""

from __future__ import annotations

import json
import re

from shared.api.routes.studio import studio_assets


def test_every_module_is_mapped_and_every_placeholder_filled() -> None:
    assets = studio_assets(None)
    html = assets.index_html.decode()
    assert "{{" not in html
    imports = json.loads(assets.import_map)["imports"]
    assert imports, "no modules in the import map"
    for plain, hashed in imports.items():
        found = assets.find(hashed.removeprefix("/studio/assets/"))
        assert found is not None and found[1], hashed
        assert found[0].plain_url == plain
    assert re.search(r"img-src 'self' data: blob:;", assets.content_security_policy)


def test_images_behind_a_public_url_are_allowed_by_origin_only() -> None:
    csp = studio_assets("https://vision.example.com/base").content_security_policy
    assert "img-src 'self' data: blob: https://vision.example.com;" in csp
