"""The keys (shared/keys.py) and `cvstudio keys`: two per role, made once and kept, never changed once kept,
never printed when they come from the environment; links survive a rotation that keeps their key."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from shared.api.uris import UriSigner
from shared.cli import main
from shared.keys import kept_keys, resolve_keys
from shared.settings import InvalidSettings, load_settings

ENV_KEYS = ("CVSTUDIO_TRAINING_KEY", "CVSTUDIO_TRAINING_KEY_2", "CVSTUDIO_PREDICTION_KEY", "CVSTUDIO_PREDICTION_KEY_2")


@pytest.fixture(autouse=True)
def _no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_KEYS, "CVSTUDIO_COSMOS_ENDPOINT", "CVSTUDIO_STORAGE", "CVSTUDIO_ROLE"):
        monkeypatch.delenv(name, raising=False)


def test_the_first_start_makes_two_different_keys_per_role_and_later_starts_reuse_them(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = resolve_keys(settings)
    assert len(first.training_keys) == len(first.prediction_keys) == 2
    assert len({*first.training_keys, *first.prediction_keys}) == 4
    assert first.made_now == ("training", "training_2", "prediction", "prediction_2")
    path = tmp_path / "keys.json"
    assert first.kept_in == path and stat.S_IMODE(path.stat().st_mode) == 0o600
    again = resolve_keys(settings)
    assert (again.training_keys, again.prediction_keys) == (first.training_keys, first.prediction_keys)
    assert again.made_now == ()
    assert not list(tmp_path.glob(".keys-*"))  # no temporary file left behind


def test_an_old_keys_file_gets_second_keys_and_keeps_its_first(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text(json.dumps({"training": "old-training-1", "prediction": "old-prediction-1"}))
    keys = resolve_keys(load_settings(data_dir=tmp_path))
    assert keys.training_keys[0] == "old-training-1" and keys.prediction_keys[0] == "old-prediction-1"
    assert keys.made_now == ("training_2", "prediction_2")
    assert len({*keys.training_keys, *keys.prediction_keys}) == 4
    stored = json.loads((tmp_path / "keys.json").read_text())
    assert stored["training"] == "old-training-1" and stored["training_2"] == keys.training_keys[1]


def test_keys_from_the_environment_are_never_written(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, training_key="env-training-1", training_key_2="env-training-2")
    keys = resolve_keys(settings)
    assert keys.training_keys == ("env-training-1", "env-training-2")
    assert keys.from_environment == {"training"}
    text = (tmp_path / "keys.json").read_text()
    assert "env-training" not in text and set(json.loads(text)) == {"prediction", "prediction_2"}
    both = load_settings(data_dir=tmp_path / "other", training_key="env-training-1", prediction_key="env-predict-1")
    assert resolve_keys(both).kept_in is None and not (tmp_path / "other" / "keys.json").exists()


def test_an_environment_key_equal_to_a_kept_key_of_the_other_role_is_refused(tmp_path: Path) -> None:
    kept = resolve_keys(load_settings(data_dir=tmp_path))
    with pytest.raises(InvalidSettings, match="must differ"):
        resolve_keys(load_settings(data_dir=tmp_path, training_key=kept.prediction_keys[1]))


def test_on_azure_keys_come_from_the_settings_only(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, storage="UseDevelopmentStorage=true", cosmos_endpoint="https://cosmos.example/",
        role="prediction", prediction_key="azure-prediction-1", prediction_key_2="azure-prediction-2",
    )  # fmt: skip
    keys = resolve_keys(settings)
    assert keys.prediction_keys == ("azure-prediction-1", "azure-prediction-2") and keys.training_keys == ()
    assert not (tmp_path / "keys.json").exists()


def test_a_damaged_keys_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text("{not json")
    with pytest.raises(InvalidSettings, match="not a keys file"):
        resolve_keys(load_settings(data_dir=tmp_path))
    assert (tmp_path / "keys.json").read_text() == "{not json"


def test_a_link_survives_a_rotation_that_keeps_its_key_and_dies_with_its_key() -> None:
    old = UriSigner(["old-training-1", "training-2"])
    path = old.image_path("p", "i", "original")
    query = dict(part.split("=") for part in old.sign(path).split("?")[1].split("&"))
    rotated = UriSigner(["new-training-1", "old-training-1"])  # the old key 1 moved to slot 2
    assert rotated.verify(path, query["expires"], query["sig"])
    assert not UriSigner(["new-training-1", "training-2"]).verify(path, query["expires"], query["sig"])
    assert not rotated.verify(path, query["expires"], "é" * 32)  # not ASCII: refused, not a TypeError


def test_cvstudio_keys_prints_the_kept_keys_and_never_the_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "--data-dir", str(tmp_path)]) == 1
    assert "no keys are kept" in capsys.readouterr().err
    kept = resolve_keys(load_settings(data_dir=tmp_path))
    assert main(["keys", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(key in out for key in (*kept.training_keys, *kept.prediction_keys))
    monkeypatch.setenv("CVSTUDIO_TRAINING_KEY", "env-training-secret")
    assert main(["keys", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "env-training-secret" not in out and not any(key in out for key in kept.training_keys)
    assert "training keys:" in out and "from the environment" in out
    assert all(key in out for key in kept.prediction_keys)
    assert kept_keys(load_settings(data_dir=tmp_path)) == {"prediction": kept.prediction_keys}
