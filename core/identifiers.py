"""Stable, URL-safe dataset identifiers derived from a source name and the source's own key."""

from __future__ import annotations

import hashlib
import re

_SOURCE = re.compile(r"[a-z0-9_-]+")
_KEY = re.compile(r"[A-Za-z0-9_-]{1,80}")
_DATASET_ID = re.compile(r"[a-z0-9_-]+\.[A-Za-z0-9_-]+")


def dataset_id(source: str, key: str) -> str:
    """Return the identifier ``{source}.{key}`` of a source's record.

    The key is kept if it matches ``[A-Za-z0-9_-]+`` (at most 80 characters), else it is replaced by the
    first 20 hex digits of the SHA-1 of its UTF-8 bytes. The source must match ``[a-z0-9_-]+``, else
    ValueError.
    """
    if not _SOURCE.fullmatch(source):
        raise ValueError(f"source name {source!r} must match [a-z0-9_-]+")
    if not _KEY.fullmatch(key):
        key = hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]
    return f"{source}.{key}"


def is_dataset_id(value: str) -> bool:
    """Tell whether a string has the form of a dataset identifier (``source.key``)."""
    return _DATASET_ID.fullmatch(value) is not None
