"""Is a TCP port free? Asked before starting a server, so a clash gets a clear message.

Docker and TF Serving report a taken port late and cryptically (``Bind for
127.0.0.1:8700 failed: port is already allocated``, or a server that never comes up), so
the scripts check first:

    python -m tutorial.ports 8700        # exit 0 if free, 1 if in use

A port counts as in use when something accepts connections on it at 127.0.0.1, or when
binding it on all interfaces fails (the way TF Serving binds its ports).
"""

from __future__ import annotations

import argparse
import socket
import sys


def _accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _can_bind(port: int, host: str = "") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a connection lingering in TIME_WAIT does not stop
        # them from binding; ask the same question they will. (On Windows the option
        # means something else: it would let us bind over a live listener.)
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def is_port_free(port: int) -> bool:
    """True when a server could listen on ``port``."""
    return not _accepts_connections(port) and _can_bind(port)


def free_port() -> int:
    """A port the OS considers free right now (for tests and throwaway servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use_error(port: int, variable: str, retry: str) -> str | None:
    """None when ``port`` is free; else the error line naming the port, the setting that
    chose it, and the command line to retry with another port."""
    if is_port_free(port):
        return None
    return (
        f"error: port {port} ({variable}) is already in use; stop what is using it or choose another: "
        f"{variable}={port + 1} {retry}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.ports", description="Exit 0 if every PORT is free, 1 if any is in use."
    )
    parser.add_argument("ports", nargs="+", type=int, metavar="PORT")
    parser.add_argument("--variable", help="the setting that chose PORT: print one error line naming it")
    parser.add_argument("--retry", default="", help="with --variable: the command line to suggest")
    args = parser.parse_args(argv)
    if args.variable:
        for port in args.ports:
            error = port_in_use_error(port, args.variable, args.retry)
            if error:
                print(error, file=sys.stderr)
                return 1
        return 0
    busy = [port for port in args.ports if not is_port_free(port)]
    for port in busy:
        print(f"port {port} is in use")
    return 1 if busy else 0


if __name__ == "__main__":
    sys.exit(main())
