"""An operator killed once (SIGKILL, as the OOM killer would) at a chosen point of a video's life.

Shared by the crash-point DAGs of the end-to-end suite (Airflow 3.3 processes) and of the
integration suite (Airflow CLI processes on every supported version).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, NoReturn

from airflow_provider_hailuo.hooks import download
from airflow_provider_hailuo.operators.hailuo import HailuoImageToVideoOperator
from airflow_provider_hailuo.operators.submission import DurableSubmission

# The points, in the order a video lives through them.
AFTER_CREATE = "after_create"  # the create's answer read, its id not yet recorded
AFTER_RECORD = "after_record"  # the id recorded, nothing else done
POLLING = "polling"  # waiting for the render (in the worker)
MID_DOWNLOAD = "mid_download"  # half of the video written
AFTER_DOWNLOAD = "after_download"  # the video in place, the result not yet returned


def _die(marker: Path) -> NoReturn:
    """As the OOM killer would: no exception, no finally blocks, no goodbye to Airflow."""
    marker.touch()
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


class CrashOnceOperator(HailuoImageToVideoOperator):
    """The real operator, killed once at ``params.crash_at`` (the marker file says "done")."""

    def execute(self, context: Any) -> Any:
        marker = Path(context["params"]["marker"])
        if not marker.exists():
            self._arm(context["params"]["crash_at"], marker)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        marker = Path(context["params"]["marker"])
        if not marker.exists():
            self._arm(context["params"]["crash_at"], marker)
        return super().execute_complete(context, event, **kwargs)  # the run-cap commitment too

    def _arm(self, point: str, marker: Path) -> None:
        hook = self.hook
        if point == AFTER_CREATE:
            create_task = hook.create_task

            def created_then_killed(body: dict[str, Any], **kwargs: Any) -> str:
                create_task(body, **kwargs)
                _die(marker)

            hook.create_task = created_then_killed  # type: ignore[method-assign]
        elif point == AFTER_RECORD:
            submit = DurableSubmission.submit

            def recorded_then_killed(submission: DurableSubmission, *args: Any, **kwargs: Any) -> str:
                submit(submission, *args, **kwargs)  # created, and its id recorded
                _die(marker)

            DurableSubmission.submit = recorded_then_killed  # type: ignore[method-assign]
        elif point == POLLING:
            get_task = hook.get_task

            def polled_then_killed(task_id: str, **kwargs: Any) -> Any:
                get_task(task_id, **kwargs)
                _die(marker)

            hook.get_task = polled_then_killed  # type: ignore[method-assign]
        elif point == MID_DOWNLOAD:
            write_complete = download._write_complete

            def half_written_then_killed(response: Any, target: Any, shown: str) -> Any:
                chunks = response.iter_content

                def first_half(size: int) -> Any:
                    data = b"".join(chunks(size))
                    yield data[: len(data) // 2]
                    _die(marker)

                response.iter_content = first_half
                return write_complete(response, target, shown)

            download._write_complete = half_written_then_killed  # type: ignore[assignment]
        elif point == AFTER_DOWNLOAD:
            download_task_videos = hook.download_task_videos

            def downloaded_then_killed(*args: Any) -> list[Any]:
                download_task_videos(*args)
                _die(marker)

            hook.download_task_videos = downloaded_then_killed  # type: ignore[method-assign]
        else:
            raise ValueError(f"unknown crash point {point!r}")


CRASH_POINTS = (AFTER_CREATE, AFTER_RECORD, POLLING, MID_DOWNLOAD, AFTER_DOWNLOAD)
