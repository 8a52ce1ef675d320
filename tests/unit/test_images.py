"""Frame images: every accepted source and format, every refusal of the seed's image rules."""

from __future__ import annotations

import base64
import io
import os
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowNotFoundException, ObjectStoragePath
from fsspec.implementations.memory import MemoryFileSystem
from PIL import Image

from airflow_provider_hailuo.exceptions import HailuoImageError, HailuoValidationError
from airflow_provider_hailuo.media import images, storage
from airflow_provider_hailuo.media.images import (
    MAX_IMAGE_BYTES,
    ImageInfo,
    ResolvedImage,
    check_source,
    resolve_image,
    shorten,
)
from airflow_provider_hailuo.media.storage import EXTRA_ALLOWED_FRAME_ROOTS
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW

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


@pytest.mark.parametrize(("fmt", "cut"), [("WEBP", 40), ("JPEG", 200)])
def test_a_frame_cut_short_is_refused_naming_the_parameter(tmp_path: Path, fmt: str, cut: int) -> None:
    """Pillow raises a bare OSError for these ("could not create decoder object")."""
    whole = image_bytes(fmt=fmt)
    error = refused(write(tmp_path, "frame.img", whole[:cut]), "corrupt or cut short")
    assert isinstance(error, HailuoImageError)


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


# --- schemes Airflow cannot open ---------------------------------------------------------------


@pytest.mark.usefixtures("no_network", "ftp_unregistered")
@pytest.mark.parametrize("parameter", ["first_frame_image", "last_frame_image"])
def test_ftp_frame_is_refused_by_check_source_naming_the_parameter(parameter: str) -> None:
    with pytest.raises(HailuoValidationError) as info:
        check_source("ftp://host/a.png", parameter)
    assert info.value.parameter == parameter
    known = ", ".join(sorted(storage.known_schemes()))
    assert str(info.value).startswith(
        f"{parameter}='ftp://host/a.png': Airflow has no filesystem for 'ftp://' here; known: {known}"
    )
    refused("ftp://host/a.png", "no filesystem for 'ftp://'", parameter=parameter)


@pytest.mark.usefixtures("no_network", "ftp_unregistered")
def test_ftp_object_storage_path_frame_is_refused() -> None:
    refused(ObjectStoragePath("ftp://host/a.png"), "no filesystem for 'ftp://'")


@pytest.mark.usefixtures("no_network", "ftp_unregistered")
def test_refused_frame_uri_is_quoted_without_credentials() -> None:
    error = refused("ftp://user:hunter2@host/a.png?token=abc", "no filesystem")
    assert "'ftp://host/a.png'" in str(error)
    assert "hunter2" not in str(error)
    assert "token" not in str(error)


def test_text_before_the_scheme_separator_must_be_a_scheme() -> None:
    refused("frames/v1://a.png", "'frames/v1' is not a URI scheme")


def test_local_scheme_follows_the_airflow_version(tmp_path: Path) -> None:
    path = write(tmp_path, "frame.png", image_bytes())
    if AIRFLOW_V_3_0_PLUS:
        assert resolve_image(f"local://{path}", PARAM).info is not None
    else:
        refused(f"local://{path}", "no filesystem for 'local://'")


# --- errors reading an object ------------------------------------------------------------------


def test_object_storage_directory_is_an_image_error_naming_the_parameter(tmp_path: Path) -> None:
    error = refused(f"file://{tmp_path}", r"the object could not be read \(IsADirectoryError\)")
    assert isinstance(error, HailuoImageError)


@pytest.mark.parametrize(
    "failure",
    [
        PermissionError("Access Denied for key AKIAEXAMPLE"),
        ValueError("No filesystem registered for scheme file, secret=AKIAEXAMPLE"),
        OSError("connection reset by 10.0.0.1 for AKIAEXAMPLE"),
        AirflowNotFoundException("The conn_id `AKIAEXAMPLE` isn't defined"),
    ],
)
def test_failures_opening_an_object_quote_only_their_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    def fail(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(ObjectStoragePath, "open", fail)
    uri = f"file://reader:pw@{tmp_path}/frame.png?sig=xyz"
    error = refused(uri, f"could not be read \\({type(failure).__name__}\\)")
    assert isinstance(error, HailuoImageError)
    assert f"'file://{tmp_path}/frame.png'" in str(error)
    for secret in ("AKIAEXAMPLE", "reader", "pw@", "sig"):
        assert secret not in str(error)
    assert error.__cause__ is failure


def test_an_unreadable_image_in_object_storage_keeps_its_own_refusal(tmp_path: Path) -> None:
    path = write(tmp_path, "frame.png", image_bytes(fmt="GIF"))
    refused(f"file://{path}", "the image is GIF")
    refused(ObjectStoragePath(f"file://{path}"), "the image is GIF")


# --- allowed frame roots: local ----------------------------------------------------------------


def roots_refuse(source: object, roots: Sequence[str], match: str, parameter: str = PARAM) -> str:
    with pytest.raises(HailuoValidationError, match=match) as info:
        resolve_image(source, parameter, allowed_roots=roots)
    assert not isinstance(info.value, HailuoImageError)  # refused before anything is read
    assert info.value.parameter == parameter
    message = str(info.value)
    assert parameter in message
    assert EXTRA_ALLOWED_FRAME_ROOTS in message
    return message


@pytest.fixture
def stills(tmp_path: Path) -> Path:
    """An allowed root holding a valid frame, next to a directory that is not allowed."""
    root = tmp_path / "stills"
    root.mkdir()
    write(root, "frame.png", image_bytes())
    (tmp_path / "private").mkdir()
    write(tmp_path / "private", "secret.png", image_bytes())
    return root


def local_forms(path: Path) -> list[object]:
    return [str(path), path, f"file://{path}", ObjectStoragePath(f"file://{path}")]


def test_roots_the_connection_parsed_are_not_parsed_again(
    stills: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = storage.FrameRoots.parse([str(stills), "s3://bucket/stills/"])

    def parse_again(entries: object) -> None:
        raise AssertionError("the roots were parsed again")

    monkeypatch.setattr(storage.FrameRoots, "parse", parse_again)
    assert resolve_image(stills / "frame.png", PARAM, allowed_roots=roots).info is not None
    with pytest.raises(HailuoValidationError, match="outside every root"):
        resolve_image(stills.parent / "elsewhere.png", PARAM, allowed_roots=roots)


@pytest.mark.parametrize("form", range(4))
def test_frame_inside_a_local_root_is_read(stills: Path, form: int) -> None:
    source = local_forms(stills / "frame.png")[form]
    assert resolve_image(source, PARAM, allowed_roots=[str(stills)]).info is not None


@pytest.mark.parametrize("form", range(4))
def test_frame_outside_every_local_root_is_refused(stills: Path, form: int) -> None:
    secret = stills.parent / "private" / "secret.png"
    message = roots_refuse(local_forms(secret)[form], [str(stills)], "outside every root")
    assert f"resolves to '{secret}'" in message
    assert f"allowed: {stills}" in message


@pytest.mark.parametrize("form", range(4))
def test_dot_dot_cannot_climb_out_of_a_local_root(stills: Path, form: int) -> None:
    escape = Path(f"{stills}/../private/secret.png")
    roots_refuse(local_forms(escape)[form], [str(stills)], "outside every root")


@pytest.mark.parametrize("form", range(4))
def test_symlink_inside_a_root_to_a_file_outside_is_refused(stills: Path, form: int) -> None:
    link = stills / "innocent.png"
    link.symlink_to(stills.parent / "private" / "secret.png")
    message = roots_refuse(local_forms(link)[form], [str(stills)], "outside every root")
    assert "private" in message


def test_symlinked_directory_inside_a_root_pointing_outside_is_refused(stills: Path) -> None:
    (stills / "more").symlink_to(stills.parent / "private", target_is_directory=True)
    roots_refuse(str(stills / "more" / "secret.png"), [str(stills)], "outside every root")


def test_symlink_outside_to_a_file_inside_is_read(stills: Path) -> None:
    link = stills.parent / "private" / "link.png"
    link.symlink_to(stills / "frame.png")
    assert resolve_image(link, PARAM, allowed_roots=[str(stills)]).info is not None


def test_a_root_that_is_itself_a_symlink_holds_its_targets_files(stills: Path) -> None:
    alias = stills.parent / "alias"
    alias.symlink_to(stills, target_is_directory=True)
    assert resolve_image(stills / "frame.png", PARAM, allowed_roots=[str(alias)]).info is not None
    assert resolve_image(alias / "frame.png", PARAM, allowed_roots=[str(stills)]).info is not None


def test_a_directory_named_like_a_root_is_not_inside_it(stills: Path) -> None:
    lookalike = stills.parent / "stills-evil"
    lookalike.mkdir()
    write(lookalike, "frame.png", image_bytes())
    roots_refuse(lookalike / "frame.png", [str(stills)], "outside every root")


def test_relative_frame_path_is_resolved_before_the_check(
    stills: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(stills)
    assert resolve_image("frame.png", PARAM, allowed_roots=[str(stills)]).info is not None
    roots_refuse("../private/secret.png", [str(stills)], "outside every root")


def test_a_missing_file_outside_the_roots_is_refused_as_outside(stills: Path) -> None:
    # Not "no such file": a frame value must not learn which files exist outside the roots.
    roots_refuse(stills.parent / "private" / "nowhere.png", [str(stills)], "outside every root")


def test_a_missing_file_inside_a_root_is_missing(stills: Path) -> None:
    with pytest.raises(HailuoImageError, match="no such file"):
        resolve_image(stills / "nowhere.png", PARAM, allowed_roots=[str(stills)])


def test_any_of_several_roots_will_do(stills: Path) -> None:
    other = stills.parent / "private"
    roots = ["s3://bucket/stills/", str(other), str(stills)]
    assert resolve_image(other / "secret.png", PARAM, allowed_roots=roots).info is not None


def test_no_roots_limits_nothing(stills: Path) -> None:
    assert resolve_image(stills.parent / "private" / "secret.png", PARAM, allowed_roots=None).info is not None


@pytest.mark.parametrize(
    "make",
    [
        lambda data: "https://example.com/frame.png",
        lambda data: data_url(data, "image/png"),
        bytes,
        io.BytesIO,
    ],
    ids=["url", "data-url", "bytes", "file-object"],
)
def test_urls_data_urls_bytes_and_file_objects_ignore_the_roots(make: Callable[[bytes], object]) -> None:
    resolve_image(make(image_bytes()), PARAM, allowed_roots=["/nonexistent/root"])


def test_an_invalid_root_names_the_extra(stills: Path) -> None:
    with pytest.raises(HailuoValidationError, match="connection extra allowed_frame_roots: 'stills'") as info:
        resolve_image(stills / "frame.png", PARAM, allowed_roots=["stills"])
    assert info.value.parameter == EXTRA_ALLOWED_FRAME_ROOTS


# --- allowed frame roots: object storage -------------------------------------------------------


@pytest.fixture
def memory_s3(monkeypatch: pytest.MonkeyPatch) -> MemoryFileSystem:
    """s3:// served from memory, through Airflow's own store cache, as if a provider registered it."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.io.store import _STORE_CACHE, ObjectStore
    else:
        from airflow.io.store import _STORE_CACHE, ObjectStore  # type: ignore[import-not-found,no-redef]

    monkeypatch.setattr(MemoryFileSystem, "store", {})
    monkeypatch.setattr(MemoryFileSystem, "pseudo_dirs", [""])
    fs = MemoryFileSystem()
    registered = storage.known_schemes() | {"s3"}
    monkeypatch.setattr(storage, "known_schemes", lambda: registered)
    for alias, conn_id in [("s3", None), ("s3-stills_conn", "stills_conn")]:
        monkeypatch.setitem(_STORE_CACHE, alias, ObjectStore(protocol="s3", conn_id=conn_id, fs=fs))
    for key in [
        "bucket/stills/frame.png",
        "bucket/stills-evil/frame.png",
        "bucket/secret.png",
        "bucket-evil/stills/frame.png",
        "bucket/stills/../secret.png",
    ]:
        fs.pipe(key, image_bytes())
    return fs


ROOTS = ["s3://bucket/stills/"]


@pytest.mark.usefixtures("memory_s3")
@pytest.mark.parametrize("as_object", [False, True])
def test_object_under_a_uri_prefix_is_read(as_object: bool) -> None:
    uri = "s3://bucket/stills/frame.png"
    source = ObjectStoragePath(uri) if as_object else uri
    resolved = resolve_image(source, PARAM, allowed_roots=ROOTS)
    assert resolved.info is not None
    assert decode(resolved.value) == ("image/png", image_bytes())


@pytest.mark.usefixtures("memory_s3")
@pytest.mark.parametrize("as_object", [False, True])
@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/stills-evil/frame.png",
        "s3://bucket-evil/stills/frame.png",
        "s3://bucket/secret.png",
        "s3://bucket//stills/frame.png",
    ],
)
def test_object_outside_every_uri_prefix_is_refused(uri: str, as_object: bool) -> None:
    source = ObjectStoragePath(uri) if as_object else uri
    message = roots_refuse(source, ROOTS, "is outside every root")
    assert "allowed: s3://bucket/stills/" in message


@pytest.mark.usefixtures("memory_s3")
@pytest.mark.parametrize("as_object", [False, True])
@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/stills/../secret.png",
        "s3://bucket/stills/%2e%2e/secret.png",
        "s3://bucket/stills/..%2Fsecret.png",
    ],
)
def test_dot_segments_are_refused_under_a_uri_prefix(uri: str, as_object: bool) -> None:
    source = ObjectStoragePath(uri) if as_object else uri
    roots_refuse(source, ROOTS, "'.' and '..' segments are refused")


@pytest.mark.usefixtures("memory_s3")
@pytest.mark.parametrize("as_object", [False, True])
def test_another_connection_is_another_store(as_object: bool) -> None:
    uri = "s3://stills_conn@bucket/stills/frame.png"
    source = ObjectStoragePath(uri) if as_object else uri
    message = roots_refuse(source, ROOTS, "is outside every root")
    assert "a root covers connection 'stills_conn' only if it names it" in message
    assert resolve_image(source, PARAM, allowed_roots=["s3://stills_conn@bucket/stills/"]).info is not None


@pytest.mark.usefixtures("memory_s3")
def test_object_storage_roots_do_not_cover_local_files(stills: Path) -> None:
    roots_refuse(stills / "frame.png", ROOTS, "outside every root")


def test_a_refused_uri_is_refused_before_its_path_is_built(
    monkeypatch: pytest.MonkeyPatch, memory_s3: MemoryFileSystem
) -> None:
    # Building an ObjectStoragePath that names a connection can look the connection up.
    def unexpected() -> Any:
        raise AssertionError("ObjectStoragePath built for a refused frame")

    monkeypatch.setattr(images, "object_storage_path_class", unexpected)
    roots_refuse("s3://aws_other@bucket/secret.png", ROOTS, "is outside every root")
