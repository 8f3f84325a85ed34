"""--enable_batching: concurrent runs merged into one, and TF Serving's refusals, exactly.

Two halves. In-process, the batching session and scheduler (tfserving_emulator/core/) run
against a fake model that records each batch it is given, so merging, padding and the
queue rules are checked row by row with no timing. Then one emulator process with
--enable_per_model_batching_parameters serves three copies of a probe model whose output
``rows`` is the 0th dimension the model actually ran with, broadcast to every row: a reply
that says 8 to a 1-row request proves its run was merged with seven others.

Messages are TF Serving 2.21's: batching/batching_session.cc, batching/batching_util.cc,
servables/tensorflow/bundle_factory_util.cc and TensorFlow's shared_batch_scheduler.h.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from emulator_harness import free_port, run_emulator_to_exit, serve
from google.protobuf import text_format

from tfserving_emulator.core import batching_config
from tfserving_emulator.core.batch_scheduler import SharedBatchScheduler
from tfserving_emulator.core.batching import BatchingSession
from tfserving_emulator.util.errors import ServingError

# ---------------------------------------------------------------------------
# In process: a fake model and a gate that holds the batch thread
# ---------------------------------------------------------------------------


class FakeModel:
    """run(feeds, fetches): y = 2x, rows = the batch's 0th dimension; records every batch."""

    def __init__(self, gate: threading.Event | None = None):
        self.batches: list[dict[str, np.ndarray]] = []
        self.gate = gate
        self.started = threading.Event()

    def run(self, feeds, fetches, timeout_ms=None):
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        self.batches.append({name: value.copy() for name, value in feeds.items()})
        rows = next(iter(feeds.values())).shape[0]
        out = {"rows:0": np.full([rows], rows, np.int32), "y:0": 2 * feeds["x:0"]}
        return [out[name] for name in fetches]


def parameters(text: str):
    params = batching_config.BatchingParameters()
    text_format.Parse(text, params)
    return params


def session(model: FakeModel, text: str, threads: int = 1) -> BatchingSession:
    params = parameters(text)
    scheduler = SharedBatchScheduler(batching_config.scheduler_options(params, threads))
    return BatchingSession(model.run, scheduler, batching_config.queue_options(params))


def rows_of(value: float, count: int, width: int = 1) -> np.ndarray:
    return np.full([count, width], value, np.float32)


def run_together(batcher: BatchingSession, requests: list[np.ndarray]) -> list:
    """Each request from its own thread, at once; the replies in request order."""
    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(batcher.run, {"x:0": x}, ["y:0", "rows:0"]) for x in requests]
        return [future.result(timeout=60) for future in futures]


def test_concurrent_runs_merge_along_dimension_0_and_split_back():
    model = FakeModel()
    # A batch closes when full (8 rows) long before its 60 s timeout.
    batcher = session(model, "max_batch_size { value: 8 } batch_timeout_micros { value: 60000000 }")
    requests = [rows_of(i, 2) for i in range(4)]
    replies = run_together(batcher, requests)
    assert len(model.batches) == 1 and model.batches[0]["x:0"].shape == (8, 1)
    for x, (y, rows) in zip(requests, replies, strict=True):
        np.testing.assert_array_equal(y, 2 * x)
        assert rows.tolist() == [8, 8]


def test_a_batch_is_padded_to_the_next_allowed_size_with_the_last_tasks_first_row():
    model = FakeModel()
    batcher = session(
        model,
        "max_batch_size { value: 8 } batch_timeout_micros { value: 0 } "
        "allowed_batch_sizes: 4 allowed_batch_sizes: 8",
    )
    x = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]], np.float32)
    y, rows = batcher.run({"x:0": x}, ["y:0", "rows:0"])
    assert model.batches[0]["x:0"].ravel().tolist() == [1, 2, 3, 4, 5, 1, 1, 1]
    assert rows.tolist() == [8] * 5  # the padding rows' outputs are dropped
    np.testing.assert_array_equal(y, 2 * x)


def test_each_run_gets_its_outputs_in_the_order_it_asked_for():
    model = FakeModel()
    batcher = session(model, "max_batch_size { value: 4 }")
    rows, y = batcher.run({"x:0": rows_of(3, 2)}, ["rows:0", "y:0"])
    assert rows.tolist() == [2, 2] and y.ravel().tolist() == [6, 6]


def test_variable_length_inputs_are_padded_with_the_tensors_first_element():
    gate = threading.Event()
    model = FakeModel(gate)
    batcher = session(
        model,
        "max_batch_size { value: 8 } batch_timeout_micros { value: 0 } pad_variable_length_inputs: true",
    )
    with ThreadPoolExecutor(3) as pool:
        blocker = pool.submit(batcher.run, {"x:0": rows_of(0, 1)}, ["y:0"])
        assert model.started.wait(30)  # the batch thread is busy: the next two wait together
        short = pool.submit(batcher.run, {"x:0": np.array([[7.0, 8.0]], np.float32)}, ["y:0"])
        long = pool.submit(batcher.run, {"x:0": np.array([[1.0, 2.0, 3.0]], np.float32)}, ["y:0"])
        while batcher._queue((("x:0",), ("y:0",)))._batches[0].size < 2:
            threading.Event().wait(0.01)
        gate.set()
        blocker.result(60)
        assert short.result(60)[0].tolist() == [[14.0, 16.0, 14.0]]
        assert long.result(60)[0].tolist() == [[2.0, 4.0, 6.0]]
    assert model.batches[1]["x:0"].tolist() == [[7.0, 8.0, 7.0], [1.0, 2.0, 3.0]]


def test_without_padding_different_shapes_in_one_batch_fail_the_batch():
    gate = threading.Event()
    model = FakeModel(gate)
    batcher = session(model, "max_batch_size { value: 8 } batch_timeout_micros { value: 0 }")
    with ThreadPoolExecutor(3) as pool:
        blocker = pool.submit(batcher.run, {"x:0": rows_of(0, 1)}, ["y:0"])
        assert model.started.wait(30)
        narrow = pool.submit(batcher.run, {"x:0": rows_of(1, 1, width=2)}, ["y:0"])
        wide = pool.submit(batcher.run, {"x:0": rows_of(1, 1, width=3)}, ["y:0"])
        while batcher._queue((("x:0",), ("y:0",)))._batches[0].size < 2:
            threading.Event().wait(0.01)
        gate.set()
        blocker.result(60)
        for future in (narrow, wide):
            with pytest.raises(ServingError) as caught:
                future.result(60)
            assert caught.value.code == "FAILED_PRECONDITION"
            assert caught.value.message == (
                "Tensors with name 'x:0' from different tasks have different shapes and padding is turned off. "
                "Set pad_variable_length_inputs to true, or ensure that all tensors with the same name have "
                "equal dimensions starting with the first dim."
            )


def test_a_full_queue_refuses_with_unavailable():
    gate = threading.Event()
    model = FakeModel(gate)
    batcher = session(
        model,
        "max_batch_size { value: 2 } batch_timeout_micros { value: 0 } max_enqueued_batches { value: 1 }",
    )
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(batcher.run, {"x:0": rows_of(0, 2)}, ["y:0"])
        assert model.started.wait(30)
        waiting = pool.submit(batcher.run, {"x:0": rows_of(1, 2)}, ["y:0"])  # fills the one open batch
        while batcher._queue((("x:0",), ("y:0",)))._batches[0].size < 2:
            threading.Event().wait(0.01)
        with pytest.raises(ServingError) as caught:
            batcher.run({"x:0": rows_of(2, 1)}, ["y:0"])
        gate.set()
        assert running.result(60)[0].shape == (2, 1) and waiting.result(60)[0].shape == (2, 1)
    assert (caught.value.code, caught.value.message) == (
        "UNAVAILABLE",
        "The batch scheduling queue to which this task was submitted is full; currently 1 batches enqueued "
        "and max_enqueued_batches is 1",
    )


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"x:0": rows_of(0, 5)}, "Task size 5 is larger than maximum input batch size 4"),
        ({"x:0": np.float32(1.0)}, "Batching Run() input tensors must have at least one dimension"),
        (
            {"x:0": rows_of(0, 2), "z:0": rows_of(0, 3)},
            "Batching Run() input tensors must have equal 0th-dimension size",
        ),
        ({}, "Batching Run() must have at least one input tensor"),
    ],
)
def test_runs_batching_refuses(feeds, message):
    model = FakeModel()
    batcher = session(model, "max_batch_size { value: 4 }")
    with pytest.raises(ServingError) as caught:
        batcher.run(feeds, ["y:0"])
    assert (caught.value.code, caught.value.message) == ("INVALID_ARGUMENT", message)
    assert model.batches == []


def test_large_batch_splitting_runs_a_big_task_in_pieces_and_joins_its_outputs():
    model = FakeModel()
    batcher = session(
        model,
        "max_batch_size { value: 10 } enable_large_batch_splitting { value: true } "
        "max_execution_batch_size { value: 4 }",
    )
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y, rows = batcher.run({"x:0": x}, ["y:0", "rows:0"])
    assert [batch["x:0"].shape[0] for batch in model.batches] == [4, 4, 2]
    np.testing.assert_array_equal(y, 2 * x)
    assert rows.tolist() == [4] * 8 + [2] * 2


def test_a_batch_whose_every_task_outlived_its_deadline_fails_with_resource_exhausted():
    gate = threading.Event()
    model = FakeModel(gate)
    batcher = session(model, "max_batch_size { value: 4 } batch_timeout_micros { value: 0 }")
    with ThreadPoolExecutor(2) as pool:
        blocker = pool.submit(batcher.run, {"x:0": rows_of(0, 1)}, ["y:0"])
        assert model.started.wait(30)
        late = pool.submit(batcher.run, {"x:0": rows_of(1, 1)}, ["y:0"], 1)  # timeout_ms=1
        while batcher._queue((("x:0",), ("y:0",)))._batches[0].size < 1:
            threading.Event().wait(0.01)
        threading.Event().wait(0.05)  # past the 1 ms deadline while the thread is busy
        gate.set()
        blocker.result(60)
        with pytest.raises(ServingError) as caught:
            late.result(60)
    assert (caught.value.code, caught.value.message) == (
        "RESOURCE_EXHAUSTED",
        "Run() timeout exceeded while waiting in batching queue",
    )


# ---------------------------------------------------------------------------
# The parameters file
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 6",
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 6; expected 8",
        ),
        (
            "allowed_batch_sizes: 64",
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 64; expected 1000",
        ),
        ("max_batch_size { value: 0 }", "input_batch_size_limit must be positive; was 0"),
        ("batch_timeout_micros { value: -1 }", "batch_timeout_micros must be non-negative; was -1"),
    ],
)
def test_queue_options_refused_at_load(text, message):
    with pytest.raises(ServingError) as caught:
        batching_config.queue_options(parameters(text))
    assert (caught.value.code, caught.value.message) == ("INVALID_ARGUMENT", message)


def test_defaults_are_shared_batch_schedulers():
    options = batching_config.queue_options(parameters(""))
    assert (options.max_batch_size, options.batch_timeout_micros, options.max_enqueued_batches) == (
        1000,
        0,
        10,
    )
    # max_enqueued_batches 0 is rewritten to 1 ("many existing models ... rely on this").
    assert (
        batching_config.queue_options(parameters("max_enqueued_batches { value: 0 }")).max_enqueued_batches
        == 1
    )
    server = batching_config.server_batching_parameters(True, "")
    assert batching_config.scheduler_options(server, 2) == batching_config.SchedulerOptions(
        2, "model_server_batch_threads"
    )
    with pytest.raises(ServingError, match=r"^num_batch_threads must be positive; was 0$"):
        batching_config.scheduler_options(parameters("num_batch_threads { value: 0 }"), 2)


# ---------------------------------------------------------------------------
# One server: three probe models with their own batching_params.pbtxt
# ---------------------------------------------------------------------------

MERGE_PARAMS = "max_batch_size { value: 8 } batch_timeout_micros { value: 60000000 }"
PAD_PARAMS = "max_batch_size { value: 4 } batch_timeout_micros { value: 0 } allowed_batch_sizes: 2 allowed_batch_sizes: 4"


def build_probe_model(export_dir: Path) -> None:
    """TF1 SavedModel: serving_default x [-1,-1] -> y = 2x, rows = the run's 0th dim per row;
    scalar s (any rank) -> s2 = 2s; pair a, b [-1] -> sum."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    build = tf1.saved_model.signature_def_utils.build_signature_def
    info = tf1.saved_model.utils.build_tensor_info
    predict = tf1.saved_model.signature_constants.PREDICT_METHOD_NAME
    builder = tf1.saved_model.builder.SavedModelBuilder(str(export_dir))
    with tf1.Session(graph=tf.Graph()) as sess:
        x = tf1.placeholder(tf.float32, [None, None], name="x")
        rows = tf.fill(tf.shape(x)[:1], tf.shape(x)[0], name="rows")
        y = tf.multiply(x, 2.0, name="y")
        s = tf1.placeholder(tf.float32, name="s")
        a = tf1.placeholder(tf.float32, [None], name="a")
        b = tf1.placeholder(tf.float32, [None], name="b")
        signatures = {
            "serving_default": build({"x": info(x)}, {"y": info(y), "rows": info(rows)}, predict),
            "scalar": build({"s": info(s)}, {"s2": info(tf.multiply(s, 2.0, name="s2"))}, predict),
            "pair": build({"a": info(a), "b": info(b)}, {"sum": info(tf.add(a, b, name="sum"))}, predict),
        }
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures)
    builder.save()


@pytest.fixture(scope="module")
def probe_version_dir(tmp_path_factory) -> Path:
    export_dir = tmp_path_factory.mktemp("template") / "probe" / "1"
    build_probe_model(export_dir)
    return export_dir


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory, probe_version_dir):
    import shutil

    from emulator_harness import model_config_text

    root = tmp_path_factory.mktemp("batching")
    models = []
    for name, params in (("merge", MERGE_PARAMS), ("pad", PAD_PARAMS), ("plain", None)):
        version = root / name / "1"
        shutil.copytree(probe_version_dir, version)
        if params is not None:
            (version / "batching_params.pbtxt").write_text(params)
        models.append({"name": name, "base_path": root / name})
    (root / "models.config").write_text(model_config_text(models))
    (root / "common.pbtxt").write_text("num_batch_threads { value: 1 }")
    with serve(
        [
            f"--model_config_file={root / 'models.config'}",
            "--enable_batching",
            f"--batching_parameters_file={root / 'common.pbtxt'}",
            "--enable_per_model_batching_parameters",
            # A request waiting in a batch queue holds a gRPC thread: more than 8 at once.
            "--grpc_max_threads=16",
        ]
    ) as served:
        yield served


def grpc_predict(served, model: str, inputs: dict, signature: str = "serving_default"):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    response = served.grpc.prediction.Predict(request, timeout=120)
    return {name: tf.make_ndarray(tensor) for name, tensor in response.outputs.items()}


def test_eight_concurrent_requests_run_as_one_batch_of_eight(batching_server):
    with ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda i: grpc_predict(batching_server, "merge", {"x": rows_of(i, 1)}), range(8))
        )
    for i, reply in enumerate(replies):
        assert reply["rows"].tolist() == [8]
        assert reply["y"].tolist() == [[2.0 * i]]


def test_a_three_row_request_runs_padded_to_four(batching_server):
    reply = grpc_predict(batching_server, "pad", {"x": rows_of(1.5, 3)})
    assert reply["rows"].tolist() == [4, 4, 4] and reply["y"].ravel().tolist() == [3.0] * 3
    assert grpc_predict(batching_server, "pad", {"x": rows_of(1.5, 1)})["rows"].tolist() == [2]


def test_a_model_without_its_own_parameters_is_not_batched(batching_server):
    reply = grpc_predict(batching_server, "plain", {"s": np.float32(2.0)}, signature="scalar")
    assert reply["s2"].tolist() == 4.0


@pytest.mark.parametrize(
    ("signature", "inputs", "message"),
    [
        ("serving_default", {"x": rows_of(0, 5)}, "Task size 5 is larger than maximum input batch size 4"),
        ("scalar", {"s": np.float32(2.0)}, "Batching Run() input tensors must have at least one dimension"),
        (
            "pair",
            {"a": np.zeros([2], np.float32), "b": np.zeros([3], np.float32)},
            "Batching Run() input tensors must have equal 0th-dimension size",
        ),
    ],
)
def test_refusals_over_grpc_and_rest(batching_server, signature, inputs, message):
    with pytest.raises(grpc.RpcError) as caught:
        grpc_predict(batching_server, "pad", inputs, signature)
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    body = {"signature_name": signature, "inputs": {name: value.tolist() for name, value in inputs.items()}}
    reply = batching_server.rest.post("/v1/models/pad:predict", body)
    assert (reply.status, reply.error) == (400, message)


def test_the_server_logs_which_models_it_batches(batching_server):
    log = batching_server.log_text()
    assert log.count("Wrapping session to perform batch processing") == 2


def test_allowed_batch_sizes_that_do_not_end_in_max_batch_size_stop_the_server(tmp_path, probe_version_dir):
    import shutil

    shutil.copytree(probe_version_dir, tmp_path / "probe" / "1")
    params = tmp_path / "batching.pbtxt"
    params.write_text("max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 6")
    result = run_emulator_to_exit(
        [
            "--model_name=probe",
            f"--model_base_path={tmp_path / 'probe'}",
            f"--port={free_port()}",
            f"--rest_api_port={free_port()}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
            "--max_num_load_retries=0",
            "--load_retry_interval_micros=0",
        ]
    )
    assert result.returncode == 255, result.stdout
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("Failed to start server. Error: ")]
    assert line.startswith(
        "Failed to start server. Error: UNKNOWN: 1 servable(s) did not become available: {"
    )
    assert (
        "INVALID_ARGUMENT: Last entry in allowed_batch_sizes must match max_batch_size; last entry was 6; "
        "expected 8" in line
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "max_batch_size: 8",
            "Failed to start server. Error: INVALID_ARGUMENT: Error parsing text-format "
            "tensorflow.serving.BatchingParameters: 1:17 : 'max_batch_size: 8': Expected \"{\".. "
            "Invalid protobuf file: '{path}'",
        ),
        (
            "num_batch_threads { value: 0 }",
            "Failed to start server. Error: INVALID_ARGUMENT: num_batch_threads must be positive; was 0",
        ),
    ],
)
def test_a_bad_parameters_file_stops_the_server(tmp_path, probe_version_dir, text, line):
    params = tmp_path / "batching.pbtxt"
    params.write_text(text)
    result = run_emulator_to_exit(
        [
            "--model_name=probe",
            f"--model_base_path={probe_version_dir.parent}",
            f"--port={free_port()}",
            f"--rest_api_port={free_port()}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
        ]
    )
    assert result.returncode == 255, result.stdout
    assert line.replace("{path}", str(params)) in result.stdout.splitlines(), result.stdout
    assert "Running gRPC ModelServer" not in result.stdout
