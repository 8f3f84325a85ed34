"""Fuzz the live REST port: no input may produce a 5xx, a non-JSON error, or a dead server.

Hypothesis throws random bytes, random JSON documents, mutations of valid requests,
random URL paths and every HTTP method at a running emulator. TF Serving answers bad
input with a 4xx and ``{"error": "..."}`` on ``/v1`` paths (and libevent's HTML 404
elsewhere); the one legitimate 5xx for a half_plus_two-style model is 501 for a dtype
JSON cannot express, which random documents do not reach.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from emulator_harness import model_config_text, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VALID_BODIES = [
    '{"instances": [1.0, 2.0, 5.0]}',
    '{"inputs": {"x": [[1.0], [2.0]]}}',
    '{"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": [3.0]}]}',
    '{"signature_name": "regress_x_to_y", "context": {"x2": 1.0}, "examples": [{"x": 2.0}]}',
    '{"signature_name": "sum_and_product", "instances": [{"a": 1.0, "b": 2.0}]}',
    '{"signature_name": "echo_text", "instances": [{"b64": "aGk="}, "plain"]}',
]
ENDPOINTS = [
    "/v1/models/half_plus_two:predict",
    "/v1/models/half_plus_two:classify",
    "/v1/models/half_plus_two:regress",
    "/v1/models/toolbox:predict",
    "/v1/models/half_plus_two/versions/1:predict",
    "/v1/models/half_plus_two/labels/x:regress",
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, copy_into, half_plus_two_version_dir, toolbox_version_dir):
    hpt = copy_into(half_plus_two_version_dir, "half_plus_two", 1)
    toolbox = copy_into(toolbox_version_dir, "toolbox", 1)
    config = tmp_path_factory.mktemp("fuzz") / "models.config"
    config.write_text(
        model_config_text(
            [{"name": "half_plus_two", "base_path": hpt}, {"name": "toolbox", "base_path": toolbox}]
        )
    )
    with serve([f"--model_config_file={config}"]) as served:
        yield served


def check_reply(method: str, path: str, reply) -> None:
    is_api = path.lower().startswith("/v1/")
    if not is_api:
        assert reply.status == 404, (method, path, reply)
        return
    if reply.status == 501:  # UNIMPLEMENTED: only the dtype-conversion case exists
        assert json.loads(reply.body)["error"].startswith("Conversion of JSON Value: "), (method, path, reply)
        return
    assert reply.status < 500, (method, path, reply)
    if method in ("HEAD", "OPTIONS"):
        return  # no body (HEAD), or CORS pre-flight handling outside the API (OPTIONS)
    assert reply.content_type == "application/json", (method, path, reply)
    # The request dump inside some messages is cut at 256 bytes, possibly inside a UTF-8
    # sequence, and written out raw -- as TF Serving does -- so decode leniently.
    document = json.loads(reply.body.decode("utf-8", errors="replace"))
    if reply.status >= 400:
        assert set(document) == {"error"} and isinstance(document["error"], str), (method, path, reply)
    else:
        assert isinstance(document, dict)


def assert_still_serving(served) -> None:
    reply = served.rest.post("/v1/models/half_plus_two:predict", '{"instances": [1.0, 2.0, 5.0]}')
    assert (reply.status, reply.json()) == (200, {"predictions": [2.5, 3.0, 4.5]})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
    | st.sampled_from(["x", "x2", "a", "b", "b64", "instances", "inputs", "examples", "signature_name"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                ["instances", "inputs", "examples", "context", "signature_name", "x", "x2", "a", "b", "b64"]
            )
            | st.text(max_size=5),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@st.composite
def mutated_valid_bodies(draw) -> bytes:
    body = bytearray(draw(st.sampled_from(VALID_BODIES)).encode())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(body)))
        operation = draw(st.sampled_from(["delete", "insert", "replace"]))
        byte = draw(st.sampled_from(b'{}[]",:0123456789.-eE tfnaxbNI\\\xff'))
        if operation == "delete" and position < len(body):
            del body[position]
        elif operation == "insert":
            body.insert(position, byte)
        elif position < len(body):
            body[position] = byte
    return bytes(body)


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        st.sampled_from(["instances", "inputs", "signature_name", "examples", "context"]), json_values
    ).map(lambda v: json.dumps(v).encode()),
    mutated_valid_bodies(),
)


@SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_random_bodies(fuzz_server, endpoint, body):
    check_reply("POST", endpoint, fuzz_server.rest.request("POST", endpoint, body))


segment = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.sampled_from(["é", " ", "%", "/"]),
    max_size=12,
).map(lambda s: quote(s, safe="/:%"))
paths = st.one_of(
    st.builds(
        lambda prefix, name, middle, suffix: f"{prefix}{name}{middle}{suffix}",
        st.sampled_from(["/v1/models/", "/V1/MODELS/", "/v1/", "/v2/models/", "/", "/v1/models"]),
        st.sampled_from(["half_plus_two", "toolbox", "nope", ""]) | segment,
        st.sampled_from(["", "/versions/123", "/versions/1", "/labels/x", "/versions/99999999999999999999"])
        | segment,
        st.sampled_from([":predict", ":classify", ":regress", "/metadata", "", ":PREDICT"]) | segment,
    ),
    segment.map(lambda s: "/" + s.lstrip("/")),
)


@SETTINGS
@given(
    method=st.sampled_from(METHODS),
    path=paths,
    body=st.sampled_from([b"", *(b.encode() for b in VALID_BODIES)]),
)
def test_random_paths_and_methods(fuzz_server, method, path, body):
    check_reply(method, path, fuzz_server.rest.request(method, path, body))


def test_deeply_nested_json_is_a_client_error(fuzz_server):
    depth = 50_000
    reply = fuzz_server.rest.post(
        "/v1/models/half_plus_two:predict", '{"instances": ' + "[" * depth + "]" * depth + "}"
    )
    check_reply("POST", "/v1/models/half_plus_two:predict", reply)
    assert 400 <= reply.status < 500


def test_server_still_answers_after_the_fuzzing(fuzz_server):
    assert_still_serving(fuzz_server)
