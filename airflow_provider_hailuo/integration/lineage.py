"""OpenLineage for the operator and the sensor: the frames in, the video out, the gateway's facts.

*Purpose.* Data platform teams collect OpenLineage events from their Airflow deployments; this
module gives them which images became which video, and at what cost.

*How it works.* The OpenLineage listener calls the operator's (or the sensor's)
``get_openlineage_facets_on_complete``/``..._on_failure`` in the process that ran the task's last
method: after a deferral that is ``execute_complete``, on a fresh operator whose templates were
rendered again. So everything is built from what that process holds: the rendered parameters and
the result it delivered (or the gateway failure it raised), never from state of an earlier process.

*What it does not do.* It sends nothing itself and never reads a frame: an http(s) URL is named by
its host and path (never its query, which may be a signature), a path or object storage URI by
where it is; a data URL, bytes or a file object has no name to give and is left out. The prompt
is reported by its length only.

This module imports OpenLineage at its top: only those two methods import it, and only the
OpenLineage listener (which exists only when ``apache-airflow-providers-openlineage`` is
installed) calls them. A DAG file never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from airflow.providers.common.compat.openlineage.facet import (
    InputDataset,
    OutputDataset,
    OutputStatisticsOutputDatasetFacet,
    RunFacet,
)
from airflow.providers.openlineage.extractors import OperatorLineage
from attrs import define

from airflow_provider_hailuo import __version__
from airflow_provider_hailuo.exceptions import HailuoTaskFailedError
from airflow_provider_hailuo.gateway.params import GenerationRequest
from airflow_provider_hailuo.gateway.protocol import HailuoTask
from airflow_provider_hailuo.gateway.urls import is_http_url
from airflow_provider_hailuo.media.kinds import Kind, kind_of
from airflow_provider_hailuo.media.storage import (
    LOCAL_SCHEMES,
    StorageLocation,
    uri_scheme,
)

# The run facet's key in ``run.facets``.
FACET_NAME = "hailuo"
# Where the facet's JSON schema is published; the file is docs/openlineage/HailuoRunFacet.json.
SCHEMA_URL = (
    "https://raw.githubusercontent.com/airflow-provider-hailuo/airflow-provider-hailuo/"
    f"v{__version__}/docs/openlineage/HailuoRunFacet.json#/$defs/HailuoRunFacet"
)
# Object stores known by more than one scheme, named as OpenLineage names them (s3://bucket, gs://bucket).
_NAMESPACE_SCHEMES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}


@define
class HailuoRunFacet(RunFacet):
    """What the gateway did for this run; a field is left out (``None``) where it is not known.

    ``cost`` and ``discount`` are the gateway's exact decimal strings, as in the result.
    ``_producer`` is filled in by the OpenLineage client (the producer the Airflow provider set),
    ``_schemaURL`` from :meth:`_get_schema`, as for the client's own facets.
    """

    hailuoTaskId: str | None = None
    status: str | None = None
    model: str | None = None
    durationSeconds: int | None = None
    resolution: str | None = None
    promptLength: int | None = None
    cost: str | None = None
    discount: str | None = None
    queuedSeconds: float | None = None
    renderingSeconds: float | None = None
    totalSeconds: float | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    videoSizeBytes: int | None = None
    videoSha256: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


# -- dataset names (pure) ----------------------------------------------------------------------


def location_name(value: object) -> tuple[str, str] | None:
    """An image or video location as an OpenLineage ``(namespace, name)``; ``None`` when it has none.

    Following OpenLineage's naming: a local path is ``("file", "/absolute/path")``, object storage
    ``("s3://bucket", "key")``; an http(s) URL is ``("https://host[:port]", "/path")``, without
    its credentials, query or fragment. Data URLs, bytes and file objects name nothing.
    """
    kind = kind_of(value)
    if isinstance(value, str):
        return _text_location(value, kind)
    if kind is Kind.STORAGE_PATH:
        text = str(value)
        return _text_location(text, kind_of(text)) if "://" in text else _local(text)
    if kind is Kind.LOCAL_PATH and isinstance(value, os.PathLike):
        return _local(os.fspath(value))
    return None


def _text_location(text: str, kind: Kind | None) -> tuple[str, str] | None:
    if kind is Kind.DATA_URL:  # the image itself, not where it is
        return None
    if kind is Kind.HTTP_URL:
        if not is_http_url(text):  # not a URL the gateway could fetch: nothing to name
            return None
        parts = urlsplit(text)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
        port = f":{parts.port}" if parts.port is not None else ""
        return f"{parts.scheme}://{host}{port}", parts.path or "/"
    try:
        scheme = uri_scheme(text)
    except ValueError:  # text before "://" that is no scheme: not a location this names
        return None
    if scheme is None:
        return _local(text) if text.strip() else None
    if scheme in LOCAL_SCHEMES:
        return _local(urlsplit(text).path)
    location = StorageLocation.from_uri(text)  # the connection id (userinfo) is not part of the name
    return f"{_NAMESPACE_SCHEMES.get(scheme, scheme)}://{location.bucket}", "/".join(location.segments)


def _local(path: str) -> tuple[str, str]:
    return "file", os.path.abspath(os.path.expanduser(path))


def frame_locations(request: GenerationRequest) -> list[tuple[str, str]]:
    """The frames that have a name, first frame first."""
    frames = (request.first_frame_image, request.last_frame_image)
    return [name for name in map(location_name, frames) if name is not None]


def video_locations(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Where the videos are: their ``download_to`` files when downloaded, else the gateway URLs."""
    where: Sequence[object] = result.get("local_paths") or result.get("video_urls") or ()
    return [name for name in map(location_name, where) if name is not None]


# -- the facet and the lineage -------------------------------------------------------------------


def run_facet(
    *,
    request: GenerationRequest | None,
    result: Mapping[str, Any] | None,
    failure: HailuoTaskFailedError | None,
    hailuo_task_id: str | None,
) -> HailuoRunFacet:
    """The run facet from what this process knows: the request (the operator's; the sensor has
    none), the delivered result, or the gateway's failure."""
    facet = HailuoRunFacet(hailuoTaskId=hailuo_task_id)
    if request is not None:
        facet.model = request.model
        facet.durationSeconds = request.effective_duration
        facet.resolution = request.effective_resolution
        facet.promptLength = len(request.prompt) if request.prompt is not None else 0
    if result is not None:
        task = HailuoTask(id=result["hailuo_task_id"], status=result["status"], metadata=result["metadata"])
        timings = task.timings()
        facet.hailuoTaskId, facet.status = task.id, task.status
        facet.model = result["model"] or facet.model
        facet.cost, facet.discount = result["cost"], result["discount"]
        facet.queuedSeconds = timings.get("queued_seconds")
        facet.renderingSeconds = timings.get("rendering_seconds")
        facet.totalSeconds = timings.get("total_seconds")
        facet.videoSizeBytes, facet.videoSha256 = result.get("local_size_bytes"), result.get("local_sha256")
    if failure is not None:
        facet.hailuoTaskId, facet.status = failure.hailuo_task_id, failure.status
        facet.errorCode, facet.errorMessage = failure.error_code, failure.error_message
    return facet


def generation_lineage(
    *,
    request: GenerationRequest | None,
    result: Mapping[str, Any] | None,
    failure: HailuoTaskFailedError | None,
    hailuo_task_id: str | None,
) -> OperatorLineage:  # type: ignore[type-arg]
    """The frames as inputs, the video as the output and the run facet, for a COMPLETE or FAIL event."""
    frames = frame_locations(request) if request is not None else []
    videos = video_locations(result) if result is not None else []
    facet = run_facet(request=request, result=result, failure=failure, hailuo_task_id=hailuo_task_id)
    # A downloaded file's size, as OpenLineage's own output statistics (its SHA-256 is in the run facet).
    sizes = [video.get("size_bytes") for video in (result or {}).get("local_files") or ()]
    outputs = [
        OutputDataset(
            namespace=namespace,
            name=name,
            outputFacets=(
                {"outputStatistics": OutputStatisticsOutputDatasetFacet(size=sizes[index], fileCount=1)}
                if index < len(sizes)
                else {}
            ),
        )
        for index, (namespace, name) in enumerate(videos)
    ]
    return OperatorLineage(
        inputs=[InputDataset(namespace=namespace, name=name) for namespace, name in frames],
        outputs=outputs,
        run_facets={FACET_NAME: facet},
    )
