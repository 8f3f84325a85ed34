"""A byte-exact HTTP client for the framing tests: send bytes, read every answer.

``exchange`` writes the bytes as given, closes its sending side (so the server sees the
end of the input, as after a client that stops mid-request), reads until the server
closes, and splits what came back into responses with httptools' response parser. A
reply that is not HTTP (no status line) fails the parse and so the test.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import httptools

EXCHANGE_TIMEOUT_S = 30.0


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def names(self) -> list[str]:
        return [key for key, _ in self.headers]


class _Collector:
    def __init__(self, parser_owner: list):
        self.responses: list[Response] = []
        self.owner = parser_owner
        self.current: Response | None = None

    def on_message_begin(self) -> None:
        self.current = Response("", 0, "")

    def on_status(self, reason: bytes) -> None:
        self.current.reason += reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.current.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        parser = self.owner[0]
        self.current.status = parser.get_status_code()
        self.current.version = parser.get_http_version()

    def on_body(self, body: bytes) -> None:
        self.current.body += body

    def on_message_complete(self) -> None:
        self.responses.append(self.current)
        self.current = None


def parse_responses(data: bytes) -> list[Response]:
    """Every response in ``data``; a body that runs to the end of the stream (no
    Content-Length, HTTP/1.0) ends with it."""
    owner: list = []
    collector = _Collector(owner)
    parser = httptools.HttpResponseParser(collector)
    owner.append(parser)
    parser.feed_data(data)
    if collector.current is not None and collector.current.status:
        if collector.current.header("Content-Length") is None:
            collector.responses.append(collector.current)  # closed by the server: complete
        else:
            raise AssertionError(f"truncated response: {data[-200:]!r}")
    return collector.responses


def exchange_bytes(port: int, data: bytes, timeout: float = EXCHANGE_TIMEOUT_S) -> bytes:
    """Send ``data``, end the sending side, return everything the server sends back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early and closed; its answer is still readable
        chunks = []
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def exchange(port: int, data: bytes, timeout: float = EXCHANGE_TIMEOUT_S) -> list[Response]:
    return parse_responses(exchange_bytes(port, data, timeout))


def post(path: str, body: bytes, *headers: str, version: str = "1.1") -> bytes:
    """A POST with Content-Length (and any extra header lines) as bytes."""
    lines = [f"POST {path} HTTP/{version}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get(path: str, *headers: str, version: str = "1.1") -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/{version}", *headers]) + "\r\n\r\n").encode("latin-1")
