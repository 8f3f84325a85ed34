"""The command line of the numbered scripts: shared flags, the settings block, one-line failures.

Kept out of the scripts so they show the TF Serving calls, not the plumbing. This module
imports neither TensorFlow nor gRPC (nor does tutorial.settings): a script parses its
flags with it *before* importing TensorFlow, so ``--help`` and a mistyped flag answer at
once instead of after TensorFlow's ~4 s import.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from tutorial.client_errors import CallContext
from tutorial.settings import Settings, load_settings

DEFAULT_TIMEOUT = 10.0  # seconds; a loaded model answers in milliseconds, a loading one can take seconds
# A process ended by SIGINT exits 128 + 2 by convention; shells and make report it as "interrupted".
INTERRUPTED_EXIT_CODE = 128 + signal.SIGINT


def client_parser(description: str, protocol: str) -> tuple[argparse.ArgumentParser, Settings]:
    """--host, --port and --timeout, the flags both clients share, and the settings behind them.

    ``protocol`` is "gRPC" or "REST"; --port defaults to GRPC_PORT or REST_PORT.
    """
    settings = load_settings()
    key, default_port = (
        ("GRPC_PORT", settings.grpc_port) if protocol == "gRPC" else ("REST_PORT", settings.rest_port)
    )
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="localhost", help="server host (default localhost)")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"{protocol} port (default ${key}, %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"deadline per call in seconds (default {DEFAULT_TIMEOUT:g})",
    )
    return parser, settings


def parse_client_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


def call_context(
    settings: Settings,
    args: argparse.Namespace,
    protocol: str,
    port_flag: str = "--port",
    known_signatures: Iterable[str] = (),
    signature: str | None = None,
) -> CallContext:
    """What a failure message names: the address, the model, and the flag that picks the port."""
    port = getattr(args, port_flag.removeprefix("--").replace("-", "_"))
    scheme = "http://" if protocol == "REST" else ""
    return CallContext(
        address=f"{scheme}{args.host}:{port}",
        model_name=settings.model_name,
        signature=signature or getattr(args, "signature", None),
        version=getattr(args, "version", None),
        timeout=args.timeout,
        protocol=protocol,
        port_flag=port_flag,
        usual_port=settings.grpc_port if protocol == "gRPC" else settings.rest_port,
        known_signatures=list(known_signatures),
    )


def print_settings(settings: Settings) -> None:
    """The settings block every script prints first: which model, ports and folders it uses."""
    print(settings.describe())


def fail(message: str) -> int:
    """Print the one-line error and return the exit code 1."""
    print(message, file=sys.stderr)
    return 1


def before_tensorflow(parse_args: Callable[[], object]) -> None:
    """What a script does first, before its ~4 s TensorFlow import: parse the flags and quiet Ctrl-C.

    So --help and a mistyped flag answer at once, and Ctrl-C during the import (or later)
    ends the script with one line instead of a traceback.
    """
    parse_args()
    quiet_ctrl_c()


def quiet_ctrl_c() -> None:
    """From now on, Ctrl-C ends the script with one line and exit code 130, not a traceback.

    A script calls it first thing, so this holds during TensorFlow's import and while a call
    waits on the server; step 2 narrows it with interrupt_once() while it trains and exports.
    """

    def on_interrupt(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the exit
        print("interrupted (Ctrl-C)", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT_CODE)

    signal.signal(signal.SIGINT, on_interrupt)


@contextmanager
def interrupt_once() -> Iterator[Callable[[], bool]]:
    """While inside: the first Ctrl-C raises KeyboardInterrupt, any further one is ignored.

    Yields a function that says whether Ctrl-C was pressed. Ignoring the second Ctrl-C lets
    the clean-up that the first one starts (removing a half-written export) finish. Asking
    "was Ctrl-C pressed?" rather than catching KeyboardInterrupt matters because TensorFlow
    code interrupted half-way can fail in its own clean-up and replace the KeyboardInterrupt
    with another exception (an InvalidArgumentError during an export, for example).
    """
    pressed: list[int] = []

    def on_interrupt(signum, frame):
        pressed.append(signum)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)
