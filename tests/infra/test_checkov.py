"""checkov (its own virtual environment, .venv-infra: `make install-infra`) over every Bicep file in infra/bicep.

checkov exits 0 when it cannot parse a file and then silently checks nothing in it, so its parse errors are read
from the JSON report and counted as failures. One run covers our files and two small fixtures: a file checkov's
parser refuses (to prove such a file is reported) and an insecure one (to prove failed checks are counted)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep"
CHECKOV = ROOT / ".venv-infra" / "bin" / "checkov"

# User-defined functions are newer than checkov's pinned parser: it cannot read this file.
UNPARSABLE = """\
func double(x int) int => x * 2

output four int = double(2)
"""

INSECURE = """\
resource st 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: 'stinsecure'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowBlobPublicAccess: true
    minimumTlsVersion: 'TLS1_0'
    supportsHttpsTrafficOnly: false
  }
}
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(ROOT)} is missing: run `make install-infra` (make test does)")
    fixtures = tmp_path_factory.mktemp("checkov-fixtures")
    (fixtures / "unparsable.bicep").write_text(UNPARSABLE)
    (fixtures / "insecure.bicep").write_text(INSECURE)
    files = [*sorted(BICEP.rglob("*.bicep")), fixtures / "unparsable.bicep", fixtures / "insecure.bicep"]
    command = [str(CHECKOV), "--framework", "bicep", "--output", "json", "--compact", "--skip-download"]
    for path in files:
        command += ["--file", str(path)]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert isinstance(data, dict) and data.get("check_type") == "bicep", done.stdout[:2000]
    data["fixtures"] = str(fixtures)
    return data


def _ours(check: dict[str, Any]) -> bool:
    return Path(check["file_abs_path"]).resolve().is_relative_to(BICEP)


def test_checkov_parses_every_file(report: dict[str, Any]) -> None:
    errors = [Path(path).resolve() for path in report["results"]["parsing_errors"]]
    ours = [str(path) for path in errors if path.is_relative_to(BICEP)]
    assert not ours, f"checkov could not parse (and so checked nothing in): {ours}"


def test_checkov_reports_a_file_it_cannot_parse(report: dict[str, Any]) -> None:
    errors = {Path(path).name for path in report["results"]["parsing_errors"]}
    assert "unparsable.bicep" in errors


def test_checkov_counts_failed_checks(report: dict[str, Any]) -> None:
    failed = {
        c["check_id"] for c in report["results"]["failed_checks"] if Path(c["file_abs_path"]).name == "insecure.bicep"
    }
    assert {"CKV_AZURE_3", "CKV_AZURE_44"} <= failed  # HTTPS only, TLS 1.2


def test_no_checkov_check_fails(report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']}:{c['file_line_range']})"
        for c in report["results"]["failed_checks"]
        if _ours(c)
    ]
    assert not failed, "\n".join(failed)


def test_checkov_checked_our_files(report: dict[str, Any]) -> None:
    passed = [c for c in report["results"]["passed_checks"] if _ours(c)]
    assert len(passed) >= 3


def test_every_skip_has_a_reason(report: dict[str, Any]) -> None:
    for check in report["results"]["skipped_checks"]:
        if _ours(check):
            reason = (check.get("check_result") or {}).get("suppress_comment") or ""
            assert reason.strip() and reason != "No comment provided", check["check_id"]
