"""HTTP/1.1 on the REST port, framed the way TF Serving's libevent 2.1.12 (evhttp) frames it.

httptools (Node's llhttp) reads the bytes; this module decides what to answer, following
``http.c`` of libevent 2.1.12 as TF Serving configures it (``evhttp_server.cc``: the
methods GET, POST, HEAD, PUT, DELETE, OPTIONS and PATCH, no size limits of its own):

* a request line or header that does not parse, a bad ``Content-Length``, a request
  target ``evhttp_uri_parse`` refuses, an HTTP major version above 1: ``400 Bad Request``;
* a broken chunked body: ``413 Request Entity Too Large`` (libevent reports every chunk
  error as "data too long");
* a method libevent does not know, or one TF Serving does not allow (TRACE, CONNECT):
  ``501 Not Implemented``; an ``Expect`` other than ``100-continue``: ``417``;
* each of these is libevent's HTML error page (``evhttp_send_error``) with
  ``Connection: close``, and the connection is closed after it, so nothing after a bad
  frame is ever read as a request of its own.

The emulator adds the limits libevent leaves unset (see :data:`MAX_HEAD_BYTES`,
:data:`MAX_BODY_BYTES`): a claimed size beyond them is answered at once and never
allocated. A connection that ends in the middle of a request gets no answer, as in
libevent. Every connection has its own thread.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
from email.utils import formatdate
from time import time

import httptools

# The request line and headers together, and a body: libevent 2.1 has no default limit
# (``max_headers_size``/``max_body_size`` are unset), the emulator needs one to stay up.
# The body limit is the gRPC port's message limit (INT32_MAX).
MAX_HEAD_BYTES = 1 << 20
MAX_BODY_BYTES = 2**31 - 1
RECV_BYTES = 1 << 16
# After a refusal: how long the rest of a client's bytes are read and dropped before the
# socket closes (closing with unread bytes would reset the connection and could destroy
# the answer on its way).
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20
ALLOWED_METHODS = frozenset({"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"})

# evhttp_response_phrase_internal: libevent's own table; codes past a class's table get
# the class name.
_PHRASES = {
    1: ("Informational", ["Continue", "Switching Protocols"]),
    2: ("Success", ["OK", "Created", "Accepted", "Non-Authoritative Information", "No Content"]),
    3: ("Redirection", []),
    4: (
        "Client Error",
        [
            "Bad Request",
            "Unauthorized",
            "Payment Required",
            "Forbidden",
            "Not Found",
            "Method Not Allowed",
            "Not Acceptable",
            "Proxy Authentication Required",
            "Request Time-out",
            "Conflict",
            "Gone",
            "Length Required",
            "Precondition Failed",
            "Request Entity Too Large",
            "Request-URI Too Large",
            "Unsupported Media Type",
            "Requested range not satisfiable",
            "Expectation Failed",
        ],
    ),
    5: (
        "Server Error",
        [
            "Internal Server Error",
            "Not Implemented",
            "Bad Gateway",
            "Service Unavailable",
            "Gateway Time-out",
            "HTTP Version not supported",
        ],
    ),
}
# evhttp_send_error's page (ERR_FORMAT in http.c).
_ERROR_PAGE = "<HTML><HEAD>\n<TITLE>{0} {1}</TITLE>\n</HEAD><BODY>\n<H1>{1}</H1>\n</BODY></HTML>\n"


def reason_phrase(status: int) -> str:
    name, phrases = _PHRASES.get(status // 100, ("Unknown Status Class", []))
    index = status % 100
    return phrases[index] if index < len(phrases) else name


def error_page(status: int) -> bytes:
    return _ERROR_PAGE.format(status, reason_phrase(status)).encode()


# -- the request target: evhttp_uri_parse (strict), which ParsedEvRequest::decode runs ------
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUBDELIMS = r"!$&'()*+,;="
_ESCAPE = r"%[0-9A-Fa-f]{2}"
_PCHARS = rf"(?:[{_UNRESERVED}{_SUBDELIMS}:@/]|{_ESCAPE})*"
_QCHARS = rf"(?:[{_UNRESERVED}{_SUBDELIMS}:@/?]|{_ESCAPE})*"
_TARGET = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*:)?(?://(?P<authority>[^/?#]*))?"
    rf"(?P<path>{_PCHARS})(?:\?{_QCHARS})?(?:#{_QCHARS})?"
)
_AUTHORITY = re.compile(
    rf"(?:(?:[{_UNRESERVED}{_SUBDELIMS}:]|{_ESCAPE})*@)?"
    rf"(?P<host>\[[^\]]*\]|(?:[{_UNRESERVED}{_SUBDELIMS}]|{_ESCAPE})*)(?::(?P<port>[0-9]*))?"
)


def target_path(target: str) -> str | None:
    """The path of a request target as libevent reads it ("/" when empty), or None when
    ``evhttp_uri_parse`` refuses the target (TF Serving then answers 400)."""
    match = _TARGET.fullmatch(target)
    if match is None:
        return None
    authority, path = match.group("authority"), match.group("path")
    if authority is not None and not _authority_ok(authority):
        return None
    if match.group("scheme") is None and ":" in path.split("/", 1)[0]:
        return None  # without a scheme, the first segment may not hold a colon
    return path or "/"


def _authority_ok(authority: str) -> bool:
    match = _AUTHORITY.fullmatch(authority)
    if match is None or (match.group("port") and int(match.group("port")) > 65535):
        return False
    host = match.group("host")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
    return True


_REQUEST_LINE = re.compile(rb"[^ ]+ (.+) HTTP/([0-9]+)\.([0-9]+)")


def unknown_method_status(head: bytes) -> int:
    """For a request whose method llhttp refused: libevent answers 501 when the request
    line is otherwise sound (an unknown method is only refused at dispatch), else 400."""
    line = head.split(b"\n", 1)[0].removesuffix(b"\r").rstrip(b" ")
    match = _REQUEST_LINE.fullmatch(line)
    if len(line) < 14 or match is None or int(match.group(2)) > 1:
        return 400
    return 501 if target_path(match.group(1).decode("latin-1")) is not None else 400


# -- one request ----------------------------------------------------------------------------


class Refusal(Exception):
    """A request libevent answers with its error page (and then closes the connection)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class Request:
    __slots__ = ("body", "body_size", "connection", "headers", "method", "target", "version")

    def __init__(self):
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.method = ""
        self.version = (1, 1)
        self.connection = b""  # the first Connection header, as libevent reads it

    def header(self, name: bytes) -> bytes | None:
        """The first header of that (lower-case) name, as ``evhttp_find_header`` finds it."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def wants_close(self) -> bool:
        """``evhttp_is_connection_close`` on the request's headers."""
        return self.connection.lower() == b"close"

    @property
    def keep_alive(self) -> bool:
        """``evhttp_send_done``: does the connection stay open after the answer?"""
        if self.wants_close:
            return False
        return self.version >= (1, 1) or self.connection[:10].lower() == b"keep-alive"


_date_cache = [0, ""]


def http_date() -> str:
    """The ``Date`` header libevent adds to HTTP/1.1 answers (computed once a second)."""
    now = int(time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, formatdate(now, usegmt=True)]
    return _date_cache[1]


LIBEVENT_DEFAULT_CONTENT_TYPE = "text/html; charset=ISO-8859-1"


def response_head(request: Request | None, status: int, headers: list[str], body_size: int | None) -> bytes:
    """Status line and headers as ``evhttp_make_header_response`` writes them.

    ``headers`` are the handler's own ("Name: value"); ``body_size`` None means the answer
    has no body (HEAD), so no Content-Length. Error pages pass ``request`` None when the
    request never parsed.
    """
    major, minor = request.version if request is not None else (1, 1)
    lines = [f"HTTP/{major}.{minor} {status} {reason_phrase(status)}", *headers]
    keep_alive_asked = request is not None and request.connection[:10].lower() == b"keep-alive"
    if major == 1:
        if minor >= 1:
            lines.append(f"Date: {http_date()}")
        if minor == 0 and keep_alive_asked:
            lines.append("Connection: keep-alive")
        if (minor >= 1 or keep_alive_asked) and body_size is not None:
            lines.append(f"Content-Length: {body_size}")
    # libevent 2.1.12 gives a reply that has a body but no Content-Type its server's default
    # (evhttp_new sets it): TF Serving's answers to OPTIONS, the CORS preflight, get it.
    if body_size is not None and not any(line.lower().startswith("content-type:") for line in headers):
        lines.append(f"Content-Type: {LIBEVENT_DEFAULT_CONTENT_TYPE}")
    if request is not None and request.wants_close:
        lines = [line for line in lines if not line.lower().startswith("connection:")]
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- one connection -------------------------------------------------------------------------


class Connection:
    """Reads requests off one socket and answers them in order, until a close."""

    def __init__(self, sock: socket.socket, respond):
        self.sock = sock
        self.respond = respond  # respond(connection, request) -> bool: keep the connection?
        self.ready: list[Request] = []
        self.request: Request | None = None
        self.head_bytes = 0
        self.expects_continue = False
        self.closing = False
        self.parser = self._new_parser()

    def _new_parser(self) -> httptools.HttpRequestParser:
        parser = httptools.HttpRequestParser(self)
        # libevent reads any HTTP/1.x version and lets spaces follow a chunk size.
        parser.set_dangerous_leniencies(lenient_version=True, lenient_spaces_after_chunk_size=True)
        return parser

    # httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.request = Request()
        self.head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.request.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.request.headers.append((name, value))

    def on_headers_complete(self) -> None:
        request = self.request
        request.method = self.parser.get_method().decode("latin-1")
        version = self.parser.get_http_version()
        request.version = (int(version[0]), int(version[2]))
        if request.version[0] != 1:
            # evhttp_parse_http_version refuses a major version above 1; llhttp reads a
            # request line without a version (which libevent refuses) as HTTP/0.9.
            raise Refusal(400)
        request.connection = request.header(b"connection") or b""
        length = request.header(b"content-length")
        has_body = bool(length and int(length)) or self._chunked(request)
        if length is not None and int(length) > MAX_BODY_BYTES:
            raise Refusal(413)  # the claimed size is never allocated
        expect = request.header(b"expect")
        if expect is not None and has_body and request.version >= (1, 1):
            if expect.lower() != b"100-continue":
                raise Refusal(417)
            self.expects_continue = True

    @staticmethod
    def _chunked(request: Request) -> bool:
        encoding = request.header(b"transfer-encoding")
        return encoding is not None and b"chunked" in encoding.lower()

    def on_body(self, body: bytes) -> None:
        request = self.request
        request.body_size += len(body)
        if request.body_size > MAX_BODY_BYTES:
            raise Refusal(413)
        request.body.append(body)
        self.expects_continue = False  # the body is on its way already

    def on_message_complete(self) -> None:
        self.ready.append(self.request)
        self.request = None
        self.expects_continue = False

    # the loop -----------------------------------------------------------------------------

    def serve(self) -> None:
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while (data := self.sock.recv(RECV_BYTES)) and self._feed(data):
                pass
        except OSError:
            pass  # the client went away
        finally:
            self.sock.close()

    def _feed(self, data: bytes) -> bool:
        """Parse ``data`` and answer what it completes; False once the connection must close."""
        while True:
            refusal, rest = None, None
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                # llhttp stops at an Upgrade (or CONNECT); libevent knows no upgrades and
                # reads on, so a fresh parser takes the rest.
                rest = data[upgrade.args[0] :]
            except httptools.HttpParserCallbackError as error:
                context = error.__context__
                refusal = context.status if isinstance(context, Refusal) else 400
            except httptools.HttpParserInvalidMethodError:
                refusal = unknown_method_status(self._first_line(data)) if not self.ready else 400
            except httptools.HttpParserError as error:
                refusal = self._status_for(error)
            for request in self.ready:
                if not self.respond(self, request):
                    self.linger()
                    return False
            self.ready.clear()
            if refusal is not None:
                self.refuse(None, refusal)
                return False
            if rest is None:
                break
            self.parser, data = self._new_parser(), rest
        if self.request is not None and not self.request.method:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.refuse(None, 400)
                return False
        if self.expects_continue:
            self.expects_continue = False
            major, minor = self.request.version
            self.sock.sendall(f"HTTP/{major}.{minor} 100 Continue\r\n\r\n".encode())
        return True

    def _status_for(self, error: httptools.HttpParserError) -> int:
        if "overflow" in str(error) and "Content-Length" in str(error):
            return 413  # a claimed size beyond any limit
        request = self.request
        if request is not None and request.method and self._chunked(request):
            return 413  # libevent: every error inside a chunked body is "data too long"
        return 400

    def _first_line(self, data: bytes) -> bytes:
        """The bytes up to the first line end (read on if needed, within the head limit)."""
        while b"\n" not in data and len(data) < MAX_HEAD_BYTES:
            more = self.sock.recv(RECV_BYTES)
            if not more:
                break
            data += more
        return data

    # answering ----------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes = b"") -> None:
        if len(body) < RECV_BYTES:
            self.sock.sendall(head + body)
        else:  # no copy of a large body just to prepend the head
            self.sock.sendall(head)
            self.sock.sendall(body)

    def refuse(self, request: Request | None, status: int) -> None:
        """libevent's error page (``evhttp_send_error``), then a lingering close."""
        if request is not None and (request.version[0] == 0 or request.version[1] == 0):
            request.version = (1, 1)  # evhttp_send_page_ answers HTTP/1.0 in 1.1
        page = error_page(status)
        no_body = request is not None and request.method == "HEAD"
        headers = ["Content-Type: text/html", "Connection: close"]
        self.send(
            response_head(request, status, headers, None if no_body else len(page)), b"" if no_body else page
        )
        self.linger()

    def linger(self) -> None:
        """Stop writing, then read and drop what the client still sends (bounded)."""
        if self.closing:
            return
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(LINGER_SECONDS)
            drained = 0
            while drained < LINGER_BYTES and (chunk := self.sock.recv(RECV_BYTES)):
                drained += len(chunk)
        except OSError:
            pass


class HttpServer:
    """Accepts connections on ``host:port``; each one is served by its own thread."""

    def __init__(self, host: str, port: int, respond):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=128)
        self._respond = respond
        self._stopping = False
        self._thread = threading.Thread(target=self._accept_loop, name="rest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                if self._stopping:
                    return
                continue  # e.g. the client reset the connection before it was accepted
            connection = Connection(sock, self._respond)
            threading.Thread(target=connection.serve, name="rest-connection", daemon=True).start()

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        self._thread.join(5)
