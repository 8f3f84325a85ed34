"""The HTTP/REST front end on ``--rest_api_port``.

URL grammar, dispatch order and error bodies follow ``http_rest_api_handler.cc`` and
``http_server.cc``: only paths matching ``/v1/.*`` reach the handler (others get a
plain HTML 404, like libevent's default), every ``/v1`` answer is JSON, and an error
is ``{"error": "<message>"}`` with the status code mapped from the absl code.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from google.protobuf import json_format

from . import inference, json_tensor, turns
from .core import ServerCore
from .errors import ServingError, invalid_argument
from .metrics import Metrics

_NAME = r"([^/:]+)"
_VERSION_OR_LABEL = r"(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
PREDICTION_API = re.compile(rf"/v1/models/{_NAME}{_VERSION_OR_LABEL}:(classify|regress|predict)", re.I)
MODEL_STATUS_API = re.compile(rf"/v1/models(?:/{_NAME})?{_VERSION_OR_LABEL}(?:\/(metadata))?", re.I)
REST_API_PATH = re.compile(r"/v1/.*", re.I | re.S)
INT64_MAX = 2**63 - 1

# libevent 2.1's evhttp_send_error page for a 404 with no reason given.
_NOT_FOUND_HTML = (
    b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"
)


class RestApi:
    """Pure request -> response logic, separate from the HTTP plumbing."""

    def __init__(
        self, core: ServerCore, metrics: Metrics, timeout_ms: int, prometheus_path: str | None = None
    ):
        self.core = core
        self.metrics = metrics
        self.timeout_ms = timeout_ms or None
        self.prometheus_path = prometheus_path

    def handle(self, method: str, path: str) -> tuple[int, str, bytes] | None:
        """Non-/v1 routes: (status, content type, body), or None when the path is a /v1 path."""
        if self.prometheus_path and path == self.prometheus_path:
            return 200, "text/plain; charset=utf-8", self.metrics.render().encode()
        if not REST_API_PATH.fullmatch(path):
            return 404, "text/html", _NOT_FOUND_HTML
        return None

    def handle_v1(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        start = time.perf_counter()
        api, model_name = "", ""
        try:
            if method == "POST":  # inference takes turns (turns.py); status and metadata need not
                with turns.turn():
                    api, model_name, payload = self._dispatch(method, path, body)
            else:
                api, model_name, payload = self._dispatch(method, path, body)
            status, code = 200, "OK"
        except ServingError as error:
            payload = json_tensor.make_error_body(error.message)
            status, code = error.http_status, error.code
        if model_name:
            self.metrics.record_request(model_name, api, "REST", code, (time.perf_counter() - start) * 1e6)
        return status, payload

    def _dispatch(self, method: str, path: str, body: bytes) -> tuple[str, str, bytes]:
        if method == "POST" and (match := PREDICTION_API.fullmatch(path)):
            name, version, label = _model_info(match)
            verb = match.group(4)
            if verb == "classify":
                return "Classify", name, self._classify_regress(name, version, label, body, "classify")
            if verb == "regress":
                return "Regress", name, self._classify_regress(name, version, label, body, "regress")
            if verb == "predict":
                return "Predict", name, self._predict(name, version, label, body)
        elif method == "GET" and (match := MODEL_STATUS_API.fullmatch(path)):
            name, version, label = _model_info(match)
            if match.group(4) == "metadata":
                return "GetModelMetadata", name, self._metadata(name, version, label)
            return "GetModelStatus", name, self._status(name, version)
        raise invalid_argument(f"Malformed request: {method} {path}")

    # -- handlers --------------------------------------------------------------------------

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> bytes:
        acquired = []

        def input_infos(signature_name: str):
            model = self.core.get_servable(name, version, label)
            acquired.append(model)
            key = signature_name or inference.DEFAULT_SIGNATURE
            signature = model.signature_defs.get(key)
            if signature is None:
                raise invalid_argument(f'Serving signature name: "{key}" not found in signature def')
            return signature.inputs

        try:
            request = json_tensor.fill_predict_request(body, input_infos)
            model = acquired[0]
            start = time.perf_counter()
            _, outputs = inference.predict(
                model, request.signature_name, request.inputs, timeout_ms=self.timeout_ms
            )
            self.metrics.record_runtime(name, "Predict", (time.perf_counter() - start) * 1e6)
            return json_tensor.make_predict_response(outputs, request.row_format)
        finally:
            for model in acquired:
                model.release()

    def _classify_regress(self, name, version, label, body: bytes, method: str) -> bytes:
        signature_name, model_input = json_tensor.fill_classify_regress_request(body, method)
        with self.core.get_servable(name, version, label) as model:
            if method == "classify":
                _, result = inference.classify(model, signature_name, model_input, self.timeout_ms)
                return json_tensor.make_classify_response(result)
            _, result = inference.regress(model, signature_name, model_input, self.timeout_ms)
            return json_tensor.make_regress_response(result)

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
        with self.core.get_servable(name, version, label) as model:
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tfserving-emulator"
    sys_version = ""
    api: RestApi
    cors: bool

    def setup(self) -> None:
        super().setup()
        # Answers go out in one write; without this, Nagle's algorithm would hold them back.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # the binary logs no access lines
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, content_type: str | None, body: bytes, extra: dict | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        if self.cors:
            lines += [
                "Access-Control-Allow-Origin: *",
                "Access-Control-Allow-Methods: POST, GET",
                "Access-Control-Allow-Headers: Content-Type",
            ]
        for key, value in (extra or {}).items():
            lines.append(f"{key}: {value}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(400, "text/html", b"")
            return
        path = self.path.split("?", 1)[0]
        route = self.api.handle(self.command, path)
        if route is not None:
            status, content_type, payload = route
            self._send(status, content_type, payload)
            return
        if self.command == "OPTIONS":
            # A CORS preflight on /v1 never reaches the REST handler (http_server.cc).
            origin = self.headers.get("Origin", "")
            self._send(200 if re.search(r"https?://", origin) else 400, None, b"")
            return
        status, payload = self.api.handle_v1(self.command, path, body)
        self._send(status, "application/json", payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class RestServer:
    def __init__(self, api: RestApi, host: str, port: int, cors: bool = False):
        handler = type("Handler", (_Handler,), {"api": api, "cors": cors})
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
