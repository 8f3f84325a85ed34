"""REST dispatch: which paths reach the API, methods, case rules, decoding, headers."""

from __future__ import annotations

import pytest

HPT = "/v1/models/half_plus_two"
VALID = '{"instances": [1.0, 2.0, 5.0]}'
PREDICTIONS = {"predictions": [2.5, 3.0, 4.5]}
HTML_404 = b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"
STATUS_123 = {
    "model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/v1"),
        ("POST", "/v1"),
        ("GET", "/v2/models/half_plus_two"),
        ("POST", "/v2/models/half_plus_two:predict"),
        ("POST", "/models/half_plus_two:predict"),
        ("GET", "/monitoring/prometheus/metrics"),  # monitoring is not enabled on this server
        ("GET", "/xv1/models/half_plus_two"),
    ],
)
def test_paths_outside_v1_get_libevents_html_404(rest, method, path):
    reply = rest.request(method, path, VALID if method == "POST" else None)
    assert reply.status == 404
    assert reply.content_type == "text/html"
    # evhttp_send_error(req, HTTP_NOTFOUND, nullptr) with libevent 2.1's ERR_FORMAT.
    assert reply.body == HTML_404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/"),
        ("GET", "/v1/foo"),
        ("POST", "/v1/foo"),
        ("POST", "/v1/models"),
        ("POST", HPT),
        ("GET", "/v1/models/foo:predict"),
        ("GET", "/v1/models/debug/model_name"),
        ("POST", f"{HPT}/version/50:predict"),
        ("POST", f"{HPT}/versions/HELLO:regress"),
        ("POST", "/v1/models/foo/metadata"),
        ("POST", f"{HPT}/label/x:regress"),
        ("POST", f"{HPT}/versions/50/labels/x:regress"),
        ("POST", f"{HPT}/versions/some_label:regress"),
        ("POST", f"{HPT}:explain"),
        ("PUT", f"{HPT}:predict"),
        ("DELETE", f"{HPT}:predict"),
        ("PATCH", f"{HPT}:predict"),
        ("DELETE", HPT),
        ("PUT", f"{HPT}/metadata"),
    ],
)
def test_malformed_requests(rest, method, path):
    reply = rest.request(method, path, VALID)
    assert (reply.status, reply.error) == (400, f"Malformed request: {method} {path}")
    assert reply.content_type == "application/json"


@pytest.mark.parametrize("path", ["/", "/v2/models/half_plus_two:predict"])
def test_options_outside_v1_is_a_plain_404(rest, path):
    reply = rest.request("OPTIONS", path)
    assert (reply.status, reply.body) == (404, HTML_404)


@pytest.mark.parametrize(
    ("origin", "status"), [(None, 400), ("file://x", 400), ("http://example.com", 200), ("https://a.b", 200)]
)
def test_options_on_v1_is_a_cors_preflight(rest, origin, status):
    # Handled before the API handler: 200 when Origin names an http(s) origin, otherwise
    # FAILED_PRECONDITION "Origin header is missing in CORS preflight" -> 400; no body either way.
    headers = {} if origin is None else {"Origin": origin}
    reply = rest.request("OPTIONS", f"{HPT}:predict", headers=headers)
    assert (reply.status, reply.body) == (status, b"")


def test_head_is_a_malformed_request(rest):
    reply = rest.request("HEAD", HPT)
    assert reply.status == 400
    assert reply.content_type == "application/json"
    assert reply.body == b""  # HEAD replies carry no body


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", f"{HPT}:predict", VALID),
        ("GET", HPT, None),
        ("GET", f"{HPT}/metadata", None),
        ("POST", "/v1/models/nope:predict", VALID),
        ("GET", "/v1/models", None),
        ("PUT", f"{HPT}:predict", VALID),
    ],
)
def test_every_v1_response_is_json(rest, method, path, body):
    reply = rest.request(method, path, body)
    assert reply.content_type == "application/json"
    assert isinstance(reply.json(), dict)


# -- case rules: the URL regexes are case-insensitive, the verb comparison is not ----------


def test_upper_case_prefix_still_predicts(rest):
    reply = rest.post("/V1/MODELS/half_plus_two:predict", VALID)
    assert (reply.status, reply.json()) == (200, PREDICTIONS)


def test_upper_case_versions_segment(rest):
    reply = rest.get("/V1/Models/half_plus_two/VERSIONS/123")
    assert (reply.status, reply.json()) == (200, STATUS_123)


def test_upper_case_verb_is_malformed(rest):
    reply = rest.post(f"{HPT}:PREDICT", VALID)
    assert (reply.status, reply.error) == (400, f"Malformed request: POST {HPT}:PREDICT")


def test_upper_case_metadata_is_a_status_request(rest):
    reply = rest.get(f"{HPT}/METADATA")
    assert (reply.status, reply.json()) == (200, STATUS_123)


def test_model_names_are_case_sensitive(rest):
    reply = rest.post("/v1/models/HALF_PLUS_TWO:predict", VALID)
    assert (reply.status, reply.error) == (404, "Servable not found for request: Latest(HALF_PLUS_TWO)")


# -- percent-decoding of names and labels ------------------------------------------------


def test_percent_encoded_model_name_is_decoded(rest):
    reply = rest.post("/v1/models/half%5Fplus%5Ftwo:predict", VALID)
    assert (reply.status, reply.json()) == (200, PREDICTIONS)


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("no%20pe", "no pe"),
        ("a%3Ab", "a:b"),
        ("a%2Fb", "a/b"),
        ("modelname%21%23%24%25%26%27%28%29", "modelname!#$%&'()"),
    ],
)
def test_decoded_unknown_names_appear_in_the_error(rest, encoded, decoded):
    reply = rest.post(f"/v1/models/{encoded}:predict", VALID)
    assert (reply.status, reply.error) == (404, f"Servable not found for request: Latest({decoded})")


def test_percent_encoded_label_is_decoded(rest):
    reply = rest.post(f"{HPT}/labels/f%2Fo%3Ao%20x:predict", VALID)
    assert (reply.status, reply.error) == (400, "Unrecognized servable version label: f/o:o x")


# -- ignored parts of a request ----------------------------------------------------------


def test_query_string_is_ignored(rest):
    reply = rest.post(f"{HPT}:predict?signature_name=nope&debug=1", VALID)
    assert (reply.status, reply.json()) == (200, PREDICTIONS)
    reply = rest.get(f"{HPT}?verbose=true")
    assert (reply.status, reply.json()) == (200, STATUS_123)


def test_unknown_body_keys_are_ignored(rest):
    reply = rest.post(f"{HPT}:predict", '{"instances": [1.0, 2.0, 5.0], "output_filter": ["nope"], "x": 1}')
    assert (reply.status, reply.json()) == (200, PREDICTIONS)
