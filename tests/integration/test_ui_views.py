"""The video views in the Airflow UI: real DAG runs against the emulator, a real API server
serving the provider's plugin, and a real Chromium playing the videos (Airflow 3.1+).

On Airflow 2.11 and 3.0 the plugin registers nothing; the last test checks that.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_hailuo.emulator.server import EmulatorServer
from tests.airflow_versions import AIRFLOW_V_3_1_PLUS, EVERY_AIRFLOW
from tests.integration.airflow_ui import ApiServer, api_server, chromium, play, screenshot, sign_in
from tests.integration.support import REPO, load_dag, task_results

pytestmark = EVERY_AIRFLOW

ui_only = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="external views came with Airflow 3.1")
FAILURE_CODE = "010004095"
FAILURE_MESSAGE = "the first frame was rejected"


@dataclass
class Runs:
    server: ApiServer
    emulator: EmulatorServer
    gallery_run: str
    expired_run: str
    results: dict[tuple[str, int], tuple[str, Any]]
    expired_result: dict[str, Any]
    videos: Path

    def task_page(
        self, task_id: str, map_index: int = -1, *, run_id: str | None = None, dag_id: str = ""
    ) -> str:
        run = quote(run_id or self.gallery_run, safe="")
        return f"hailuo/dags/{dag_id or 'hailuo_ui_gallery'}/runs/{run}/tasks/{task_id}/{map_index}"


@pytest.fixture(scope="module")
def runs(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    videos = tmp_path_factory.mktemp("videos")
    with EmulatorServer(render_seconds=0.2) as emulator:
        connection = {
            "conn_type": "hailuo",
            "host": emulator.url,
            "password": emulator.api_key,
            "extra": {"retry_limit": 3, "retry_delay": 0.01},
        }
        previous = os.environ.get("AIRFLOW_CONN_HAILUO_DEFAULT")
        os.environ["AIRFLOW_CONN_HAILUO_DEFAULT"] = json.dumps(connection)
        try:
            # The first create of the run (the "rejected" task's) fails with the gateway's code.
            emulator.client.add_fault("task_failure", error_code=FAILURE_CODE, error_message=FAILURE_MESSAGE)
            gallery = load_dag("tests", "hailuo_ui_dags", "hailuo_ui_gallery").test(
                run_conf={"videos": str(videos)}
            )
            results = task_results(gallery)
            # Video URLs that have expired by the time anyone looks (the gateway's are temporary).
            emulator.client.configure(video_url_ttl_seconds=0)
            expired = load_dag("tests", "hailuo_ui_dags", "hailuo_ui_expired").test()
            emulator.client.configure(video_url_ttl_seconds=3600)
            expired_state, expired_result = task_results(expired)[("video", -1)]
            assert expired_state == "success"
            home = Path(os.environ["AIRFLOW_HOME"])
            with api_server(home, {"AIRFLOW__HAILUO__UI_VIDEO_FOLDERS": str(videos)}) as server:
                yield Runs(server, emulator, gallery.run_id, expired.run_id, results, expired_result, videos)
        finally:
            if previous is None:
                os.environ.pop("AIRFLOW_CONN_HAILUO_DEFAULT", None)
            else:
                os.environ["AIRFLOW_CONN_HAILUO_DEFAULT"] = previous


def result_of(runs: Runs, task_id: str, map_index: int = -1) -> dict[str, Any]:
    state, result = runs.results[(task_id, map_index)]
    assert state == "success", (task_id, map_index, state)
    assert isinstance(result, dict)
    return result


# -- over HTTP: registration, auth, what a page holds -------------------------------------------------


@ui_only
def test_the_api_server_lists_the_plugin_and_its_two_views(runs: Runs) -> None:
    plugins = runs.server.get("api/v2/plugins", "admin").json()["plugins"]
    hailuo = [plugin for plugin in plugins if plugin["name"] == "hailuo"]
    assert len(hailuo) == 1, plugins
    views = {view["destination"]: view for view in hailuo[0]["external_views"]}
    assert set(views) == {"task_instance", "dag_run"}
    assert views["task_instance"]["href"].endswith("/{TASK_ID}/{MAP_INDEX}")


@ui_only
def test_a_user_who_cannot_read_the_dag_gets_no_video(runs: Runs) -> None:
    for user, status in ((None, 401), ("outsider", 403)):
        for path in (
            runs.task_page("downloaded"),
            runs.task_page("downloaded") + "/video",
            f"hailuo/dags/hailuo_ui_gallery/runs/{quote(runs.gallery_run, safe='')}",
        ):
            response = runs.server.get(path, user)
            assert response.status_code == status, (user, path)
            assert "<video" not in response.text
            assert result_of(runs, "downloaded")["hailuo_task_id"] not in response.text
    assert runs.server.get(runs.task_page("downloaded"), "admin").status_code == 200
    # The refusal is the DAG's, not the user's: the outsider reads the DAG it may read.
    other = runs.task_page("video", run_id=runs.expired_run, dag_id="hailuo_ui_expired")
    response = runs.server.get(other, "outsider")
    assert response.status_code == 200
    assert runs.expired_result["hailuo_task_id"] in response.text


@ui_only
def test_a_long_gallery_is_paged_and_the_total_is_the_whole_runs(runs: Runs) -> None:
    gallery = f"hailuo/dags/hailuo_ui_gallery/runs/{quote(runs.gallery_run, safe='')}"
    whole = runs.server.get(gallery, "admin").text
    total = re.search(r'class="cost-total">([^<]+)<', whole)
    assert total is not None
    cards = []
    for page, shown, pager in ((1, 3, "Videos 1&ndash;3 of 4"), (2, 1, "Videos 4&ndash;4 of 4")):
        text = runs.server.get(f"{gallery}?page={page}&per_page=3", "admin").text
        assert text.count('class="card"') == shown
        assert pager in text
        assert ("?page=2&amp;per_page=3" in text) == (page == 1)  # next
        assert ("?page=1&amp;per_page=3" in text) == (page == 2)  # previous
        assert total.group(0) in text  # the run's total on every page
        # The failures and the tasks that never ran, on every page.
        assert 'data-task-id="rejected"' in text
        assert 'data-task-id="never_ran"' in text
        cards += re.findall(r'class="card" data-task-id="([^"]+)" data-map-index="([^"]+)"', text)
    assert sorted(cards) == [("downloaded", "-1"), ("mapped", "0"), ("mapped", "1"), ("streamed", "-1")]
    # Past the last page: the last page. One page: no pager.
    assert runs.server.get(f"{gallery}?page=9&per_page=3", "admin").text.count('class="card"') == 1
    assert 'class="pager"' not in whole
    # The sizes the README gives are the app's.
    from airflow_provider_hailuo.ui.app import GALLERY_MAX_PAGE_SIZE, GALLERY_PAGE_SIZE

    readme = " ".join((REPO / "README.md").read_text().split())
    assert (
        f"{GALLERY_PAGE_SIZE} videos to a page (the page's `per_page` parameter takes up to "
        f"{GALLERY_MAX_PAGE_SIZE})" in readme
    )
    assert runs.server.get(f"{gallery}?per_page={GALLERY_MAX_PAGE_SIZE + 1}", "admin").status_code == 422


@ui_only
def test_no_page_shows_the_api_key_or_a_data_url(runs: Runs) -> None:
    pages = [runs.task_page(task) for task in ("rejected", "downloaded", "streamed")]
    pages.append(f"hailuo/dags/hailuo_ui_gallery/runs/{quote(runs.gallery_run, safe='')}")
    for page in pages:
        text = runs.server.get(page, "admin").text
        assert runs.emulator.api_key not in text
        assert "data:image" not in text
        assert "base64" not in text


@ui_only
def test_the_downloaded_copy_is_served_with_ranges_and_nothing_else_is(runs: Runs) -> None:
    local_path = Path(result_of(runs, "downloaded")["local_path"])
    assert local_path.parent == runs.videos
    response = runs.server.get(
        runs.task_page("downloaded") + "/video", "admin", headers={"Range": "bytes=0-99"}
    )
    assert response.status_code == 206
    assert response.content == local_path.read_bytes()[:100]
    # Not downloaded: nothing on this machine to serve, whatever the path says.
    assert runs.server.get(runs.task_page("streamed") + "/video", "admin").status_code == 404


@ui_only
def test_a_task_that_made_no_video_says_so(runs: Runs) -> None:
    for task_id in ("no_such_task", "caption"):  # caption returns a dict: not a video for all that
        response = runs.server.get(runs.task_page(task_id), "admin")
        assert response.status_code == 200
        assert "made no Hailuo video" in response.text
        assert "<video" not in response.text


# -- in Chromium ---------------------------------------------------------------------------------


# What each task's view shows of its request (tests/dags/hailuo_ui_dags.py).
REQUEST_SHOWN = {
    "downloaded": ["A lighthouse at dusk [push in]", "6 s", "768P"],
    "streamed": ["Waves on the rocks", "1080P"],
}


@ui_only
@pytest.mark.parametrize("task_id", ["downloaded", "streamed"])
def test_the_task_view_plays_the_video_beside_its_facts(runs: Runs, task_id: str) -> None:
    """The downloaded copy from the API server; a video that was not downloaded, from the gateway."""
    result = result_of(runs, task_id)
    page_url = f"{runs.server.url}/{runs.task_page(task_id)}"
    with chromium() as driver:
        sign_in(driver, runs.server, "admin")
        driver.get(page_url)
        played = play(driver)
        assert played.get("error") is None, played
        assert played["duration"] > 0
        assert played["currentTime"] > 0
        assert played["src"] == (f"{page_url}/video" if task_id == "downloaded" else result["video_url"])
        assert driver.find_element("css selector", ".cost").text == f"${result['cost']}"
        assert driver.find_element("css selector", ".model").text == result["model"]
        page = driver.find_element("tag name", "body").text
        assert result["hailuo_task_id"] in page
        for shown in REQUEST_SHOWN[task_id]:
            assert shown in page
        screenshot(driver, f"task-view-{task_id}")


@ui_only
def test_an_expired_gateway_url_shows_the_notice_not_a_broken_player(runs: Runs) -> None:
    page = runs.task_page("video", run_id=runs.expired_run, dag_id="hailuo_ui_expired")
    with chromium() as driver:
        sign_in(driver, runs.server, "admin")
        driver.get(f"{runs.server.url}/{page}")
        assert driver.find_elements("css selector", "video") == []
        notice = driver.find_element("css selector", ".expired").text
        assert "expired" in notice
        assert "download_to" in notice
        screenshot(driver, "task-view-expired")


@ui_only
def test_each_map_index_has_its_own_view(runs: Runs) -> None:
    with chromium() as driver:
        sign_in(driver, runs.server, "admin")
        for map_index, prompt in ((0, "Gulls [pan left]"), (1, "Fog rolls in")):
            result = result_of(runs, "mapped", map_index)
            driver.get(f"{runs.server.url}/{runs.task_page('mapped', map_index)}")
            page = driver.find_element("tag name", "body").text
            assert prompt in page
            assert result["hailuo_task_id"] in page
            assert play(driver)["src"] == result["video_url"]


@ui_only
def test_the_run_view_shows_every_video_the_exact_total_the_failure_and_what_never_ran(runs: Runs) -> None:
    succeeded = [("downloaded", -1), ("streamed", -1), ("mapped", 0), ("mapped", 1)]
    costs = [Decimal(result_of(runs, task_id, index)["cost"]) for task_id, index in succeeded]
    with chromium() as driver:
        sign_in(driver, runs.server, "admin")
        driver.get(f"{runs.server.url}/hailuo/dags/hailuo_ui_gallery/runs/{quote(runs.gallery_run, safe='')}")
        cards = driver.find_elements("css selector", ".card")
        assert sorted(
            (card.get_attribute("data-task-id"), int(card.get_attribute("data-map-index"))) for card in cards
        ) == sorted(succeeded)
        assert Decimal(driver.find_element("css selector", ".cost-total").text.removeprefix("$")) == sum(
            costs
        )
        failure = driver.find_element("css selector", ".failure").text
        assert "rejected" in failure
        assert FAILURE_CODE in failure
        assert FAILURE_MESSAGE in failure
        # A Hailuo task whose upstream failed is neither a card nor a gateway failure.
        (not_run,) = driver.find_elements("css selector", ".not-run")
        assert (not_run.get_attribute("data-task-id"), not_run.text) == (
            "never_ran",
            "never_ran: upstream failed, so no video was made",
        )
        links = [card.find_element("css selector", "a").get_attribute("href") for card in cards]
        assert (
            f"/dags/hailuo_ui_gallery/runs/{quote(runs.gallery_run, safe='')}/tasks/mapped/mapped/1"
            in " ".join(links)
        )
        assert play(driver, ".card video").get("error") is None
        screenshot(driver, "run-view")


@ui_only
def test_the_airflow_ui_shows_the_views_in_their_tabs(runs: Runs) -> None:
    """The views as a user finds them: the UI's own pages, the plugin in its frame."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    run = quote(runs.gallery_run, safe="")
    tasks = f"dags/hailuo_ui_gallery/runs/{run}/tasks"
    with chromium() as driver:
        sign_in(driver, runs.server, "admin")
        for page, name, video_url in (
            (f"{tasks}/downloaded/plugin/hailuo-video", "ui-task-tab", None),
            # A mapped task instance's own page: the tab shows that map index's video.
            (
                f"{tasks}/mapped/mapped/1/plugin/hailuo-video",
                "ui-mapped-task-tab",
                result_of(runs, "mapped", 1)["video_url"],
            ),
            (f"dags/hailuo_ui_gallery/runs/{run}/plugin/hailuo-videos", "ui-run-tab", None),
        ):
            driver.get(f"{runs.server.url}/{page}")
            WebDriverWait(driver, 60).until(
                expected_conditions.frame_to_be_available_and_switch_to_it(("css selector", "iframe"))
            )
            WebDriverWait(driver, 60).until(lambda d: d.find_elements("css selector", "video"))
            if video_url is not None:
                sources = [
                    video.get_attribute("src") for video in driver.find_elements("css selector", "video")
                ]
                assert sources == [video_url], page
            driver.switch_to.default_content()
            screenshot(driver, name)
        # In the run's tab, a task's link opens that task's page in the UI (the frame may not
        # navigate the page itself: the UI's router is told instead).
        driver.switch_to.frame(driver.find_element("css selector", "iframe"))
        driver.find_element("css selector", '.card[data-task-id="streamed"] a').click()
        driver.switch_to.default_content()
        WebDriverWait(driver, 60).until(lambda d: d.current_url.endswith(f"/runs/{run}/tasks/streamed"))


@ui_only
def test_in_the_browser_an_outsider_sees_a_refusal_and_no_video(runs: Runs) -> None:
    with chromium() as driver:
        sign_in(driver, runs.server, "outsider")
        driver.get(f"{runs.server.url}/{runs.task_page('downloaded')}")
        assert driver.find_elements("css selector", "video") == []
        assert "may not see this DAG's Hailuo videos" in driver.find_element("css selector", ".refused").text
        screenshot(driver, "task-view-refused")


@ui_only
def test_a_gateway_link_that_stops_working_early_says_so(runs: Runs) -> None:
    """Not every URL says when it expires: a player whose source fails shows the notice too."""
    from selenium.webdriver.support.ui import WebDriverWait

    # The object store's answer to a link it no longer honours, to every request the player sends.
    runs.emulator.client.add_fault("status", target="download", http_status=403, times=1000)
    try:
        with chromium() as driver:
            sign_in(driver, runs.server, "admin")
            driver.get(f"{runs.server.url}/{runs.task_page('streamed')}")
            notice = driver.find_element("css selector", "#notice")
            WebDriverWait(driver, 60).until(lambda _: notice.is_displayed())
            assert "no longer works" in notice.text
            assert "download_to" in notice.text
    finally:
        runs.emulator.client.clear_faults()


@pytest.mark.skipif(AIRFLOW_V_3_1_PLUS, reason="Airflow 3.1+ shows the views (tested above)")
def test_before_airflow_3_1_the_plugin_registers_nothing() -> None:
    from airflow_provider_hailuo.ui.plugin import HailuoViewsPlugin

    assert HailuoViewsPlugin.external_views == []
    assert HailuoViewsPlugin.fastapi_apps == []
