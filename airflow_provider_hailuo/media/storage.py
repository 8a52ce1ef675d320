"""Which URIs Airflow's ObjectStoragePath can open here, and how a URI is quoted and compared.

Airflow resolves a scheme to a filesystem through its own registry (``get_fs``): the built-in
``file`` (and ``local`` from Airflow 3) plus the schemes that installed providers declare in
their ``filesystems`` entry (the Amazon provider adds ``s3``, ...). fsspec knows many more
protocols (``ftp``, ``memory``, ...) that Airflow does not open, so asking fsspec accepted a
``download_to`` that could only fail once the video had been paid for.

Airflow's IO layer is imported inside the functions: this module is imported at DAG-parse time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.media.kinds import Kind, kind_of

# The connection extra naming where a frame given as a local path or an object storage URI may be
# read from (unset: anywhere); its entries are parsed here.
EXTRA_ALLOWED_FRAME_ROOTS = "allowed_frame_roots"

# Schemes whose filesystem is the worker's own disk (Airflow's built-ins); such URIs are local paths.
LOCAL_SCHEMES = frozenset({"file", "local"})
# Schemes this provider sends as they are or inlines: never object storage.
_URL_SCHEMES = frozenset({"http", "https", "data"})
# RFC 3986: what may stand before "://".
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")
# Which provider package registers a scheme (the ``schemes`` of its ``fs`` module), for hints.
_PROVIDER_FOR_SCHEME: dict[str, str] = {
    **dict.fromkeys(("s3", "s3a", "s3n"), "apache-airflow-providers-amazon[s3fs]"),
    **dict.fromkeys(("gs", "gcs"), "apache-airflow-providers-google"),
    **dict.fromkeys(("abfs", "abfss", "adl"), "apache-airflow-providers-microsoft-azure"),
    **dict.fromkeys(("sftp", "ssh"), "apache-airflow-providers-sftp[sshfs]"),
}


@cache
def known_schemes() -> frozenset[str]:
    """The schemes ObjectStoragePath opens on this Airflow: the registry its ``get_fs`` reads.

    Built from the providers' metadata and their ``fs`` modules, which Airflow imports to read
    their ``schemes`` (the Amazon one pulls in boto3): no connection is looked up and nothing goes
    over the network. Airflow caches the registry too, so this happens once per process.

    "Opens" means ``open()``, which is how a frame is read and a video written. On Airflow 3.3 an
    ObjectStoragePath wraps a plain universal-pathlib path, and the methods it does not override
    (``exists``, ``is_dir``, ``mkdir``, ...) fall back to fsspec's own protocol table when the
    path names no connection: ``ObjectStoragePath("ftp://host/x").is_dir()`` talks to the FTP
    server, then ``open()`` raises "No filesystem registered for scheme ftp". Airflow 2.11 sends
    every method through the registry, so there is no fallback there. Not counted: a filesystem a
    DAG attaches itself (``attach(protocol, fs=...)``) for a scheme no provider registers.
    """
    from airflow_provider_hailuo.version_compat import filesystem_registry

    return frozenset(filesystem_registry()())


def is_known_scheme(scheme: str) -> bool:
    """Whether ObjectStoragePath can open ``scheme://`` URIs here (schemes are case-insensitive)."""
    return scheme.lower() in known_schemes()


def uri_scheme(value: str) -> str | None:
    """The lower-cased scheme of ``scheme://...``; None for text without ``://`` (a local path).

    Raises ValueError when what stands before ``://`` cannot be a scheme (``some/dir://x``).
    """
    head, sep, _ = value.partition("://")
    if not sep:
        return None
    if not _SCHEME.match(head):
        raise ValueError(f"{head!r} is not a URI scheme")
    return head.lower()


def _split(uri: str) -> tuple[str, str | None, str, str]:
    """``scheme://[conn_id@]bucket/path?query`` -> (scheme, conn_id, bucket, path).

    Read the way ObjectStoragePath reads a URI: the authority ends at the first ``/``, ``?`` or
    ``#``, and its userinfo (up to the last ``@``) names the Airflow connection.
    """
    scheme, _, rest = uri.partition("://")
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    authority, slash, path = rest.partition("/")
    userinfo, at, bucket = authority.rpartition("@")
    return scheme.lower(), (userinfo or None) if at else None, bucket, slash + path


def redact_uri(uri: str) -> str:
    """A URI as it may appear in an error or a log: without userinfo, query or fragment.

    The userinfo may hold a password and the query a signature; text without ``://`` is returned
    as it is.
    """
    if "://" not in uri:
        return uri
    scheme, _, bucket, path = _split(uri)
    return f"{scheme}://{bucket}{path}"


@dataclass(frozen=True)
class StorageLocation:
    """An object storage URI split the way it is compared: store, bucket and key segments.

    The connection is part of the store: the same bucket name behind another connection can be
    another account or another endpoint altogether.
    """

    scheme: str
    conn_id: str | None
    bucket: str
    segments: tuple[str, ...]

    @classmethod
    def from_uri(cls, uri: str) -> StorageLocation:
        scheme, conn_id, bucket, path = _split(uri)
        # Raw segments: "a//b" and "%2F" stay as they are, since object stores keep them in keys.
        return cls(scheme, conn_id, bucket, tuple(path.split("/")[1:]) if path else ())

    def within(self, prefix: StorageLocation) -> bool:
        """Whether this lies under ``prefix``, segment by segment (``stills-evil`` is not in ``stills``)."""
        store = (self.scheme, self.conn_id, self.bucket)
        return store == (prefix.scheme, prefix.conn_id, prefix.bucket) and (
            self.segments[: len(prefix.segments)] == prefix.segments
        )

    def __str__(self) -> str:
        userinfo = f"{self.conn_id}@" if self.conn_id else ""
        key = "".join(f"{segment}/" for segment in self.segments)
        return f"{self.scheme}://{userinfo}{self.bucket}/{key}"


def parse_frame_root(entry: str) -> Path | StorageLocation:
    """One allowed frame root: an absolute local directory, or an object storage URI prefix.

    Raises ValueError saying what is wrong with the entry (never quoting its userinfo).
    """
    text = entry.strip()
    if not text:
        raise ValueError("an entry is empty")
    try:
        scheme = uri_scheme(text)
    except ValueError as err:
        raise ValueError(f"{redact_uri(text)!r}: {err}") from None
    if scheme is None:
        if not os.path.isabs(text):
            raise ValueError(
                f"{text!r} is neither an absolute local directory nor an object storage URI prefix "
                "such as s3://bucket/stills/"
            )
        return Path(os.path.normpath(text))
    label = redact_uri(text)
    if scheme in _URL_SCHEMES:
        raise ValueError(
            f"{label!r}: URLs need no root, the gateway fetches them (list object storage prefixes only)"
        )
    if scheme in LOCAL_SCHEMES:
        raise ValueError(f"{label!r}: write a local directory as an absolute path, without {scheme}://")
    location = StorageLocation.from_uri(text)
    if ":" in (location.conn_id or ""):
        raise ValueError(f"{label!r}: the part before '@' is an Airflow connection id, not credentials")
    if not location.bucket:
        raise ValueError(f"{label!r} names no bucket: write {scheme}://bucket/ or {scheme}://bucket/prefix/")
    segments = tuple(segment for segment in location.segments if segment)
    if any(segment in (".", "..") for segment in segments):
        raise ValueError(f"{label!r}: a root cannot contain '.' or '..' segments")
    return replace(location, segments=segments)


@dataclass(frozen=True)
class FrameRoots:
    """The connection's allowed frame roots, parsed once (by the connection's settings) and asked
    by every frame the hook reads: absolute local directories and object storage prefixes."""

    roots: tuple[Path | StorageLocation, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> FrameRoots:
        """Each entry checked and written one way; an error names the connection extra."""
        roots: list[Path | StorageLocation] = []
        for entry in entries:
            try:
                roots.append(parse_frame_root(entry))
            except ValueError as err:
                raise HailuoValidationError(
                    EXTRA_ALLOWED_FRAME_ROOTS, f"connection extra {EXTRA_ALLOWED_FRAME_ROOTS}: {err}"
                ) from None
        return cls(tuple(roots))

    @property
    def local(self) -> tuple[Path, ...]:
        return tuple(root for root in self.roots if isinstance(root, Path))

    @property
    def storage(self) -> tuple[StorageLocation, ...]:
        return tuple(root for root in self.roots if isinstance(root, StorageLocation))

    def as_text(self) -> tuple[str, ...]:
        """The roots as they are written (``/data/stills``, ``s3://bucket/stills/``), in order."""
        return tuple(str(root) for root in self.roots)

    @property
    def listed(self) -> str:
        """How a refusal quotes them: local directories first."""
        return ", ".join(str(root) for root in [*self.local, *self.storage]) or "none"

    def admit_local(self, path: Path, label: str, parameter: str) -> Path:
        """``path`` with symlinks and ``..`` resolved, when that lies in a local root; refused otherwise.

        Roots are resolved too (at check time, on the worker), so a root that is itself a symlink works.
        """
        real = Path(os.path.realpath(path))
        if any(real.is_relative_to(os.path.realpath(root)) for root in self.local):
            return real
        raise HailuoValidationError(
            parameter,
            f"{parameter}={label!r} resolves to {str(real)!r}, outside every root of the connection extra "
            f"{EXTRA_ALLOWED_FRAME_ROOTS}; allowed: {self.listed}",
        )

    def admit_storage(self, location: StorageLocation, label: str, parameter: str) -> None:
        """Refuse an object outside every URI prefix root (same store and bucket, whole key segments)."""
        # "." and ".." are plain key text to S3 but climb on filesystems that resolve them (SFTP, ...),
        # and some filesystems unquote keys: refused in either spelling rather than guessed about.
        if any(part in (".", "..") for segment in location.segments for part in unquote(segment).split("/")):
            raise HailuoValidationError(
                parameter,
                f"{parameter}={label!r}: '.' and '..' segments are refused while the connection extra "
                f"{EXTRA_ALLOWED_FRAME_ROOTS} is set",
            )
        if any(location.within(root) for root in self.storage):
            return
        # The label drops the userinfo (it could hold a password); a connection id alone is quoted,
        # since a root only covers a connection it names.
        conn_id = location.conn_id if location.conn_id and ":" not in location.conn_id else None
        via = (
            f"; a root covers connection {conn_id!r} only if it names it "
            f"({location.scheme}://{conn_id}@bucket/prefix/)"
            if conn_id
            else ""
        )
        raise HailuoValidationError(
            parameter,
            f"{parameter}={label!r} is outside every root of the connection extra "
            f"{EXTRA_ALLOWED_FRAME_ROOTS}; allowed: {self.listed}{via}",
        )

    def admit_object_path(self, path: Any, parameter: str) -> None:
        """Refuse an ObjectStoragePath outside every root (a local one by its resolved path)."""
        label = redact_uri(str(path))
        if (path.protocol or "file") in LOCAL_SCHEMES:
            self.admit_local(Path(path.path), label, parameter)
        else:
            self.admit_storage(object_storage_location(path), label, parameter)


def object_storage_location(path: Any) -> StorageLocation:
    """Where an ObjectStoragePath points; its connection is Airflow 3's ``conn_id`` or Airflow 2's option."""
    location = StorageLocation.from_uri(str(path))
    conn_id = getattr(path, "conn_id", None) or path.storage_options.get("conn_id")
    return replace(location, conn_id=conn_id or None)


def unknown_scheme_message(scheme: str) -> str:
    """Why ``scheme://`` cannot be used, what can, and which provider package would add it."""
    known = ", ".join(sorted(known_schemes()))
    package = _PROVIDER_FOR_SCHEME.get(scheme)
    if package is not None:
        hint = f"install {package} to add {scheme}://"
    else:
        hint = (
            "no provider package known here adds it (providers add e.g. s3:// with "
            "apache-airflow-providers-amazon[s3fs], gs:// with apache-airflow-providers-google, "
            "abfs:// with apache-airflow-providers-microsoft-azure)"
        )
    return f"Airflow has no filesystem for '{scheme}://' here; known: {known}; {hint}"


def check_uri_opens(value: str, parameter: str, *, registry: bool = True) -> None:
    """Refuse ``scheme://...`` text whose scheme Airflow cannot open; text without ``://`` passes. No I/O.

    ``registry=False`` checks the scheme's spelling only: what DAG parsing affords, since reading
    the registry imports every provider's filesystem module (boto3 for Amazon's). The task checks
    it whole before it sends anything.
    """
    try:
        scheme = uri_scheme(value)
    except ValueError as err:
        raise HailuoValidationError(parameter, f"{parameter}={redact_uri(value)!r}: {err}") from None
    if registry and scheme is not None and not is_known_scheme(scheme):
        raise HailuoValidationError(
            parameter, f"{parameter}={redact_uri(value)!r}: {unknown_scheme_message(scheme)}"
        )


def check_path_opens(path: Any, parameter: str, *, registry: bool = True) -> None:
    """Refuse an ObjectStoragePath whose protocol Airflow cannot open (no protocol means ``file``)."""
    scheme = (path.protocol or "file").lower()
    if registry and not is_known_scheme(scheme):
        raise HailuoValidationError(
            parameter, f"{parameter}={redact_uri(str(path))!r}: {unknown_scheme_message(scheme)}"
        )


# What a video file's name ends in; a destination is one file only when its name does.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv"})


def names_a_file(destination: object) -> bool:
    """Whether ``download_to`` names one file rather than a folder: only when its last name ends in
    a video suffix (``clip.mp4``) and it has no trailing separator. Everything else is a folder,
    whatever dots it holds: a manual run id (``manual__2026-12-03T10:00:00.123+00:00``) or a date
    is far likelier a folder's name than a video's, and a folder cannot mix two tasks' videos up.
    Decided from the name alone (no I/O: an object store prefix never "exists")."""
    if isinstance(destination, str):
        if destination.endswith(("/", os.sep)):
            return False
        name = PurePosixPath(destination.rpartition("://")[2]).name
    else:
        name = str(getattr(destination, "name", ""))  # a Path or an ObjectStoragePath
    return PurePosixPath(name).suffix.lower() in VIDEO_SUFFIXES


def normalise_destination(value: object) -> object | None:
    """A rendered ``download_to`` that came out empty, blank or as the text "None" is unset.

    Jinja renders an unset value as "None" and a missing one as "", unless the DAG renders
    native objects; either way the author asked for no download.
    """
    if isinstance(value, str) and value.strip() in ("", "None"):
        return None
    return value


def check_destination(value: object, *, registry: bool = True) -> None:
    """``download_to`` must name somewhere Airflow can write a file; checked before money is spent.

    Only the scheme is checked: building the filesystem could look a connection up. See
    :func:`check_uri_opens` for ``registry``.
    """
    if value is None:
        return
    kind = kind_of(value)
    if isinstance(value, str):
        if not value.strip():
            raise HailuoValidationError("download_to", "download_to is empty")
        check_uri_opens(value, "download_to", registry=registry)
        return
    if kind is Kind.STORAGE_PATH:
        check_path_opens(value, "download_to", registry=registry)
        return
    if kind is Kind.LOCAL_PATH:
        return
    raise HailuoValidationError(
        "download_to",
        f"download_to must be a local path or an ObjectStoragePath (or its URI), got {type(value).__name__}",
    )
