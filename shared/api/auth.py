"""Key checks: ``Training-Key`` for the training API, ``Prediction-Key`` for the prediction API.

Header names are matched case-insensitively (the quickstarts send ``Training-key``), and
``Ocp-Apim-Subscription-Key`` is accepted as an alias, as Azure does. Keys are compared in
constant time. A wrong or missing key is a 401 in the flat error shape.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from shared.domain.errors import Unauthorized

__all__ = ["require_key"]

_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource."
)


def require_key(request: Request, header: str, expected: str) -> None:
    given = request.headers.get(header) or request.headers.get("ocp-apim-subscription-key") or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized(_MESSAGE)
