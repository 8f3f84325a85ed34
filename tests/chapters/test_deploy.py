"""deploy/: compose, Prometheus and Kubernetes files agree with settings.env and the scripts.

The files cannot be run here (no Docker engine, no cluster), so the tests check what a
typo would break: they parse, and every name, port, image tag and path in them is the
one settings.env and 03_start_server.sh use. The monitoring config is also fed to the
emulator, which must then serve Prometheus metrics from it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml
from chapter_sandbox import MODEL_NAME, REPO_ROOT
from google.protobuf import text_format

from tutorial.settings import read_env_file

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
METRICS_PATH = "/monitoring/prometheus/metrics"
# Inside the container TF Serving always listens on these (tools/docker/Dockerfile).
CONTAINER_GRPC_PORT, CONTAINER_REST_PORT = 8500, 8501


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    """settings.env itself, not the environment: the files must match the shipped defaults."""
    return read_env_file()


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# The monitoring config is a tensorflow.serving.MonitoringConfig text proto
# ---------------------------------------------------------------------------


def monitoring_config_class():
    """tensorflow.serving.MonitoringConfig (tensorflow_serving/config/monitoring_config.proto).

    The tensorflow-serving-api wheel does not ship that module; the emulator, which must
    parse the same files, builds the message from the .proto's definitions.
    """
    try:
        from tensorflow_serving.config import monitoring_config_pb2

        return monitoring_config_pb2.MonitoringConfig
    except ImportError:
        from tfserving_emulator.model_servers.metrics import MonitoringConfig

        return MonitoringConfig


def parse_monitoring_config(text: str):
    config = monitoring_config_class()()
    text_format.Parse(text, config)
    return config


def test_monitoring_config_enables_prometheus_at_the_standard_path():
    config = parse_monitoring_config((DEPLOY / "monitoring.config").read_text())
    assert config.prometheus_config.enable is True
    assert config.prometheus_config.path == METRICS_PATH


def test_monitoring_config_typo_is_a_parse_error():
    with pytest.raises(text_format.ParseError, match="enabled"):
        parse_monitoring_config("prometheus_config { enabled: true }")


# ---------------------------------------------------------------------------
# docker-compose.yml and prometheus.yml
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    return load_yaml(DEPLOY / "docker-compose.yml")


def test_compose_serving_matches_the_scripts(compose, settings):
    serving = compose["services"]["serving"]
    assert serving["image"] == settings["TF_SERVING_IMAGE"] == "tensorflow/serving:2.21.0"
    assert serving["environment"] == {"MODEL_NAME": settings["MODEL_NAME"]}
    assert serving["ports"] == [
        f"{settings['GRPC_PORT']}:{CONTAINER_GRPC_PORT}",
        f"{settings['REST_PORT']}:{CONTAINER_REST_PORT}",
    ]
    model_mount, config_mount = serving["volumes"]
    source, target, mode = model_mount.split(":")
    # Compose resolves relative paths from the compose file's folder.
    assert (DEPLOY / source).resolve() == (
        REPO_ROOT / settings["MODEL_BASE_DIR"] / settings["MODEL_NAME"]
    ).resolve()
    assert (target, mode) == (f"/models/{settings['MODEL_NAME']}", "ro")
    source, target, mode = config_mount.split(":")
    assert (DEPLOY / source).resolve() == DEPLOY / "monitoring.config"
    assert serving["command"] == [f"--monitoring_config_file={target}"]


def test_compose_prometheus_is_pinned_and_scrapes_the_metrics_page(compose):
    prometheus = compose["services"]["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])
    source, target, _ = prometheus["volumes"][0].split(":")
    assert (DEPLOY / source).resolve() == DEPLOY / "prometheus.yml"
    assert target == "/etc/prometheus/prometheus.yml"
    assert prometheus["depends_on"] == {"serving": {"condition": "service_healthy"}}

    (job,) = load_yaml(DEPLOY / "prometheus.yml")["scrape_configs"]
    assert (
        job["metrics_path"]
        == parse_monitoring_config((DEPLOY / "monitoring.config").read_text()).prometheus_config.path
    )
    # The compose service name and the REST port inside the container (not the host's).
    assert job["static_configs"] == [{"targets": [f"serving:{CONTAINER_REST_PORT}"]}]
    assert "serving" in compose["services"]


def test_compose_healthcheck_probes_the_rest_port(compose):
    test = compose["services"]["serving"]["healthcheck"]["test"]
    assert test == ["CMD", "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{CONTAINER_REST_PORT}"]


def test_compose_runs_serving_prometheus_and_grafana_from_pinned_images(compose):
    services = compose["services"]
    assert set(services) == {"serving", "prometheus", "grafana"}
    for name, service in services.items():
        image, _, tag = service["image"].partition(":")
        # An exact version: "latest", a bare major or no tag at all would change under the reader.
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), (name, service["image"])
        assert image in {"tensorflow/serving", "prom/prometheus", "grafana/grafana"}


def test_compose_bind_mounts_name_files_of_the_repository(compose):
    """Every relative source exists (the model folder once 02_train_and_export.py ran)."""
    trained = REPO_ROOT / "trained_models"
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target, mode = volume.split(":")
            assert source.startswith(("./", "../")), (name, volume)
            assert target.startswith("/") and mode == "ro", (name, volume)
            path = (DEPLOY / source).resolve()
            if not path.is_relative_to(trained):
                assert path.exists(), (name, volume)


# ---------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict]:
    documents = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            documents[document["kind"]] = document
    return documents


def test_k8s_has_the_four_objects(k8s):
    assert {kind: doc["apiVersion"] for kind, doc in k8s.items()} == {
        "ConfigMap": "v1",
        "Deployment": "apps/v1",
        "HorizontalPodAutoscaler": "autoscaling/v2",
        "Service": "v1",
    }


def serving_container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_deployment_runs_the_pinned_image_with_the_model(k8s, settings):
    deployment = k8s["Deployment"]
    container = serving_container(deployment)
    assert container["image"] == settings["TF_SERVING_IMAGE"]
    assert container["env"] == [{"name": "MODEL_NAME", "value": settings["MODEL_NAME"]}]
    assert {port["name"]: port["containerPort"] for port in container["ports"]} == {
        "grpc": CONTAINER_GRPC_PORT,
        "http": CONTAINER_REST_PORT,
    }
    assert (
        deployment["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )


def test_the_init_container_puts_the_model_where_the_server_looks(k8s, settings):
    pod = k8s["Deployment"]["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    name = settings["MODEL_NAME"]
    assert init["command"] == ["sh", "-c", f"cp -R /model/{name} /models/"]
    assert {m["name"]: m["mountPath"] for m in init["volumeMounts"]} == {"models": "/models"}
    serving_mounts = {m["name"]: m["mountPath"] for m in serving_container(k8s["Deployment"])["volumeMounts"]}
    # The image's entrypoint serves --model_base_path=/models/$MODEL_NAME.
    assert serving_mounts["models"] == "/models"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["models"] == {"name": "models", "emptyDir": {}}
    # The model image: the Dockerfile copies the model to the folder the init container reads.
    dockerfile = (K8S / "Dockerfile.model").read_text()
    assert re.search(r"^FROM busybox:\d+\.\d+\.\d+$", dockerfile, re.MULTILINE)
    assert f"\nCOPY {name} /model/{name}\n" in dockerfile
    assert f"-t {init['image']} trained_models" in dockerfile  # the build command it documents


def test_the_monitoring_config_reaches_the_server(k8s):
    container = serving_container(k8s["Deployment"])
    config_mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert f"--monitoring_config_file={config_mount['mountPath']}/monitoring.config" in container["args"]
    volume = next(
        v for v in k8s["Deployment"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"
    )
    assert volume["configMap"]["name"] == k8s["ConfigMap"]["metadata"]["name"]
    in_cluster = parse_monitoring_config(k8s["ConfigMap"]["data"]["monitoring.config"])
    assert in_cluster == parse_monitoring_config((DEPLOY / "monitoring.config").read_text())
    annotations = k8s["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == in_cluster.prometheus_config.path
    assert annotations["prometheus.io/port"] == str(CONTAINER_REST_PORT)


def test_probes_ask_the_models_status_endpoint(k8s, settings):
    container = serving_container(k8s["Deployment"])
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {
            "path": f"/v1/models/{settings['MODEL_NAME']}",
            "port": "http",
        }, probe


def test_liveness_is_the_native_grpc_health_probe(k8s):
    container = serving_container(k8s["Deployment"])
    # A name TF Serving marks SERVING (server.cc), on the container's gRPC port by number.
    assert container["livenessProbe"]["grpc"] == {"port": CONTAINER_GRPC_PORT, "service": "PredictionService"}
    assert "httpGet" not in container["livenessProbe"]
    assert "--enable_grpc_healthcheck_service=true" in container["args"]


def test_resources_and_thread_pools_match(k8s):
    container = serving_container(k8s["Deployment"])
    resources = container["resources"]
    assert set(resources) == {"requests", "limits"}
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    cpu_limit = int(resources["limits"]["cpu"])
    assert f"--tensorflow_intra_op_parallelism={cpu_limit}" in container["args"]
    assert f"--tensorflow_inter_op_parallelism={cpu_limit}" in container["args"]


def test_service_exposes_both_apis_of_the_pods(k8s):
    service, deployment = k8s["Service"], k8s["Deployment"]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert [(port["name"], port["port"], port["targetPort"]) for port in service["spec"]["ports"]] == [
        ("grpc", CONTAINER_GRPC_PORT, "grpc"),
        ("http", CONTAINER_REST_PORT, "http"),
    ]


def test_hpa_scales_the_deployment_on_cpu(k8s):
    hpa = k8s["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": k8s["Deployment"]["metadata"]["name"],
    }
    assert 1 <= hpa["minReplicas"] < hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"


# ---------------------------------------------------------------------------
# The emulator, started with deploy/monitoring.config, serves the metrics
# ---------------------------------------------------------------------------


def request_count(metrics_text: str, model_name: str, status: str = "OK") -> int:
    pattern = rf'^:tensorflow:serving:request_count\{{model_name="{model_name}",status="{status}"\}} (\d+)$'
    match = re.search(pattern, metrics_text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def test_emulator_serves_prometheus_metrics_with_the_deploy_config(model_template: Path, tmp_path: Path):
    from tfserving_emulator.launcher import EmulatorProcess

    shutil.copytree(model_template, tmp_path / "models")
    flags = [
        f"--model_name={MODEL_NAME}",
        f"--model_base_path={tmp_path / 'models' / MODEL_NAME}",
        f"--monitoring_config_file={DEPLOY / 'monitoring.config'}",
    ]
    with EmulatorProcess(flags) as server:
        metrics_url = server.rest_url + METRICS_PATH
        before = requests.get(metrics_url, timeout=10)
        assert before.status_code == 200
        assert before.headers["Content-Type"].startswith("text/plain")
        assert "# TYPE :tensorflow:serving:request_count counter" in before.text
        assert "# TYPE :tensorflow:serving:request_latency histogram" in before.text
        count_before = request_count(before.text, MODEL_NAME)

        body = {"signature_name": "serving_default", "instances": np.zeros((2, 1)).tolist()}
        predicted = requests.post(f"{server.rest_url}/v1/models/{MODEL_NAME}:predict", json=body, timeout=10)
        assert predicted.status_code == 200

        after = requests.get(metrics_url, timeout=10).text
        assert request_count(after, MODEL_NAME) == count_before + 1
        assert re.search(
            rf'^:tensorflow:serving:request_latency_count\{{model_name="{MODEL_NAME}",API="predict",entrypoint="REST"\}} [1-9]',
            after,
            re.MULTILINE,
        )
