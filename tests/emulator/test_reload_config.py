"""ModelService.HandleReloadConfigRequest: validation, and a config that replaces the old one.

The server starts with models ``alpha`` (half_plus_two) and ``beta`` (toolbox). The
validation tests must leave it untouched; the last tests replace the configuration.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from emulator_harness import (
    install_version,
    model_config_text,
    model_server_config,
    model_status,
    serve,
    wait_for,
)
from tensorflow_serving.apis import model_management_pb2, predict_pb2
from tensorflow_serving.config import model_server_config_pb2


@pytest.fixture(scope="module")
def bases(tmp_path_factory, half_plus_two_version_dir, toolbox_version_dir) -> dict:
    root = tmp_path_factory.mktemp("reload")
    install_version(half_plus_two_version_dir, root / "alpha", 1)
    install_version(toolbox_version_dir, root / "beta", 1)
    install_version(half_plus_two_version_dir, root / "gamma", 5)
    broken = root / "broken_only" / "1"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"\x08garbage")
    return {name: root / name for name in ("alpha", "beta", "gamma", "broken_only")}


@pytest.fixture(scope="module")
def server(bases, tmp_path_factory):
    config = tmp_path_factory.mktemp("reload-config") / "models.config"
    config.write_text(
        model_config_text(
            [{"name": "alpha", "base_path": bases["alpha"]}, {"name": "beta", "base_path": bases["beta"]}]
        )
    )
    with serve([f"--model_config_file={config}", "--max_num_load_retries=0"]) as served:
        yield served


def reload(served, config):
    request = model_management_pb2.ReloadConfigRequest(config=config)
    return served.grpc.model.HandleReloadConfigRequest(request, timeout=120)


def reload_error(served, config) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        reload(served, config)
    return caught.value.code(), caught.value.details()


def predict(served, name: str):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.float32([1.0])))
    return served.grpc.prediction.Predict(request, timeout=30)


def initial(bases) -> list[dict]:
    return [{"name": "alpha", "base_path": bases["alpha"]}, {"name": "beta", "base_path": bases["beta"]}]


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            lambda m: [*m, dict(m[0])],
            "INVALID_ARGUMENT",
            "Illegal to list model alpha multiple times in config list",
        ),
        (
            lambda m: [{**m[0], "base_path": "relative/alpha"}, m[1]],
            "INVALID_ARGUMENT",
            "Expected model alpha to have an absolute path or URI; got base_path()=relative/alpha",
        ),
        (
            lambda m: [{**m[0], "platform": "tflite"}, m[1]],
            "INVALID_ARGUMENT",
            "Illegal to change a model's platform. For model alpha platform was tensorflow and new platform "
            "requested is tflite",
        ),
        (
            lambda m: [*m, {"name": "delta", "base_path": m[0]["base_path"], "platform": "tflite"}],
            "INVALID_ARGUMENT",
            "Model delta requested unsupported platform tflite",
        ),
        (
            lambda m: [{**m[0], "labels": {"canary": 7}}, m[1]],
            "FAILED_PRECONDITION",
            "Request to assign label to version 7 of model alpha, which is not currently available for inference",
        ),
    ],
    ids=["duplicate", "relative-path", "platform-change", "unsupported-platform", "label-unavailable"],
)
def test_invalid_configs_are_refused(server, bases, change, code, message):
    assert reload_error(server, model_server_config(change(initial(bases)))) == (
        grpc.StatusCode[code],
        message,
    )
    # Nothing changed.
    assert predict(server, "alpha").model_spec.version.value == 1
    assert model_status(server, "beta") == {1: ("AVAILABLE", 0, "")}


@pytest.mark.parametrize("kind", ["custom", "empty"])
def test_only_model_config_list_is_supported(server, kind):
    config = model_server_config_pb2.ModelServerConfig()
    if kind == "custom":
        config.custom_model_config.Pack(model_server_config_pb2.ModelConfigList())
    assert reload_error(server, config) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is currently supported",
    )


def test_new_config_replaces_the_old_one(server, bases):
    config = [
        {"name": "alpha", "base_path": bases["alpha"], "labels": {"stable": 1}},
        {"name": "gamma", "base_path": bases["gamma"]},
    ]
    response = reload(server, model_server_config(config))
    assert (response.status.error_code, response.status.error_message) == (0, "")

    # The call returns once new models are AVAILABLE, so gamma answers at once.
    assert predict(server, "gamma").model_spec.version.value == 5
    assert server.rest.post("/v1/models/alpha/labels/stable:predict", {"instances": [1.0]}).json() == {
        "predictions": [2.5]
    }

    # beta was left out, so it is unloaded.
    def beta_gone():
        try:
            predict(server, "beta")
        except grpc.RpcError as error:
            return (error.code(), error.details())
        return None

    assert wait_for(beta_gone, what="beta to be unloaded") == (
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(beta)",
    )
    wait_for(lambda: model_status(server, "beta") == {1: ("END", 0, "")}, what="beta END in the status")


def test_a_model_that_cannot_load_fails_the_reload(server, bases):
    # Row 36: the model is configured, but it has no AVAILABLE version.
    config = [
        {"name": "alpha", "base_path": bases["alpha"]},
        {"name": "gamma", "base_path": bases["gamma"]},
        {"name": "broken_only", "base_path": bases["broken_only"]},
    ]
    code, message = reload_error(server, model_server_config(config))
    assert code == grpc.StatusCode.UNKNOWN
    assert message.startswith("1 model(s) did not become available: {"), message
    assert "broken_only" in message

    reply = server.rest.post("/v1/models/broken_only:predict", {"instances": [1.0]})
    assert (reply.status, reply.error) == (404, "Servable not found for request: Latest(broken_only)")
    (status,) = server.rest.get("/v1/models/broken_only").json()["model_version_status"]
    assert (status["version"], status["state"]) == ("1", "END")
    assert status["status"]["error_code"] != "OK"
    assert status["status"]["error_message"] != ""
    # The models that did load keep serving.
    assert predict(server, "gamma").model_spec.version.value == 5
