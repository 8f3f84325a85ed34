"""Servers and a browser for the page in web/ (docs/browser.md).

The page and TF Serving must be two origins, as in real use: the page comes from a static
server on one port, the emulator answers REST on another. Two emulators serve the same
trained model, one with ``--rest_api_enable_cors_support=true`` and one without it.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# importlib import mode does not add test folders to sys.path: make web_harness importable.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from web_harness import CORS_FLAG, MODEL_NAME, REPO_ROOT, WEB_DIR, Server, emulator  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def model_base(tmp_path_factory) -> Path:
    """$MODEL_BASE_DIR/MMModel with version 1, trained and exported by step 2 (seed 1)."""
    base_dir = tmp_path_factory.mktemp("trained_models")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MODEL_BASE_DIR": str(base_dir)}
    done = subprocess.run(
        [sys.executable, "02_train_and_export.py", "--plot", str(base_dir / "fit.png")],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return base_dir / MODEL_NAME


@pytest.fixture(scope="session")
def cors_server(model_base, tmp_path_factory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("cors_server") / "server.log"
    with emulator(model_base, [CORS_FLAG], log) as server:
        yield server


@pytest.fixture(scope="session")
def plain_server(model_base, tmp_path_factory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("plain_server") / "server.log"
    with emulator(model_base, [], log) as server:
        yield server


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass  # one line per file on stderr would only clutter the test output


@pytest.fixture(scope="session")
def page_url() -> Iterator[str]:
    """web/index.html from a static server on its own port: another origin than TF Serving."""
    handler = functools.partial(_QuietHandler, directory=str(WEB_DIR))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by selenium; skipped where Chromium is not installed."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.skip(
            f"the browser test needs Chromium: {', '.join(missing)} not found (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,1400"):
        options.add_argument(argument)
    # The console keeps the browser's own reason for a refusal ("blocked by CORS policy").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
