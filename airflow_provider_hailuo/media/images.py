"""A frame image source -> what the gateway is sent: a URL as is, anything else as a data URL.

Everything that can be checked before money is spent is checked here: format by content (never
by file name), size, short side and aspect ratio. Pillow only reads the header, and encoding
streams the file in chunks, so a 19 MB image costs about its base64 size twice in memory, not
the decoded pixels. Pillow and Airflow's ObjectStoragePath are imported lazily: this module is
reachable from the operator module, which must stay cheap to import at DAG-parse time.

A frame rendered from ``dag_run.conf`` or an upstream XCom can name any file the worker can read
and any object its connections reach; the connection extra ``allowed_frame_roots`` narrows that
(see :func:`resolve_image`).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_hailuo.exceptions import HailuoError, HailuoImageError, HailuoValidationError
from airflow_provider_hailuo.gateway.urls import is_http_url, without_query
from airflow_provider_hailuo.media.kinds import Kind, kind_of, object_storage_path_class
from airflow_provider_hailuo.media.storage import (
    LOCAL_SCHEMES,
    FrameRoots,
    StorageLocation,
    check_path_opens,
    check_uri_opens,
    redact_uri,
    uri_scheme,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

# What the gateway accepts (the seed's image requirements), by Pillow format name. Pillow calls a
# JPEG with multi-picture data (as phones and cameras write them) "MPO"; it is a JPEG file.
MIME_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
# Data URL MIME types that name each accepted format ("image/jpg" is common in the wild).
_DECLARED_FORMATS: dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
}
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # "less than 20MB"
MIN_SHORT_SIDE_PX = 300  # the short side must be strictly greater than this
ASPECT_RATIO_MIN = (2, 5)  # width:height, inclusive bounds
ASPECT_RATIO_MAX = (5, 2)

# A multiple of 3 so that base64 chunks concatenate without padding in the middle.
_ENCODE_CHUNK = 3 * 256 * 1024
_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,"
)


@dataclass(frozen=True)
class ImageInfo:
    """What was learned from an image's header."""

    format: str
    width: int
    height: int
    size_bytes: int

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


@dataclass(frozen=True)
class ResolvedImage:
    """A frame as it is sent: ``value`` is a URL or a data URL; ``info`` is None for remote URLs."""

    value: str
    info: ImageInfo | None

    def __repr__(self) -> str:
        return f"ResolvedImage({shorten(self.value)!r}, info={self.info!r})"


def shorten(value: str, keep: int = 48) -> str:
    """A data URL as it may appear in a log or an error: its head and its length, never whole."""
    if value.startswith("data:") and len(value) > keep:
        return f"{value[:keep]}...({len(value)} chars)"
    return value


def shown_value(value: object) -> object:
    """A parameter as it may be shown (a log, XCom): data URLs shortened, URLs (a callback, a
    presigned frame) without their query, which often carries a token or a signature."""
    if not isinstance(value, str):
        return value
    if value.startswith("data:"):
        return shorten(value)
    return without_query(value)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def is_remote_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def check_source(source: object, parameter: str, *, registry: bool = True) -> None:
    """Cheap checks that need no I/O: the source's type, the shape of a URL or data URL, and that
    Airflow has a filesystem for an object storage URI's scheme (``registry``: see
    :func:`~airflow_provider_hailuo.media.storage.check_uri_opens`)."""
    kind = kind_of(source)
    if kind is None:
        raise HailuoValidationError(
            parameter,
            f"{parameter} must be an http(s) URL, a data URL, a local path, bytes, a binary file object or "
            f"an ObjectStoragePath, got {type(source).__name__}",
        )
    if isinstance(source, str):
        if not source.strip():
            raise HailuoValidationError(parameter, f"{parameter} is empty")
        if kind is Kind.HTTP_URL and not is_http_url(source):
            raise HailuoValidationError(
                parameter, f"{parameter}={without_query(source)!r} is not a valid http(s) URL"
            )
        if kind is Kind.DATA_URL and not _DATA_URL.match(source[:256]):
            raise HailuoValidationError(
                parameter, f"{parameter}={shorten(source)!r} is not a data URL (data:image/png;base64,...)"
            )
        if kind in (Kind.LOCAL_PATH, Kind.URI):
            check_uri_opens(source, parameter, registry=registry)
    elif kind is Kind.STORAGE_PATH:
        check_path_opens(source, parameter, registry=registry)


def _inspect(data: IO[bytes], parameter: str, label: str) -> ImageInfo:
    """Read the header (format, width, height) and check the seed's rules; the stream is rewound."""
    from PIL import Image, UnidentifiedImageError

    start = data.tell()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(data) as image:
                image_format, (width, height) = image.format or "unknown", image.size
    except UnidentifiedImageError as err:
        raise HailuoImageError(
            parameter,
            f"{parameter} ({label}): not a readable image; the gateway accepts JPG/JPEG, PNG or WebP",
        ) from err
    except Image.DecompressionBombError as err:
        raise HailuoImageError(parameter, f"{parameter} ({label}): {err}") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        # A known format whose header is cut short or corrupt: Pillow raises these bare (a WebP
        # cut short: "OSError: could not create decoder object").
        raise HailuoImageError(
            parameter,
            f"{parameter} ({label}): a {type(err).__name__} decoding it ({err}): the file is corrupt or "
            "cut short; the gateway accepts whole JPG/JPEG, PNG or WebP images",
        ) from err
    end = data.seek(0, io.SEEK_END)
    data.seek(start)
    info = ImageInfo(format=image_format, width=width, height=height, size_bytes=end - start)
    check_image_info(info, parameter, label)
    return info


def check_image_info(info: ImageInfo, parameter: str, label: str) -> None:
    """The seed's image rules, each refusal naming the parameter, the problem and the limit."""
    if info.format not in MIME_TYPES:
        raise HailuoImageError(
            parameter,
            f"{parameter} ({label}): the image is {info.format}; the gateway accepts JPG/JPEG, PNG or WebP",
        )
    if info.size_bytes >= MAX_IMAGE_BYTES:
        raise HailuoImageError(
            parameter,
            f"{parameter} ({label}): {_mb(info.size_bytes)}; images must be under {_mb(MAX_IMAGE_BYTES)}",
        )
    short_side = min(info.width, info.height)
    if short_side <= MIN_SHORT_SIDE_PX:
        raise HailuoImageError(
            parameter,
            f"{parameter} ({label}): {info.width}x{info.height} px; the short side must be greater than "
            f"{MIN_SHORT_SIDE_PX} px",
        )
    (min_w, min_h), (max_w, max_h) = ASPECT_RATIO_MIN, ASPECT_RATIO_MAX
    # Integer cross-multiplication: exact at the 2:5 and 5:2 bounds, which are allowed.
    if info.width * min_h < min_w * info.height or info.width * max_h > max_w * info.height:
        raise HailuoImageError(
            parameter,
            f"{parameter} ({label}): {info.width}x{info.height} px has aspect ratio "
            f"{info.width / info.height:.2f}; it must be between {min_w}:{min_h} and {max_w}:{max_h}",
        )


def _chunks(data: IO[bytes], parameter: str, label: str) -> Iterator[bytes]:
    """The stream's bytes in chunks, refusing it as soon as it grows past the size limit."""
    total = 0
    while chunk := data.read(_ENCODE_CHUNK):
        total += len(chunk)
        if total >= MAX_IMAGE_BYTES:
            raise HailuoImageError(
                parameter,
                f"{parameter} ({label}): more than {_mb(MAX_IMAGE_BYTES)}; images must be under that",
            )
        yield chunk


def _encode_data_url(data: IO[bytes], mime_type: str, parameter: str, label: str) -> str:
    parts = [f"data:{mime_type};base64,"]
    carry = b""
    for chunk in _chunks(data, parameter, label):
        buffer = carry + chunk if carry else chunk
        cut = len(buffer) - len(buffer) % 3
        parts.append(base64.b64encode(buffer[:cut]).decode("ascii"))
        carry = buffer[cut:]
    parts.append(base64.b64encode(carry).decode("ascii"))
    return "".join(parts)


def _seekable(data: IO[bytes], parameter: str, label: str) -> IO[bytes]:
    """Pillow needs to seek; a pipe or socket is read (bounded by the size limit) into memory."""
    try:
        if data.seekable():
            return data
    except (AttributeError, ValueError):
        pass
    return io.BytesIO(b"".join(_chunks(data, parameter, label)))


def _from_stream(data: IO[bytes], parameter: str, label: str) -> ResolvedImage:
    stream = _seekable(data, parameter, label)
    info = _inspect(stream, parameter, label)
    return ResolvedImage(_encode_data_url(stream, info.mime_type, parameter, label), info)


def check_data_url(value: str, parameter: str) -> ImageInfo:
    """Check a data URL's header, encoding and image; it is sent as is when it passes."""
    match = _DATA_URL.match(value[:256])
    label = shorten(value)
    if not match or not match.group("b64"):
        raise HailuoImageError(
            parameter, f"{parameter} ({label}): a data URL must be base64, e.g. data:image/png;base64,..."
        )
    declared = match.group("mime").lower()
    declared_format = _DECLARED_FORMATS.get(declared)
    if declared_format is None:
        raise HailuoImageError(
            parameter, f"{parameter} ({label}): {declared} images are not accepted; use JPG/JPEG, PNG or WebP"
        )
    payload = value[match.end() :]
    # The decoded size follows from the length, so an oversized payload is refused without decoding.
    if len(payload) * 3 // 4 - payload[-2:].count("=") >= MAX_IMAGE_BYTES:
        raise HailuoImageError(
            parameter, f"{parameter} ({label}): more than {_mb(MAX_IMAGE_BYTES)}; images must be under that"
        )
    try:
        decoded = base64.b64decode(payload, validate=True)
    except binascii.Error as err:
        raise HailuoImageError(
            parameter, f"{parameter} ({label}): the base64 data is corrupt ({err})"
        ) from err
    info = _inspect(io.BytesIO(decoded), parameter, label)
    if info.mime_type != MIME_TYPES[declared_format]:  # compares by MIME type, so MPO is a JPEG
        raise HailuoImageError(
            parameter, f"{parameter} ({label}): the data URL says {declared} but the image is {info.format}"
        )
    return info


def resolve_image(
    source: object, parameter: str, *, allowed_roots: FrameRoots | Sequence[str] | None = None
) -> ResolvedImage:
    """Turn any supported source into what is sent, after every check that can be made locally.

    http(s) URLs are sent as they are: the gateway fetches them, so their contents are its to check.
    A string that is neither a URL nor a data URL is a local path or an ObjectStoragePath URI.

    ``allowed_roots`` (the connection extra ``allowed_frame_roots``; None allows everything) limits
    what the worker reads for a frame that may come from ``dag_run.conf`` or an XCom: a local path
    (text, os.PathLike or a ``file://`` URI) only when its real path, symlinks and ``..`` resolved,
    is inside one of its absolute directories; an object storage URI or ObjectStoragePath only under
    one of its URI prefixes (same scheme, connection and bucket, then whole key segments). http(s)
    and data URLs, bytes and file objects are not limited: the gateway, not the worker, fetches a
    URL; a data URL carries its content with it; bytes and file objects come from DAG code, which
    a conf value or an XCom (JSON) cannot supply.
    """
    check_source(source, parameter)
    roots = (
        allowed_roots
        if allowed_roots is None or isinstance(allowed_roots, FrameRoots)
        else FrameRoots.parse(allowed_roots)
    )
    kind = kind_of(source)
    if isinstance(source, str):
        if kind is Kind.HTTP_URL:
            return ResolvedImage(source, None)
        if kind is Kind.DATA_URL:
            return ResolvedImage(source, check_data_url(source, parameter))
        if kind is Kind.URI:
            return _from_uri(source, parameter, roots)
        return _from_path(Path(source).expanduser(), parameter, roots)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _from_stream(io.BytesIO(bytes(source)), parameter, f"{len(source)} bytes")
    if kind is Kind.STORAGE_PATH:
        if roots is not None:
            roots.admit_object_path(source, parameter)
        return _from_object_storage(source, parameter)
    if isinstance(source, os.PathLike):
        return _from_path(Path(os.fspath(source)), parameter, roots)
    return _from_stream(source, parameter, getattr(source, "name", None) or "file object")  # type: ignore[arg-type]


def _from_path(path: Path, parameter: str, roots: FrameRoots | None) -> ResolvedImage:
    if roots is not None:
        # What is opened is the resolved path that was checked, not the name it was given as.
        path = roots.admit_local(path, str(path), parameter)
    label = str(path)
    if not path.is_file():
        raise HailuoImageError(
            parameter, f"{parameter}={label!r}: not an http(s) URL or a data URL, and no such file"
        )
    size = path.stat().st_size
    if size >= MAX_IMAGE_BYTES:
        raise HailuoImageError(
            parameter, f"{parameter} ({label}): {_mb(size)}; images must be under {_mb(MAX_IMAGE_BYTES)}"
        )
    with path.open("rb") as handle:
        return _from_stream(handle, parameter, label)


def _from_uri(uri: str, parameter: str, roots: FrameRoots | None) -> ResolvedImage:
    local = uri_scheme(uri) in LOCAL_SCHEMES
    if roots is not None and not local:
        # Checked before the path is built: building one that names a connection can look it up.
        roots.admit_storage(StorageLocation.from_uri(uri), redact_uri(uri), parameter)
    cls = object_storage_path_class()
    if cls is None:  # pragma: no cover
        raise HailuoValidationError(
            parameter, f"{parameter}={redact_uri(uri)!r}: ObjectStoragePath is unavailable"
        )
    path = cls(uri)
    if roots is not None and local:
        # Checked on the path Airflow opens: it reads "file://dir/x" relative to the working directory.
        roots.admit_local(Path(path.path), redact_uri(uri), parameter)
    return _from_object_storage(path, parameter)


def _from_object_storage(path: Any, parameter: str) -> ResolvedImage:
    label = redact_uri(str(path))
    try:
        with path.open("rb") as handle:
            return _from_stream(handle, parameter, label)
    except HailuoError:
        raise  # the image's own refusals: format, size, shape
    except FileNotFoundError as err:
        raise HailuoImageError(parameter, f"{parameter}={label!r}: no such object") from err
    except Exception as err:
        # Whatever the filesystem raises (a missing connection, a refused credential, a network
        # fault, ...): its message may quote a connection's details, so only its type is quoted.
        # The cause stays chained for the task log, where Airflow masks connection secrets.
        raise HailuoImageError(
            parameter,
            f"{parameter}={label!r}: the object could not be read ({type(err).__name__}); check the URI, "
            "its connection and the worker's access to it",
        ) from err
