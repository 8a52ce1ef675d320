"""Which URIs Airflow's ObjectStoragePath opens here; download_to; how URIs are quoted and compared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from airflow_provider_hailuo.exceptions import HailuoValidationError
from airflow_provider_hailuo.media.storage import (
    StorageLocation,
    check_destination,
    is_known_scheme,
    known_schemes,
    normalise_destination,
    parse_frame_root,
    redact_uri,
    uri_scheme,
)
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, EVERY_AIRFLOW

pytestmark = EVERY_AIRFLOW


def airflow_registry() -> set[str]:
    """What Airflow's own get_fs resolves, asked directly (the task SDK has its own from 3.1)."""
    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk.io.fs import _register_filesystems
    else:
        from airflow.io import _register_filesystems  # type: ignore[attr-defined,no-redef]
    return set(_register_filesystems())


# --- the registry ------------------------------------------------------------------------------


def test_known_schemes_are_airflows_registry() -> None:
    assert known_schemes() == airflow_registry()
    assert "file" in known_schemes()


def test_known_schemes_are_cached() -> None:
    assert known_schemes() is known_schemes()


def test_local_is_built_in_from_airflow_3_only() -> None:
    assert ("local" in known_schemes()) is AIRFLOW_V_3_0_PLUS


@pytest.mark.parametrize("scheme", ["ftp", "memory", "http", "nosuchfs"])
def test_fsspec_protocols_airflow_does_not_open_are_unknown(scheme: str, ftp_unregistered: None) -> None:
    import fsspec

    assert scheme == "nosuchfs" or scheme in fsspec.available_protocols()
    assert not is_known_scheme(scheme)


def test_schemes_are_case_insensitive() -> None:
    assert is_known_scheme("FILE")


def test_an_unregistered_scheme_really_does_not_open(ftp_unregistered: None) -> None:
    # What the check predicts is what ObjectStoragePath does (without reaching the host).
    with pytest.raises(ValueError, match="No filesystem registered for scheme ftp"):
        ObjectStoragePath("ftp://host.invalid/a.png").open("rb")  # type: ignore[no-untyped-call]


def test_importing_the_module_loads_no_airflow_io() -> None:
    probe = """
import json, sys
try:
    import airflow.sdk
except ImportError:
    import airflow.models.baseoperator
before = set(sys.modules)
import airflow_provider_hailuo.media.storage
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    added = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = [
        m
        for m in added
        if m.split(".")[0] in ("fsspec", "upath") or m.startswith(("airflow.io", "airflow.sdk.io"))
    ]
    assert heavy == []


# --- download_to -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "/tmp/videos/", "videos/out.mp4", "~/videos", "file:///tmp/videos/"])
def test_destinations_airflow_can_write_pass(value: str | None) -> None:
    check_destination(value)


def test_paths_and_object_storage_paths_pass(tmp_path: Path) -> None:
    check_destination(tmp_path)
    check_destination(ObjectStoragePath(f"file://{tmp_path}/"))


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_destination_is_refused(value: str) -> None:
    with pytest.raises(HailuoValidationError, match="download_to is empty") as info:
        check_destination(value)
    assert info.value.parameter == "download_to"


def test_ftp_destination_is_refused_naming_what_is_available(
    no_network: None, ftp_unregistered: None
) -> None:
    with pytest.raises(HailuoValidationError) as info:
        check_destination("ftp://deploy:hunter2@ftp.example.com/videos/?token=abc")
    message = str(info.value)
    assert info.value.parameter == "download_to"
    assert message.startswith(
        "download_to='ftp://ftp.example.com/videos/': Airflow has no filesystem for 'ftp://'"
    )
    assert f"known: {', '.join(sorted(known_schemes()))}" in message
    assert "hunter2" not in message
    assert "deploy" not in message
    assert "token" not in message


def test_ftp_object_storage_path_destination_is_refused(no_network: None, ftp_unregistered: None) -> None:
    with pytest.raises(HailuoValidationError, match="no filesystem for 'ftp://'"):
        check_destination(ObjectStoragePath("ftp://ftp.example.com/videos/"))


def test_s3_without_the_amazon_provider_names_the_package(no_network: None) -> None:
    if is_known_scheme("s3"):
        pytest.skip("the Amazon provider is installed here")
    with pytest.raises(
        HailuoValidationError, match=r"install apache-airflow-providers-amazon\[s3fs\] to add s3://"
    ):
        check_destination("S3://bucket/videos/")


@pytest.mark.parametrize("value", ["some/dir://x", "1abc://bucket/x", "://bucket"])
def test_text_before_scheme_separator_must_be_a_scheme(value: str) -> None:
    with pytest.raises(HailuoValidationError, match="is not a URI scheme") as info:
        check_destination(value)
    assert info.value.parameter == "download_to"


@pytest.mark.parametrize("value", [42, b"/tmp/x", ["/tmp"], object()])
def test_other_destination_types_are_refused(value: object) -> None:
    with pytest.raises(HailuoValidationError, match="must be a local path or an ObjectStoragePath") as info:
        check_destination(value)
    assert type(value).__name__ in str(info.value)


@pytest.mark.parametrize("value", ["", "   ", "None", " None\n"])
def test_rendered_empty_or_none_destination_is_unset(value: str) -> None:
    assert normalise_destination(value) is None
    check_destination(normalise_destination(value))


@pytest.mark.parametrize("value", [None, "/tmp/none", "none", "NONE/x", "s3://bucket/None", Path("None")])
def test_other_destinations_are_kept(value: object) -> None:
    assert normalise_destination(value) is value


# --- URIs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/tmp/a.png", None), ("a.png", None), ("s3://b/k", "s3"), ("GS://b/k", "gs"), ("file:///x", "file")],
)
def test_uri_scheme(value: str, expected: str | None) -> None:
    assert uri_scheme(value) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://aws_conn@bucket/key.png", "s3://bucket/key.png"),
        ("ftp://user:secret@host:21/a.png?sig=xyz#frag", "ftp://host:21/a.png"),
        ("s3://bucket/key.png?X-Amz-Signature=abc", "s3://bucket/key.png"),
        ("file:///tmp/a.png", "file:///tmp/a.png"),
        ("/tmp/a?b.png", "/tmp/a?b.png"),
    ],
)
def test_redact_uri_drops_userinfo_query_and_fragment(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_location_reads_the_connection_from_the_userinfo() -> None:
    assert StorageLocation.from_uri("s3://aws@bucket/stills/a.png?v=1") == StorageLocation(
        "s3", "aws", "bucket", ("stills", "a.png")
    )


@pytest.mark.parametrize(
    ("uri", "inside"),
    [
        ("s3://bucket/stills/a.png", True),
        ("s3://bucket/stills/deep/er/a.png", True),
        ("S3://bucket/stills/a.png", True),
        ("s3://bucket/stills-evil/a.png", False),
        ("s3://bucket/stillsa.png", False),
        ("s3://bucket-evil/stills/a.png", False),
        ("s3://bucket/a.png", False),
        ("s3://bucket//stills/a.png", False),  # the key "/stills/a.png" is another key
        ("s3://bucket/stills%2Fa.png", False),  # one key at the bucket's top, not under stills/
        ("s3://other@bucket/stills/a.png", False),  # another connection: maybe another endpoint
        ("gs://bucket/stills/a.png", False),
    ],
)
def test_location_within_compares_store_bucket_and_whole_segments(uri: str, inside: bool) -> None:
    root = parse_frame_root("s3://bucket/stills")
    assert isinstance(root, StorageLocation)
    assert StorageLocation.from_uri(uri).within(root) is inside


# --- frame roots -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("/data/stills", "/data/stills"),
        (" /data/stills/ ", "/data/stills"),
        ("/data/x/../stills", "/data/stills"),
        ("s3://bucket/stills", "s3://bucket/stills/"),
        ("S3://bucket//stills/", "s3://bucket/stills/"),
        ("s3://bucket", "s3://bucket/"),
        ("s3://aws_prod@bucket/stills/", "s3://aws_prod@bucket/stills/"),
    ],
)
def test_frame_roots_are_written_one_way(entry: str, expected: str) -> None:
    assert str(parse_frame_root(entry)) == expected


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("", "empty"),
        ("stills", "neither an absolute local directory"),
        ("~/stills", "neither an absolute local directory"),
        ("https://cdn.example.com/stills/", "the gateway fetches them"),
        ("file:///data/stills", "write a local directory as an absolute path"),
        ("s3://", "names no bucket"),
        ("s3:///stills/", "names no bucket"),
        ("s3://bucket/stills/../x", "'.' or '..'"),
        ("s3://user:hunter2@bucket/", "connection id, not credentials"),
        ("my dir://x", "is not a URI scheme"),
    ],
)
def test_bad_frame_roots_say_why(entry: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        parse_frame_root(entry)
    assert "hunter2" not in str(info.value)
