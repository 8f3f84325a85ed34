"""Fuzz gRPC Predict with random tensor protos: every answer is the one TF Serving gives.

A seeded generator builds a few thousand ``TensorProto`` inputs for half_plus_two: odd
dtypes, negative, huge and overflowing dimensions, up to 300 dimensions, too few, too
many or wrongly typed values, ``tensor_content`` of the right and wrong sizes. Each
answer is checked against TensorFlow's own parser (``tensorflow_parser``):

* unparseable for TensorFlow -> INVALID_ARGUMENT ``tensor parsing error: x``;
* a float tensor -> the model's answer (``0.5 * x + 2``);
* another dtype -> the session's ``Expects arg[0] to be float but <dtype> is provided``;
* what docs/emulator.md lists as refused (numpy's limits, resource/variant) -> its message.

No answer may be INTERNAL, the log must hold no traceback, and the server must still
serve afterwards.
"""

from __future__ import annotations

import math
import random

import grpc
import numpy as np
import pytest
from emulator_harness import model_config_text, serve
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_parser import tensorflow_parse
from tensorflow_serving.apis import predict_pb2

from tfserving_emulator.util.dtypes import DTYPES as DTYPES_HELD

T = types_pb2
CASES = 2500
SEED = 20260
TIMEOUT = 30
# Valid shapes hold at most this many values, or at least HUGE (which no machine holds);
# anything between would make the reference parser allocate for real.
SMALL, HUGE = 64, 2**40
DTYPES = [v.number for v in T.DataType.DESCRIPTOR.values] + [34, 99, 999]
FIELDS = [
    "float_val",
    "double_val",
    "int_val",
    "string_val",
    "scomplex_val",
    "int64_val",
    "bool_val",
    "dcomplex_val",
    "half_val",
    "uint32_val",
    "uint64_val",
    "float8_val",
]
SPECIAL_DIMS = [-1, -2, -(2**63), 2**31, 2**40, 2**62, 2**63 - 1]
PARSE_ERROR = "tensor parsing error: x"
NUMPY_LIMIT = "(numpy's limit)"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, copy_into, half_plus_two_version_dir):
    base = copy_into(half_plus_two_version_dir, "half_plus_two", 1)
    config = tmp_path_factory.mktemp("fuzz_grpc") / "models.config"
    config.write_text(model_config_text([{"name": "half_plus_two", "base_path": base}]))
    with serve([f"--model_config_file={config}"]) as served:
        yield served


def element_count(dims: list[int]) -> int | None:
    """TensorShape::IsValid's running product; None for a shape it refuses."""
    if len(dims) > 254:
        return None
    count = 1
    for size in dims:
        count *= size
        if size < 0 or count >= 2**63:
            return None
    return count


def random_shape(rng: random.Random) -> list[int]:
    while True:
        rank = rng.choice([0, 1, 1, 2, 2, 3, 4, 64, 65, 254, 255, 300])
        many = rank > 8
        dims = [
            rng.choice(SPECIAL_DIMS)
            if rng.random() < (0.01 if many else 0.12)
            else rng.choice([1] * 40 + [0, 2])
            if many
            else rng.choice([0, 1, 1, 2, 3, 4])
            for _ in range(rank)
        ]
        count = element_count(dims)
        if count is None or count <= SMALL or count >= HUGE:
            return dims


def random_values(rng: random.Random, message: tensor_pb2.TensorProto, count: int) -> None:
    few = rng.randrange(0, min(count, SMALL) + 3)
    if rng.random() < 0.25:
        itemsize = rng.choice([1, 2, 4, 8, 16])
        length = rng.choice([count * itemsize, count * itemsize + 1, max(count * itemsize - 1, 1), few])
        if message.dtype == T.DT_STRING and rng.random() < 0.5:
            strings = [bytes(rng.randrange(3)) for _ in range(min(count, SMALL))]
            message.tensor_content = bytes(len(s) for s in strings) + b"".join(strings)
        else:
            message.tensor_content = bytes(rng.randrange(256) for _ in range(min(length, 4096)))
        return
    field = rng.choice(FIELDS)
    if field == "float8_val":
        message.float8_val = bytes(rng.randrange(256) for _ in range(few))
    elif field == "string_val":
        message.string_val.extend(bytes([rng.randrange(256)]) * rng.randrange(3) for _ in range(few))
    elif field == "bool_val":
        message.bool_val.extend(rng.random() < 0.5 for _ in range(few))
    elif field in ("float_val", "double_val", "scomplex_val", "dcomplex_val"):
        getattr(message, field).extend(rng.choice([rng.uniform(-9, 9), 0.0, -0.0]) for _ in range(few))
    elif field == "uint32_val":
        message.uint32_val.extend(rng.randrange(2**32) for _ in range(few))
    elif field == "uint64_val":
        message.uint64_val.extend(rng.randrange(2**64) for _ in range(few))
    elif field == "int64_val":
        message.int64_val.extend(rng.randrange(-(2**63), 2**63) for _ in range(few))
    else:  # int_val, half_val
        getattr(message, field).extend(rng.randrange(-(2**31), 2**31) for _ in range(few))


def random_tensor(rng: random.Random) -> tuple[tensor_pb2.TensorProto, int | None]:
    """A proto and its element count (None when TensorFlow's shape check refuses it)."""
    dtype = T.DT_FLOAT if rng.random() < 0.35 else rng.choice(DTYPES)
    message = tensor_pb2.TensorProto(dtype=dtype)
    dims = random_shape(rng)
    for size in dims:
        message.tensor_shape.dim.add(size=size)
    if rng.random() < 0.03:
        message.tensor_shape.unknown_rank = True
    count = element_count(dims)
    random_values(rng, message, count if count is not None and count <= SMALL else 3)
    return message, count


def expected_answer(message: tensor_pb2.TensorProto, count: int | None):
    """(code, message) TF Serving answers, or ("OK", expected y) for a float tensor."""
    if count is not None and message.dtype in (T.DT_RESOURCE, T.DT_VARIANT):
        name = T.DataType.Name(message.dtype)
        return grpc.StatusCode.INVALID_ARGUMENT, (
            f"{name} request tensors are not supported by this emulator (numpy has no value for them)"
        )
    if count is not None and count >= HUGE:
        return grpc.StatusCode.INVALID_ARGUMENT, PARSE_ERROR  # the allocator gives up
    reference = tensorflow_parse(message)
    if not reference.ok:
        return grpc.StatusCode.INVALID_ARGUMENT, PARSE_ERROR
    shape = [d.size for d in message.tensor_shape.dim]
    # numpy counts an empty array's bytes from its non-zero dimensions.
    itemsize = DTYPES_HELD[message.dtype].numpy.itemsize
    if len(shape) > 64 or (count == 0 and itemsize * math.prod(d for d in shape if d) >= 2**63):
        return grpc.StatusCode.INVALID_ARGUMENT, NUMPY_LIMIT
    if reference.type_string != "float":
        return grpc.StatusCode.INVALID_ARGUMENT, (
            f"Expects arg[0] to be float but {reference.type_string} is provided"
        )
    return "OK", np.float32(0.5) * reference.value + np.float32(2.0)


def predict(stubs, message: tensor_pb2.TensorProto):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(message)
    try:
        response = stubs.prediction.Predict(request, timeout=TIMEOUT)
    except grpc.RpcError as error:
        return error.code(), error.details()
    y = response.outputs["y"]
    return "OK", np.float32(y.float_val).reshape([d.size for d in y.tensor_shape.dim])


def test_random_tensor_protos_get_tf_servings_answers(fuzz_server):
    rng = random.Random(SEED)
    tally: dict[str, int] = {}
    for case in range(CASES):
        message, count = random_tensor(rng)
        want_code, want = expected_answer(message, count)
        code, got = predict(fuzz_server.grpc, message)
        assert code != grpc.StatusCode.INTERNAL, (case, message, got)
        if want_code == "OK":
            # half_plus_two's x is [-1, 1]; other shapes may be refused by the run.
            if code == "OK":
                np.testing.assert_array_equal(got, want, err_msg=f"case {case}: {message}")
                tally["served"] = tally.get("served", 0) + 1
            else:
                assert code == grpc.StatusCode.INVALID_ARGUMENT, (case, message, got)
        elif want == NUMPY_LIMIT:
            assert code == want_code and NUMPY_LIMIT in got, (case, message, got)
        else:
            assert (code, got) == (want_code, want), (case, message)
        key = str(want_code) if want_code != grpc.StatusCode.INVALID_ARGUMENT else want.split(":")[0][:40]
        tally[key] = tally.get(key, 0) + 1
    # The generator reaches every kind of answer, not just one.
    assert tally["served"] > 100 and tally["tensor parsing error"] > 300, tally
    assert sum(v for k, v in tally.items() if k.startswith("Expects arg[0]")) > 200, tally
    assert tally[NUMPY_LIMIT] > 10, tally

    log = fuzz_server.log_text()
    assert "Traceback" not in log and "failed: " not in log
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=T.DT_FLOAT, float_val=[1.0, 2.0, 5.0], tensor_shape={"dim": [{"size": 3}]}
        )
    )
    response = fuzz_server.grpc.prediction.Predict(request, timeout=TIMEOUT)
    assert list(response.outputs["y"].float_val) == [2.5, 3.0, 4.5]
