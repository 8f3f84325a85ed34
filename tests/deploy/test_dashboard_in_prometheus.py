"""deploy/grafana: every dashboard query runs on a real Prometheus that scrapes the emulator.

test_grafana_dashboard.py reads the queries with regular expressions; this runs them. A
`prometheus` binary (Debian: `apt-get install prometheus`) scrapes the emulator every second
with deploy/prometheus.yml's job (only the target and the interval changed), while SENT is
sent twice, so every counter has grown between two scrapes and `rate()` has something to
measure. Each panel query must then parse, return series with exactly the labels its
`by (...)` keeps, and give the values the requests imply. Skipped without the binary.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml
from dashboard_queries import DEPLOY, MODEL_NAME, by_labels, dashboard_targets, with_variables
from dashboard_traffic import SENT, emulator_with_deploy_config, send_all

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary on PATH")
# Long enough for TensorFlow start-up and a scrape on 2 busy cores; a wait, not a measurement.
WAIT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return
        time.sleep(0.2)
    state = "has exited" if process.poll() is not None else "is still running"
    raise AssertionError(f"Prometheus never showed {what} (it {state}):\n{log.read_text()}")


class PromApi:
    def __init__(self, port: int):
        self.root = f"http://127.0.0.1:{port}"
        self.url = f"{self.root}/api/v1"

    def ready(self) -> bool:
        """/-/ready answers 200 once the TSDB is open; before that queries get a 503 page."""
        try:
            return requests.get(f"{self.root}/-/ready", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def query(self, expr: str) -> list[dict]:
        reply = requests.get(f"{self.url}/query", params={"query": expr}, timeout=30).json()
        assert reply["status"] == "success", (expr, reply)
        return reply["data"]["result"]

    def value(self, expr: str) -> float | None:
        try:
            result = self.query(expr)
        except (requests.RequestException, ValueError, AssertionError):
            return None
        return float(result[0]["value"][1]) if result else None


def prometheus_config(target_port: int) -> str:
    """deploy/prometheus.yml, scraping the emulator every second."""
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{target_port}"]}]
    return yaml.safe_dump(config)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """(PromApi, version directory) once Prometheus has scraped both rounds of SENT."""
    tmp = tmp_path_factory.mktemp("prometheus")
    counted = sum(sent.counted for sent in SENT)
    with emulator_with_deploy_config(tmp) as (server, version_dir):
        (tmp / "prometheus.yml").write_text(prometheus_config(server.rest_port), encoding="utf-8")
        port = free_port()
        log_path = tmp / "prometheus.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={tmp / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            api = PromApi(port)
            wait_for(api.ready, "/-/ready", process, log_path)
            wait_for(
                lambda: api.value('up{job="tfserving"}') == 1, "the emulator's target up", process, log_path
            )
            for round_ in (1, 2):
                send_all(server)
                wait_for(
                    lambda r=round_: api.value("sum(:tensorflow:serving:request_count)") == r * counted,
                    f"round {round_} of the requests",
                    process,
                    log_path,
                )
            yield api, version_dir
        finally:
            process.terminate()
            process.wait(timeout=30)


def panel_expr(dashboard: dict, title: str) -> list[str]:
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    return [with_variables(t["expr"]) for t in panel["targets"]]


def test_every_panel_query_returns_series_with_the_labels_it_keeps(dashboard, prometheus):
    api, _ = prometheus
    for target in dashboard_targets(dashboard):
        expr = with_variables(target["expr"])
        result = api.query(expr)
        assert result, f"no series for {expr}"
        for series in result:
            labels = series["metric"]
            missing = (by_labels(expr) - {"le"}) - set(labels)
            # Prometheus stores no label whose value is empty: the API="" of REST GETs.
            assert missing <= {"API"}, (expr, labels)
            assert not missing or labels["entrypoint"] == "REST", (expr, labels)
            value = float(series["value"][1])
            assert math.isfinite(value) and value > 0, (expr, series)


def test_requests_by_status_shows_each_status_of_the_selected_model(dashboard, prometheus):
    api, _ = prometheus
    (expr,) = panel_expr(dashboard, "Requests per second by status")
    statuses = {(s["metric"]["model_name"], s["metric"]["status"]) for s in api.query(expr)}
    assert statuses == {(s.model_name, s.status) for s in SENT if s.counted and s.model_name == MODEL_NAME}


def test_failed_share_is_between_none_and_all(dashboard, prometheus):
    api, _ = prometheus
    (expr,) = panel_expr(dashboard, "Failed requests (share of all)")
    ((series),) = api.query(expr)
    assert series["metric"] == {"model_name": MODEL_NAME}
    assert 0 < float(series["value"][1]) < 1


def test_latency_percentiles_are_ordered(dashboard, prometheus):
    api, _ = prometheus
    p50, p95, p99 = (
        {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in api.query(expr)}
        for expr in panel_expr(dashboard, "Request latency p50 / p95 / p99")
    )
    # One series per successful (model, API, entrypoint) of SENT.
    timed = {
        (s.api, s.entrypoint) for s in SENT if s.counted and s.status == "OK" and s.model_name == MODEL_NAME
    }
    assert {(dict(key).get("API", ""), dict(key)["entrypoint"]) for key in p50} == timed
    for key in p50:
        assert 0 < p50[key] <= p95[key] <= p99[key]


def test_load_panels_show_the_one_successful_load(dashboard, prometheus):
    api, version_dir = prometheus
    (load_time,) = panel_expr(dashboard, "SavedModel load time per version")
    ((series),) = api.query(load_time)
    assert series["metric"] == {"model_path": str(version_dir)}
    direct = api.value(f':tensorflow:cc:saved_model:load_latency{{model_path="{version_dir}"}}')
    assert float(series["value"][1]) == direct > 0  # one attempt: the mean is the total
    (attempts,) = panel_expr(dashboard, "SavedModel load attempts")
    assert [(s["metric"], s["value"][1]) for s in api.query(attempts)] == [
        ({"model_path": str(version_dir), "status": "success"}, "1")
    ]


def test_model_variable_lists_every_model_that_was_asked_for(dashboard, prometheus):
    api, _ = prometheus
    (variable,) = dashboard["templating"]["list"]
    assert variable["definition"] == "label_values(:tensorflow:serving:request_count, model_name)"
    reply = requests.get(
        f"{api.url}/label/model_name/values",
        params={"match[]": ":tensorflow:serving:request_count"},
        timeout=30,
    ).json()
    assert reply["data"] == sorted({s.model_name for s in SENT if s.counted})
