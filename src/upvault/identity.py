"""Who is calling: the user segment from the claims a verified token carried.

On AWS, API Gateway's JWT authorizer verified the token before the function runs, so this
module only reads claims; it deliberately does not import PyJWT (verification lives in
:mod:`local.tokens`, used by the local stack).
"""

from __future__ import annotations

from typing import Any

from upvault.errors import InvalidIdentity
from upvault.keys import user_segment


def subject_of(claims: dict[str, Any] | None) -> str:
    """The verified ``sub`` from authorizer claims, or :class:`InvalidIdentity`."""
    sub = (claims or {}).get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidIdentity("missing or invalid bearer token")
    return sub


def user_of(claims: dict[str, Any] | None) -> str:
    """The key segment of the caller's files."""
    return user_segment(subject_of(claims))
