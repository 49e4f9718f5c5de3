"""The arrows that must never exist (docs/architecture.md), checked on the real import graph."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(module_file: Path) -> set[str]:
    tree = ast.parse(module_file.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_domain_imports_nothing_else_of_ours() -> None:
    for path in _files("shared/domain"):
        ours = {m for m in _imports(path) if m.startswith("shared.") and not m.startswith("shared.domain")}
        assert not ours, f"{path.relative_to(ROOT)} imports {ours}"


def test_the_studio_package_imports_nothing_else_of_ours() -> None:
    # The studio is static files and their server-side index: it reaches the product only over HTTP.
    for path in _files("shared/studio"):
        ours = {m for m in _imports(path) if m.startswith("shared.") and not m.startswith("shared.studio")}
        assert not ours, f"{path} imports {ours}"


def test_the_api_talks_to_services_not_to_store_adapters() -> None:
    for path in _files("shared/api"):
        adapters = {m for m in _imports(path) if m.startswith(("shared.stores.embedded", "shared.stores.memory"))}
        assert not adapters, f"{path.relative_to(ROOT)} imports {adapters}"


def test_services_never_import_the_api_or_the_triggers() -> None:
    for path in _files("shared/services"):
        bad = {m for m in _imports(path) if m.startswith(("shared.api", "functions"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_contracts_rest_on_the_domain_alone() -> None:
    """The documents between processes depend on the domain (and the evaluator's box types) only,
    so that every process, the training job included, reads them the same way."""
    allowed = ("shared.domain", "shared.contracts", "shared.vision.evaluation")
    for path in _files("shared/contracts"):
        bad = {m for m in _imports(path) if m.startswith("shared.") and not m.startswith(allowed)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_stores_know_nothing_above_them() -> None:
    for path in _files("shared/stores"):
        bad = {m for m in _imports(path) if m.startswith(("shared.services", "shared.api", "shared.jobs"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_services_speak_to_the_document_layer_not_to_adapters_or_the_job_runner() -> None:
    for path in _files("shared/services"):
        bad = {
            m
            for m in _imports(path)
            if m.startswith(("shared.stores.embedded", "shared.stores.memory", "shared.jobs", "shared.training"))
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_prediction_role_runs_without_torch() -> None:
    """With torch made unimportable, the app (prediction role) still builds and predicts."""
    script = """
import sys, tempfile, pathlib
sys.modules["torch"] = None  # any import of torch now fails
from shared.settings import Settings
from shared.bootstrap import build_services
from shared.api.app import create_app
import shared.services.predictions, shared.vision.inference, shared.vision.preprocess
settings = Settings(data_dir=pathlib.Path(tempfile.mkdtemp()), role="prediction",
                    training_key="k" * 16, prediction_key="p" * 16)
paths = create_app(build_services(settings)).openapi()["paths"]
assert "/customvision/v3.1/prediction/{projectId}/classify/iterations/{publishedName}/image" in paths
assert not [p for p in paths if "/training/" in p], "the prediction role serves no training API"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
