"""--rest_api_enable_cors_support: the headers TF Serving adds, and the OPTIONS preflight.

model_servers/http_server.cc (RestApiRequestDispatcher::ProcessRequest): on every request
that reaches the REST dispatcher (paths matching ``(?i)/v1/.*``), the handler's headers
(``Content-Type: application/json``, AddHeaders) come first, then, with the flag,
AddCORSHeaders' three, whatever the status. OPTIONS never reaches the handler: 200 when
the Origin header contains ``https?://``, else FAILED_PRECONDITION "Origin header is
missing in CORS preflight", which is HTTP 400; both with an empty body. libevent then adds
Date and Content-Length and, as the reply has no Content-Type, its default one
(``evhttp_make_header_response``, libevent 2.1.12: "text/html; charset=ISO-8859-1").
Paths outside /v1 never reach the dispatcher, so libevent's 404 page has no CORS headers.
"""

from __future__ import annotations

import json

import pytest
from emulator_harness import serve
from raw_http import exchange, get, post

HPT = "/v1/models/half_plus_two"
VALID = b'{"instances": [1.0, 2.0, 5.0]}'
CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, GET"),
    ("Access-Control-Allow-Headers", "Content-Type"),
]
JSON = [("Content-Type", "application/json")]
LIBEVENT_DEFAULT_TYPE = ("Content-Type", "text/html; charset=ISO-8859-1")
# What a browser sends before a POST with Content-Type: application/json.
PREFLIGHT_HEADERS = ("Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type")


@pytest.fixture(scope="module")
def cors_served(copy_into, half_plus_two_version_dir):
    base = copy_into(half_plus_two_version_dir, "half_plus_two", 123)
    flags = ["--model_name=half_plus_two", f"--model_base_path={base}", "--rest_api_enable_cors_support=true"]
    with serve(flags) as served:
        yield served


@pytest.fixture(scope="module")
def cors_port(cors_served) -> int:
    return cors_served.rest.port


@pytest.fixture(scope="module")
def plain_port(rest) -> int:
    return rest.port  # the suite's main server, started without the flag


def one(port: int, data: bytes):
    (reply,) = exchange(port, data)
    return reply


def without_date(reply) -> list[tuple[str, str]]:
    """The reply's headers in order, Date's value replaced (it is the clock)."""
    return [(name, "<date>" if name == "Date" else value) for name, value in reply.headers]


def preflight(path: str, *headers: str) -> bytes:
    lines = [f"OPTIONS {path} HTTP/1.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def put(path: str, body: bytes) -> bytes:
    return post(path, body).replace(b"POST ", b"PUT ", 1)


def head(path: str) -> bytes:
    return get(path).replace(b"GET ", b"HEAD ", 1)


def test_the_flag_is_not_reported_as_not_emulated(cors_served):
    assert "rest_api_enable_cors_support" not in cors_served.log_text()


@pytest.mark.parametrize("origin", ["http://localhost:8000", "https://example.com", "app+http://x"])
def test_a_preflight_from_an_http_origin_is_200_with_the_cors_headers(cors_port, origin):
    reply = one(cors_port, preflight(f"{HPT}:predict", f"Origin: {origin}", *PREFLIGHT_HEADERS))
    assert (reply.status, reply.reason, reply.body) == (200, "OK", b"")
    assert without_date(reply) == [*CORS, ("Date", "<date>"), ("Content-Length", "0"), LIBEVENT_DEFAULT_TYPE]


@pytest.mark.parametrize(
    "origin_header",
    [(), ("Origin: null",), ("Origin: file://",), ("Origin: localhost:8000",), ("Origin: HTTP://x",)],
    ids=["no-origin", "null", "file", "no-scheme", "upper-case-scheme"],
)
def test_a_preflight_without_an_http_origin_is_400_with_an_empty_body(cors_port, origin_header):
    # The FAILED_PRECONDITION message goes to the log only: the reply body stays empty.
    reply = one(cors_port, preflight(f"{HPT}:predict", *origin_header, *PREFLIGHT_HEADERS))
    assert (reply.status, reply.reason, reply.body) == (400, "Bad Request", b"")
    assert without_date(reply) == [*CORS, ("Date", "<date>"), ("Content-Length", "0"), LIBEVENT_DEFAULT_TYPE]


@pytest.mark.parametrize("path", [HPT, f"{HPT}/metadata", "/v1/models/nope:predict", "/V1/anything"])
def test_a_preflight_on_any_v1_path_is_answered_before_routing(cors_port, path):
    reply = one(cors_port, preflight(path, "Origin: http://localhost:8000"))
    assert (reply.status, reply.body) == (200, b"")


@pytest.mark.parametrize(
    ("request_bytes", "status", "answer"),
    [
        (get(HPT), 200, None),
        (post(f"{HPT}:predict", VALID), 200, {"predictions": [2.5, 3.0, 4.5]}),
        (get("/v1/models/nope"), 404, {"error": "Could not find any versions of model nope"}),
        (post(f"{HPT}:predict", b"{"), 400, None),
        (put(f"{HPT}:predict", VALID), 400, {"error": f"Malformed request: PUT {HPT}:predict"}),
    ],
    ids=["status", "predict", "not-found", "bad-json", "malformed"],
)
def test_every_v1_answer_carries_the_cors_headers_after_content_type(
    cors_port, request_bytes, status, answer
):
    reply = one(cors_port, request_bytes)
    assert reply.status == status
    if answer is not None:
        assert json.loads(reply.body) == answer
    length = str(len(reply.body))
    assert without_date(reply) == [*JSON, *CORS, ("Date", "<date>"), ("Content-Length", length)]


def test_a_head_request_has_the_cors_headers_and_no_length(cors_port):
    reply = one(cors_port, head(HPT))
    assert reply.status == 400  # HEAD is a malformed request on /v1
    assert without_date(reply) == [*JSON, *CORS, ("Date", "<date>")]


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_paths_outside_v1_get_no_cors_headers(cors_port, method):
    reply = one(cors_port, f"{method} / HTTP/1.1\r\nOrigin: http://localhost:8000\r\n\r\n".encode())
    assert reply.status == 404
    assert not [name for name in reply.names if name.startswith("Access-Control-")]


@pytest.mark.parametrize(
    "request_bytes",
    [get(HPT), post(f"{HPT}:predict", VALID), get("/v1/models/nope"), put(f"{HPT}:predict", VALID)],
    ids=["status", "predict", "not-found", "malformed"],
)
def test_without_the_flag_no_answer_has_cors_headers(plain_port, request_bytes):
    reply = one(plain_port, request_bytes)
    assert without_date(reply) == [*JSON, ("Date", "<date>"), ("Content-Length", str(len(reply.body)))]


@pytest.mark.parametrize(("origin", "status"), [("http://localhost:8000", 200), ("null", 400)])
def test_without_the_flag_a_preflight_is_still_answered_but_allows_nothing(plain_port, origin, status):
    # The OPTIONS branch does not depend on the flag; only the headers do. A browser sees no
    # Access-Control-Allow-Origin and refuses the POST.
    reply = one(plain_port, preflight(f"{HPT}:predict", f"Origin: {origin}", *PREFLIGHT_HEADERS))
    assert (reply.status, reply.body) == (status, b"")
    assert without_date(reply) == [("Date", "<date>"), ("Content-Length", "0"), LIBEVENT_DEFAULT_TYPE]
