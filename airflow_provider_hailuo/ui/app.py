"""The FastAPI app the API server mounts at ``/hailuo``: the pages the UI shows in its iframes.

Every route needs read access to the DAG's XComs, checked by Airflow's own auth dependency
against the DAG in the path: a user who cannot read a DAG sees none of its videos (an HTML
refusal, since the page shows in the UI's frame). The pages show no API key (they never read a
connection) and no frame (the request summary leaves the frames out).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from airflow_provider_hailuo.gateway.defaults import CONFIG_SECTION
from airflow_provider_hailuo.ui.queries import run_records
from airflow_provider_hailuo.ui.records import VideoRecord, cost_total

# The Airflow config option naming the folders whose videos the API server may serve.
CONFIG_VIDEO_FOLDERS = "ui_video_folders"

TASK_PAGE = "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/{map_index}"
RUN_PAGE = "/dags/{dag_id}/runs/{run_id}"
# Cards on one page of the run view: a batch of thousands is paged, not one page of players.
GALLERY_PAGE_SIZE = 48
GALLERY_MAX_PAGE_SIZE = 500

_pages = Environment(
    loader=PackageLoader("airflow_provider_hailuo.ui", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def video_folders() -> list[Path]:
    from airflow.configuration import conf

    value = conf.get(CONFIG_SECTION, CONFIG_VIDEO_FOLDERS, fallback="") or ""
    return [Path(part.strip()) for part in value.split(",") if part.strip()]


def parse_map_index(value: str) -> int:
    """The UI fills ``{MAP_INDEX}`` for mapped task instances only (it stays as written otherwise)."""
    try:
        return int(value)
    except ValueError:
        return -1


def ui_base_path() -> str:
    """The path the Airflow UI is served under (``[api] base_url``), ending in ``/``."""
    from airflow.configuration import conf

    path = urlsplit(conf.get("api", "base_url", fallback="") or "").path
    return path.rstrip("/") + "/"


def task_ui_path(dag_id: str, run_id: str, record: VideoRecord) -> str:
    """The task instance's page in the Airflow UI, for the gallery's links."""
    path = f"{ui_base_path()}dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(record.task_id, safe='')}"
    return path + (f"/mapped/{record.map_index}" if record.map_index >= 0 else "")


def _render(template: str, status_code: int = 200, **values: object) -> HTMLResponse:
    return HTMLResponse(_pages.get_template(template).render(**values), status_code=status_code)


ReadXComs = Depends(requires_access_dag("GET", DagAccessEntity.XCOM))


def create_app() -> FastAPI:
    app = FastAPI(title="Hailuo videos", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        # Shown inside the UI's frame: a sentence, not a JSON body.
        return _render("refused.html", exc.status_code, http_status=exc.status_code, detail=exc.detail)

    @app.get(TASK_PAGE, response_class=HTMLResponse, dependencies=[ReadXComs])
    def task_view(
        dag_id: str, run_id: str, task_id: str, map_index: str, session: SessionDep
    ) -> HTMLResponse:
        index = parse_map_index(map_index)
        records = run_records(session, dag_id, run_id, task_id=task_id, map_index=index)
        record = records[0] if records else None
        now = datetime.now(tz=UTC)
        return _render(
            "task.html",
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=index,
            record=record,
            source=record.source(video_folders(), now) if record else None,
            video_path=f"{quote(str(index), safe='')}/video",
        )

    @app.get(TASK_PAGE + "/video", dependencies=[ReadXComs])
    def task_video(
        dag_id: str, run_id: str, task_id: str, map_index: str, session: SessionDep
    ) -> FileResponse:
        records = run_records(session, dag_id, run_id, task_id=task_id, map_index=parse_map_index(map_index))
        path = records[0].servable_path(video_folders()) if records else None
        if path is None:
            raise HTTPException(404, "No downloaded copy of this task's video is served here.")
        # FileResponse answers Range requests, which a browser's video element sends to seek.
        return FileResponse(path, media_type="video/mp4")

    @app.get(RUN_PAGE, response_class=HTMLResponse, dependencies=[ReadXComs])
    def run_view(
        dag_id: str,
        run_id: str,
        session: SessionDep,
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=GALLERY_MAX_PAGE_SIZE)] = GALLERY_PAGE_SIZE,
    ) -> HTMLResponse:
        records = run_records(session, dag_id, run_id)
        total, priced = cost_total(records)  # the whole run's, whatever the page
        videos = [record for record in records if not record.failed and not record.not_run]
        pages = max(1, -(-len(videos) // per_page))
        page = min(page, pages)
        first = (page - 1) * per_page
        now = datetime.now(tz=UTC)
        folders = video_folders()
        run_segment = quote(run_id, safe="")
        return _render(
            "run.html",
            dag_id=dag_id,
            run_id=run_id,
            videos=[
                (
                    record,
                    record.source(folders, now),
                    f"{run_segment}/tasks/{quote(record.task_id, safe='')}/{record.map_index}",
                    task_ui_path(dag_id, run_id, record),
                )
                for record in videos[first : first + per_page]
            ],
            paging={
                "page": page,
                "pages": pages,
                "first": first + 1,
                "last": min(first + per_page, len(videos)),
                "count": len(videos),
                # Only a size other than the default is carried in the links.
                "size": "" if per_page == GALLERY_PAGE_SIZE else f"&per_page={per_page}",
            },
            failures=[(record, task_ui_path(dag_id, run_id, record)) for record in records if record.failed],
            not_run=[(record, task_ui_path(dag_id, run_id, record)) for record in records if record.not_run],
            cost_total=total,
            priced=priced,
        )

    return app
