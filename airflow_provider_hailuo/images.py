"""A frame image source -> what the gateway is sent: a URL as is, anything else as a data URL.

Everything that can be checked before money is spent is checked here: format by content (never
by file name), size, short side and aspect ratio. Pillow only reads the header, and encoding
streams the file in chunks, so a 19 MB image costs about its base64 size twice in memory, not
the decoded pixels. Pillow and Airflow's ObjectStoragePath are imported lazily: this module is
reachable from the operator module, which must stay cheap to import at DAG-parse time.
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

from airflow_provider_hailuo.exceptions import HailuoImageError, HailuoValidationError
from airflow_provider_hailuo.urls import is_http_url

if TYPE_CHECKING:
    from collections.abc import Iterator

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


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def is_remote_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def _object_storage_path_class() -> type[Any] | None:
    try:
        from airflow.providers.common.compat.sdk import ObjectStoragePath
    except ImportError:  # pragma: no cover - every supported Airflow has it
        return None
    return ObjectStoragePath


def _is_object_storage_path(source: object) -> bool:
    # Checked by name first so DAG-parse-time checks need not import Airflow's IO layer.
    if type(source).__name__ != "ObjectStoragePath" and not any(
        cls.__name__ == "ObjectStoragePath" for cls in type(source).__mro__
    ):
        return False
    cls = _object_storage_path_class()
    return cls is not None and isinstance(source, cls)


def check_source(source: object, parameter: str) -> None:
    """Cheap checks that need no I/O: the source's type, and the shape of a URL or data URL."""
    if isinstance(source, str):
        if not source.strip():
            raise HailuoValidationError(parameter, f"{parameter} is empty")
        if is_remote_url(source):
            if not is_http_url(source):
                raise HailuoValidationError(parameter, f"{parameter}={source!r} is not a valid http(s) URL")
        elif source.startswith("data:") and not _DATA_URL.match(source[:256]):
            raise HailuoValidationError(
                parameter, f"{parameter}={shorten(source)!r} is not a data URL (data:image/png;base64,...)"
            )
        return
    if isinstance(source, (bytes, bytearray, memoryview, os.PathLike)) or _is_object_storage_path(source):
        return
    if callable(getattr(source, "read", None)):
        return
    raise HailuoValidationError(
        parameter,
        f"{parameter} must be an http(s) URL, a data URL, a local path, bytes, a binary file object or "
        f"an ObjectStoragePath, got {type(source).__name__}",
    )


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


def resolve_image(source: object, parameter: str) -> ResolvedImage:
    """Turn any supported source into what is sent, after every check that can be made locally.

    http(s) URLs are sent as they are: the gateway fetches them, so their contents are its to check.
    A string that is neither a URL nor a data URL is a local path or an ObjectStoragePath URI.
    """
    check_source(source, parameter)
    if isinstance(source, str):
        if is_remote_url(source):
            return ResolvedImage(source, None)
        if source.startswith("data:"):
            return ResolvedImage(source, check_data_url(source, parameter))
        if "://" in source:
            cls = _object_storage_path_class()
            if cls is None:  # pragma: no cover
                raise HailuoValidationError(
                    parameter, f"{parameter}={source!r}: ObjectStoragePath is unavailable"
                )
            return _from_object_storage(cls(source), parameter)
        return _from_path(Path(source).expanduser(), parameter)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _from_stream(io.BytesIO(bytes(source)), parameter, f"{len(source)} bytes")
    if _is_object_storage_path(source):
        return _from_object_storage(source, parameter)
    if isinstance(source, os.PathLike):
        return _from_path(Path(os.fspath(source)), parameter)
    return _from_stream(source, parameter, getattr(source, "name", None) or "file object")  # type: ignore[arg-type]


def _from_path(path: Path, parameter: str) -> ResolvedImage:
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


def _from_object_storage(path: Any, parameter: str) -> ResolvedImage:
    label = str(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError as err:
        raise HailuoImageError(parameter, f"{parameter}={label!r}: no such object") from err
    with handle:
        return _from_stream(handle, parameter, label)
