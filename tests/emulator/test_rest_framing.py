"""HTTP framing on the REST port, byte for byte: what libevent 2.1.12 (evhttp, as TF
Serving configures it) answers to malformed, oversized and ambiguous requests.

Every refusal is libevent's ``evhttp_send_error`` page with ``Connection: close``, and
the connection ends after it: bytes behind a bad frame are never served as a request.
"""

from __future__ import annotations

import json
import socket

import pytest
from raw_http import exchange, exchange_bytes, get, parse_responses, post

PREDICT = "/v1/models/half_plus_two:predict"
VALID = b'{"instances": [1.0, 2.0, 5.0]}'
PREDICTIONS = {"predictions": [2.5, 3.0, 4.5]}
STATUS = "/v1/models/half_plus_two"
SMUGGLED = get(STATUS)  # must never be answered when it hides behind a bad frame


def page(status: int, reason: str) -> bytes:
    return f"<HTML><HEAD>\n<TITLE>{status} {reason}</TITLE>\n</HEAD><BODY>\n<H1>{reason}</H1>\n</BODY></HTML>\n".encode()


@pytest.fixture(scope="module")
def port(rest) -> int:
    return rest.port


def assert_refused(responses, status: int, reason: str) -> None:
    """Exactly one answer: libevent's error page; nothing after it."""
    assert [(r.status, r.reason) for r in responses] == [(status, reason)], responses
    (reply,) = responses
    assert reply.version == "1.1"
    assert reply.names == ["Content-Type", "Connection", "Date", "Content-Length"]
    assert (reply.header("Content-Type"), reply.header("Connection")) == ("text/html", "close")
    assert reply.body == page(status, reason)


# -- Content-Length ------------------------------------------------------------------------


@pytest.mark.parametrize("length", ["-1", "", "abc", "1.5", "+5", "0x10", "5 5"])
def test_bad_content_length_is_400_and_nothing_after_it_is_served(port, length):
    request = f"POST {PREDICT} HTTP/1.1\r\nContent-Length: {length}\r\n\r\n".encode()
    assert_refused(exchange(port, request + SMUGGLED), 400, "Bad Request")


@pytest.mark.parametrize(
    "length",
    ["2147483648", "1000000000000000", "9223372036854775807", "18446744073709551616", "9" * 30],
)
def test_a_claimed_body_beyond_the_limit_is_413_at_once(port, length):
    # Answered from the header alone: nothing of that size is read or allocated.
    request = f"POST {PREDICT} HTTP/1.1\r\nContent-Length: {length}\r\n\r\n".encode()
    assert_refused(exchange(port, request + VALID), 413, "Request Entity Too Large")


def test_content_length_and_chunked_together_are_refused(port):
    request = (
        f"POST {PREDICT} HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + b"1e\r\n"
        + VALID
        + b"\r\n0\r\n\r\n"
    )
    assert_refused(exchange(port, request), 400, "Bad Request")


def test_two_content_lengths_are_refused(port):
    request = f"POST {PREDICT} HTTP/1.1\r\nContent-Length: 30\r\nContent-Length: 2\r\n\r\n".encode() + VALID
    assert_refused(exchange(port, request), 400, "Bad Request")


def test_a_body_cut_short_gets_no_answer(port):
    # libevent drops a connection that ends inside a request (EVREQ_HTTP_EOF).
    assert exchange_bytes(port, post(PREDICT, VALID)[:-5]) == b""


# -- chunked bodies ------------------------------------------------------------------------


def chunked(*chunks: bytes, tail: bytes = b"0\r\n\r\n") -> bytes:
    head = f"POST {PREDICT} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    return head + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + tail


def test_a_chunked_body_is_read_whole(port):
    (reply,) = exchange(port, chunked(VALID[:7], VALID[7:20], VALID[20:]))
    assert (reply.status, json.loads(reply.body)) == (200, PREDICTIONS)


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",  # not hex
        b"10000000000000000\r\n{}",  # more than 64 bits
        b"2\r\n{}XX0\r\n\r\n",  # no CRLF after the chunk
        b"-2\r\n{}\r\n0\r\n\r\n",
    ],
)
def test_a_broken_chunked_body_is_413(port, body):
    # evhttp_read_body reports every chunk error as EVREQ_HTTP_DATA_TOO_LONG.
    head = f"POST {PREDICT} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    assert_refused(exchange(port, head + body + SMUGGLED), 413, "Request Entity Too Large")


# -- request lines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"\x00\xff\x13 garbage",
        b"GET / HTTP/1.1111",
        b"GET / HTTP/3.0",
        b"GET / HTTP/2.0",
        b"GET /v1/models/half_plus_two",
        b"GET  HTTP/1.1",
        b"GET /v1/models/half_plus_two HTTPS/1.1",
        b"GET /v1/models/h\xc3\xa9 HTTP/1.1",
        b"GET /v1/models/a b HTTP/1.1",
    ],
)
def test_malformed_request_lines_are_400(port, line):
    assert_refused(exchange(port, line + b"\r\n\r\n" + SMUGGLED), 400, "Bad Request")


@pytest.mark.parametrize(
    "target",
    [
        "/v1/models/half_plus_two%zz:predict",  # a bad percent escape
        "/v1/models/a|b:predict",
        "/v1/models/<x>:predict",
        '/v1/models/"x":predict',
        "/v1/models/{x}:predict",
        "/v1/models/half_plus_two%2:predict",  # a cut escape
        "1v:models",  # no scheme (a digit first), so the first segment may hold no colon
    ],
)
def test_targets_evhttp_uri_parse_refuses_are_400(port, target):
    # ParsedEvRequest::decode runs evhttp_uri_parse; a failure is evhttp_send_error(400).
    assert_refused(exchange(port, post(target, VALID)), 400, "Bad Request")


@pytest.mark.parametrize("method", [b"FOO", b"get", b"TRACE", b"PROPFIND"])
def test_methods_libevent_does_not_allow_are_501(port, method):
    assert_refused(
        exchange(port, method + b" /v1/models/half_plus_two HTTP/1.1\r\n\r\n"), 501, "Not Implemented"
    )


def test_connect_is_501(port):
    assert_refused(exchange(port, b"CONNECT localhost:1 HTTP/1.1\r\n\r\n"), 501, "Not Implemented")


# -- sizes: libevent sets no limits, the emulator's are generous ------------------------------


def test_a_long_url_reaches_the_api(port):
    name = "m" * 200_000
    (reply,) = exchange(port, post(f"/v1/models/{name}:predict", VALID))
    assert (reply.status, reply.header("Content-Type")) == (404, "application/json")
    assert json.loads(reply.body) == {"error": f"Servable not found for request: Latest({name})"}


def test_many_headers_reach_the_api(port):
    headers = [f"X-Header-{i}: {'v' * 20}" for i in range(2000)]
    (reply,) = exchange(port, post(PREDICT, VALID, *headers))
    assert (reply.status, json.loads(reply.body)) == (200, PREDICTIONS)


def test_a_head_beyond_one_mebibyte_is_400(port):
    headers = [f"X-Header-{i}: {'v' * 1000}" for i in range(1100)]
    assert_refused(exchange(port, post(PREDICT, VALID, *headers)), 400, "Bad Request")


# -- Expect, keep-alive, HTTP/1.0 --------------------------------------------------------------


def test_expect_100_continue_gets_the_interim_answer_first(port):
    request = post(PREDICT, VALID, "Expect: 100-continue")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request[: -len(VALID)])
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(VALID)
        sock.shutdown(socket.SHUT_WR)
        (reply,) = parse_responses(sock.makefile("rb").read())
    assert (reply.status, json.loads(reply.body)) == (200, PREDICTIONS)


def test_no_interim_answer_when_the_body_came_with_the_headers(port):
    # evhttp_get_body sends "100 Continue" only while no body bytes are waiting.
    (reply,) = exchange(port, post(PREDICT, VALID, "Expect: 100-continue"))
    assert (reply.status, json.loads(reply.body)) == (200, PREDICTIONS)


def test_any_other_expectation_is_417(port):
    assert_refused(exchange(port, post(PREDICT, VALID, "Expect: nothing")), 417, "Expectation Failed")


def test_pipelined_requests_are_answered_in_order(port):
    bodies = [b'{"instances": [%d.0]}' % i for i in range(4)]
    replies = exchange(port, b"".join(post(PREDICT, body) for body in bodies) + get(STATUS))
    assert [json.loads(r.body) for r in replies[:4]] == [{"predictions": [i / 2 + 2]} for i in range(4)]
    assert json.loads(replies[4].body)["model_version_status"][0]["state"] == "AVAILABLE"


def test_v1_answers_carry_libevents_headers(port):
    (reply,) = exchange(port, post(PREDICT, VALID))
    assert (reply.version, reply.status, reply.reason) == ("1.1", 200, "OK")
    assert reply.names == ["Content-Type", "Date", "Content-Length"]
    assert reply.header("Content-Length") == str(len(reply.body))


def test_connection_close_is_honoured(port):
    replies = exchange(port, post(PREDICT, VALID, "Connection: close") + SMUGGLED)
    assert [r.status for r in replies] == [200]
    assert replies[0].names == ["Content-Type", "Date", "Content-Length", "Connection"]
    assert replies[0].header("Connection") == "close"


def test_http_1_0_is_answered_in_1_0_and_closed(port):
    data = exchange_bytes(port, post(PREDICT, VALID, version="1.0") + SMUGGLED)
    head, body = data.split(b"\r\n\r\n", 1)
    # evhttp_make_header_response: no Date and no Content-Length for a 1.0 request.
    assert head == b"HTTP/1.0 200 OK\r\nContent-Type: application/json"
    assert json.loads(body) == PREDICTIONS


def test_http_1_0_keep_alive(port):
    replies = exchange(port, post(PREDICT, VALID, "Connection: keep-alive", version="1.0") + get(STATUS))
    assert [(r.version, r.status) for r in replies] == [("1.0", 200), ("1.1", 200)]
    assert replies[0].names == ["Content-Type", "Connection", "Content-Length"]


def test_a_path_outside_v1_is_404_and_closes(port):
    assert_refused(exchange(port, get("/v2/models") + SMUGGLED), 404, "Not Found")


def test_an_absolute_target_is_served_by_its_path(port):
    (reply,) = exchange(port, post(f"http://example.com{PREDICT}", VALID))
    assert (reply.status, json.loads(reply.body)) == (200, PREDICTIONS)


# -- JSON nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [255, 1000, 50_000])
@pytest.mark.parametrize("key", ["inputs", "instances"])
def test_tensors_past_tensorflows_254_dimensions_are_a_tensor_parsing_error(port, depth, key):
    body = b'{"%s": ' % key.encode() + b"[" * depth + b"1.0" + b"]" * depth + b"}"
    (reply,) = exchange(port, post(PREDICT, body))
    assert (reply.status, json.loads(reply.body)) == (400, {"error": "tensor parsing error: x"})


@pytest.mark.parametrize("depth", [65, 254])
def test_tensors_past_numpys_64_dimensions_are_refused(port, depth):
    # TensorFlow would hold them; numpy cannot (a deliberate difference, as on gRPC).
    body = b'{"inputs": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"
    (reply,) = exchange(port, post(PREDICT, body))
    message = (
        "Tensors of more than 64 dimensions are not supported by this emulator (numpy's limit);"
        f" the request has one of {depth}"
    )
    assert (reply.status, json.loads(reply.body)) == (400, {"error": message})


def test_a_64_dimension_tensor_is_served(port):
    body = b'{"inputs": ' + b"[" * 64 + b"1.0" + b"]" * 64 + b"}"
    (reply,) = exchange(port, post(PREDICT, body))
    outputs = json.loads(reply.body)["outputs"]
    for _ in range(64):
        (outputs,) = outputs
    assert (reply.status, outputs) == (200, 2.5)


@pytest.mark.parametrize("depth", [300, 50_000])
def test_a_deep_document_that_is_no_object_is_named_so(port, depth):
    (reply,) = exchange(port, post(PREDICT, b"[" * depth + b"]" * depth))
    error = json.loads(reply.body)["error"]
    # JsonValueToString cuts the document at 256 bytes.
    assert (reply.status, error) == (400, "JSON Value: " + "[" * 256 + " Is not object")


def test_deep_members_outside_the_tensors_are_ignored(port):
    body = b'{"instances": [1.0], "x": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"
    (reply,) = exchange(port, post(PREDICT, body))
    assert (reply.status, json.loads(reply.body)) == (200, {"predictions": [2.5]})
