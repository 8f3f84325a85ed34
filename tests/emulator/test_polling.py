"""The file-system poll: versions that appear, disappear, break, or are half-written.

One server polls five models' base paths every second; each test changes only its
own model's directory. Versions are added with one atomic rename, as a careful
deployment does (and as ``tutorial.make_half_plus_two`` does).
"""

from __future__ import annotations

import threading
import time
import uuid

import grpc
import numpy as np
import pytest
import tensorflow as tf
from emulator_harness import install_version, model_config_text, model_status, remove_version, serve, wait_for
from tensorflow_serving.apis import predict_pb2

MODELS = ("grow", "swap", "broken", "partial", "shrink")


@pytest.fixture(scope="module")
def bases(tmp_path_factory, half_plus_two_version_dir) -> dict:
    root = tmp_path_factory.mktemp("polling")
    bases = {name: root / name for name in MODELS}
    for name in MODELS:
        install_version(half_plus_two_version_dir, bases[name], 1)
    install_version(half_plus_two_version_dir, bases["shrink"], 2)
    return bases


@pytest.fixture(scope="module")
def server(bases, tmp_path_factory):
    config = tmp_path_factory.mktemp("polling-config") / "models.config"
    models = [{"name": name, "base_path": bases[name]} for name in MODELS]
    models[-1]["policy"] = "all {}"
    config.write_text(model_config_text(models))
    # No load retries: a broken version fails at once instead of after 5 x 60 s.
    flags = [f"--model_config_file={config}", "--file_system_poll_wait_seconds=1", "--max_num_load_retries=0"]
    with serve(flags) as served:
        yield served


def predict_version(served, name: str) -> int:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.float32([1.0, 2.0, 5.0])))
    response = served.grpc.prediction.Predict(request, timeout=30)
    assert list(response.outputs["y"].float_val) == [2.5, 3.0, 4.5]
    return response.model_spec.version.value


def states(served, name: str) -> dict[int, str]:
    return {version: state for version, (state, _, _) in model_status(served, name).items()}


def test_a_new_version_replaces_the_old_one(server, bases, half_plus_two_version_dir):
    assert predict_version(server, "grow") == 1
    install_version(half_plus_two_version_dir, bases["grow"], 2)
    wait_for(lambda: states(server, "grow") == {2: "AVAILABLE", 1: "END"}, what="version 2 AVAILABLE, 1 END")
    assert predict_version(server, "grow") == 2
    reply = server.rest.get("/v1/models/grow")
    assert [(s["version"], s["state"]) for s in reply.json()["model_version_status"]] == [
        ("2", "AVAILABLE"),
        ("1", "END"),
    ]


def test_hot_swap_under_load_drops_no_request(server, bases, half_plus_two_version_dir):
    stop = threading.Event()
    failures: list[str] = []
    versions_seen: set[int] = set()
    counts = [0]
    lock = threading.Lock()

    def client() -> None:
        channel_target = server.process.grpc_target
        with grpc.insecure_channel(channel_target) as channel:
            from tensorflow_serving.apis import prediction_service_pb2_grpc

            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "swap"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.float32([1.0, 2.0, 5.0])))
            while not stop.is_set():
                try:
                    response = stub.Predict(request, timeout=30)
                    ok = list(response.outputs["y"].float_val) == [2.5, 3.0, 4.5]
                    with lock:
                        counts[0] += 1
                        versions_seen.add(response.model_spec.version.value)
                        if not ok:
                            failures.append(f"wrong answer {response}")
                except grpc.RpcError as error:
                    with lock:
                        failures.append(f"{error.code()}: {error.details()}")

    def rest_client() -> None:
        while not stop.is_set():
            reply = server.rest.post("/v1/models/swap:predict", {"instances": [1.0, 2.0, 5.0]})
            with lock:
                counts[0] += 1
                if (reply.status, reply.json()) != (200, {"predictions": [2.5, 3.0, 4.5]}):
                    failures.append(f"REST {reply.status}: {reply.body!r}")

    threads = [threading.Thread(target=client) for _ in range(3)] + [threading.Thread(target=rest_client)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: counts[0] >= 20, what="the load to start")
        # Deploy version 2 atomically, then retire version 1's directory.
        install_version(half_plus_two_version_dir, bases["swap"], 2)
        remove_version(bases["swap"] / "1")
        wait_for(lambda: states(server, "swap") == {2: "AVAILABLE", 1: "END"}, what="the swap to finish")
        served_before = counts[0]
        wait_for(lambda: counts[0] >= served_before + 20, what="requests after the swap")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert versions_seen == {1, 2}


def test_a_broken_version_is_reported_and_the_old_one_keeps_serving(server, bases):
    # An integer directory whose saved_model.pb is garbage, deployed atomically.
    staging = bases["broken"] / f".staging-{uuid.uuid4().hex}"
    (staging / "variables").mkdir(parents=True)
    (staging / "saved_model.pb").write_bytes(b"this is not a protocol buffer \xff\xfe" * 10)
    staging.rename(bases["broken"] / "2")

    def version_2_failed():
        status = model_status(server, "broken").get(2)
        return status if status and status[0] == "END" else None

    _state, error_code, error_message = wait_for(version_2_failed, what="version 2 to fail")
    # TF's ReadBinaryProto: DATA_LOSS (15), e.g. "Data loss: Can't parse s3://…/1/saved_model.pb
    # as binary proto" in TF Serving issue #2058.
    assert (error_code, error_message) == (
        15,
        f"Can't parse {bases['broken'] / '2' / 'saved_model.pb'} as binary proto",
    )
    assert states(server, "broken") == {2: "END", 1: "AVAILABLE"}
    assert predict_version(server, "broken") == 1
    reply = server.rest.get("/v1/models/broken")
    (failed, serving) = reply.json()["model_version_status"]
    assert (failed["version"], failed["state"]) == ("2", "END")
    assert failed["status"] == {"error_code": "DATA_LOSS", "error_message": error_message}
    assert serving == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }


def test_a_half_written_version_is_not_served(server, bases, half_plus_two_version_dir):
    # A copy in progress: the directory exists, saved_model.pb does not yet.
    import shutil

    shutil.copytree(half_plus_two_version_dir / "variables", bases["partial"] / "2" / "variables")
    time.sleep(3.5)  # three polls
    assert predict_version(server, "partial") == 1
    assert states(server, "partial").get(1) == "AVAILABLE"
    assert states(server, "partial").get(2) != "AVAILABLE"


def test_a_removed_version_is_unloaded(server, bases):
    assert states(server, "shrink") == {2: "AVAILABLE", 1: "AVAILABLE"}
    assert predict_version(server, "shrink") == 2
    remove_version(bases["shrink"] / "2")
    wait_for(lambda: states(server, "shrink") == {2: "END", 1: "AVAILABLE"}, what="version 2 to be unloaded")
    assert predict_version(server, "shrink") == 1
    reply = server.rest.post("/v1/models/shrink/versions/2:predict", {"instances": [1.0]})
    assert (reply.status, reply.error) == (404, "Servable not found for request: Specific(shrink, 2)")
