"""Frame images: every accepted source and format, every refusal of the seed's image rules."""

from __future__ import annotations

import base64
import io
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from airflow_provider_hailuo.exceptions import HailuoImageError, HailuoValidationError
from airflow_provider_hailuo.images import (
    MAX_IMAGE_BYTES,
    ImageInfo,
    ResolvedImage,
    check_source,
    resolve_image,
    shorten,
)

PARAM = "first_frame_image"
FORMATS = [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]


def image_bytes(size: tuple[int, int] = (320, 320), fmt: str = "PNG", **save: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def decode(value: str) -> tuple[str, bytes]:
    head, _, payload = value.partition(",")
    assert head.startswith("data:")
    assert head.endswith(";base64")
    return head[len("data:") : -len(";base64")], base64.b64decode(payload, validate=True)


def refused(source: object, match: str, parameter: str = PARAM) -> HailuoValidationError:
    with pytest.raises(HailuoValidationError, match=match) as info:
        resolve_image(source, parameter)
    assert info.value.parameter == parameter
    assert parameter in str(info.value)
    return info.value


class NonSeekable(io.RawIOBase):
    """A pipe-like binary stream: readable, not seekable."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


# --- accepted sources --------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
@pytest.mark.parametrize("as_str", [True, False])
def test_local_path_becomes_data_url(tmp_path: Path, fmt: str, mime: str, as_str: bool) -> None:
    data = image_bytes(fmt=fmt)
    path = write(tmp_path, f"frame.{fmt.lower()}", data)
    resolved = resolve_image(str(path) if as_str else path, PARAM)
    assert decode(resolved.value) == (mime, data)
    assert resolved.info == ImageInfo(format=fmt, width=320, height=320, size_bytes=len(data))
    assert resolved.info.mime_type == mime


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_become_data_url(fmt: str, mime: str, wrap: Any) -> None:
    data = image_bytes(fmt=fmt)
    resolved = resolve_image(wrap(data), PARAM)
    assert decode(resolved.value) == (mime, data)
    assert resolved.info is not None
    assert resolved.info.format == fmt


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_open_file_becomes_data_url(tmp_path: Path, fmt: str, mime: str) -> None:
    data = image_bytes(fmt=fmt)
    path = write(tmp_path, "frame.bin", data)
    with path.open("rb") as handle:
        resolved = resolve_image(handle, PARAM)
    assert decode(resolved.value) == (mime, data)


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_bytesio_and_non_seekable_stream_become_data_url(fmt: str, mime: str) -> None:
    data = image_bytes(fmt=fmt)
    assert decode(resolve_image(io.BytesIO(data), PARAM).value) == (mime, data)
    assert decode(resolve_image(NonSeekable(data), PARAM).value) == (mime, data)


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_data_url_is_sent_unchanged(fmt: str, mime: str) -> None:
    data = image_bytes(fmt=fmt)
    url = data_url(data, mime)
    resolved = resolve_image(url, PARAM)
    assert resolved.value == url
    assert resolved.info is not None
    assert resolved.info.format == fmt


def test_data_url_declared_image_jpg_is_accepted_for_jpeg() -> None:
    url = data_url(image_bytes(fmt="JPEG"), "image/jpg")
    assert resolve_image(url, PARAM).value == url


@pytest.mark.parametrize(
    "url",
    ["https://example.com/frame.png", "http://cdn.example.com/a/b.jpg?sig=1", "HTTPS://EXAMPLE.COM/x.webp"],
)
def test_remote_url_is_sent_unchanged_without_info(url: str) -> None:
    assert resolve_image(url, PARAM) == ResolvedImage(url, None)


def test_remote_url_contents_are_not_checked() -> None:
    # Even a URL naming a GIF goes through: the gateway fetches it, so its contents are its to check.
    assert resolve_image("https://example.com/anim.gif", PARAM).info is None


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_object_storage_path_becomes_data_url(tmp_path: Path, fmt: str, mime: str) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    data = image_bytes(fmt=fmt)
    path = write(tmp_path, "frame.img", data)
    resolved = resolve_image(ObjectStoragePath(f"file://{path}"), PARAM)
    assert decode(resolved.value) == (mime, data)


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_file_uri_string_becomes_data_url(tmp_path: Path, fmt: str, mime: str) -> None:
    data = image_bytes(fmt=fmt)
    path = write(tmp_path, "frame.img", data)
    resolved = resolve_image(f"file://{path}", PARAM)
    assert decode(resolved.value) == (mime, data)


@pytest.mark.parametrize(
    ("fmt", "name", "mime"),
    [("PNG", "photo.jpg", "image/png"), ("JPEG", "photo.png", "image/jpeg"), ("WEBP", "photo", "image/webp")],
)
def test_mime_type_follows_content_not_file_name(tmp_path: Path, fmt: str, name: str, mime: str) -> None:
    data = image_bytes(fmt=fmt)
    resolved = resolve_image(write(tmp_path, name, data), PARAM)
    assert decode(resolved.value) == (mime, data)


def test_encoding_across_chunk_boundaries_is_exact(tmp_path: Path) -> None:
    # A PNG followed by padding, a few MB long and not a multiple of 3: the base64 chunks must join up.
    data = image_bytes() + os.urandom(3 * 1024 * 1024 + 1)
    resolved = resolve_image(write(tmp_path, "padded.png", data), PARAM)
    assert decode(resolved.value) == ("image/png", data)


def test_last_frame_parameter_is_named_in_refusals() -> None:
    refused(b"not an image", "last_frame_image", parameter="last_frame_image")


# --- refused formats ---------------------------------------------------------------------------


def test_gif_named_png_is_refused_naming_gif_and_accepted_formats(tmp_path: Path) -> None:
    path = write(tmp_path, "frame.png", image_bytes(fmt="GIF"))
    error = refused(path, "the image is GIF")
    assert "JPG/JPEG, PNG or WebP" in str(error)
    assert isinstance(error, HailuoImageError)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "GIF"])
def test_other_formats_are_refused(fmt: str) -> None:
    error = refused(image_bytes(fmt=fmt), f"the image is {fmt}; the gateway accepts JPG/JPEG, PNG or WebP")
    assert isinstance(error, HailuoImageError)


@pytest.mark.parametrize("data", [b"", b"hello, world", b"\x89PNG\r\n\x1a\n" + b"\x00" * 10, b"%PDF-1.4\n"])
def test_not_an_image_is_refused(tmp_path: Path, data: bytes) -> None:
    refused(
        write(tmp_path, "frame.png", data), "not a readable image; the gateway accepts JPG/JPEG, PNG or WebP"
    )


# --- size --------------------------------------------------------------------------------------


def padded_png(tmp_path: Path, total: int) -> Path:
    """A valid small PNG followed by padding up to ``total`` bytes (sparse, so cheap)."""
    path = write(tmp_path, "big.png", image_bytes())
    with path.open("r+b") as handle:
        handle.truncate(total)
    assert path.stat().st_size == total
    return path


def test_max_image_bytes_is_20_mb() -> None:
    assert MAX_IMAGE_BYTES == 20 * 1024 * 1024


@pytest.mark.parametrize("extra", [0, 1, 5 * 1024 * 1024])
def test_image_of_20_mb_or_more_from_a_path_is_refused(tmp_path: Path, extra: int) -> None:
    error = refused(padded_png(tmp_path, MAX_IMAGE_BYTES + extra), "images must be under 20.0 MB")
    assert isinstance(error, HailuoImageError)


def test_image_of_20_mb_as_bytes_is_refused(tmp_path: Path) -> None:
    refused(padded_png(tmp_path, MAX_IMAGE_BYTES).read_bytes(), "images must be under 20.0 MB")


def test_image_of_20_mb_as_file_object_is_refused(tmp_path: Path) -> None:
    with padded_png(tmp_path, MAX_IMAGE_BYTES).open("rb") as handle:
        refused(handle, "images must be under 20.0 MB")


def test_image_of_20_mb_from_non_seekable_stream_is_refused(tmp_path: Path) -> None:
    refused(NonSeekable(padded_png(tmp_path, MAX_IMAGE_BYTES).read_bytes()), "images must be under")


def test_image_of_20_mb_as_data_url_is_refused(tmp_path: Path) -> None:
    url = data_url(padded_png(tmp_path, MAX_IMAGE_BYTES).read_bytes(), "image/png")
    error = refused(url, "images must be under")
    assert url not in str(error)


def test_image_just_under_20_mb_is_accepted(tmp_path: Path) -> None:
    resolved = resolve_image(padded_png(tmp_path, MAX_IMAGE_BYTES - 1), PARAM)
    assert resolved.info is not None
    assert resolved.info.size_bytes == MAX_IMAGE_BYTES - 1


# --- dimensions --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(300, 300), (300, 600), (600, 300), (100, 100)])
def test_short_side_of_300_px_or_less_is_refused(size: tuple[int, int]) -> None:
    error = refused(image_bytes(size), r"the short side must be greater than 300 px")
    assert f"{size[0]}x{size[1]} px" in str(error)


@pytest.mark.parametrize("size", [(301, 301), (301, 700), (700, 301)])
def test_short_side_of_301_px_is_accepted(size: tuple[int, int]) -> None:
    resolved = resolve_image(image_bytes(size), PARAM)
    assert resolved.info is not None
    assert (resolved.info.width, resolved.info.height) == size


@pytest.mark.parametrize("size", [(400, 1000), (1000, 400), (302, 755), (755, 302)])
def test_aspect_ratio_exactly_2_5_or_5_2_is_accepted(size: tuple[int, int]) -> None:
    assert resolve_image(image_bytes(size), PARAM).info is not None


@pytest.mark.parametrize("size", [(400, 1001), (1001, 400), (399, 1000), (1000, 399), (320, 1600)])
def test_aspect_ratio_beyond_2_5_or_5_2_is_refused(size: tuple[int, int]) -> None:
    refused(image_bytes(size), r"has aspect ratio .*; it must be between 2:5 and 5:2")


# --- data URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "declared", "actual"),
    [("PNG", "image/jpeg", "PNG"), ("JPEG", "image/png", "JPEG"), ("WEBP", "image/png", "WEBP")],
)
def test_data_url_declared_type_must_match_content(content: str, declared: str, actual: str) -> None:
    refused(
        data_url(image_bytes(fmt=content), declared),
        f"the data URL says {declared} but the image is {actual}",
    )


@pytest.mark.parametrize(
    "url",
    ["data:image/png,not-base64", "data:image/png;charset=utf-8,abc", "data:image/png;base64"],
)
def test_non_base64_data_url_is_refused(url: str) -> None:
    refused(url, "data URL")


def test_percent_encoded_data_url_is_refused_as_not_base64() -> None:
    refused("data:image/png,%89PNG", "a data URL must be base64")


@pytest.mark.parametrize(
    "payload",
    ["@@@@", "iVBORw0KGgo", "iVBO Rw0K", "iVBORw0KGgo=\n", "====", "a"],
)
def test_corrupt_base64_is_refused(payload: str) -> None:
    refused(f"data:image/png;base64,{payload}", "data URL|base64 data is corrupt|not a readable image")


def test_corrupt_base64_says_so() -> None:
    refused("data:image/png;base64,@@@@", "the base64 data is corrupt")


def test_valid_base64_of_garbage_is_not_a_readable_image() -> None:
    refused(data_url(b"garbage bytes", "image/png"), "not a readable image")


@pytest.mark.parametrize("mime", ["image/gif", "image/bmp", "text/plain", "application/octet-stream"])
def test_data_url_of_unaccepted_type_is_refused(mime: str) -> None:
    refused(
        data_url(image_bytes(fmt="GIF"), mime), f"{mime} images are not accepted; use JPG/JPEG, PNG or WebP"
    )


def test_data_url_error_never_contains_the_whole_data_url() -> None:
    url = data_url(image_bytes(fmt="PNG", compress_level=0), "image/jpeg")
    error = refused(url, "says image/jpeg")
    assert url not in str(error)
    assert len(str(error)) < 400


def test_malformed_data_url_header_is_refused_by_check_source() -> None:
    with pytest.raises(HailuoValidationError, match="is not a data URL") as info:
        check_source("data:nonsense", PARAM)
    assert info.value.parameter == PARAM


# --- missing files and unsupported sources -----------------------------------------------------


def test_missing_local_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.png"
    refused(str(path), "no such file")
    refused(path, "no such file")


def test_directory_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, "no such file")


def test_missing_object_storage_file_is_refused(tmp_path: Path) -> None:
    refused(f"file://{tmp_path}/nowhere.png", "no such object")


@pytest.mark.parametrize("source", [42, 4.2, None, ["https://example.com/a.png"], {"url": "x"}, object()])
def test_unsupported_source_types_are_refused(source: object) -> None:
    with pytest.raises(
        HailuoValidationError, match="must be an http\\(s\\) URL, a data URL, a local path"
    ) as info:
        check_source(source, PARAM)
    assert info.value.parameter == PARAM
    assert type(source).__name__ in str(info.value)
    refused(source, "must be an http")


@pytest.mark.parametrize("source", ["", "   "])
def test_empty_string_source_is_refused(source: str) -> None:
    refused(source, f"{PARAM} is empty")


@pytest.mark.parametrize(
    "source",
    [
        "https://",
        "http:// example.com/a.png",
        "https:///a.png",
        "http://host:99999/a.png",
        "https://[::1/a.png",
    ],
)
def test_malformed_remote_url_is_refused(source: str) -> None:
    refused(source, "is not a valid http\\(s\\) URL")


@pytest.mark.parametrize(
    "source",
    [
        "https://example.com/a.png",
        "data:image/png;base64,AAAA",
        "/tmp/a.png",
        b"x",
        io.BytesIO(b"x"),
        Path("a"),
    ],
)
def test_check_source_accepts_supported_sources_without_io(source: object) -> None:
    check_source(source, PARAM)


# --- logs never hold a whole data URL ----------------------------------------------------------


def test_shorten_never_returns_a_whole_long_data_url() -> None:
    url = data_url(image_bytes(), "image/png")
    short = shorten(url)
    assert short != url
    assert len(short) < 80
    assert short.startswith("data:image/png;base64,")
    assert f"({len(url)} chars)" in short


@pytest.mark.parametrize("value", ["https://example.com/a.png", "/tmp/a.png", "data:x"])
def test_shorten_keeps_urls_paths_and_tiny_values(value: str) -> None:
    assert shorten(value) == value


def test_repr_of_resolved_image_does_not_hold_the_data_url() -> None:
    resolved = resolve_image(image_bytes(), PARAM)
    assert resolved.value.startswith("data:image/png;base64,")
    text = repr(resolved)
    assert resolved.value not in text
    assert len(text) < 300
    assert "320" in text  # the info is shown


# --- memory ------------------------------------------------------------------------------------


def test_encoding_a_19_mb_image_peaks_under_four_times_its_size(tmp_path: Path) -> None:
    side = 2560  # about 19.7 MB (18.8 MiB) of raw pixels, uncompressed
    pixels = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    path = tmp_path / "big.png"
    pixels.save(path, format="PNG", compress_level=0)
    del pixels
    size = path.stat().st_size
    assert 18 * 1024 * 1024 < size < MAX_IMAGE_BYTES

    tracemalloc.start()
    try:
        resolved = resolve_image(path, PARAM)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert resolved.info is not None
    assert resolved.info.size_bytes == size
    assert len(resolved.value) > size * 4 // 3
    assert peak < 4 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB image"


def test_a_camera_jpeg_with_multi_picture_data_is_a_jpeg() -> None:
    # Pillow names JPEGs that carry several pictures (phones, cameras) "MPO".
    buffer = io.BytesIO()
    first, second = Image.new("RGB", (640, 480), "red"), Image.new("RGB", (160, 120), "blue")
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    resolved = resolve_image(data, PARAM)
    assert resolved.value.startswith("data:image/jpeg;base64,")
    assert resolve_image(data_url(data, "image/jpeg"), PARAM).info is not None


def test_a_malformed_ipv6_url_is_a_validation_error() -> None:
    refused("http://[bad/frame.png", "not a valid http")
