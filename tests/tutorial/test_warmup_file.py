"""Step 2's warm-up file: what it holds, record by record, and that a bad one is never published."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tutorial.data import true_curve
from tutorial.ports import free_port
from tutorial.warmup_requests import (
    MAX_RECORDS,
    WARMUP_FILE,
    predict_log,
    read_warmup_file,
    tutorial_records,
    write_warmup_file,
)

MODEL_NAME = "MMModel"
REPO_ROOT = Path(__file__).resolve().parents[2]
X = np.linspace(-1.0, 1.0, 8, dtype=np.float32)[:, np.newaxis]


def tensor_summary(proto) -> tuple[str, list[int]]:
    return tf.dtypes.as_dtype(proto.dtype).name, [dim.size for dim in proto.tensor_shape.dim]


def test_the_export_holds_one_predict_request_per_signature(exported):
    path = exported.version_dir / "assets.extra" / "tf_serving_warmup_requests"
    assert path.is_file()
    records = read_warmup_file(path)
    assert [record.WhichOneof("log_type") for record in records] == ["predict_log", "predict_log"]
    requests = [record.predict_log.request for record in records]
    assert [(r.model_spec.name, r.model_spec.signature_name) for r in requests] == [
        (MODEL_NAME, "your_prediction"),
        (MODEL_NAME, "serving_default"),
    ]
    assert not requests[0].model_spec.HasField("version")  # the server runs it on the version it loads
    assert {name: tensor_summary(proto) for name, proto in requests[0].inputs.items()} == {
        "tensor_info_input_x": ("float32", [8, 1]),
        "tensor_info_input_y": ("float32", [8, 1]),
    }
    assert {name: tensor_summary(proto) for name, proto in requests[1].inputs.items()} == {
        "x": ("float32", [8, 1])
    }
    # Points from the training range, y on the curve: what a real client would send.
    assert np.array_equal(tf.make_ndarray(requests[0].inputs["tensor_info_input_x"]), X)
    assert np.array_equal(tf.make_ndarray(requests[0].inputs["tensor_info_input_y"]), true_curve(X))
    assert np.array_equal(tf.make_ndarray(requests[1].inputs["x"]), X)
    assert [list(r.output_filter) for r in requests] == [[], []]  # every output, as clients ask


def test_the_file_is_plain_tfrecord_framing(exported):
    """TFRecord: a little-endian uint64 length, its masked CRC32C, the data, the data's CRC."""
    data = (exported.version_dir / WARMUP_FILE).read_bytes()
    offset, lengths = 0, []
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 8], "little")
        lengths.append(length)
        offset += 8 + 4 + length + 4
    assert offset == len(data)
    assert lengths == [record.ByteSize() for record in read_warmup_file(exported.version_dir / WARMUP_FILE)]


def test_the_export_says_what_it_wrote(exported):
    assert (
        "2 warm-up requests: your_prediction (8 rows), serving_default (8 rows), "
        "in assets.extra/tf_serving_warmup_requests\n"
    ) in exported.stdout


def test_the_warmup_requests_run_on_the_session_loader(exported):
    """What the server does at load time: each record through the TF1 session loader."""
    records = read_warmup_file(exported.version_dir / WARMUP_FILE)
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(exported.version_dir))
        outputs = []
        for record in records:
            request = record.predict_log.request
            signature = meta_graph.signature_def[request.model_spec.signature_name]
            feed = {signature.inputs[k].name: tf.make_ndarray(v) for k, v in request.inputs.items()}
            (output,) = signature.outputs.values()
            outputs.append(session.run(output.name, feed))
    assert [output.shape for output in outputs] == [(8, 1), (8, 1)]
    assert np.array_equal(outputs[0], outputs[1])  # the same model behind both signatures


def test_a_warmup_request_that_fails_publishes_no_version(train_module, tmp_path, monkeypatch):
    """A failing warm-up request fails the server's load, so the export refuses it first."""

    def wrong_input_name(model_name):
        return [predict_log(model_name, "serving_default", {"inputs": X})]

    monkeypatch.setattr(train_module, "tutorial_records", wrong_input_name)
    model_dir = tmp_path / MODEL_NAME
    message = (
        r"^a warm-up request for serving_default sends inputs \['inputs'\]; the signature takes \['x'\]$"
    )
    with pytest.raises(RuntimeError, match=message):
        train_module.main(
            ["--model-dir", str(model_dir), "--steps", "1", "--plot", str(tmp_path / "fit.png")]
        )
    assert list(model_dir.iterdir()) == []


def test_write_warmup_file_round_trips(tmp_path: Path):
    records = tutorial_records("other_name", batch_size=3)
    path = write_warmup_file(tmp_path, records)
    assert path == tmp_path / "assets.extra" / "tf_serving_warmup_requests"
    assert read_warmup_file(path) == records


@pytest.mark.parametrize("count", [0, MAX_RECORDS + 1])
def test_write_warmup_file_refuses_what_the_server_would(tmp_path: Path, count: int):
    records = [predict_log(MODEL_NAME, "serving_default", {"x": X})] * count
    with pytest.raises(ValueError, match=rf"^a warm-up file holds 1 to 1000 records, got {count}$"):
        write_warmup_file(tmp_path, records)
    assert not (tmp_path / "assets.extra").exists()


# ---------------------------------------------------------------------------
# What the server logs when it loads a version (saved_model_warmup_util.cc)
# ---------------------------------------------------------------------------

LOADED = "Successfully loaded servable version {name: %s version: 1}"


def serve_and_read_log(tmp_path: Path, models: dict[str, Path], *flags: str) -> str:
    """Start the emulator on ``models`` (name -> model folder), wait until each is loaded, stop it."""
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{name}" base_path: "{path}" model_platform: "tensorflow" }}\n'
            for name, path in models.items()
        )
        + "}\n"
    )
    log_path = tmp_path / "server.log"
    command = [
        sys.executable,
        "-m",
        "tfserving_emulator",
        f"--port={free_port()}",
        f"--rest_api_port={free_port()}",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, f"--model_config_file={config}", *flags], cwd=REPO_ROOT, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 120
        while not all(LOADED % name in log_path.read_text() for name in models):
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return log_path.read_text()


def messages(
    log: str, where: str = "tensorflow_serving/servables/tensorflow/saved_model_warmup_util.cc"
) -> list[str]:
    """The messages logged from ``where``, in order (a message may span lines, as a DebugString does)."""
    # Each message starts with the server's prefix; TensorFlow's own C++ lines (I0000 ...,
    # WARNING: ...) are separators too, so they never join the message before them.
    separator = r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}: [IWE] |[IWEF]\d{4} .*\n|WARNING: .*\n)"
    entries = re.split(separator, log, flags=re.M)
    return [entry[len(where) + 2 :].removesuffix("\n") for entry in entries if entry.startswith(f"{where}] ")]


@pytest.fixture
def two_models(exported, tmp_path: Path) -> dict[str, Path]:
    """The export as MMModel, and a copy without its warm-up file as Plain."""
    plain = tmp_path / "Plain"
    shutil.copytree(exported.model_dir, plain)
    shutil.rmtree(plain / "1" / "assets.extra")
    return {"MMModel": exported.model_dir, "Plain": plain}


def test_the_server_logs_the_replay_as_tf_serving_does(two_models, tmp_path: Path):
    log = serve_and_read_log(tmp_path, two_models)
    warmup_file = two_models["MMModel"] / "1" / WARMUP_FILE
    logged = messages(log)
    assert len(logged) == 3, logged
    # Two models load in parallel threads: their lines may interleave, each model's are in order.
    assert f"No warmup data file found at {two_models['Plain'] / '1' / WARMUP_FILE}" in logged
    ours = [line for line in logged if str(warmup_file) in line]
    assert ours[0] == f"Starting to read warmup data for model at {warmup_file} with model-warmup-options "
    assert re.fullmatch(
        rf"Finished reading warmup data for model at {re.escape(str(warmup_file))}\. "
        r"Number of warmup records read: 2\. Elapsed time \(microseconds\): [1-9]\d*\.",
        ours[1],
    ), ours[1]
    # Replayed before the version is AVAILABLE: the load's own line comes after.
    assert log.index(ours[1]) < log.index(LOADED % "MMModel")


def test_the_warmup_options_are_printed_as_a_debug_string(two_models, tmp_path: Path):
    """--num_request_iterations_for_warmup sets ModelWarmupOptions.num_request_iterations (server.cc)."""
    log = serve_and_read_log(
        tmp_path, {"MMModel": two_models["MMModel"]}, "--num_request_iterations_for_warmup=3"
    )
    warmup_file = two_models["MMModel"] / "1" / WARMUP_FILE
    assert messages(log)[0] == (
        f"Starting to read warmup data for model at {warmup_file} with model-warmup-options "
        "num_request_iterations {\n  value: 3\n}\n"
    )
    assert "Number of warmup records read: 2." in messages(log)[1]  # records, not runs


def test_with_warmup_off_nothing_is_read(two_models, tmp_path: Path):
    log = serve_and_read_log(tmp_path, two_models, "--enable_model_warmup=false")
    assert messages(log) == []
