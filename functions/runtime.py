"""The services that every function of the one Function App shares: built once per worker process,
on first use, from the ``CVSTUDIO_*`` app settings (:func:`shared.bootstrap.build_services`)."""

from __future__ import annotations

from functools import cache

from shared.bootstrap import Services, build_services
from shared.settings import load_settings

__all__ = ["services"]


@cache
def services() -> Services:
    return build_services(load_settings())
