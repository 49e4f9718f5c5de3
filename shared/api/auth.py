"""Key checks: ``Training-Key`` for the training API, ``Prediction-Key`` for the prediction API.

Header names are matched case-insensitively (the quickstarts send ``Training-key``), and
``Ocp-Apim-Subscription-Key`` is accepted as an alias, as Azure does. Either key of the role is
accepted (Custom Vision's Key1 and Key2: one is rotated while clients use the other); the given key
is compared with every one, in constant time. A wrong or missing key is a 401 in the flat error shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import Request

from shared.domain.errors import Unauthorized

__all__ = ["require_key"]

_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource."
)


def require_key(request: Request, header: str, expected: Sequence[str]) -> None:
    given = (request.headers.get(header) or request.headers.get("ocp-apim-subscription-key") or "").encode()
    # Every key is compared (no early exit), so the time taken says nothing about which one was near.
    matches = [hmac.compare_digest(given, key.encode()) for key in expected if key]
    if not given or not any(matches):
        raise Unauthorized(_MESSAGE)
