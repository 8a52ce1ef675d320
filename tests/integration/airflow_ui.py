"""A real Airflow API server (with its UI) for the UI view tests, and a real Chromium to look at it.

The server is ``airflow api-server`` in a child process on this test session's metadata database
(the runs ``dag.test()`` made), with the simple auth manager and known passwords. The browser is
Debian's ``chromium`` driven by its ``chromedriver`` through Selenium; without them the tests
fail saying so (``make browser`` installs them), rather than pass with nothing looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.support import free_port

REPO = Path(__file__).resolve().parents[2]
PASSWORDS = {"admin": "admin-password", "outsider": "outsider-password"}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def token(self, user: str) -> str:
        response = requests.post(
            f"{self.url}/auth/token", json={"username": user, "password": PASSWORDS[user]}, timeout=30
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def get(self, path: str, user: str | None = None, **kwargs: Any) -> requests.Response:
        cookies = {"_token": self.token(user)} if user else {}
        return requests.get(f"{self.url}/{path.lstrip('/')}", cookies=cookies, timeout=60, **kwargs)


@contextmanager
def api_server(home: Path, env: dict[str, str]) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free port, ready to answer, stopped afterwards."""
    port = free_port()
    passwords = home / "ui-test-passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    log = home / "api-server.log"
    server_env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.integration.ui_auth.OneUserLockedOutAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,outsider:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "ui-test-secret-ui-test-secret-ui-test",
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--workers", "1"],
            env=server_env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 240
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the API server exited:\n{log.read_text()[-4000:]}")
            try:
                if requests.get(f"{server.url}/api/v2/version", timeout=5).status_code < 500:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not answer in 240 s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def require_browser() -> None:
    """Fail, naming what is missing, when there is no Chromium to drive."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        pytest.fail(
            f"no browser for the UI tests: {', '.join(missing)} not found. Install Debian's chromium "
            "and chromium-driver (`make browser`, as root) and run again.",
            pytrace=False,
        )


@contextmanager
def chromium(window: tuple[int, int] = (1400, 1000)) -> Iterator[Any]:
    """A headless Chromium under Selenium, through the system's chromedriver (no download)."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory(prefix="hailuo-chromium-") as profile:
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--autoplay-policy=no-user-gesture-required",
            f"--window-size={window[0]},{window[1]}",
            # A closed network (CI's): without these, Chromium keeps reaching for Google's hosts
            # (updates, sync, QUIC) and each attempt waits on a refusal or a lookup.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            # A profile of its own: nothing left by another run, nor shared with a suite beside it.
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def sign_in(driver: Any, server: ApiServer, user: str | None) -> None:
    """Give the browser the session cookie the UI's login would set (or none)."""
    driver.get(f"{server.url}/api/v2/version")
    driver.delete_all_cookies()
    if user:
        driver.add_cookie({"name": "_token", "value": server.token(user), "path": "/"})


PLAY_SCRIPT = """
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
const video = document.querySelector(selector);
if (!video) { done({error: "no video element"}); return; }
video.muted = true;
const report = () => done({
  duration: video.duration, currentTime: video.currentTime, error: video.error && video.error.code,
  src: video.currentSrc,
});
video.play().then(() => {
  const check = () => (video.currentTime > 0 ? report() : setTimeout(check, 100));
  check();
}).catch((error) => done({error: String(error), src: video.currentSrc}));
"""


def play(driver: Any, selector: str = "video") -> dict[str, Any]:
    """Play the page's video to its first frames; its duration, position and source, or its error."""
    driver.set_script_timeout(60)
    result: dict[str, Any] = driver.execute_async_script(PLAY_SCRIPT, selector)
    return result


def screenshot(driver: Any, name: str) -> Path:
    """Saved as a test artefact: under $HAILUO_TEST_RESULTS/screenshots, else test-results/screenshots."""
    root = Path(os.environ.get("HAILUO_TEST_RESULTS") or REPO / "test-results") / "screenshots"
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
