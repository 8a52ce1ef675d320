"""The Hailuo operators a DAG uses: image to video and text to video.

They differ in their generation parameters only; everything else (validation, durable create,
quota waits, run cap, waiting in the triggerer, delivery, lineage) is ``HailuoVideoOperator``'s.
Kept cheap to import (see ``base.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_hailuo.gateway.models import DEFAULT_MODEL, DEFAULT_TEXT_MODEL, Kind
from airflow_provider_hailuo.operators.arguments import GENERATION_FIELDS
from airflow_provider_hailuo.operators.base import HailuoVideoOperator

__all__ = [
    "GENERATION_FIELDS",
    "HailuoImageToVideoOperator",
    "HailuoTextToVideoOperator",
    "HailuoVideoOperator",
]

TEXT_FIELDS: tuple[str, ...] = tuple(
    name for name in GENERATION_FIELDS if name not in ("first_frame_image", "last_frame_image")
)


class HailuoImageToVideoOperator(HailuoVideoOperator):
    """Turn a still image (or a first and a last frame) into a video with a Hailuo image-to-video
    model: Hailuo 02 (the default), Hailuo 2.3 or Hailuo 2.3 Fast.

    Every generation parameter is checked before the first request; the gateway task id is pushed
    to XCom (``hailuo_task_id``) as soon as the task exists; the wait happens in the triggerer when
    ``deferrable``; the return value is the result dict (see the README), with ``local_path`` when
    ``download_to`` is set. A retry of the task picks up the gateway task an earlier try created
    (Airflow 3.3+, through the task state store) instead of paying for a second video.

    :param first_frame_image: the first frame: http(s) URL, data URL, local path, bytes, file
        object, ObjectStoragePath or a URI such as ``s3://bucket/key.png``. Templated.
    :param last_frame_image: optional last frame, same forms (Hailuo 02 only). Templated.
    :param prompt: at most 2000 characters, with bracketed camera instructions. Templated.
    :param prompt_optimizer: let the gateway rewrite the prompt (its default: True). Templated.
    :param duration: 6 or 10 seconds (gateway default 6). Templated.
    :param resolution: "512P" (Hailuo 02 only), "768P" or "1080P" (gateway default "768P"); each
        model's pairs with the duration are in the README. Templated.
    :param callback_url: http(s) URL the gateway notifies of status changes (Hailuo 02 only).
        Templated.
    :param aigc_watermark: add the AI-generated watermark (gateway default False). Templated.
    :param fast_pretreatment: shorten the prompt optimizer's work (Hailuo 2.3 models). Templated.
    :param model: ``minimax_hailuo_02_i2v`` (default), ``minimax_hailuo_23_i2v`` or
        ``minimax_hailuo_23_fast_i2v``. Templated.
    :param hailuo_conn_id: connection of type ``hailuo``.
    :param deferrable: wait in the triggerer, freeing the worker slot (default from
        ``[operators] default_deferrable``).
    :param poll_interval: seconds (or a ``timedelta``) between polls.
    :param timeout: seconds (or a ``timedelta``) to wait for the video before failing.
    :param wait_for_completion: False returns the gateway task id right after submitting.
    :param download_to: local path or ObjectStoragePath URI (a folder, or a file name) to stream
        the video to; the result then has ``local_path``. Templated.
    :param durable: resume the gateway task of an earlier try instead of submitting anew
        (every supported Airflow: the task state store on 3.3+, an Airflow Variable before).
    :param max_quota_wait: seconds (or a ``timedelta``) a create the gateway refused for its quota
        (429, 503, in its own error body) may wait and be sent again, counted from the first refusal
        and never longer than ``timeout``; the wait happens in the triggerer when ``deferrable``. 0 fails the task once the connection's
        own retries of the refusal run out.
    :param max_cost_usd: refuse, before sending anything, a video whose estimated cost (from the
        connection's ``price_table`` extra) is over this many US dollars, or has no price there.
    :param max_run_cost_usd: refuse, before sending anything, a video that would take what this
        DAG run's Hailuo tasks have committed (estimates until their actual costs are known) over
        this many US dollars; unset, the DAG param ``hailuo_max_run_cost_usd`` applies, if any.
    :param dry_run: validate and resolve everything (the connection, the frames, the estimate, the
        caps), log the request and its estimate, return a result with ``dry_run: True``; nothing
        is sent to the gateway.
    """

    template_fields: Sequence[str] = (*GENERATION_FIELDS, "download_to")
    video_kind: ClassVar[Kind] = Kind.IMAGE_TO_VIDEO

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
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, **kwargs)
        self.first_frame_image = first_frame_image
        self.last_frame_image = last_frame_image
        self.prompt = prompt
        self.prompt_optimizer = prompt_optimizer
        self.duration = duration
        self.resolution = resolution
        self.callback_url = callback_url
        self.aigc_watermark = aigc_watermark
        self.fast_pretreatment = fast_pretreatment
        self._arguments_set()


class HailuoTextToVideoOperator(HailuoVideoOperator):
    """Make a video from a prompt alone with a Hailuo text-to-video model.

    Everything but the frames works as in :class:`HailuoImageToVideoOperator`: deferrable, resumed
    by a retry, quota waits, cost caps, dry run, downloads, lineage, metrics, asset events and the
    UI's video view; the result dict is the same.

    :param prompt: required: at most 2000 characters, with bracketed camera instructions. Templated.
    :param model: ``minimax_hailuo_23_t2v`` (the default) or ``minimax_hailuo_02_t2v``. Templated.
    :param prompt_optimizer: let the gateway rewrite the prompt (its default: True). Templated.
    :param duration: 6 or 10 seconds (gateway default 6). Templated.
    :param resolution: "768P" or "1080P" at 6 s, "768P" at 10 s (gateway default "768P"). Templated.
    :param callback_url: http(s) URL the gateway notifies (``minimax_hailuo_23_t2v`` only). Templated.
    :param aigc_watermark: add the AI-generated watermark (gateway default False). Templated.
    :param fast_pretreatment: shorten the prompt optimizer's work. Templated.

    The other parameters (``hailuo_conn_id`` to ``dry_run``) are the image operator's.
    """

    template_fields: Sequence[str] = (*TEXT_FIELDS, "download_to")
    video_kind: ClassVar[Kind] = Kind.TEXT_TO_VIDEO

    def __init__(
        self,
        *,
        prompt: str,
        prompt_optimizer: bool | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        callback_url: str | None = None,
        aigc_watermark: bool | None = None,
        fast_pretreatment: bool | None = None,
        model: str = DEFAULT_TEXT_MODEL,
        **kwargs: Any,
    ) -> None:
        super().__init__(model=model, **kwargs)
        self.prompt = prompt
        self.prompt_optimizer = prompt_optimizer
        self.duration = duration
        self.resolution = resolution
        self.callback_url = callback_url
        self.aigc_watermark = aigc_watermark
        self.fast_pretreatment = fast_pretreatment
        self._arguments_set()
