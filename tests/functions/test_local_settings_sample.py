"""``local.settings.sample.json``, which `func start` reads once copied: every binding expression
the triggers use is set, every CVSTUDIO_* value is a setting the product reads, and the function
it disables exists (a typo there would leave the Functions host unable to start, or silently on)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
VALUES: dict[str, str] = json.loads((REPO / "local.settings.sample.json").read_text())["Values"]
TRIGGERS = sorted((REPO / "functions").glob("*.py"))


def _setting_names() -> set[str]:
    names = {f"CVSTUDIO_{name.upper()}" for name in Settings.model_fields}
    for field in Settings.model_fields.values():
        choices = getattr(field.validation_alias, "choices", ())
        names.update(c for c in choices if isinstance(c, str) and c.startswith("CVSTUDIO_"))
    return names


def _function_names() -> set[str]:
    names = set()
    for path in TRIGGERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr.endswith("_trigger")
                for d in node.decorator_list
            ):
                names.add(node.name)
    return names


def test_every_binding_expression_of_the_triggers_is_set() -> None:
    used = {m for path in TRIGGERS for m in re.findall(r'"%([A-Za-z0-9_]+)%', path.read_text())}
    assert used >= {"CVSTUDIO_TRAINING_QUEUE", "CVSTUDIO_DROP_CONTAINER"}
    assert used <= VALUES.keys()


def test_every_cvstudio_value_is_a_setting_the_product_reads() -> None:
    ours = {k for k in VALUES if k.startswith("CVSTUDIO_")}
    assert ours and ours <= _setting_names(), ours - _setting_names()
    Settings(**{k.removeprefix("CVSTUDIO_").lower(): v for k, v in VALUES.items() if k in ours and "__" not in k})


def test_the_disabled_function_is_one_of_ours() -> None:
    disabled = {m.group(1) for k in VALUES if (m := re.fullmatch(r"AzureWebJobs\.(\w+)\.Disabled", k))}
    assert disabled == {"start_training"}
    assert disabled <= _function_names()
    assert _function_names() >= {"drop_folder", "start_training", "training_not_started", "fail_stalled_trainings"}
