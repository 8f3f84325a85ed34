"""Fuzz the live REST port: no input may produce a 5xx, a non-JSON error, or a dead server.

Hypothesis throws random bytes, random JSON documents, mutations of valid requests,
random URL paths and every HTTP method at a running emulator. TF Serving answers bad
input with a 4xx and ``{"error": "..."}`` on ``/v1`` paths (and libevent's HTML 404
elsewhere); the one legitimate 5xx for a half_plus_two-style model is 501 for a dtype
JSON cannot express, which random documents do not reach. A seeded campaign of 10,000
requests over raw sockets then breaks the framing itself (libevent's answers: error pages
with a status line, nothing served behind a bad frame).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from emulator_harness import model_config_text, serve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_http import exchange

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


BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def split_authority(target: str) -> tuple[bool, str]:
    """(refused, path) for a target as evhttp_uri_parse reads one that starts with "//".

    "//" opens an authority, up to the next "/", "?" or "#"; libevent's parse_authority
    takes a trailing ":<digits>" as the port (at most 65535) and refuses a host that still
    holds a colon. (The fuzzed segments are percent-quoted, so no other host character is bad.)
    """
    if not target.startswith("//"):
        return False, target
    authority, path = re.match(r"//([^/?#]*)(.*)", target, re.DOTALL).groups()
    port = re.search(r":([0-9]*)$", authority)
    host = authority[: port.start()] if port else authority
    refused = ":" in host or bool(port and port.group(1) and int(port.group(1)) > 65535)
    return refused, path


def check_reply(method: str, path: str, reply) -> None:
    refused, path = split_authority(path)
    if refused or BAD_ESCAPE.search(path):  # evhttp_uri_parse refuses the target: libevent's 400 page
        assert (reply.status, reply.content_type) == (400, "text/html"), (method, path, reply)
        return
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


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("//:predict", 400),  # found by the fuzzing: the authority's host is ":predict"
        ("//host:99999/v1/models/half_plus_two", 400),  # a port above 65535
        ("//host:8501/v1/models/half_plus_two", 200),  # the path after the authority is served
        ("//v1/models/half_plus_two", 404),  # the authority is "v1"; the path is /models/...
    ],
)
def test_a_target_starting_with_two_slashes_has_an_authority(fuzz_server, target, status):
    reply = fuzz_server.rest.request("GET", target, b"")
    assert reply.status == status, reply
    check_reply("GET", target, reply)


def test_deeply_nested_json_is_a_client_error(fuzz_server):
    depth = 50_000
    reply = fuzz_server.rest.post(
        "/v1/models/half_plus_two:predict", '{"instances": ' + "[" * depth + "]" * depth + "}"
    )
    check_reply("POST", "/v1/models/half_plus_two:predict", reply)
    assert 400 <= reply.status < 500


def test_server_still_answers_after_the_fuzzing(fuzz_server):
    assert_still_serving(fuzz_server)


# ---------------------------------------------------------------------------------------
# A seeded campaign over the wire: framing, headers, bodies and shapes
# ---------------------------------------------------------------------------------------
# Raw bytes on fresh connections (raw_http.exchange), so framing itself can be broken.
# Every answer must be an HTTP response with a status line; libevent's error pages come
# last on their connection (it closes after them); /v1 answers are JSON; where the
# outcome is known exactly (a refusal's status, a valid predict's values) it is checked.

CAMPAIGN_SEED = 20_211_203
CAMPAIGN_REQUESTS = 10_000
PREDICT = "/v1/models/half_plus_two:predict"
HALF_INPUTS = [x / 2 for x in range(-8, 9)]  # y = x/2 + 2 is exact for these
ERROR_PAGE_TYPES = {400: "Bad Request", 404: "Not Found", 413: "Request Entity Too Large"}
ERROR_PAGE_TYPES |= {417: "Expectation Failed", 501: "Not Implemented"}


@dataclass
class Case:
    """Bytes for one connection; ``expected`` holds one entry per answer (an int is an
    exact status, a dict an exact JSON answer, None any valid answer); ``requests``
    counts the requests inside."""

    data: bytes
    expected: list
    requests: int = 1
    exact_count: bool = True


def page_bytes(status: int) -> bytes:
    reason = ERROR_PAGE_TYPES[status]
    return f"<HTML><HEAD>\n<TITLE>{status} {reason}</TITLE>\n</HEAD><BODY>\n<H1>{reason}</H1>\n</BODY></HTML>\n".encode()


def check_answer(response, expected) -> None:
    assert response.version in ("1.0", "1.1"), response
    content_type = response.header("Content-Type")
    if content_type == "text/html":  # libevent's error page
        assert response.header("Connection") == "close", response
        assert response.body == page_bytes(response.status), response
    else:
        assert content_type == "application/json", response
        document = json.loads(response.body.decode("utf-8", errors="replace"))
        if response.status >= 400:
            assert set(document) == {"error"}, response
            if response.status >= 500:
                assert response.status == 501, response
                assert document["error"].startswith("Conversion of JSON Value: "), response
        if isinstance(expected, dict):
            assert (response.status, document) == (200, expected), response
    if isinstance(expected, int):
        assert response.status == expected, response


def check_case(case: Case, responses: list) -> None:
    if case.exact_count:
        assert len(responses) == len(case.expected), (case.data[:300], responses)
    else:
        assert len(responses) <= len(case.expected), (case.data[:300], responses)
    for index, response in enumerate(responses):
        check_answer(response, case.expected[index])
        if response.header("Connection") == "close":
            assert index == len(responses) - 1, responses


def nested_text(rng: random.Random, depth: int) -> str:
    """A regular JSON array ``depth`` levels deep (too deep for json.dumps), still small."""
    text = "1.0"
    for level in range(depth):
        text = "[" + ", ".join([text] * (rng.choice([1, 2]) if level < 3 else 1)) + "]"
    return text


def hostile_value(rng: random.Random, depth: int = 0) -> object:
    pick = rng.random()
    if depth > 3 or pick < 0.45:
        return rng.choice(
            [1.5, -0.0, 2**63, -(2**64), 1e308, "x", "", None, True, {"b64": "aGk="}, {"b64": 5}, 7, 1e-320]
        )
    if pick < 0.8:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["x", "a", "b", "b64", "inputs", ""]): hostile_value(rng, depth + 1)}


def gen_predicts(rng: random.Random) -> Case:
    """Pipelined predicts; exact answers for regular bodies, any JSON answer otherwise."""
    data, expected = b"", []
    for _ in range(rng.randint(1, 12)):
        roll = rng.random()
        if roll < 0.4:
            xs = [rng.choice(HALF_INPUTS) for _ in range(rng.randint(1, 20))]
            key = rng.choice(["instances", "inputs"])
            body = json.dumps({key: xs}).encode()
            answer = {"predictions" if key == "instances" else "outputs": [x / 2 + 2 for x in xs]}
        elif roll < 0.55:  # deeper than the emulator's tensors (numpy's 64 dimensions)
            depth = rng.choice([65, 100, 254, 255, 1000])
            body = b'{"inputs": ' + nested_text(rng, depth).encode() + b"}"
            answer = 400
        else:
            document = {rng.choice(["instances", "inputs", "examples"]): hostile_value(rng)}
            if rng.random() < 0.3:
                document["signature_name"] = rng.choice(["", "nope", "regress_x_to_y", 5])
            body = json.dumps(document).encode()
            if rng.random() < 0.3:  # a few broken bytes
                position = rng.randrange(len(body))
                body = body[:position] + bytes([rng.randrange(256)]) + body[position + 1 :]
            answer = None
        path = PREDICT if rng.random() < 0.8 else rng.choice(ENDPOINTS)
        data += raw_post(path, body)
        expected.append(answer if path == PREDICT else None)
    return Case(data, expected, requests=len(expected))


BAD_FRAMES = [
    (b"Content-Length: -1\r\n", 400),
    (b"Content-Length: \r\n", 400),
    (b"Content-Length: 12abc\r\n", 400),
    (b"Content-Length: 999999999999999999999999999999\r\n", 413),
    (b"Content-Length: 9223372036854775807\r\n", 413),
    (b"Content-Length: 1000000000000000\r\n", 413),
    (b"Content-Length: 3\r\nContent-Length: 4\r\n", 400),
    (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400),
    (b"Transfer-Encoding: gzip\r\n", 400),
    (b"Content-Length: 20\r\nExpect: 200-ok\r\n", 417),
    (b"Bad Header\r\n", 400),
    (b"X: a\r\n folded\r\n", 400),
]
BAD_LINES = [
    (b"GET / HTTP/1.1111", 400),
    (b"GET / HTTP/3.0", 400),
    (b"GET / HTTP/2.0", 400),
    (b"GET /v1/models/half_plus_two", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS hello
    (b"FOO /v1/models/half_plus_two HTTP/1.1", 501),
    (b"TRACE /v1/models/half_plus_two HTTP/1.1", 501),
    (b"get /v1/models/half_plus_two HTTP/1.1", 501),
    (b"GET /v1/models/half_plus_two%zz HTTP/1.1", 400),
    (b"GET /v1/models/a|b HTTP/1.1", 400),
    (b"GET /v1/models/\xff HTTP/1.1", 400),
]


def gen_bad_frame(rng: random.Random) -> Case:
    """One refusal; the valid request smuggled behind it is never answered."""
    smuggled = raw_post(PREDICT, b'{"instances": [1.0]}')
    if rng.random() < 0.5:
        header, status = rng.choice(BAD_FRAMES)
        head = f"POST {PREDICT} HTTP/1.1\r\n".encode() + header
        return Case(head + b"\r\n" + b'{"instances": [1.0]}' + smuggled, [status])
    line, status = rng.choice(BAD_LINES)
    return Case(line + b"\r\n\r\n" + smuggled, [status])


def gen_broken_chunks(rng: random.Random) -> Case:
    body = json.dumps({"instances": [rng.choice(HALF_INPUTS)]}).encode()
    head = f"POST {PREDICT} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    if rng.random() < 0.4:  # valid chunks of random sizes
        cuts = sorted(rng.sample(range(1, len(body)), rng.randint(0, 4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        x = json.loads(body)["instances"][0]
        return Case(head + chunks, [{"predictions": [x / 2 + 2]}])
    bad = rng.choice([b"zz\r\n", b"10000000000000000\r\n", b"%x\r\n%sXX" % (len(body), body), b"-1\r\n"])
    return Case(head + bad + b"\r\n" + raw_post(PREDICT, body), [413])


def gen_truncated(rng: random.Random) -> Case:
    """A valid request cut short: the connection ends inside it, no answer (as libevent)."""
    request = raw_post(PREDICT, json.dumps({"instances": [1.0, 2.0]}).encode())
    return Case(request[: rng.randrange(1, len(request))], [])


def gen_random_bytes(rng: random.Random) -> Case:
    """Noise: at most one answer, and then an error page (None: checked generically)."""
    noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    return Case(noise, [None], exact_count=False)


def gen_headers(rng: random.Random) -> Case:
    """Valid predicts under random (valid) headers: many, long, odd but legal."""
    x = rng.choice(HALF_INPUTS)
    headers = [
        "{}: {}".format(
            "".join(rng.choice("abcdefXYZ-_!#$%&'*+.^`|~0123456789") for _ in range(rng.randint(1, 30))),
            "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randint(0, 200))).strip(),
        )
        for _ in range(rng.choice([0, 1, 5, 50, 500]))
    ]
    close = rng.random() < 0.3
    if close:
        headers.append("Connection: close")
    if rng.random() < 0.2:
        headers.append("Expect: 100-continue")
    version = rng.choice(["1.1", "1.1", "1.0"])
    request = raw_post(PREDICT, json.dumps({"instances": [x]}).encode(), headers, version)
    answer = {"predictions": [x / 2 + 2]}
    # After a close (asked for, or HTTP/1.0's default) the status request is not read.
    follow = [] if close or version == "1.0" else [None]
    return Case(request + raw_get("/v1/models/half_plus_two"), [answer, *follow], requests=2)


def raw_post(path: str, body: bytes, headers: list[str] = (), version: str = "1.1") -> bytes:
    head = [f"POST {path} HTTP/{version}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def raw_get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\n\r\n".encode()


GENERATORS = [
    (gen_predicts, 6),
    (gen_bad_frame, 4),
    (gen_broken_chunks, 2),
    (gen_truncated, 1),
    (gen_random_bytes, 2),
    (gen_headers, 2),
]


def test_seeded_campaign_over_the_wire(fuzz_server):
    rng = random.Random(CAMPAIGN_SEED)
    generators = [g for g, weight in GENERATORS for _ in range(weight)]
    port = fuzz_server.rest.port
    sent = 0
    while sent < CAMPAIGN_REQUESTS:
        case = rng.choice(generators)(rng)
        check_case(case, exchange(port, case.data))
        sent += case.requests
    assert "Traceback" not in fuzz_server.log_text()
    assert_still_serving(fuzz_server)
