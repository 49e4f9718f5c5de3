"""The Azure Functions entry (``function_app.py``), driven without the Functions host.

The module is imported for real (it builds the app from ``CVSTUDIO_*`` settings at import time),
its registered functions are read with ``app.get_functions()``, and requests go through the real
``AsgiFunctionApp`` wrapper: a ``func.HttpRequest`` in, the registered user function awaited with
a context, a ``func.HttpResponse`` out. Nothing is mocked; the data lands in a temporary data dir.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode, urlsplit

import azure.functions as func
import pytest
from PIL import Image

from functions.runtime import services as services_of_app
from tests.servers import PREDICTION_KEY, TRAINING_KEY

API = "/customvision/v3.4-preview/training"
KEY = {"Training-Key": TRAINING_KEY}
REPO = Path(__file__).resolve().parents[2]
BOUNDARY = "cvstudioFunctionsBoundary42"


class InvocationContext(func.Context):
    """What the Functions host hands a function alongside its trigger input."""

    def __init__(self, function_name: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._thread_local_storage = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local_storage

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return str(REPO)

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


@dataclass
class FunctionsHost:
    """The imported ``function_app`` module, its functions (read once) and one event loop to run them."""

    module: ModuleType
    functions: list[Any]
    loop: asyncio.AbstractEventLoop

    @property
    def http_function(self) -> Any:
        [function] = [f for f in self.functions if f.get_trigger().type == "httpTrigger"]
        return function

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> func.HttpResponse:
        """One request through the registered HTTP function, as the host would invoke it."""
        url = f"http://localhost{path}" + (f"?{urlencode(params)}" if params else "")
        request = func.HttpRequest(method=method, url=url, headers=headers or {}, params=params or {}, body=body)
        function = self.http_function
        handler = function.get_user_function()
        context = InvocationContext(function.get_function_name())
        response: func.HttpResponse = self.loop.run_until_complete(handler(request, context))
        return response


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionsHost]:
    data_dir = tmp_path_factory.mktemp("functions") / "data"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CVSTUDIO_DATA_DIR", str(data_dir))
        env.setenv("CVSTUDIO_TRAINING_KEY", TRAINING_KEY)
        env.setenv("CVSTUDIO_PREDICTION_KEY", PREDICTION_KEY)
        for name in ("CVSTUDIO_PUBLIC_BASE_URL", "CVSTUDIO_ROLE", "CVSTUDIO_ALLOW_PRIVATE_URLS"):
            env.delenv(name, raising=False)
        # Importing builds the app from the environment, so (re)import only now that it is set, and
        # forget the services an earlier import built from another environment.
        services_of_app.cache_clear()
        if "function_app" in sys.modules:
            module = importlib.reload(sys.modules["function_app"])
        else:
            module = importlib.import_module("function_app")
        loop = asyncio.new_event_loop()
        try:
            # get_functions() may be called only once per app instance: read it once, here.
            yield FunctionsHost(module, module.app.get_functions(), loop)
        finally:
            app = module.app
            if app.startup_task_done:
                loop.run_until_complete(app.middleware.notify_shutdown())
                app.startup_task_done = False  # shut down here, in its own loop, not again in __del__
            pending = asyncio.all_tasks(loop)
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            asgi = getattr(app.middleware, "_app", None)
            services = getattr(getattr(asgi, "state", None), "services", None)
            if services is not None:
                services.meta.close()
            sys.modules.pop("function_app", None)
            services_of_app.cache_clear()


def json_body(response: func.HttpResponse, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code} {response.get_body()!r}"
    assert (response.mimetype or "").startswith("application/json"), response.mimetype
    assert response.headers.get("content-type", "").startswith("application/json"), dict(response.headers)
    return json.loads(response.get_body())


def jpeg(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=92)
    return out.getvalue()


def new_project(host: FunctionsHost) -> dict[str, Any]:
    project: dict[str, Any] = json_body(
        host.call("POST", f"{API}/projects", params={"name": f"fn-{uuid.uuid4().hex[:8]}"}, headers=KEY)
    )
    return project


# --- registration ---------------------------------------------------------------------------


def test_registers_one_anonymous_catch_all_http_function(host: FunctionsHost) -> None:
    http = [f for f in host.functions if f.get_trigger().type == "httpTrigger"]
    assert len(http) == 1
    [function] = http
    trigger = function.get_trigger()
    assert trigger.auth_level == func.AuthLevel.ANONYMOUS  # the SDK never sends a function key
    assert trigger.route == "/{*route}"
    assert {m.value for m in trigger.methods} >= {"GET", "POST", "PATCH", "DELETE", "PUT"}
    described = json.loads(function.get_function_json())
    assert described["scriptFile"] == "function_app.py"
    [binding] = [b for b in described["bindings"] if b["type"] == "httpTrigger"]
    assert binding["authLevel"] == "ANONYMOUS"
    assert binding["route"] == "/{*route}"
    assert any(b["type"] == "http" and b["direction"] == "OUT" for b in described["bindings"])
    assert inspect.iscoroutinefunction(function.get_user_function())


def test_host_json_gives_the_app_the_whole_url_space() -> None:
    """Without ``routePrefix: ""`` every URL would need ``/api`` in front (SPEC §0.9)."""
    config = json.loads((REPO / "host.json").read_text())
    assert config["extensions"]["http"]["routePrefix"] == ""


# --- requests through the wrapper -----------------------------------------------------------


def test_create_project_answers_200_json(host: FunctionsHost) -> None:
    name = f"fn-{uuid.uuid4().hex[:8]}"
    created = json_body(host.call("POST", f"{API}/projects", params={"name": name}, headers=KEY))
    assert created["name"] == name
    assert created["description"] == ""
    fetched = json_body(host.call("GET", f"/customvision/v3.3/Training/projects/{created['id']}", headers=KEY))
    assert fetched["id"] == created["id"]
    listed = json_body(host.call("GET", f"{API}/projects", headers={"training-key": TRAINING_KEY}))
    assert created["id"] in [p["id"] for p in listed]


def test_get_domains(host: FunctionsHost) -> None:
    domains = json_body(host.call("GET", f"{API}/domains", headers=KEY))
    assert isinstance(domains, list) and domains
    ids = {d["id"] for d in domains}
    assert "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31" in ids  # General (classification)
    assert "da2e3a8a-40a5-4171-82f4-58522f70fbc1" in ids  # General (object detection)


def test_multipart_part_without_filename_arrives_intact(host: FunctionsHost) -> None:
    project = new_project(host)
    data = jpeg((123, 77), (250, 5, 130))
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="imageData"\r\n\r\n'.encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    headers = {**KEY, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    # The shape azure-functions' own form parsing misses (SPEC §1.6): not a file, a lossy text field.
    probe = func.HttpRequest(method="POST", url="http://localhost/", headers=headers, body=body)
    assert "imageData" not in probe.files

    summary = json_body(host.call("POST", f"{API}/projects/{project['id']}/images", headers=headers, body=body))

    [result] = summary["images"]
    assert result["status"] == "OK"
    assert (result["image"]["width"], result["image"]["height"]) == (123, 77)
    assert json_body(host.call("GET", f"{API}/projects/{project['id']}/images/count", headers=KEY)) == 1
    [image] = json_body(host.call("GET", f"{API}/projects/{project['id']}/images", headers=KEY))
    assert (image["width"], image["height"]) == (123, 77)
    # the stored original, fetched through the same function by its signed URI, is byte-identical
    uri = urlsplit(image["originalImageUri"])
    original = host.call("GET", uri.path, params=dict(p.split("=", 1) for p in uri.query.split("&")))
    assert original.status_code == 200
    assert original.get_body() == data


def test_raw_octet_stream_upload(host: FunctionsHost) -> None:
    project = new_project(host)
    data = jpeg((64, 64), (1, 2, 3))
    headers = {**KEY, "Content-Type": "application/octet-stream"}
    summary = json_body(host.call("POST", f"{API}/projects/{project['id']}/images", headers=headers, body=data))
    assert [r["status"] for r in summary["images"]] == ["OK"]
    assert summary["images"][0]["sourceUrl"] is None


@pytest.mark.parametrize("headers", [{}, {"Training-Key": "not-the-key-123456"}], ids=["missing", "wrong"])
def test_missing_or_wrong_key_is_401(host: FunctionsHost, headers: dict[str, str]) -> None:
    body = json_body(host.call("GET", f"{API}/projects", headers=headers), 401)
    assert set(body) == {"code", "message"}
    assert body["code"] == "Unauthorized"
    created = host.call("POST", f"{API}/projects", params={"name": "never"}, headers=headers)
    assert json_body(created, 401)["code"] == "Unauthorized"


def test_unknown_route_is_a_json_404(host: FunctionsHost) -> None:
    body = json_body(host.call("GET", "/customvision/v2.0/training/projects", headers=KEY), 404)
    assert set(body) == {"code", "message"}


def test_delete_project_is_204_with_an_empty_body(host: FunctionsHost) -> None:
    project = new_project(host)
    deleted = host.call("DELETE", f"{API}/projects/{project['id']}", headers=KEY)
    assert deleted.status_code == 204
    assert deleted.get_body() == b""
    missing = json_body(host.call("GET", f"{API}/projects/{project['id']}", headers=KEY), 404)
    assert missing["code"] == "NotFoundProject"


def test_the_studio_is_served_by_the_function_app_at_the_root(host: FunctionsHost) -> None:
    page = host.call("GET", "/")
    assert page.status_code == 200
    assert page.mimetype.startswith("text/html")
    html = page.get_body().decode()
    assert '<script type="importmap">' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    # Every file the page names is served under its hashed name, cached for good.
    stylesheet = html.split('rel="stylesheet" href="')[1].split('"')[0]
    asset = host.call("GET", stylesheet)
    assert asset.status_code == 200
    assert "immutable" in asset.headers["Cache-Control"]
    assert b"--accent" in asset.get_body()
