"""The training and prediction keys: from the settings, or made once and kept in the data dir.

A newcomer who sets nothing still gets a secured server: on the embedded default, a role whose key is
not set gets two random keys (Custom Vision's Key1 and Key2) on the first start, written to
``<data_dir>/keys.json`` (readable by the owner only) and reused afterwards. A keys.json from before
there were two keys per role gets its second keys added; a key once kept is never changed. On Azure
every instance must check the same keys, so keys come from the settings only (each app the keys of
its own role) and nothing is written. All keys in use differ: a prediction key never trains.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.settings import InvalidSettings, Settings

__all__ = ["ROLES", "Keys", "environment_roles", "kept_keys", "keys_file", "resolve_keys"]

ROLES = ("training", "prediction")
# keys.json's entries: "training" and "prediction" are what every version wrote; the _2 keys came later.
_ENTRIES = ("training", "training_2", "prediction", "prediction_2")


@dataclass(frozen=True)
class Keys:
    training_keys: tuple[str, ...]  # Key1, then Key2; () where this process checks no training key
    prediction_keys: tuple[str, ...]
    from_environment: frozenset[str] = frozenset()  # the roles whose keys the settings gave
    kept_in: Path | None = None  # keys.json, when any role's keys are kept there
    made_now: tuple[str, ...] = ()  # keys.json entries made on this start ("training", "prediction_2", ...)

    @property
    def training(self) -> str:
        """Key 1 of the training role (signs image links; the key the studio is signed in with first)."""
        return self.training_keys[0]

    @property
    def prediction(self) -> str:
        """Key 1 of the prediction role (what the studio shows next to the prediction URL)."""
        return self.prediction_keys[0]

    def of(self, role: str) -> tuple[str, ...]:
        return self.training_keys if role == "training" else self.prediction_keys


def keys_file(settings: Settings) -> Path:
    return settings.data_dir / "keys.json"


def _from_settings(settings: Settings, role: str) -> tuple[str, ...]:
    given = (getattr(settings, f"{role}_key"), getattr(settings, f"{role}_key_2"))
    return tuple(key for key in given if key)


def environment_roles(settings: Settings) -> frozenset[str]:
    """The roles whose keys the settings give (those are never printed)."""
    return frozenset(role for role in ROLES if _from_settings(settings, role))


def _read(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidSettings(f"{path} cannot be read ({exc.strerror}).") from None
    try:
        stored = json.loads(text)
    except ValueError:
        stored = None
    if not isinstance(stored, dict) or not all(isinstance(stored.get(name, ""), str) for name in _ENTRIES):
        raise InvalidSettings(f"{path} is not a keys file cvstudio wrote: repair it, or move it away for new keys.")
    return {name: value for name, value in stored.items() if isinstance(value, str) and value}


def _write(path: Path, entries: dict[str, str], *, new: bool) -> bool:
    """Write keys.json (owner-only). A new file is created only if none appeared meanwhile (False then):
    two first starts at once must not each keep keys the other overwrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".keys-{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(entries, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        if not new:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _fresh(taken: set[str]) -> str:
    while True:  # 128 random bits never repeat in practice; "never" is checked anyway
        key = secrets.token_hex(16)
        if key not in taken:
            return key


def _kept(path: Path, roles: tuple[str, ...], taken: set[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """keys.json's entries, with whatever ``roles`` lack made and written; and the names of those made."""
    for _ in range(3):
        stored = _read(path)
        missing = [name for name in _ENTRIES if name.split("_")[0] in roles and name not in stored]
        if not missing:
            return stored, ()
        entries = dict(stored)
        for name in missing:
            entries[name] = _fresh(taken | set(entries.values()))
        if _write(path, entries, new=not stored):
            return entries, tuple(missing)
    raise InvalidSettings(f"{path} keeps changing while cvstudio starts: is another start making keys?")


def resolve_keys(settings: Settings) -> Keys:
    """The keys this process checks; on the embedded default, those it must make are made and kept."""
    given = {role: _from_settings(settings, role) for role in ROLES}
    from_environment = environment_roles(settings)
    if settings.on_azure:  # the settings require the keys of the roles served; never a file on an instance
        return Keys(given["training"], given["prediction"], from_environment)
    needed = tuple(role for role in ROLES if not given[role])
    if not needed:
        return Keys(given["training"], given["prediction"], from_environment)
    path = keys_file(settings)
    taken = {key for keys in given.values() for key in keys}
    entries, made = _kept(path, needed, taken)
    keys = dict(given)
    for role in needed:
        keys[role] = (entries[role], entries[f"{role}_2"])
    if set(keys["training"]) & set(keys["prediction"]):
        raise InvalidSettings(
            f"A key set in the environment is also a {' or '.join(needed)} key kept in {path}: "
            "the training and prediction keys must differ."
        )
    return Keys(keys["training"], keys["prediction"], from_environment, path, made)


def kept_keys(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The keys kept in keys.json for the roles the settings give no key (read only; made by ``serve``)."""
    if settings.on_azure:
        return {}
    stored = _read(keys_file(settings))
    kept: dict[str, tuple[str, ...]] = {}
    for role in ROLES:
        if not _from_settings(settings, role) and role in stored:
            kept[role] = tuple(stored[name] for name in (role, f"{role}_2") if name in stored)
    return kept
