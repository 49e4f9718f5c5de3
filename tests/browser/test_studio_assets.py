"""How the studio's files are served: hashed names cached for good, the page revalidated, a CSP
that allows the import map and nothing else inline, and the studio only on the training role."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import httpx

from shared.domain.catalogue import BUILT_EXPORTS
from shared.domain.limits import MAX_BATCH_IMAGES, MAX_IMAGE_BYTES_TRAINING, MIN_IMAGES_PER_TAG_DETECTION
from tests.servers import RunningServer, start_server


def _import_map(html: str) -> tuple[str, dict[str, str]]:
    match = re.search(r'<script type="importmap">(.*?)</script>', html, re.S)
    assert match, "the page has no import map"
    return match.group(1), json.loads(match.group(1))["imports"]


def test_the_page_names_hashed_files_that_are_cached_for_good(studio_server: RunningServer) -> None:
    with httpx.Client(base_url=studio_server.endpoint) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-cache"
        assert page.headers["x-content-type-options"] == "nosniff"
        text, imports = _import_map(page.text)
        # The inline import map is allowed by its own hash, and nothing else inline is.
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        csp = page.headers["content-security-policy"]
        assert f"'sha256-{digest}'" in csp
        assert "'unsafe-inline'" not in csp
        assert "/studio/assets/js/app.js" in imports
        for plain, hashed in imports.items():
            assert re.fullmatch(re.escape(plain[:-3]) + r"\.[0-9a-f]{12}\.js", hashed), hashed
            served = http.get(hashed)
            assert served.status_code == 200, hashed
            assert served.headers["content-type"].startswith("text/javascript")
            assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
            digest12 = hashlib.sha256(served.content).hexdigest()[:12]
            assert hashed.endswith(f".{digest12}.js"), "the name is not the hash of the bytes served"
        # The plain name still answers (for a module a page imports by hand) but is revalidated.
        plain = http.get("/studio/assets/js/app.js")
        assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache"
        # A stale or made-up name is a JSON 404, as everywhere in the API.
        stale = http.get("/studio/assets/js/app.000000000000.js")
        assert stale.status_code == 404
        assert set(stale.json()) == {"code", "message"}


def test_the_config_call_needs_the_training_key_and_names_the_prediction_endpoint(
    studio_server: RunningServer,
) -> None:
    from tests.servers import PREDICTION_KEY, TRAINING_KEY

    with httpx.Client(base_url=studio_server.endpoint) as http:
        assert http.get("/studio/api/config").status_code == 401
        config = http.get("/studio/api/config", headers={"Training-Key": TRAINING_KEY}).json()
    limits = config.pop("limits")
    exports = config.pop("exports")
    assert config == {
        "predictionEndpoint": studio_server.endpoint,
        "predictionKey": PREDICTION_KEY,
        "predictionPath": "/customvision/v3.1/prediction",
    }
    # The studio checks input with the server's own limits, never a copy that could drift.
    assert limits["minImagesPerTagDetection"] == MIN_IMAGES_PER_TAG_DETECTION
    assert limits["maxImageBytesTraining"] == MAX_IMAGE_BYTES_TRAINING
    assert limits["maxBatchImages"] == MAX_BATCH_IMAGES
    assert re.fullmatch(limits["publishNamePattern"], "detectModel v2.1")
    assert not re.fullmatch(limits["publishNamePattern"], "-starts with a dash")
    # The export dialog offers exactly the pairs the server builds.
    assert {(e["platform"], e["flavor"]) for e in exports} == {
        (platform, flavor) for platform, flavors in BUILT_EXPORTS.items() for flavor in flavors
    }


def test_a_prediction_only_server_serves_no_studio(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", extra_env={"CVSTUDIO_ROLE": "prediction"})
    try:
        with httpx.Client(base_url=server.endpoint) as http:
            page = http.get("/")
            assert page.status_code == 404
            assert set(page.json()) == {"code", "message"}
    finally:
        server.stop()
