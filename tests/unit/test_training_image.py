"""The training image's recipe (``Dockerfile.training``), checked as far as can be done without Docker:
what it copies exists and is in the build context, it pins torch from the training requirements,
its entry point is the package's command, and torch stays out of what the Function Apps install."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile.training").read_text()


def _instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction (continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.split(None, 1)[:1] == [name]]


def _in_context(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (its rules in order, the last match wins)."""
    allowed = True
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        keep, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            allowed = keep
    return allowed


def test_everything_copied_exists_and_is_in_the_build_context() -> None:
    copies = _instructions("COPY")
    assert copies
    for copy in copies:
        *sources, _ = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert _in_context(source), f"{source} is left out by .dockerignore"
    assert not _in_context(".venv") and not _in_context("tests") and not _in_context("local.settings.json")


def test_torch_is_pinned_for_the_image_and_absent_from_what_functions_install() -> None:
    train = (ROOT / "requirements-train.txt").read_text().splitlines()
    assert [line for line in train if re.match(r"^torch==\d", line)], "the Dockerfile installs this pin first"
    assert "grep -E '^torch==' requirements-train.txt" in DOCKERFILE
    api = [line.split("#")[0].strip().lower() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert not [line for line in api if re.match(r"^(torch|torchvision|onnx)\b(?!runtime)", line)]


def test_the_entry_point_is_the_cvstudio_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert _instructions("ENTRYPOINT") == ['["cvstudio"]']
    assert scripts["cvstudio"] == "shared.cli:main"
    assert _instructions("CMD")[0].startswith('["train-iteration"')
