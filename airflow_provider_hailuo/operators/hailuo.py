"""HailuoImageToVideoOperator: validate, submit, wait in the triggerer (or the worker), finish.

Kept cheap to import, since every DAG file that uses it imports it at parse time: Pillow, aiohttp
and the emulator are never imported here, and the hook only when a task runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, ResumableJobMixin, conf

from airflow_provider_hailuo.completion import complete
from airflow_provider_hailuo.defaults import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    DEFERRAL_GRACE_SECONDS,
)
from airflow_provider_hailuo.exceptions import HailuoNotFoundError, HailuoValidationError
from airflow_provider_hailuo.images import check_source
from airflow_provider_hailuo.links import XCOM_TASK_ID_KEY, HailuoVideoLink, record_task_id
from airflow_provider_hailuo.params import (
    BOOL_PARAMETERS,
    DEFAULT_MODEL,
    IMAGE_PARAMETERS,
    GenerationRequest,
)
from airflow_provider_hailuo.protocol import FINAL_STATUSES, STATUS_COMPLETED, failure_error

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_hailuo.hooks.hailuo import HailuoHook
    from airflow_provider_hailuo.protocol import HailuoTask

# The generation parameters, in the order of the model's page; all are templated.
GENERATION_FIELDS: tuple[str, ...] = (
    "first_frame_image",
    "last_frame_image",
    "prompt",
    "prompt_optimizer",
    "duration",
    "resolution",
    "callback_url",
    "aigc_watermark",
    "fast_pretreatment",
    "model",
)
_TEXT_BOOLEANS = {"true": True, "false": False}
# Statuses the operator reports to ResumableJobMixin for a stored task it must not resume: neither
# active nor succeeded, so the mixin submits anew.
_SUPERSEDED = "superseded"
_GONE = "not_found"
_NOT_RESUMABLE = frozenset({*FINAL_STATUSES, _SUPERSEDED, _GONE})


def _is_template(value: object) -> bool:
    """A value only known when the task runs: Jinja text, or an XComArg/other lazy reference."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    return hasattr(value, "resolve") and hasattr(value, "iter_references")


def _from_rendered_text(name: str, value: object) -> object:
    """Jinja renders to text unless the DAG renders native objects: ``"10"`` -> 10, ``"true"`` -> True,
    and an optional value that rendered empty (``""``, ``"None"``) is unset.

    Only applied to values that were templates; a literal of the wrong type stays an error.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if name != "first_frame_image" and text in ("", "None"):
        return None
    if name == "duration" and text.isdigit():
        return int(text)
    if name in BOOL_PARAMETERS and text.lower() in _TEXT_BOOLEANS:
        return _TEXT_BOOLEANS[text.lower()]
    return value


def check_destination(value: object) -> None:
    """``download_to`` must name somewhere a file can go; checked before any money is spent."""
    if value is None:
        return
    if isinstance(value, str):
        if not value.strip():
            raise HailuoValidationError("download_to", "download_to is empty")
        scheme = value.split("://", 1)[0] if "://" in value else None
        if scheme is not None:
            import fsspec  # Airflow's ObjectStoragePath is built on it

            # Only the name is checked: building the filesystem could look a connection up.
            if scheme.lower() not in fsspec.available_protocols():
                raise HailuoValidationError(
                    "download_to", f"download_to={value!r}: no object storage is known for {scheme!r}://"
                )
        return
    if isinstance(value, os.PathLike) or type(value).__name__ == "ObjectStoragePath":
        return
    raise HailuoValidationError(
        "download_to",
        f"download_to must be a local path or an ObjectStoragePath (or its URI), got {type(value).__name__}",
    )


def _image_identity(source: object) -> object:
    """What tells one frame from another in a fingerprint, without reading files or URLs."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(source)).hexdigest()
    return None if source is None else str(getattr(source, "name", source))


def request_fingerprint(request: GenerationRequest) -> str:
    """A short digest of what was asked for: a stored task is resumed only for the same request."""
    asked = {"model": request.model, **request.options()}
    asked.update({name: _image_identity(getattr(request, name)) for name in IMAGE_PARAMETERS})
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stored_task_id(external_id: Any) -> tuple[str, str | None]:
    """``(gateway task id, request fingerprint)`` from what the task state store holds."""
    if isinstance(external_id, dict):
        return str(external_id.get(XCOM_TASK_ID_KEY)), external_id.get("request")
    return str(external_id), None


class HailuoImageToVideoOperator(ResumableJobMixin, BaseOperator):
    """Turn a still image (or a first and a last frame) into a video with MiniMax Hailuo 02.

    Every generation parameter is checked before the first request; the gateway task id is pushed
    to XCom (``hailuo_task_id``) as soon as the task exists; the wait happens in the triggerer when
    ``deferrable``; the return value is the result dict (see the README), with ``local_path`` when
    ``download_to`` is set. A retry of the task picks up the gateway task an earlier try created
    (Airflow 3.3+, through the task state store) instead of paying for a second video.

    :param first_frame_image: the first frame: http(s) URL, data URL, local path, bytes, file
        object, ObjectStoragePath or a URI such as ``s3://bucket/key.png``. Templated.
    :param last_frame_image: optional last frame, same forms. Templated.
    :param prompt: at most 2000 characters, with bracketed camera instructions. Templated.
    :param prompt_optimizer: let the gateway rewrite the prompt (its default: True). Templated.
    :param duration: 6 or 10 seconds (gateway default 6). Templated.
    :param resolution: "512P", "768P" or "1080P" (gateway default "768P"). Templated.
    :param callback_url: http(s) URL the gateway notifies of status changes. Templated.
    :param aigc_watermark: add the AI-generated watermark (gateway default False). Templated.
    :param fast_pretreatment: optional pass-through flag for Hailuo models. Templated.
    :param model: the model id. Templated.
    :param hailuo_conn_id: connection of type ``hailuo``.
    :param deferrable: wait in the triggerer, freeing the worker slot (default from
        ``[operators] default_deferrable``).
    :param poll_interval: seconds between polls.
    :param timeout: seconds to wait for the video before failing.
    :param wait_for_completion: False returns the gateway task id right after submitting.
    :param download_to: local path or ObjectStoragePath URI (a folder, or a file name) to stream
        the video to; the result then has ``local_path``. Templated.
    :param durable: resume the gateway task of an earlier try instead of submitting anew
        (Airflow 3.3+; ignored with a warning before).
    """

    template_fields: Sequence[str] = (*GENERATION_FIELDS, "download_to")
    operator_extra_links = (HailuoVideoLink(),)
    ui_color = "#f3e5ff"
    # Where the mixin keeps the gateway task id across tries; renaming it strands in-flight retries.
    external_id_key = XCOM_TASK_ID_KEY

    def __init__(
        self,
        *,
        first_frame_image: Any,
        last_frame_image: Any = None,
        prompt: str | None = None,
        prompt_optimizer: bool | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        callback_url: str | None = None,
        aigc_watermark: bool | None = None,
        fast_pretreatment: bool | None = None,
        model: str = DEFAULT_MODEL,
        hailuo_conn_id: str = "hailuo_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        wait_for_completion: bool = True,
        download_to: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.first_frame_image = first_frame_image
        self.last_frame_image = last_frame_image
        self.prompt = prompt
        self.prompt_optimizer = prompt_optimizer
        self.duration = duration
        self.resolution = resolution
        self.callback_url = callback_url
        self.aigc_watermark = aigc_watermark
        self.fast_pretreatment = fast_pretreatment
        self.model = model
        self.hailuo_conn_id = hailuo_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.wait_for_completion = wait_for_completion
        self.download_to = download_to
        if poll_interval <= 0:
            raise HailuoValidationError("poll_interval", f"poll_interval={poll_interval!r} must be positive")
        if timeout <= 0:
            raise HailuoValidationError("timeout", f"timeout={timeout!r} must be positive")
        if download_to is not None and not wait_for_completion:
            raise HailuoValidationError(
                "download_to", "download_to needs wait_for_completion=True: there is no video to download yet"
            )
        if not _is_template(download_to):
            check_destination(download_to)
        # Rendered templates come back as text; remember which values were templates (see execute).
        self._templated_fields = frozenset(
            name for name in GENERATION_FIELDS if _is_template(getattr(self, name))
        )
        self._request: GenerationRequest | None = None
        self._resumed_task: HailuoTask | None = None
        self._result: dict[str, Any] | None = None
        self._validate_literals()

    def _validate_literals(self) -> None:
        """Refuse at DAG-parse time what is already known to be wrong.

        Templated values stand in as "unset": the gateway's defaults (6 s, 768P, no last frame)
        are the most permissive choices of every table, so this never refuses a valid DAG.
        """
        literal: dict[str, Any] = {
            name: (None if name in self._templated_fields else getattr(self, name))
            for name in GENERATION_FIELDS
        }
        for name in IMAGE_PARAMETERS:
            if literal[name] is not None:
                check_source(literal[name], name)
        if literal["first_frame_image"] is None and "first_frame_image" not in self._templated_fields:
            raise HailuoValidationError("first_frame_image", "first_frame_image is required")
        literal["first_frame_image"] = literal["first_frame_image"] or "https://placeholder.invalid/frame.png"
        if literal["model"] is None:
            literal["model"] = DEFAULT_MODEL
        for warning in GenerationRequest(**literal).validate():
            self.log.warning("%s", warning)

    def generation_request(self) -> GenerationRequest:
        """The rendered parameters as a request (templates that rendered to text are read as such)."""
        values: dict[str, Any] = {
            name: _from_rendered_text(name, getattr(self, name))
            if name in self._templated_fields
            else getattr(self, name)
            for name in GENERATION_FIELDS
        }
        return GenerationRequest(**values)

    @cached_property
    def hook(self) -> HailuoHook:
        from airflow_provider_hailuo.hooks.hailuo import HailuoHook

        return HailuoHook(self.hailuo_conn_id)

    # -- execution -----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        # Checked again after rendering, before anything is sent (also covers mapped values);
        # the hook logs the warnings when it submits.
        self._request = self.generation_request()
        self._request.validate()
        check_destination(self.download_to)
        return self.execute_resumable(context)

    def submit_job(self, context: Context) -> Any:  # a JSON object: {"hailuo_task_id", "request"}
        """Create the gateway task; what is returned is what the task state store keeps."""
        if self._request is None:  # the mixin calls this from execute(), which sets it
            raise RuntimeError("submit_job called before execute")
        task_id = self.hook.submit(self._request)
        record_task_id(context, task_id)
        return {XCOM_TASK_ID_KEY: task_id, "request": request_fingerprint(self._request)}

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """The stored task's status, or a status that makes the mixin submit anew.

        A task made for other parameters (the task was cleared after its DAG changed, or a mapped
        index now holds another image) is not resumed, nor is one the gateway no longer knows.
        """
        task_id, fingerprint = _stored_task_id(external_id)
        if self._request is not None and fingerprint not in (None, request_fingerprint(self._request)):
            self.log.info(
                "An earlier try created Hailuo task %s for other parameters; not resuming it", task_id
            )
            return _SUPERSEDED
        try:
            self._resumed_task = self.hook.get_task(task_id)
        except HailuoNotFoundError:
            self.log.warning(
                "An earlier try created Hailuo task %s, which the gateway no longer knows", task_id
            )
            return _GONE
        self.log.info("An earlier try created Hailuo task %s; it is %s", task_id, self._resumed_task.status)
        return self._resumed_task.status

    def is_job_active(self, status: str) -> bool:
        return status not in _NOT_RESUMABLE

    def is_job_succeeded(self, status: str) -> bool:
        return status == STATUS_COMPLETED

    def poll_until_complete(self, external_id: Any, context: Context) -> Any:
        """Wait for the task: defer to the triggerer, or poll here. Returns the result when it has one."""
        task_id, _ = _stored_task_id(external_id)
        record_task_id(context, task_id)
        if not self.wait_for_completion:
            self.log.info("Not waiting for Hailuo task %s (wait_for_completion=False)", task_id)
            return task_id
        if self.deferrable:
            from airflow_provider_hailuo.triggers.hailuo import HailuoTaskTrigger

            self.defer(
                trigger=HailuoTaskTrigger(
                    hailuo_task_id=task_id,
                    hailuo_conn_id=self.hailuo_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=time.time() + self.timeout,
                ),
                method_name="execute_complete",
                # Airflow's own deadline is a backstop behind the trigger's end time, which fails
                # the task with a clearer message.
                timeout=timedelta(seconds=self.timeout + self.poll_interval + DEFERRAL_GRACE_SECONDS),
            )
        task = self.hook.wait_for_task(task_id, poll_interval=self.poll_interval, timeout=self.timeout)
        if not task.is_success:
            raise failure_error(task)
        self._result = complete(task, context, hook=self.hook, logger=self.log, download_to=self.download_to)
        return self._result

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        task_id, _ = _stored_task_id(external_id)
        if self._result is None:
            # Also reached straight from a resumed, completed task: XComs of earlier tries are gone.
            record_task_id(context, task_id)
        if not self.wait_for_completion:
            return task_id
        if self._result is None:
            task = self._resumed_task or self.hook.get_task(task_id)
            if not task.is_success:
                raise failure_error(task)
            self._result = complete(
                task, context, hook=self.hook, logger=self.log, download_to=self.download_to
            )
        return self._result

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: the result on success; an exception on anything else."""
        from airflow_provider_hailuo.triggers.hailuo import task_from_event

        task = task_from_event(event)
        return complete(task, context, hook=self.hook, logger=self.log, download_to=self.download_to)
