"""tutorial/wait_available.py: poll the status API until AVAILABLE, or fail with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from scripts_harness import REPO_ROOT, free_ports

from tutorial.wait_available import check_status

AVAILABLE = {
    "model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}},
    ]
}
LOADING = {
    "model_version_status": [
        {"version": "1", "state": "LOADING", "status": {"error_code": "OK", "error_message": ""}}
    ]
}
NOT_FOUND = {"error": "Could not find any versions of model MMModel"}


class StatusServer:
    """Answers GET with the queued (code, body) replies in turn, repeating the last one."""

    def __init__(self, replies: list[tuple[int, dict]]):
        self.replies = list(replies)
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code, body = outer.replies[min(outer.requests, len(outer.replies) - 1)]
                outer.requests += 1
                data = json.dumps(body, indent=1).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/models/MMModel"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def status_server() -> Iterator:
    servers = []

    def start(*replies: tuple[int, dict]) -> StatusServer:
        servers.append(StatusServer(list(replies)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def wait(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tutorial.wait_available", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_available_prints_the_status_and_exits_0(status_server):
    server = status_server((200, AVAILABLE))
    result = wait("--url", server.url, "--timeout", "5")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == AVAILABLE
    assert result.stderr == ""


def test_it_keeps_polling_through_404_and_loading(status_server):
    server = status_server((404, NOT_FOUND), (200, LOADING), (200, AVAILABLE))
    result = wait("--url", server.url, "--timeout", "30", "--interval", "0.05")
    assert result.returncode == 0, result.stderr
    assert server.requests == 3


def test_timeout_is_one_line_with_the_last_error(status_server):
    server = status_server((404, NOT_FOUND), (200, LOADING))
    result = wait("--url", server.url, "--timeout", "1", "--interval", "0.1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {server.url} reported no AVAILABLE version within 1 s (last error: version 1 is LOADING)\n"
    )


def test_timeout_zero_asks_once(status_server):
    server = status_server((404, NOT_FOUND))
    result = wait("--url", server.url, "--timeout", "0")
    assert result.returncode == 1
    assert server.requests == 1
    assert result.stderr == (
        f"error: {server.url} has no AVAILABLE version (last error: HTTP 404: Could not find any versions of model MMModel)\n"
    )


def test_connection_refused_is_reported():
    (port,) = free_ports(1)
    result = wait("--url", f"http://127.0.0.1:{port}/v1/models/x", "--timeout", "0.3", "--interval", "0.1")
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: http://127.0.0.1:{port}/v1/models/x reported no AVAILABLE version within 0.3 s (last error: "
    )
    assert "Connection refused" in result.stderr


def test_a_dead_server_process_ends_the_wait_early():
    (port,) = free_ports(1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    result = wait("--url", f"http://127.0.0.1:{port}/v1/models/x", "--timeout", "60", "--pid", str(dead.pid))
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: the server process (pid {dead.pid}) exited before the model became AVAILABLE (last error: "
    )


def test_a_non_status_answer_is_not_mistaken_for_ready(status_server):
    server = status_server((200, {"predictions": [1]}))
    available, text = check_status(server.url)
    assert not available
    assert text == 'not a model status response: {\n "predictions": [\n  1\n ]\n}'


def test_bad_arguments_are_refused():
    result = wait("--url", "http://x", "--timeout", "-1")
    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[-1]
        == "python -m tutorial.wait_available: error: --timeout must be >= 0 and --interval > 0"
    )


def test_an_exited_but_unreaped_server_process_counts_as_gone():
    """A detached server is adopted by another process, which may be slow to reap it."""
    (port,) = free_ports(1)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{zombie.pid}/stat")
        if not stat.exists():
            pytest.skip("needs /proc to see process states")
        deadline = time.monotonic() + 30
        while not stat.read_text().rsplit(")", 1)[1].startswith(" Z") and time.monotonic() < deadline:
            time.sleep(0.05)
        result = wait(
            "--url", f"http://127.0.0.1:{port}/v1/models/x", "--timeout", "60", "--pid", str(zombie.pid)
        )
    finally:
        zombie.wait()
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: the server process (pid {zombie.pid}) exited before the model became AVAILABLE"
    )


# The main thread leaves by the exit syscall (not exit_group), so only it ends; the other
# thread keeps the process, and the socket it listens on, until it is released.
MAIN_THREAD_EXITS_FIRST = """
import ctypes, os, socket, sys, threading
listener = socket.create_server(("127.0.0.1", 0))
release = threading.Event()
def last_thread():
    release.wait(30)
    os._exit(0)
threading.Thread(target=last_thread).start()
print(listener.getsockname()[1], flush=True)
sys.stdin.readline()
ctypes.CDLL(None, use_errno=True).syscall({exit_syscall}, 0)
"""
EXIT_SYSCALL = {"x86_64": 60, "aarch64": 93}


def test_a_process_whose_main_thread_exited_is_alive_until_its_last_thread_is_gone():
    from tutorial.ports import is_port_free
    from tutorial.wait_available import pid_alive

    exit_syscall = EXIT_SYSCALL.get(os.uname().machine)
    if exit_syscall is None or not Path("/proc/self/task").exists():
        pytest.skip("needs Linux /proc on x86_64 or aarch64")
    code = MAIN_THREAD_EXITS_FIRST.format(exit_syscall=exit_syscall)
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline())
        server.stdin.write("\n")
        server.stdin.flush()
        stat = Path(f"/proc/{server.pid}/stat")
        deadline = time.monotonic() + 30
        while not stat.read_text().rsplit(")", 1)[1].startswith(" Z") and time.monotonic() < deadline:
            time.sleep(0.01)
        # The main thread is a zombie; the process still listens on the port.
        assert stat.read_text().rsplit(")", 1)[1].startswith(" Z")
        assert pid_alive(server.pid)
        assert not is_port_free(port)
    finally:
        server.kill()  # ends the last thread too
        server.wait()
    assert not pid_alive(server.pid)
