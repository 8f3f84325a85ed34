"""The HTTP/REST front end on ``--rest_api_port``.

URL grammar, dispatch order and error bodies follow ``http_rest_api_handler.cc`` and
``http_server.cc``: only paths matching ``/v1/.*`` reach the handler (others get a
plain HTML 404, like libevent's default), every ``/v1`` answer is JSON, and an error
is ``{"error": "<message>"}`` with the status code mapped from the absl code.
"""

from __future__ import annotations

import contextlib
import json
import re
from urllib.parse import unquote

from google.protobuf import json_format

from ..core.server_core import ServerCore
from ..json import example_request, predict_request, response
from ..model_servers.dispatch import Dispatch
from ..model_servers.metrics import Metrics
from ..servables import inference
from ..util.errors import ServingError, invalid_argument
from . import http_server as rest_http

_NAME = r"([^/:]+)"
_VERSION_OR_LABEL = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
PREDICTION_API = re.compile(rf"/v1/models/{_NAME}{_VERSION_OR_LABEL}:(classify|regress|predict)", re.I)
MODEL_STATUS_API = re.compile(rf"/v1/models(?:/{_NAME})?{_VERSION_OR_LABEL}(?:\/(metadata))?", re.I)
REST_API_PATH = re.compile(r"/v1/.*", re.I | re.S)
INT64_MAX = 2**63 - 1


class RestApi:
    """The ``/v1`` endpoints: parse the URL and the body, call the dispatch layer, write JSON."""

    def __init__(
        self, core: ServerCore, metrics: Metrics, timeout_ms: int, prometheus_path: str | None = None
    ):
        self.core = core
        self.metrics = metrics
        self.dispatch = Dispatch(core, metrics)
        self.timeout_ms = timeout_ms or None
        self.prometheus_path = prometheus_path

    def handle(self, method: str, path: str) -> tuple[int, str | None, bytes] | None:
        """Non-/v1 routes: (status, content type, body), or None when the path is a /v1 path.

        A content type of None asks for libevent's error page: a path no handler takes gets
        ``evhttp_send_error(req, HTTP_NOTFOUND, nullptr)`` (``evhttp_server.cc``).
        """
        if self.prometheus_path and path == self.prometheus_path:
            return 200, "text/plain; charset=utf-8", self.metrics.render().encode()
        if not REST_API_PATH.fullmatch(path):
            return 404, None, b""
        return None

    def handle_v1(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        # http_server.cc counts every /v1 request, with the model name and method its path
        # parsed to ("" when it parsed to none); inference (POST) takes turns, status and
        # metadata need not.
        api, model_name = _metric_labels(method, path)
        try:
            payload = self.dispatch.request(
                "REST", api, model_name, lambda: self._route(method, path, body), takes_turn=method == "POST"
            )
            return 200, payload
        except ServingError as error:
            return error.http_status, response.make_error_body(error.message)

    def _route(self, method: str, path: str, body: bytes) -> bytes:
        if method == "POST" and (match := PREDICTION_API.fullmatch(path)):
            name, version, label = _model_info(match)
            verb = match.group(4)
            if verb == "predict":
                return self._predict(name, version, label, body)
            if verb in ("classify", "regress"):  # the URL's case rules are not the verb's
                return self._classify_regress(name, version, label, body, verb)
        if method == "GET" and (match := MODEL_STATUS_API.fullmatch(path)):
            name, version, label = _model_info(match)
            if match.group(4) == "metadata":
                return self._metadata(name, version, label)
            return self._status(name, version)
        raise invalid_argument(f"Malformed request: {method} {path}")

    # -- handlers --------------------------------------------------------------------------

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> bytes:
        acquired = []
        with contextlib.ExitStack() as held:
            # The body names the signature, whose inputs the parser needs: the servable is
            # looked up (once) when the parser asks for them, and held until the answer.
            def input_infos(signature_name: str):
                model = held.enter_context(self.dispatch.servable(name, version, label))
                key = signature_name or inference.DEFAULT_SIGNATURE
                signature = model.signature_defs.get(key)
                if signature is None:
                    raise invalid_argument(f'Serving signature name: "{key}" not found in signature def')
                acquired.append(model)
                return signature.inputs

            request = predict_request.fill_predict_request(body, input_infos)
            _, outputs = self.dispatch.predict(
                acquired[0], name, request.signature_name, request.inputs, timeout_ms=self.timeout_ms
            )
            return response.make_predict_response(outputs, request.row_format)

    def _classify_regress(self, name, version, label, body: bytes, method: str) -> bytes:
        signature_name, model_input = example_request.fill_classify_regress_request(body, method)
        with self.dispatch.servable(name, version, label) as model:
            if method == "classify":
                _, result = self.dispatch.classify(model, signature_name, model_input, self.timeout_ms)
                return response.make_classify_response(result)
            _, result = self.dispatch.regress(model, signature_name, model_input, self.timeout_ms)
            return response.make_regress_response(result)

    def _status(self, name: str, version: int | None) -> bytes:
        if not name:
            raise invalid_argument("Missing model name in request.")
        records = self.core.version_status(name, version)
        doc = {
            "model_version_status": [
                {
                    "version": str(r.version),
                    "state": r.state,
                    "status": {
                        "error_code": r.error.code if r.error else "OK",
                        "error_message": r.error.message if r.error else "",
                    },
                }
                for r in records
            ]
        }
        return json.dumps(doc, indent=1).encode()

    def _metadata(self, name: str, version: int | None, label: str | None) -> bytes:
        if not name:
            raise invalid_argument("Missing model name in request.")
        with self.dispatch.servable(name, version, label) as model:
            signature_defs = json_format.MessageToDict(
                inference.signature_def_map(model),
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            )
            doc = {
                "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
                "metadata": {inference.SIGNATURE_DEF_FIELD: signature_defs},
            }
        return json.dumps(doc, indent=1).encode()


def _metric_labels(method: str, path: str) -> tuple[str, str]:
    """The method and model name ParseModelInfo fills in, which label http_server.cc's metrics.

    POST takes the verb as written ("predict"), GET none; a path that does not parse gives "".
    """
    if method == "POST" and (match := PREDICTION_API.fullmatch(path)):
        return match.group(4), unquote(match.group(1))
    if method == "GET" and (match := MODEL_STATUS_API.fullmatch(path)):
        return "", unquote(match.group(1) or "")
    return "", ""


def _model_info(match: re.Match) -> tuple[str, int | None, str | None]:
    """Decode the name and label (percent-encoding) and convert the version."""
    name = unquote(match.group(1) or "")
    version_text, label = match.group(2), match.group(3)
    version = None
    if version_text:
        version = int(version_text)
        if version > INT64_MAX:
            raise invalid_argument(f"Failed to convert version: {version_text} to numeric.")
    return name, version, (unquote(label) if label else None)


# -- HTTP plumbing ---------------------------------------------------------------------------

_CORS_HEADERS = [
    "Access-Control-Allow-Origin: *",
    "Access-Control-Allow-Methods: POST, GET",
    "Access-Control-Allow-Headers: Content-Type",
]
_JSON = ["Content-Type: application/json"]


class RestServer:
    """``--rest_api_port``: libevent's HTTP framing (``rest_http``) in front of ``api``.

    ``api.handle(method, path)`` answers the paths outside ``/v1`` (a ``None`` content
    type meaning libevent's error page), or returns None for ``/v1`` paths, which
    ``api.handle_v1(method, path, body)`` answers in JSON.
    """

    def __init__(self, api: RestApi, host: str, port: int, cors: bool = False):
        self.api = api
        self.cors = _CORS_HEADERS if cors else []
        self._server = rest_http.HttpServer(host, port, self.respond)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def respond(self, connection: rest_http.Connection, request: rest_http.Request) -> bool:
        """Answer one request; False when the connection must close after it."""
        method = request.method
        if method not in rest_http.ALLOWED_METHODS:
            connection.refuse(request, 501)  # evhttp_handle_request: method not allowed
            return False
        path = rest_http.target_path(request.target.decode("latin-1"))
        if path is None:
            connection.refuse(request, 400)  # ParsedEvRequest::decode fails
            return False
        route = self.api.handle(method, path)
        if route is not None:
            status, content_type, payload = route
            if content_type is None:
                connection.refuse(request, status)
                return False
            self._reply(connection, request, status, [f"Content-Type: {content_type}"], payload)
        elif method == "OPTIONS":
            # A CORS preflight on /v1 never reaches the REST handler (http_server.cc).
            origin = request.header(b"origin") or b""
            status = 200 if re.search(rb"https?://", origin) else 400
            self._reply(connection, request, status, self.cors, b"")
        else:
            status, payload = self.api.handle_v1(method, path, b"".join(request.body))
            self._reply(connection, request, status, _JSON + self.cors, payload)
        return request.keep_alive

    @staticmethod
    def _reply(connection, request, status: int, headers: list[str], body: bytes) -> None:
        if request.method == "HEAD":  # headers only, and no Content-Length (as libevent)
            connection.send(rest_http.response_head(request, status, headers, None))
        else:
            connection.send(rest_http.response_head(request, status, headers, len(body)), body)
