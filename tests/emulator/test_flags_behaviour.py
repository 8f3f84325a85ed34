"""Flags that change what the server does, each checked against TF Serving 2.21's code.

--grpc_channel_arguments (server.cc parseGrpcChannelArgs), --num_request_iterations_for_warmup
(saved_model_warmup_util.cc), --enable_signature_method_name_check (predict_util.cc,
classifier.cc, regressor.cc), the session flags (server.cc's SessionBundleConfig),
--enable_serialization_as_tensor_content (Tensor::AsProtoTensorContent), a negative
--file_system_poll_wait_seconds, an address gRPC cannot bind, and the order of Predict's
input checks (tensorflow/cc/saved_model/util.cc GetInputValues).

One server runs with all the flags on; what needs no server runs in this process.
"""

from __future__ import annotations

import socket
from pathlib import Path

import grpc
import numpy as np
import pytest
from emulator_harness import install_version, model_config_text, run_emulator_to_exit, serve
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_log_pb2, regression_pb2

from tfserving_emulator.core.model_config import single_model_config
from tfserving_emulator.core.server_core import CoreOptions, ServerCore
from tfserving_emulator.grpc.server import parse_channel_arguments
from tfserving_emulator.grpc.tensor_proto import encode_tensor_content, make_tensor_proto, to_ndarray
from tfserving_emulator.model_servers.flags import parse
from tfserving_emulator.model_servers.server import session_config
from tfserving_emulator.servables import inference, saved_model
from tfserving_emulator.util.errors import ServingError

FAILURE_EXIT = 255  # main() returns -1
WARMUP_RECORDS = 2
WARMUP_ITERATIONS = 3
MAX_METADATA = 1024
PREDICT_METHODS = "{tensorflow/serving/predict, tensorflow/serving/classify, tensorflow/serving/regress}"


def _bad_float_tensor() -> tensor_pb2.TensorProto:
    """Claims two floats but holds three bytes: Tensor::FromProto refuses it."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\0\0\0")
    proto.tensor_shape.dim.add(size=2)
    return proto


def build_checks_model(export_dir: Path) -> None:
    """Signatures for the checks above:
    count        x -> count      (each run adds 1 to a variable and returns it)
    odd_method   x -> y          (method_name "custom/method")
    pair         a, b -> total   (b has a default of [10.0])
    bad_default  a, b -> total   (b's default cannot be parsed)
    echo         text -> text    (strings)
    """
    import tensorflow as tf

    tf1 = tf.compat.v1
    info = tf1.saved_model.utils.build_tensor_info
    predict = tf1.saved_model.signature_constants.PREDICT_METHOD_NAME

    def signature(inputs: dict, outputs: dict, method: str = predict):
        return tf1.saved_model.signature_def_utils.build_signature_def(
            inputs={k: info(v) for k, v in inputs.items()},
            outputs={k: info(v) for k, v in outputs.items()},
            method_name=method,
        )

    builder = tf1.saved_model.builder.SavedModelBuilder(str(export_dir))
    with tf1.Session(graph=tf.Graph()) as sess:
        counter = tf1.Variable(0.0, name="counter")
        x = tf1.placeholder(tf.float32, [None], name="x")
        count = counter.assign_add(1.0) + 0.0 * tf.reduce_sum(x)
        a = tf1.placeholder(tf.float32, [None], name="a")
        b = tf1.placeholder(tf.float32, [None], name="b")
        text = tf1.placeholder(tf.string, [None], name="text")
        pair = signature({"a": a, "b": b}, {"total": a + b})
        pair.defaults["b"].CopyFrom(make_tensor_proto(np.array([10.0], np.float32)))
        bad_default = signature({"a": a, "b": b}, {"total": a + b})
        bad_default.defaults["b"].CopyFrom(_bad_float_tensor())
        sess.run(tf1.global_variables_initializer())
        builder.add_meta_graph_and_variables(
            sess,
            ["serve"],
            signature_def_map={
                "count": signature({"x": x}, {"count": count}),
                "odd_method": signature({"x": x}, {"y": x * 2.0}, "custom/method"),
                "pair": pair,
                "bad_default": bad_default,
                "echo": signature({"text": text}, {"text": tf.identity(text)}),
            },
        )
    builder.save()
    warmup = export_dir / "assets.extra" / "tf_serving_warmup_requests"
    warmup.parent.mkdir()
    with tf.io.TFRecordWriter(str(warmup)) as writer:
        for _ in range(WARMUP_RECORDS):
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.model_spec.signature_name = "count"
            log.predict_log.request.inputs["x"].CopyFrom(make_tensor_proto(np.array([1.0], np.float32)))
            writer.write(log.SerializeToString())


@pytest.fixture(scope="module")
def checks_version_dir(tmp_path_factory) -> Path:
    export_dir = tmp_path_factory.mktemp("template") / "checks" / "1"
    build_checks_model(export_dir)
    return export_dir


@pytest.fixture(scope="module")
def flagged(tmp_path_factory, checks_version_dir, half_plus_two_version_dir):
    root = tmp_path_factory.mktemp("flagged")
    install_version(checks_version_dir, root / "checks", 1)
    install_version(half_plus_two_version_dir, root / "half_plus_two", 123)
    config = root / "models.config"
    config.write_text(
        model_config_text(
            [
                {"name": "checks", "base_path": root / "checks"},
                {"name": "half_plus_two", "base_path": root / "half_plus_two"},
            ]
        )
    )
    session = root / "session.config"
    session.write_text("operation_timeout_in_ms: 60000\n")
    with serve(
        [
            f"--model_config_file={config}",
            "--enable_signature_method_name_check",
            "--enable_serialization_as_tensor_content",
            f"--grpc_channel_arguments=grpc.absolute_max_metadata_size={MAX_METADATA},"
            "grpc.max_receive_message_length=4096",
            f"--num_request_iterations_for_warmup={WARMUP_ITERATIONS}",
            f"--tensorflow_session_config_file={session}",
            "--tensorflow_intra_op_parallelism=1",
        ]
    ) as served:
        yield served


def _predict(model: str, signature: str, **inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for alias, value in inputs.items():
        proto = value if isinstance(value, tensor_pb2.TensorProto) else make_tensor_proto(value)
        request.inputs[alias].CopyFrom(proto)
    return request


def _error(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    return raised.value.code(), raised.value.details()


FLOATS = np.array([1.0, 2.0], np.float32)

# -- the flagged server ----------------------------------------------------------------------


def test_no_flag_of_the_server_is_reported_as_not_emulated(flagged):
    assert " is not emulated " not in flagged.log_text()


def test_each_warmup_record_runs_num_request_iterations_times(flagged):
    response = flagged.grpc.prediction.Predict(_predict("checks", "count", x=FLOATS), timeout=30)
    (count,) = np.frombuffer(response.outputs["count"].tensor_content, np.float32)
    assert count == WARMUP_RECORDS * WARMUP_ITERATIONS + 1


def test_predict_outputs_are_tensor_content(flagged):
    response = flagged.grpc.prediction.Predict(_predict("half_plus_two", "", x=FLOATS), timeout=30)
    y = response.outputs["y"]
    assert (y.dtype, list(y.float_val), [d.size for d in y.tensor_shape.dim]) == (types_pb2.DT_FLOAT, [], [2])
    assert y.tensor_content == np.array([2.5, 3.0], np.float32).tobytes()
    texts = np.array([b"a", b"bc"], dtype=object)
    response = flagged.grpc.prediction.Predict(_predict("checks", "echo", text=texts), timeout=30)
    out = response.outputs["text"]
    assert (list(out.string_val), out.tensor_content) == ([], b"\x01\x02abc")


def test_rest_answers_are_json_as_before(flagged):
    reply = flagged.rest.post("/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0]})
    assert (reply.status, reply.json()) == (200, {"predictions": [2.5, 3.0]})


def test_predict_refuses_a_signature_with_another_method_name(flagged):
    code, details = _error(flagged.grpc.prediction.Predict, _predict("checks", "odd_method", x=FLOATS))
    assert (code, details) == (
        grpc.StatusCode.INTERNAL,
        f"Expected prediction signature method_name to be one of {PREDICT_METHODS}. Was: custom/method",
    )
    reply = flagged.rest.post(
        "/v1/models/checks:predict", {"signature_name": "odd_method", "instances": [1.0]}
    )
    assert (reply.status, reply.error) == (
        500,
        f"Expected prediction signature method_name to be one of {PREDICT_METHODS}. Was: custom/method",
    )


def test_predict_accepts_classify_and_regress_signatures(flagged):
    request = _predict("half_plus_two", "regress_x_to_y")
    request.inputs["inputs"].CopyFrom(make_tensor_proto(np.array([b""], dtype=object)))
    code, details = _error(flagged.grpc.prediction.Predict, request)
    # Past the method check: the empty example fails in the graph instead.
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "method_name" not in details


def _examples_request(request_type, signature: str):
    request = request_type()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = signature
    request.input.example_list.examples.add().features.feature["x"].float_list.value.append(1.0)
    return request


def test_classify_and_regress_refuse_each_others_signatures(flagged):
    classify = _examples_request(classification_pb2.ClassificationRequest, "regress_x_to_y")
    assert _error(flagged.grpc.prediction.Classify, classify) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/regress",
    )
    regress = _examples_request(regression_pb2.RegressionRequest, "classify_x_to_y")
    assert _error(flagged.grpc.prediction.Regress, regress) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Expected regression signature method_name to be tensorflow/serving/regress. "
        "Was: tensorflow/serving/classify",
    )
    response = flagged.grpc.prediction.Regress(
        _examples_request(regression_pb2.RegressionRequest, "regress_x_to_y"), timeout=30
    )
    assert [r.value for r in response.result.regressions] == [2.5]


def test_a_channel_argument_reaches_the_grpc_server(flagged):
    request = _predict("half_plus_two", "", x=FLOATS)
    with pytest.raises(grpc.RpcError) as raised:
        flagged.grpc.prediction.Predict(request, metadata=[("big", "v" * 3000)], timeout=30)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert raised.value.details().startswith("received metadata size exceeds hard limit (")
    assert f" vs. {MAX_METADATA});" in raised.value.details()


def test_channel_arguments_cannot_lower_the_message_size_limit(flagged):
    # server.cc calls SetMaxMessageSize(INT32_MAX) before adding the channel arguments, and
    # gRPC keeps the first value of a key: the 4096 given above changes nothing.
    request = _predict("half_plus_two", "", x=np.zeros(2000, np.float32))
    assert request.ByteSize() > 4096
    response = flagged.grpc.prediction.Predict(request, timeout=30)
    assert len(response.outputs["y"].tensor_content) == 2000 * 4


# -- Predict's input checks, in TF Serving's order ---------------------------------------------


def test_every_input_is_parsed_before_any_dtype_is_checked(flagged):
    request = _predict("checks", "pair", a=np.array([b"text"], dtype=object), b=_bad_float_tensor())
    assert _error(flagged.grpc.prediction.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: b",
    )
    request = _predict("checks", "pair", a=np.array([b"text"], dtype=object), b=FLOATS)
    assert _error(flagged.grpc.prediction.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Expects arg[0] to be float but string is provided",
    )


def test_a_default_that_cannot_be_parsed_is_a_parsing_error(flagged):
    request = _predict("checks", "bad_default", a=FLOATS)
    assert _error(flagged.grpc.prediction.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "tensor parsing error: b",
    )


def test_a_default_fills_a_missing_input(flagged):
    response = flagged.grpc.prediction.Predict(_predict("checks", "pair", a=FLOATS), timeout=30)
    assert np.frombuffer(response.outputs["total"].tensor_content, np.float32).tolist() == [11.0, 12.0]


def test_a_request_input_the_signature_does_not_use_is_refused(flagged):
    request = _predict("checks", "pair", a=FLOATS, bogus=FLOATS)
    assert _error(flagged.grpc.prediction.Predict, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Inputs contains invalid name. Used request inputs: a, request input: a,bogus",
    )


# -- in this process -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "arguments"),
    [
        ("", []),
        ("grpc.max_connection_age_ms=2000", [("grpc.max_connection_age_ms", 2000)]),
        ("a= 7 ,b=x,c=-3", [("a", 7), ("b", "x"), ("c", -3)]),
        ("big=2147483648,small=-2147483648", [("big", "2147483648"), ("small", -(2**31))]),
        ("k=1=2,hex=0x10,plus=+5", [("k", 1), ("hex", "0x10"), ("plus", 5)]),
    ],
)
def test_channel_arguments_are_read_as_server_cc_reads_them(text, arguments):
    assert parse_channel_arguments(text) == arguments


def test_a_channel_argument_without_a_value_is_refused():
    with pytest.raises(ValueError) as raised:
        parse_channel_arguments("a=1,b")
    assert str(raised.value) == '--grpc_channel_arguments entry "b" is not key=value'


def _session(argv: list[str]):
    return session_config(parse([*argv, "--model_base_path=/m"]).flags)


def test_the_parallelism_flags_override_the_session_config_file(tmp_path):
    path = tmp_path / "session.config"
    path.write_text(
        "intra_op_parallelism_threads: 7\ninter_op_parallelism_threads: 5\noperation_timeout_in_ms: 1234\n"
    )
    config = _session([f"--tensorflow_session_config_file={path}"])
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (0, 0)
    assert config.operation_timeout_in_ms == 1234
    config = _session([f"--tensorflow_session_config_file={path}", "--tensorflow_intra_op_parallelism=3"])
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (3, 0)
    config = _session(["--tensorflow_session_parallelism=2"])
    assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (2, 2)
    config = _session(["--per_process_gpu_memory_fraction=0.25"])
    assert config.gpu_options.per_process_gpu_memory_fraction == 0.25


def test_a_bad_session_config_file_is_refused(tmp_path):
    path = tmp_path / "session.config"
    path.write_text("bogus: 1\n")
    with pytest.raises(ServingError) as raised:
        _session([f"--tensorflow_session_config_file={path}"])
    assert raised.value.status_string() == (
        'INVALID_ARGUMENT: Error parsing text-format tensorflow.ConfigProto: 1:1 : Message type "tensorflow.ConfigProto" '
        f"has no field named \"bogus\".. Invalid protobuf file: '{path}'"
    )
    with pytest.raises(ServingError) as raised:
        _session([f"--tensorflow_session_config_file={tmp_path / 'missing'}"])
    assert raised.value.status_string() == f"NOT_FOUND: {tmp_path / 'missing'}; No such file or directory"


def test_sessions_are_created_with_the_configured_config_proto(checks_version_dir):
    saved_model.configure_sessions(_session(["--tensorflow_inter_op_parallelism=2"]))
    try:
        model = saved_model.LoadedModel("checks", 1, str(checks_version_dir))
        config = model._session._config
        assert (config.intra_op_parallelism_threads, config.inter_op_parallelism_threads) == (0, 2)
        assert config.allow_soft_placement
        model._free()
    finally:
        saved_model.configure_sessions(_session([]))


def test_without_the_check_any_method_name_serves(checks_version_dir):
    assert not inference.method_name_check()  # the binary's default
    model = saved_model.LoadedModel("checks", 1, str(checks_version_dir))
    try:
        _, outputs = inference.predict(model, "odd_method", {"x": FLOATS})
        assert outputs["y"].tolist() == [2.0, 4.0]
    finally:
        model._free()


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1.5, -2.0]], np.float32),
        np.array([1, 2**40], np.int64),
        np.array([True, False]),
        np.array([0.5], np.float16),
        np.zeros((0, 3), np.float32),
    ],
)
def test_tensor_content_is_what_tensorflow_serializes(array):
    import tensorflow as tf

    expected = tf.io.serialize_tensor(tf.constant(array)).numpy()
    assert tensor_pb2.TensorProto.FromString(
        encode_tensor_content(array)
    ) == tensor_pb2.TensorProto.FromString(expected)


def test_string_tensor_content_is_varint_lengths_then_bytes():
    # Helper<tstring>::Encode (port::EncodeStringList); tf.io.serialize_tensor writes
    # strings to string_val instead, so it is no reference here.
    array = np.array([b"", b"abc", b"x" * 200], dtype=object)
    proto = tensor_pb2.TensorProto.FromString(encode_tensor_content(array))
    assert proto.tensor_content == b"\x00\x03\xc8\x01abc" + b"x" * 200
    assert to_ndarray(proto).tolist() == array.tolist()


def test_a_negative_poll_wait_never_reads_the_file_system(half_plus_two_version_dir, tmp_path):
    base = tmp_path / "half_plus_two"
    install_version(half_plus_two_version_dir, base, 123)
    config = single_model_config("half_plus_two", str(base))
    never = ServerCore(CoreOptions(file_system_poll_wait_seconds=-1))
    once = ServerCore(CoreOptions(file_system_poll_wait_seconds=0))
    try:
        for core in (never, once):
            core._apply_model_list(config)  # what start() does before it waits
        with pytest.raises(ServingError) as raised:
            never.version_status("half_plus_two")
        assert raised.value.status_string() == "NOT_FOUND: Could not find any versions of model half_plus_two"
        assert [(r.version, r.state) for r in once.version_status("half_plus_two")] == [(123, "AVAILABLE")]
    finally:
        never.stop()
        once.stop()


# -- start-up failures -----------------------------------------------------------------------


def test_a_grpc_port_in_use_fails_to_build_the_server(half_plus_two_version_dir, tmp_path):
    base = tmp_path / "half_plus_two"
    install_version(half_plus_two_version_dir, base, 123)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_emulator_to_exit(
            [f"--port={port}", "--model_name=half_plus_two", f"--model_base_path={base}"]
        )
    assert result.returncode == FAILURE_EXIT
    assert result.stdout.splitlines()[-1] == (
        "Failed to start server. Error: INVALID_ARGUMENT: Failed to BuildAndStart gRPC server"
    )


def test_a_bad_session_config_file_stops_start_up(tmp_path):
    path = tmp_path / "session.config"
    path.write_text("intra_op_parallelism_threads: many\n")
    result = run_emulator_to_exit(["--model_base_path=/m", f"--tensorflow_session_config_file={path}"])
    assert result.returncode == FAILURE_EXIT
    assert result.stdout.splitlines()[-1] == (
        "Failed to start server. Error: INVALID_ARGUMENT: Error parsing text-format tensorflow.ConfigProto: "
        f"1:31 : 'intra_op_parallelism_threads: many': Couldn't parse integer: many. Invalid protobuf file: '{path}'"
    )
