"""What kind of frame or destination a value is: the one rule, asked by every module that needs it.

A frame may be an http(s) URL (the gateway fetches it), a data URL (it carries its bytes), a local
path (text or a path object), an object storage URI (``s3://...``, ``file://...``), an
``ObjectStoragePath``, bytes, or a binary file object; a destination is a local path, an object
storage URI or an ``ObjectStoragePath``. How each kind is checked, opened, told apart from another
frame (for resume) and named for lineage is decided by its kind, here, and nowhere else by its
own test: ``images`` (check, open), ``durable`` (identity), ``lineage`` (name), ``storage`` and
``download`` (destinations).
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Any


class Kind(Enum):
    HTTP_URL = "http(s) URL"
    DATA_URL = "data URL"
    LOCAL_PATH = "local path"
    URI = "object storage URI"
    STORAGE_PATH = "ObjectStoragePath"
    BYTES = "bytes"
    STREAM = "file object"


# Kinds that name a place (and so can be a destination, or be named in lineage).
PLACES = frozenset({Kind.LOCAL_PATH, Kind.URI, Kind.STORAGE_PATH})


def kind_of(value: object) -> Kind | None:
    """The kind of ``value``; None when it is none of them. No I/O, and no check of its content:
    ``"http://"`` is an http(s) URL (a malformed one), ``"clip"`` a local path."""
    if isinstance(value, str):
        head = value[:8].lower()
        if head.startswith(("http://", "https://")):
            return Kind.HTTP_URL
        if head.startswith("data:"):
            return Kind.DATA_URL
        return Kind.URI if "://" in value else Kind.LOCAL_PATH
    # Before os.PathLike: on Airflow 2 an ObjectStoragePath is one.
    if is_object_storage_path(value):
        return Kind.STORAGE_PATH
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Kind.BYTES
    if isinstance(value, os.PathLike):
        return Kind.LOCAL_PATH
    if callable(getattr(value, "read", None)):
        return Kind.STREAM
    return None


def object_storage_path_class() -> type[Any] | None:
    """Airflow's ObjectStoragePath (the SDK's on Airflow 3, ``airflow.io``'s on Airflow 2)."""
    try:
        from airflow.providers.common.compat.sdk import ObjectStoragePath
    except ImportError:  # pragma: no cover - every supported Airflow has it
        return None
    return ObjectStoragePath


def is_object_storage_path(value: object) -> bool:
    """An ``ObjectStoragePath``, or an instance of a subclass of it."""
    # Checked by name first so that checking a str or a Path needs no import of Airflow's IO layer.
    if not any(cls.__name__ == "ObjectStoragePath" for cls in type(value).__mro__):
        return False
    cls = object_storage_path_class()
    return cls is not None and isinstance(value, cls)
