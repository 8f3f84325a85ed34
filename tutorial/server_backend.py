"""Docker or the emulator: which backend serves, and what Docker says about our container.

    python -m tutorial.server_backend choose   # BACKEND=... BACKEND_REASON=... for eval; for Docker,
                                               # exit 1 + one line when it cannot serve
    python -m tutorial.server_backend container-state NAME   # running, stopped or absent

The Docker commands a learner should see (docker pull/run/stop/logs) stay in the shell
scripts; the questions asked of Docker behind the scenes live here.
It uses only the standard library, so it runs before the tutorial's virtualenv exists.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

from tutorial.settings import load_settings
from tutorial.shell_vars import shell_assignments

DOCKER_INSTALL_URL = "https://docs.docker.com/get-docker/"
# `docker info` can hang while Docker Desktop is still starting.
DOCKER_INFO_TIMEOUT_SECONDS = 30
# Inside the container TF Serving always listens on these; the host side is ours to choose.
CONTAINER_GRPC_PORT = 8500
CONTAINER_REST_PORT = 8501


def docker_command_found() -> bool:
    return shutil.which("docker") is not None


def docker_daemon_problem() -> str | None:
    """Why the daemon is unusable, as one line; None when it answers.

    `docker info` prints the client section to stdout even when the server part fails;
    the reason is the last line on stderr.
    """
    try:
        result = subprocess.run(
            ["docker", "info"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=DOCKER_INFO_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"no answer within {DOCKER_INFO_TIMEOUT_SECONDS} s"
    except OSError as err:
        return str(err)
    if result.returncode == 0:
        return None
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    reason = lines[-1] if lines else "docker info failed"
    return reason.removeprefix("ERROR: ")


def choose(serving_backend: str) -> tuple[str, str]:
    """(backend, why) for SERVING_BACKEND=auto|docker|emulator."""
    if serving_backend in ("docker", "emulator"):
        return serving_backend, f"SERVING_BACKEND={serving_backend}"
    if not docker_command_found():
        return "emulator", "the docker command was not found; install Docker to use the real TF Serving"
    problem = docker_daemon_problem()
    if problem is None:
        return "docker", "docker info answered"
    return "emulator", f"docker info failed: {problem}"


def docker_problem() -> str | None:
    """For the Docker backend: None when the CLI and the daemon work, else the one-line fix."""
    if not docker_command_found():
        return (
            f"the docker command was not found; install Docker ({DOCKER_INSTALL_URL}) "
            "or run with SERVING_BACKEND=emulator"
        )
    problem = docker_daemon_problem()
    if problem is None:
        return None
    hint = ""
    if (
        "ermission denied" in problem
    ):  # the blog's first step: on Linux the socket belongs to the docker group
        hint = "add yourself to the docker group (sudo usermod -aG docker $USER, then log in again), "
    return (
        f"Docker is installed but its daemon did not answer (docker info: {problem}); {hint}start Docker "
        f"({DOCKER_INSTALL_URL}) or run with SERVING_BACKEND=emulator"
    )


def container_state(name: str) -> str:
    """running, stopped or absent (also absent when there is no docker command)."""
    if not docker_command_found():
        return "absent"
    result = subprocess.run(
        ["docker", "container", "inspect", "-f", "{{.State.Running}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return "absent"
    return "running" if result.stdout.strip() == "true" else "stopped"


def container_host_ports(name: str) -> tuple[int | None, int | None]:
    """The host ports published for the container's gRPC and REST ports (None: not published).

    Asked of Docker (`docker port NAME`), because the container is the truth: the settings
    may have changed since it was started.
    """
    result = subprocess.run(["docker", "port", name], capture_output=True, text=True, check=False)
    published: dict[int, int] = {}
    # Lines look like "8500/tcp -> 127.0.0.1:8700" (and "[::]:8700" for IPv6).
    for match in re.finditer(r"^(\d+)/tcp -> .*:(\d+)$", result.stdout, re.MULTILINE):
        published.setdefault(int(match[1]), int(match[2]))
    return published.get(CONTAINER_GRPC_PORT), published.get(CONTAINER_REST_PORT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.server_backend", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("choose", help="BACKEND and BACKEND_REASON from SERVING_BACKEND, for eval")
    state = commands.add_parser("container-state", help="running, stopped or absent")
    state.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "choose":
        requested = load_settings().serving_backend
        backend, reason = choose(requested)
        print(shell_assignments(BACKEND=backend, BACKEND_REASON=reason), end="", flush=True)
        # Docker asked for by name must also be able to serve ("auto" picks it only when
        # `docker info` answered). Checked after the choice is printed, so the script can
        # say which backend it is about before the error.
        problem = docker_problem() if requested == "docker" else None
        if problem:
            raise SystemExit(f"error: {problem}")
    else:
        print(container_state(args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
