"""deploy/grafana: the provisioned dashboard reads series TF Serving really exports.

No Docker here, so the dashboard is checked against the emulator instead: it is started
with deploy/monitoring.config, sent a known list of requests (some fail), and its metrics
page is parsed with prometheus_client. Every series any panel query selects must then be
on that page, with the type (counter or histogram) and the labels the query uses, and
with the counts the requests sent imply. The provisioning files are checked against
each other and against docker-compose.yml.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml
from dashboard_queries import (
    DASHBOARD_FILE,
    DEPLOY,
    GRAFANA,
    HISTOGRAM_SUFFIXES,
    LEGEND_LABEL,
    MODEL_NAME,
    Selector,
    by_labels,
    dashboard_targets,
    selectors,
    variable_queries,
    with_variables,
)
from dashboard_traffic import METRICS_PATH, SENT, emulator_with_deploy_config, send_all
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families


def test_selector_extraction_reads_names_matchers_and_by_labels():
    expr = (
        'sum by (model_name, status) (rate(:tensorflow:serving:request_count{model_name=~"M.*",'
        'status!="OK"}[$__rate_interval])) / sum(:tensorflow:cc:saved_model:load_latency)'
    )
    assert selectors(expr) == [
        Selector(":tensorflow:serving:request_count", (("model_name", "=~", "M.*"), ("status", "!=", "OK"))),
        Selector(":tensorflow:cc:saved_model:load_latency", ()),
    ]
    assert by_labels(expr) == {"model_name", "status"}
    selector = selectors(expr)[0]
    assert selector.matches({"model_name": "MMModel", "status": "NOT_FOUND"})
    assert not selector.matches({"model_name": "MMModel", "status": "OK"})
    assert not selector.matches({"model_name": "xMMModel", "status": "NOT_FOUND"})  # anchored


# ---------------------------------------------------------------------------
# The emulator, started with deploy/monitoring.config and sent known requests
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scraped(tmp_path_factory) -> dict:
    """The metrics page after SENT: its text and its families, parsed by prometheus_client."""
    with emulator_with_deploy_config(tmp_path_factory.mktemp("models")) as (server, version_dir):
        send_all(server)
        page = requests.get(server.rest_url + METRICS_PATH, timeout=60)
    assert page.status_code == 200
    return {
        "text": page.text,
        "families": list(text_string_to_metric_families(page.text)),
        "path": version_dir,
    }


def exposed(scraped: dict, name: str) -> tuple[str, list[tuple[dict, float]]]:
    """The type and the (labels, value) samples of the series named ``name`` on the page.

    prometheus_client names a counter family without ``_total`` and its samples with it;
    the name on the page is the one on its ``# TYPE`` line.
    """
    for family in scraped["families"]:
        if family.type == "histogram" and name.endswith(HISTOGRAM_SUFFIXES):
            samples = [(s.labels, s.value) for s in family.samples if s.name == name]
            if samples or name.rsplit("_", 1)[0] == family.name:
                return "histogram", samples
        if family.type == "counter" and name in (family.name, family.name + "_total"):
            assert f"# TYPE {name} counter\n" in scraped["text"]
            return "counter", [(s.labels, s.value) for s in family.samples]
    raise AssertionError(f"{name} is not on the metrics page")


def expected_value(selector: Selector, scraped: dict) -> float | None:
    """What the selected series must sum to after SENT (None: a duration, only > 0)."""
    counted = [s for s in SENT if s.counted]
    name = selector.name
    if name == ":tensorflow:serving:request_count":
        return sum(selector.matches({"model_name": s.model_name, "status": s.status}) for s in counted)
    if name.startswith(":tensorflow:serving:request_latency_"):
        ok = [s for s in counted if s.status == "OK"]  # TF Serving times successful requests only
        labels = [{"model_name": s.model_name, "API": s.api, "entrypoint": s.entrypoint} for s in ok]
        if name.endswith("_count"):
            return sum(selector.matches(lab) for lab in labels)
        return None  # _sum is a duration; the buckets are checked in their own test
    if name == ":tensorflow:cc:saved_model:load_attempt_count":
        return float(selector.matches({"model_path": str(scraped["path"]), "status": "success"}))
    if name == ":tensorflow:cc:saved_model:load_latency":
        return None
    raise AssertionError(f"no expectation for {name}")


def test_every_series_the_dashboard_queries_is_exported_with_its_type_labels_and_counts(dashboard, scraped):
    checked = set()
    for expr in [target["expr"] for target in dashboard_targets(dashboard)] + variable_queries(dashboard):
        expr = with_variables(expr)
        grouped_by = by_labels(expr) - {"le"}
        for selector in selectors(expr):
            kind, samples = exposed(scraped, selector.name)
            is_histogram_series = selector.name.endswith(HISTOGRAM_SUFFIXES) and kind == "histogram"
            assert kind == ("histogram" if is_histogram_series else "counter"), selector.name
            selected = [(labels, value) for labels, value in samples if selector.matches(labels)]
            assert selected, f"{selector} selects nothing on the page"
            for labels, _ in selected:
                used = grouped_by | {label for label, _, _ in selector.matchers}
                assert used <= set(labels), (selector.name, used, labels)
            total = sum(value for _, value in selected)
            want = expected_value(selector, scraped)
            if want is None:
                assert total > 0, selector
            else:
                assert total == want, selector
            checked.add(selector.name)
    assert checked == {
        ":tensorflow:serving:request_count",
        ":tensorflow:serving:request_latency_bucket",
        ":tensorflow:serving:request_latency_sum",
        ":tensorflow:serving:request_latency_count",
        ":tensorflow:cc:saved_model:load_attempt_count",
        ":tensorflow:cc:saved_model:load_latency",
    }


def test_request_counts_by_status_are_exact(scraped):
    _, samples = exposed(scraped, ":tensorflow:serving:request_count")
    counts = {(labels["model_name"], labels["status"]): value for labels, value in samples}
    assert counts == {
        (MODEL_NAME, "OK"): 7,
        (MODEL_NAME, "INVALID_ARGUMENT"): 2,
        (MODEL_NAME, "NOT_FOUND"): 1,
        ("NoSuchModel", "NOT_FOUND"): 1,
    }
    assert all(set(labels) == {"model_name", "status"} for labels, _ in samples)


def test_latency_histogram_holds_only_the_successful_requests(scraped):
    _, counts = exposed(scraped, ":tensorflow:serving:request_latency_count")
    by_series = {(lab["model_name"], lab["API"], lab["entrypoint"]): value for lab, value in counts}
    assert by_series == {
        (MODEL_NAME, "predict", "REST"): 3,
        (MODEL_NAME, "regress", "REST"): 1,
        (MODEL_NAME, "", "REST"): 1,
        (MODEL_NAME, "Predict", "GRPC"): 2,
    }
    _, buckets = exposed(scraped, ":tensorflow:serving:request_latency_bucket")
    per_series: dict[tuple, list[tuple[float, float]]] = {}
    for labels, value in buckets:
        key = (labels["model_name"], labels["API"], labels["entrypoint"])
        per_series.setdefault(key, []).append((float(labels["le"]), value))
    for key, series in per_series.items():
        limits = [limit for limit, _ in series]
        # Buckets::Exponential(10, 1.8, 33): 33 limits and +Inf, cumulative counts.
        assert limits[:-1] == pytest.approx([10 * 1.8**i for i in range(33)], rel=1e-5)
        assert limits[-1] == float("inf")
        values = [value for _, value in series]
        assert values == sorted(values)
        assert values[-1] == by_series[key]


def test_the_model_load_is_counted_once_with_its_latency(scraped):
    path = str(scraped["path"])
    _, attempts = exposed(scraped, ":tensorflow:cc:saved_model:load_attempt_count")
    assert [(labels, value) for labels, value in attempts] == [({"model_path": path, "status": "success"}, 1)]
    _, latency = exposed(scraped, ":tensorflow:cc:saved_model:load_latency")
    ((labels, micros),) = latency
    assert labels == {"model_path": path}
    assert micros == int(micros) > 0


# ---------------------------------------------------------------------------
# The dashboard JSON is valid Grafana provisioning
# ---------------------------------------------------------------------------


def _bind_mounts(service: dict) -> list[tuple[Path, str]]:
    mounts = []
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        mounts.append(((DEPLOY / source).resolve(), target))
    return mounts


def _load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_panels_use_the_provisioned_prometheus_data_source(dashboard, datasources):
    (source,) = datasources["datasources"]
    assert datasources["apiVersion"] == 1
    assert source["type"] == "prometheus" and source["isDefault"] is True
    wanted = {"type": "prometheus", "uid": source["uid"]}
    assert dashboard["templating"]["list"][0]["datasource"] == wanted
    for panel in dashboard["panels"]:
        assert panel["datasource"] == wanted, panel["title"]
        assert all(target["datasource"] == wanted for target in panel["targets"]), panel["title"]


def test_dashboard_is_well_formed(dashboard):
    assert dashboard["uid"] == "tf-serving" and dashboard["title"] == "TF Serving"
    # A provisioned dashboard gets its database id from Grafana: the file must not set one.
    assert dashboard.get("id") is None
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells = Counter()
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "bargauge", "stat"}
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24  # Grafana's grid is 24 columns wide
        cells.update(
            (x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])
        )
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"]
    assert max(cells.values()) == 1, "panels overlap"


def test_legends_name_only_labels_the_query_keeps(dashboard):
    for target in dashboard_targets(dashboard):
        legend = set(LEGEND_LABEL.findall(target["legendFormat"]))
        assert legend, target["expr"]
        assert legend <= by_labels(target["expr"]), (target["legendFormat"], target["expr"])


def test_latency_panels_show_p50_p95_p99_in_microseconds(dashboard):
    (panel,) = [p for p in dashboard["panels"] if "p50" in p["title"]]
    quantiles = [re.match(r"histogram_quantile\(([\d.]+),", t["expr"]).group(1) for t in panel["targets"]]
    assert quantiles == ["0.50", "0.95", "0.99"]
    assert all("le" in by_labels(t["expr"]) for t in panel["targets"])
    # TF Serving's latencies are microseconds; Grafana's unit id for them is "µs".
    assert panel["fieldConfig"]["defaults"]["unit"] == "µs"


def test_dashboard_provider_loads_the_mounted_folder(dashboard_providers, compose):
    (provider,) = dashboard_providers["providers"]
    assert dashboard_providers["apiVersion"] == 1
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False and provider["updateIntervalSeconds"] == 10
    mounts = dict(_bind_mounts(compose["services"]["grafana"]))
    assert mounts[GRAFANA / "dashboards"] == provider["options"]["path"]
    assert mounts[GRAFANA / "provisioning"] == "/etc/grafana/provisioning"
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/tf_serving.json"


def test_data_source_points_at_the_compose_prometheus(datasources, compose):
    (source,) = datasources["datasources"]
    (port,) = compose["services"]["prometheus"]["ports"]
    assert source["url"] == f"http://prometheus:{port.split(':')[1]}"
    assert source["access"] == "proxy"  # the Grafana server, on the compose network, queries it
    scrape = _load_yaml(DEPLOY / "prometheus.yml")["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == scrape


def test_compose_grafana_is_pinned_and_starts_after_prometheus(compose):
    grafana = compose["services"]["grafana"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", grafana["image"])
    assert grafana["ports"] == ["3000:3000"]
    assert grafana["depends_on"] == ["prometheus"]
    for source, _ in _bind_mounts(grafana):
        assert source.is_dir()


def test_metric_names_follow_the_exporters_renaming(dashboard):
    """prometheus_exporter.cc turns every character outside [a-zA-Z0-9_] into ':'."""
    names = {s.name for t in dashboard_targets(dashboard) for s in selectors(t["expr"])}
    for name in names:
        base = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        path = "/" + base[1:].replace(":", "/")
        assert re.sub(r"[^a-zA-Z0-9_]", ":", path) == base
        assert path.startswith(("/tensorflow/serving/", "/tensorflow/cc/saved_model/"))


def test_monitoring_config_path_is_the_one_scraped():
    from tfserving_emulator.model_servers.metrics import MonitoringConfig

    config = text_format.Parse((DEPLOY / "monitoring.config").read_text(), MonitoringConfig())
    assert config.prometheus_config.path == METRICS_PATH
    assert _load_yaml(DEPLOY / "prometheus.yml")["scrape_configs"][0]["metrics_path"] == METRICS_PATH


def test_dashboard_file_is_formatted_json():
    text = DASHBOARD_FILE.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
