"""Step 2's warm-up file: what it holds, record by record, and that a bad one is never published."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tutorial.data import true_curve
from tutorial.warmup_requests import (
    MAX_RECORDS,
    WARMUP_FILE,
    predict_log,
    read_warmup_file,
    tutorial_records,
    write_warmup_file,
)

MODEL_NAME = "MMModel"
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
