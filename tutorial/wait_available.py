"""Wait until TensorFlow Serving reports a model version as AVAILABLE.

A server that has just started is not ready: TF Serving opens its ports only once
every model is loaded, and a model can take seconds (or, with a bad layout, forever)
to load. So instead of a fixed ``sleep``, the scripts poll the model status API,
``GET /v1/models/<name>``, until one version says ``"state": "AVAILABLE"``:

    python -m tutorial.wait_available --url http://localhost:8501/v1/models/MMModel --timeout 60

On success it prints the status JSON as the server sent it and exits 0. On timeout it
prints one line naming the last thing that went wrong (connection refused, a 404 from the
server, a version still LOADING, ...) and exits 1. ``--timeout 0`` asks once, which is
how ``03_start_server.sh status`` uses it.

It uses only the standard library, so it runs before the tutorial's virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# Each request gets at most this long; a server that is still starting up may accept the
# connection and answer late, and one slow answer must not use up the whole timeout.
REQUEST_TIMEOUT_SECONDS = 5.0


class ServerGone(Exception):
    """The server process or container has exited; waiting longer cannot help."""


def _error_text(body: bytes) -> str:
    """TF Serving's error body is ``{"error": "..."}``; fall back to the raw text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return text[:200]


def check_status(url: str) -> tuple[bool, str]:
    """Ask once. Returns (available, text): the status JSON, or why it is not ready."""
    # Imported here: urllib.request takes longer to import than the rest of this module,
    # and the scripts also use pid_alive, which needs none of it.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            body = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as err:
        return False, f"HTTP {err.code}: {_error_text(err.read())}"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        return False, f"{reason}"
    try:
        versions = json.loads(body)["model_version_status"]
        states = {str(v["version"]): v["state"] for v in versions}
    except (ValueError, KeyError, TypeError):
        return False, f"not a model status response: {body.strip()[:200]}"
    if "AVAILABLE" in states.values():
        return True, body.rstrip()
    summary = ", ".join(f"version {version} is {state}" for version, state in states.items())
    return False, summary or "no versions listed yet"


def pid_alive(pid: int) -> bool:
    """True while the process exists and has not exited (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists but belongs to someone else
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """An exited process its parent has not reaped yet (Linux /proc; elsewhere: never).

    Only the whole process counts: the main thread of a multi-threaded server shows "Z"
    as soon as it has exited, while its other threads are still on their way out and the
    process still holds its sockets. Until the last of them is gone, /proc/<pid>/task
    lists more than the main thread, and a new server could not bind the ports yet.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].startswith("Z") and threads <= 1


def _container_running(name: str) -> bool:
    result = subprocess.run(
        ["docker", "container", "inspect", "-f", "{{.State.Running}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == "true"


def check_server_alive(pid: int | None, container: str | None) -> None:
    """Raise ServerGone when the process or container we are waiting for has exited."""
    if pid is not None and not pid_alive(pid):
        raise ServerGone(f"the server process (pid {pid}) exited")
    if container is not None and not _container_running(container):
        raise ServerGone(f"the container {container} exited")


def wait_available(
    url: str,
    timeout: float,
    interval: float = 0.5,
    pid: int | None = None,
    container: str | None = None,
) -> str:
    """Poll ``url`` until a version is AVAILABLE; return the status JSON.

    Raises ``TimeoutError`` (message: the last error) or ``ServerGone``.
    """
    deadline = time.monotonic() + timeout
    while True:
        available, text = check_status(url)
        if available:
            return text
        try:
            check_server_alive(pid, container)
        except ServerGone as gone:
            raise ServerGone(f"{gone} before the model became AVAILABLE (last error: {text})") from None
        if time.monotonic() + interval > deadline:
            raise TimeoutError(text)
        time.sleep(interval)


def timeout_message(url: str, timeout: float, last_error: str) -> str:
    """Why waiting for ``url`` failed, as one line (the text after "error: ")."""
    if timeout == 0:
        return f"{url} has no AVAILABLE version (last error: {last_error})"
    return f"{url} reported no AVAILABLE version within {timeout:g} s (last error: {last_error})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.wait_available",
        description="Poll a TF Serving model status URL until a version is AVAILABLE.",
    )
    parser.add_argument("--url", required=True, help="e.g. http://localhost:8501/v1/models/MMModel")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds (default: %(default)s); 0 asks once"
    )
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between polls (default: %(default)s)"
    )
    parser.add_argument("--pid", type=int, help="stop waiting early if this server process exits")
    parser.add_argument("--container", help="stop waiting early if this Docker container exits")
    args = parser.parse_args(argv)
    if args.timeout < 0 or args.interval <= 0:
        parser.error("--timeout must be >= 0 and --interval > 0")

    try:
        status = wait_available(args.url, args.timeout, args.interval, args.pid, args.container)
    except TimeoutError as err:
        print(f"error: {timeout_message(args.url, args.timeout, str(err))}", file=sys.stderr)
        return 1
    except ServerGone as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
