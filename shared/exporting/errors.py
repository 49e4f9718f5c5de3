"""Errors of the export builders."""

from __future__ import annotations

__all__ = ["PlatformUnavailable"]


class PlatformUnavailable(Exception):
    """A converter that cannot build this platform here; its message says why, in plain words."""
