"""Times as stored and sent: ISO-8601 UTC text with a ``Z``, which sorts as it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["iso_utc", "utc_ago", "utc_now"]


def iso_utc(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``: the format msrest parses, and one that sorts as text.

    A naive datetime is taken to be UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))


def utc_ago(age: timedelta) -> str:
    """The time ``age`` ago, in the stored format (for retention windows)."""
    return iso_utc(datetime.now(UTC) - age)
