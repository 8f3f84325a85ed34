"""Version directories, version policies and version labels from a model config file.

One server, several models, each a base path holding copies of half_plus_two under
different version numbers (the answers are the same; the gRPC echo tells versions apart).
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from emulator_harness import install_version, model_config_text, model_server_config, serve
from tensorflow_serving.apis import model_management_pb2, predict_pb2

VALID = {"instances": [1.0, 2.0, 5.0]}
PREDICTIONS = {"predictions": [2.5, 3.0, 4.5]}


def status_document(*versions: int) -> dict:
    return {
        "model_version_status": [
            {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            for v in versions
        ]
    }


@pytest.fixture(scope="module")
def models(tmp_path_factory, half_plus_two_version_dir) -> list[dict]:
    root = tmp_path_factory.mktemp("versions")

    def base(name: str, *versions) -> str:
        for version in versions:
            install_version(half_plus_two_version_dir, root / name, version)
        return str(root / name)

    return [
        {
            "name": "latest_two",
            "base_path": base("latest_two", 1, 2, 3),
            "policy": "latest { num_versions: 2 }",
        },
        # Directory names that do not parse as int64 are skipped silently.
        {
            "name": "all_versions",
            "base_path": base("all_versions", 1, 2, "v3", "0.4", "3abc", "00x7"),
            "policy": "all {}",
        },
        {
            "name": "specific",
            "base_path": base("specific", 1, 2, 3),
            "policy": "specific { versions: 1 versions: 3 }",
        },
        # No policy: latest, one version. Its label is assigned by a reload once loaded:
        # TF Serving assigns labels before loading, so a start-up label needs
        # --allow_version_labels_for_unavailable_models (test_startup.py).
        {"name": "labelled", "base_path": base("labelled", 1, 2), "labels": {"stable": 2}},
        {"name": "padded", "base_path": base("padded", "0000042")},
    ]


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    config = tmp_path_factory.mktemp("versions-config") / "models.config"
    config.write_text(model_config_text([{k: v for k, v in m.items() if k != "labels"} for m in models]))
    with serve([f"--model_config_file={config}"]) as served:
        request = model_management_pb2.ReloadConfigRequest(config=model_server_config(models))
        response = served.grpc.model.HandleReloadConfigRequest(request, timeout=120)
        assert (response.status.error_code, response.status.error_message) == (0, "")
        yield served


def grpc_version(served, name: str, version: int | None = None, label: str | None = None) -> int:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.float32([1.0])))
    response = served.grpc.prediction.Predict(request, timeout=30)
    assert list(response.outputs["y"].float_val) == [2.5]
    assert response.model_spec.version_label == ""  # labels are never echoed
    return response.model_spec.version.value


@pytest.mark.parametrize(
    ("name", "versions"),
    [
        ("latest_two", (3, 2)),  # descending; version 1 was never aspired, so it is not listed
        ("all_versions", (2, 1)),
        ("specific", (3, 1)),
        ("labelled", (2,)),
        ("padded", (42,)),
    ],
)
def test_policy_decides_what_is_loaded(server, name, versions):
    reply = server.rest.get(f"/v1/models/{name}")
    assert (reply.status, reply.json()) == (200, status_document(*versions))


@pytest.mark.parametrize(
    ("name", "latest"), [("latest_two", 3), ("all_versions", 2), ("specific", 3), ("padded", 42)]
)
def test_latest_is_the_highest_loaded_version(server, name, latest):
    assert grpc_version(server, name) == latest


@pytest.mark.parametrize(
    ("name", "version", "loaded"),
    [
        ("latest_two", 2, True),
        ("latest_two", 1, False),
        ("all_versions", 1, True),
        ("specific", 1, True),
        ("specific", 2, False),
        ("padded", 42, True),
    ],
)
def test_specific_versions(server, name, version, loaded):
    reply = server.rest.post(f"/v1/models/{name}/versions/{version}:predict", VALID)
    if loaded:
        assert (reply.status, reply.json()) == (200, PREDICTIONS)
        assert grpc_version(server, name, version=version) == version
    else:
        assert (reply.status, reply.error) == (
            404,
            f"Servable not found for request: Specific({name}, {version})",
        )
        reply = server.rest.get(f"/v1/models/{name}/versions/{version}")
        assert (reply.status, reply.error) == (404, f"Could not find version {version} of model {name}")


def test_label_assigned_once_the_version_is_loaded(server):
    reply = server.rest.post("/v1/models/labelled/labels/stable:predict", VALID)
    assert (reply.status, reply.json()) == (200, PREDICTIONS)
    assert grpc_version(server, "labelled", label="stable") == 2
    reply = server.rest.get("/v1/models/labelled/labels/stable/metadata")
    assert reply.json()["model_spec"] == {"name": "labelled", "signature_name": "", "version": "2"}


def test_labels_assigned_by_reloading_the_config(server, models):
    # Labels may only point at AVAILABLE versions, so they are added once both have loaded.
    labelled = [dict(m) for m in models]
    labelled[2]["labels"] = {"stable": 1, "canary": 3}
    request = model_management_pb2.ReloadConfigRequest(config=model_server_config(labelled))
    response = server.grpc.model.HandleReloadConfigRequest(request, timeout=120)
    assert (response.status.error_code, response.status.error_message) == (0, "")

    assert grpc_version(server, "specific", label="stable") == 1
    assert grpc_version(server, "specific", label="canary") == 3
    reply = server.rest.get("/v1/models/specific/labels/canary/metadata")
    assert reply.json()["model_spec"]["version"] == "3"
    reply = server.rest.post("/v1/models/specific/labels/stable:predict", VALID)
    assert (reply.status, reply.json()) == (200, PREDICTIONS)
    # Status ignores labels: all versions, whatever the label.
    assert server.rest.get("/v1/models/specific/labels/canary").json() == status_document(3, 1)


def test_label_on_a_version_that_is_not_loaded_is_refused(server, models):
    bad = [dict(m) for m in models]
    bad[3]["labels"] = {"stable": 2, "old": 1}  # version 1 of `labelled` is not loaded
    request = model_management_pb2.ReloadConfigRequest(config=model_server_config(bad))
    with pytest.raises(grpc.RpcError) as caught:
        server.grpc.model.HandleReloadConfigRequest(request, timeout=120)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details() == (
        "Request to assign label to version 1 of model labelled, which is not currently available for inference"
    )
    reply = server.rest.post("/v1/models/labelled/labels/old:predict", VALID)
    assert (reply.status, reply.error) == (400, "Unrecognized servable version label: old")
