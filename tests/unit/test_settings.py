"""The one configuration object: the embedded default with nothing set, Azure with both accounts
set, and one clear line (from the real command) for anything in between."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import InvalidSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"CVSTUDIO_TRAINING_KEY": "t" * 16, "CVSTUDIO_PREDICTION_KEY": "p" * 16}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        "CVSTUDIO_STORAGE", "CVSTUDIO_STORAGE__blobServiceUri", "CVSTUDIO_STORAGE__queueServiceUri",
        "CVSTUDIO_COSMOS_ENDPOINT", "CVSTUDIO_COSMOS_KEY", "CVSTUDIO_TRAINING_KEY", "CVSTUDIO_PREDICTION_KEY",
    ]:  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_nothing_set_is_the_embedded_default() -> None:
    assert not Settings().on_azure


def test_a_connection_string_and_a_cosmos_account_put_every_role_on_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**KEYS, "CVSTUDIO_STORAGE": "UseDevelopmentStorage=true",
                        "CVSTUDIO_COSMOS_ENDPOINT": "https://cosmos.example/"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.on_azure and settings.cosmos_database == "cvstudio" and settings.cosmos_key is None


def test_the_functions_identity_convention_names_the_storage_service_uris(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVSTUDIO_STORAGE__blobServiceUri", "https://acct.blob.core.windows.net")
    monkeypatch.setenv("CVSTUDIO_STORAGE__queueServiceUri", "https://acct.queue.core.windows.net")
    settings = load_settings(cosmos_endpoint="https://cosmos.example/", training_key="t" * 16, prediction_key="p" * 16)
    assert settings.storage is None
    assert settings.storage_blob_service_uri == "https://acct.blob.core.windows.net"
    assert settings.storage_queue_service_uri == "https://acct.queue.core.windows.net"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"storage": "UseDevelopmentStorage=true"}, "CVSTUDIO_COSMOS_ENDPOINT"),
        ({"cosmos_endpoint": "https://cosmos.example/"}, "CVSTUDIO_STORAGE"),
        ({"storage_blob_service_uri": "https://a.blob", "cosmos_endpoint": "https://c/"}, "__queueServiceUri"),
        ({"storage": "UseDevelopmentStorage=true", "cosmos_endpoint": "https://c/"}, "CVSTUDIO_TRAINING_KEY"),
        (
            {"storage": "x", "cosmos_endpoint": "https://c/", "role": "prediction", "training_key": "t" * 16},
            "CVSTUDIO_PREDICTION_KEY",
        ),
    ],
)
def test_half_an_azure_configuration_is_refused_with_what_is_missing(given: dict[str, str], says: str) -> None:
    with pytest.raises(InvalidSettings) as refused:
        load_settings(**given)
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_command_stops_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CVSTUDIO_COSMOS_ENDPOINT": "https://cosmos.example/"}
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "serve", "--data-dir", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("cvstudio: Cosmos DB is set but Azure Storage is not")


def test_cors_origins_are_a_comma_list_of_origins() -> None:
    settings = Settings(cors_origins=" https://app.example.com/, http://localhost:3000 ")
    assert settings.cors_origin_list == ("https://app.example.com", "http://localhost:3000")
    assert Settings(cors_origins="*").cors_origin_list == ("*",)
    assert Settings().cors_origin_list == ()
    for wrong in ("app.example.com", "https://app.example.com/studio", "ftp://files.example.com"):
        with pytest.raises(ValueError, match="is not an origin"):
            Settings(cors_origins=wrong)


@pytest.mark.parametrize(
    "given",
    [
        {"training_key": "same-key-123", "prediction_key": "same-key-123"},
        {"training_key": "training-1", "training_key_2": "same-key-123", "prediction_key": "same-key-123"},
        {"training_key": "training-1", "prediction_key": "prediction-1", "prediction_key_2": "training-1"},
    ],
)
def test_a_key_of_both_roles_is_refused_in_one_line(given: dict[str, str]) -> None:
    with pytest.raises(InvalidSettings) as refused:
        load_settings(**given)
    assert "training and prediction keys must differ" in str(refused.value)
    assert "\n" not in str(refused.value) and "same-key-123" not in str(refused.value)


def test_a_second_key_needs_a_first_and_is_no_placeholder() -> None:
    with pytest.raises(InvalidSettings, match="CVSTUDIO_PREDICTION_KEY_2 is set without CVSTUDIO_PREDICTION_KEY"):
        load_settings(prediction_key_2="prediction-2")
    with pytest.raises(InvalidSettings, match="at least 8 characters"):
        load_settings(training_key="training-1", training_key_2="changeme")
    settings = load_settings(training_key="training-1", training_key_2="training-2")
    assert (settings.training_key, settings.training_key_2) == ("training-1", "training-2")


def test_allowed_hosts_are_loopback_the_served_address_the_public_url_and_the_setting() -> None:
    assert Settings().allowed_host_list == ("localhost", "127.0.0.1", "[::1]")
    assert Settings(serve_host="0.0.0.0").allowed_host_list == ("localhost", "127.0.0.1", "[::1]")
    assert Settings(serve_host="192.168.1.5").allowed_host_list[-1] == "192.168.1.5"
    assert Settings(serve_host="fe80::1").allowed_host_list[-1] == "[fe80::1]"
    hosts = Settings(public_base_url="https://CV.example.com/", allowed_hosts=" a.example , .b.example. ")
    assert hosts.allowed_host_list[3:] == ("cv.example.com", "a.example", ".b.example")
    assert Settings().checks_hosts and not Settings(public_base_url="https://cv.example.com").checks_hosts
    assert Settings(public_base_url="https://cv.example.com", allowed_hosts="cv.internal").checks_hosts
    with pytest.raises(ValueError, match="is not a host name"):
        Settings(allowed_hosts="https://cv.example.com")
