"""What a client may choose about an upload, and the limits it must stay within.

S3 cuts multipart uploads by the client's rules: 5 MiB..5 GiB per part (the last may be
smaller), at most 10,000 parts, 5 GiB for a single PUT. The service publishes its own
threshold, default part size and per-category rules (:func:`public_limits`, served as
``GET /v1/limits``) so that UIs such as Uppy, which cut the file before asking the API,
cut it the way the API signs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from upvault.errors import InvalidInput
from upvault.models import Category
from upvault.settings import EXTENSIONS, MAX_PART_SIZE, MAX_PARTS, MAX_SINGLE_PUT, MIB, MIN_PART_SIZE, Settings


@dataclass(frozen=True)
class CategoryLimits:
    """Allowed types, name extensions and the size limit of one category."""

    max_size: int
    types: list[str]
    extensions: list[str]


@dataclass(frozen=True)
class Limits:
    """Everything a client needs to validate and cut a file before uploading it."""

    multipart_threshold: int
    part_size: int
    min_part_size: int
    max_part_size: int
    max_parts: int
    max_single_put: int
    max_object_size: int
    categories: dict[str, CategoryLimits]


def public_limits(settings: Settings) -> Limits:
    """The limits of this deployment, as ``GET /v1/limits`` publishes them."""
    categories = {}
    for category in Category:
        policy = settings.policies[category]
        types = sorted(policy.allowed_types)
        extensions = sorted({ext for kind in types for ext in EXTENSIONS.get(kind, frozenset())})
        categories[category.value] = CategoryLimits(
            max_size=min(policy.max_size, settings.max_object_size), types=types, extensions=extensions
        )
    return Limits(
        multipart_threshold=min(settings.multipart_threshold, MAX_SINGLE_PUT),
        part_size=settings.part_size,
        min_part_size=MIN_PART_SIZE,
        max_part_size=MAX_PART_SIZE,
        max_parts=MAX_PARTS,
        max_single_put=MAX_SINGLE_PUT,
        max_object_size=settings.max_object_size,
        categories=categories,
    )


def default_part_size(size: int, part_size: int) -> int:
    """``part_size``, grown (in whole MiB) so that ``size`` bytes fit in 10,000 parts."""
    needed = math.ceil(size / MAX_PARTS)
    if needed > part_size:
        part_size = math.ceil(needed / MIB) * MIB
    return part_size


class PlanNotAllowed(InvalidInput):
    """The client's choice of multipart or part size breaks S3's rules (422, with the limits)."""

    def __init__(self, field: str, message: str, limits: dict[str, int]) -> None:
        super().__init__(f"invalid {field}: {message}", [{"field": field, "message": message}])
        self.extra = {"limits": limits}


def choose_plan(settings: Settings, size: int, *, multipart: bool | None, part_size: int | None) -> int | None:
    """The part size of the upload (``None``: one PUT), honouring the client's choice.

    Without a choice the service decides: multipart above the threshold, with the default
    part size grown to stay within 10,000 parts. A choice S3 cannot honour is a 422 naming
    the field and carrying the limits.
    """
    limits = {
        "min_part_size": MIN_PART_SIZE,
        "max_part_size": MAX_PART_SIZE,
        "max_parts": MAX_PARTS,
        "max_single_put": MAX_SINGLE_PUT,
        "max_object_size": settings.max_object_size,
    }
    use_multipart = multipart if multipart is not None else size > min(settings.multipart_threshold, MAX_SINGLE_PUT)
    if not use_multipart:
        if part_size is not None:
            raise PlanNotAllowed("part_size", "only a multipart upload has parts", limits)
        if size > MAX_SINGLE_PUT:
            raise PlanNotAllowed("multipart", f"a single PUT holds at most {MAX_SINGLE_PUT} bytes", limits)
        return None
    if part_size is None:
        return default_part_size(size, settings.part_size)
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise PlanNotAllowed("part_size", f"must be within {MIN_PART_SIZE}..{MAX_PART_SIZE} bytes", limits)
    if math.ceil(size / part_size) > MAX_PARTS:
        minimum = math.ceil(size / MAX_PARTS)
        raise PlanNotAllowed("part_size", f"{size} bytes need parts of at least {minimum} bytes", limits)
    return part_size
