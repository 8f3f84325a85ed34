"""tutorial/ports.py: the port check behind "port N (VAR) is already in use"."""

from __future__ import annotations

import socket
import subprocess
import sys

from scripts_harness import REPO_ROOT, free_ports

from tutorial.ports import is_port_free


def test_a_free_port_is_free():
    (port,) = free_ports(1)
    assert is_port_free(port)


def test_a_listening_port_is_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not is_port_free(busy.getsockname()[1])


def test_a_bound_but_not_listening_port_is_in_use():
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        assert not is_port_free(busy.getsockname()[1])


def test_cli_exit_codes_and_message():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        (free,) = free_ports(1)
        result = subprocess.run(
            [sys.executable, "-m", "tutorial.ports", str(free), str(taken)],
            cwd=REPO_ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == f"port {taken} is in use\n"
    ok = subprocess.run([sys.executable, "-m", "tutorial.ports", str(free)], cwd=REPO_ROOT, check=False)
    assert ok.returncode == 0
