"""The bookkeeping behind ``03_start_server.sh``: what runs, on which ports, serving what.

03 shows the commands that start and stop TensorFlow Serving (``docker run``, ``docker
stop``, ``python -m tfserving_emulator``); this module keeps the record of what it started
and answers the questions around them:

    python -m tutorial.server_state plan [--config FILE]    # checks; shell variables for eval
    python -m tutorial.server_state check-start --backend B --mode M --models "A B"
    python -m tutorial.server_state launch-emulator --mode M --models "A B" -- FLAGS...
    python -m tutorial.server_state record --backend docker --mode M --models "A B"
    python -m tutorial.server_state wait | status | running | stop-emulator | log-source | clear

The record is a few small files in RUN_DIR, one fact each (other scripts read them):
server.backend (docker|emulator), server.mode ("model NAME" or "config /abs/path"),
server.models (one name per line), server.ports ("GRPC REST" on the host), server.pid
and server.log (emulator only). Every failure is one ``error:`` line naming the fix.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tutorial import server_backend
from tutorial.model_layout import LayoutError, check_model_dir
from tutorial.ports import port_in_use_error
from tutorial.settings import REPO_ROOT, Settings, display_path, load_settings, run_options, seconds
from tutorial.shell_vars import shell_assignments
from tutorial.wait_available import ServerGone, check_status, pid_alive, timeout_message, wait_available

SCRIPT = "./03_start_server.sh"
RECORD_FILES = ("server.pid", "server.backend", "server.mode", "server.models", "server.ports")
# SIGTERM first; a server that has not exited after this long gets SIGKILL.
STOP_GRACE_SECONDS = 10.0


# ---------------------------------------------------------------------------
# The record in RUN_DIR
# ---------------------------------------------------------------------------


def _read(run_dir: Path, name: str) -> str | None:
    try:
        return (run_dir / name).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def recorded_backend(run_dir: Path) -> str | None:
    """docker or emulator: the backend 03 last started (None without a record)."""
    return _read(run_dir, "server.backend") or None


def recorded_mode(run_dir: Path) -> str | None:
    """ "model NAME" or "config /abs/path" (None without a record)."""
    return _read(run_dir, "server.mode") or None


def log_file(settings: Settings) -> Path:
    return settings.run_dir / "server.log"


def write_record(
    settings: Settings, backend: str, mode: str, models: list[str], pid: int | None = None
) -> None:
    run_dir = settings.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    clear_record(settings)
    if pid is not None:
        (run_dir / "server.pid").write_text(f"{pid}\n", encoding="utf-8")
    (run_dir / "server.backend").write_text(f"{backend}\n", encoding="utf-8")
    (run_dir / "server.mode").write_text(f"{mode}\n", encoding="utf-8")
    (run_dir / "server.ports").write_text(f"{settings.grpc_port} {settings.rest_port}\n", encoding="utf-8")
    record_models(settings, models)


def record_models(settings: Settings, models: list[str]) -> None:
    (settings.run_dir / "server.models").write_text("".join(f"{name}\n" for name in models), encoding="utf-8")


def clear_record(settings: Settings) -> None:
    for name in RECORD_FILES:
        (settings.run_dir / name).unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# What runs now
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    backend: str
    grpc_port: int
    rest_port: int
    models: tuple[str, ...]
    mode: str | None
    pid: int | None = None

    def describe(self, settings: Settings) -> str:
        if self.backend == "docker":
            return f"docker (container {settings.container_name}, image {settings.tf_serving_image})"
        return f"emulator (pid {self.pid}, log {display_path(log_file(settings))})"

    def addresses(self) -> list[str]:
        lines = [f"gRPC: localhost:{self.grpc_port}"]
        lines += [f"REST: http://localhost:{self.rest_port}/v1/models/{model}" for model in self.models]
        return lines


def _command_line(pid: int) -> str | None:
    """The process's command line (Linux /proc, else ps); None when it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        pass
    try:
        result = subprocess.run(
            ["ps", "-p", str(pid), "-o", "args="], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout if result.returncode == 0 else None


def _emulator_pid(settings: Settings) -> int | None:
    """The recorded emulator's pid while it runs. A pid file that survived a reboot may
    name some other process now, so the command line must be the emulator's."""
    text = _read(settings.run_dir, "server.pid") or ""
    if not text.isdigit() or not pid_alive(int(text)):
        return None
    command = _command_line(int(text))
    return int(text) if command is None or "tfserving_emulator" in command else None


def _recorded(settings: Settings, backend: str) -> tuple[tuple[int, int] | None, tuple[str, ...], str | None]:
    """(ports, models, mode) from the record, when it is this backend's."""
    if recorded_backend(settings.run_dir) != backend:
        return None, (settings.model_name,), None
    ports = (_read(settings.run_dir, "server.ports") or "").split()
    models = tuple((_read(settings.run_dir, "server.models") or "").split()) or (settings.model_name,)
    known = (int(ports[0]), int(ports[1])) if len(ports) == 2 and all(p.isdigit() for p in ports) else None
    return known, models, recorded_mode(settings.run_dir)


def running_servers(settings: Settings) -> list[Server]:
    """The emulator 03 started and/or our container, each with the ports it really uses."""
    found = []
    pid = _emulator_pid(settings)
    if pid is not None:
        ports, models, mode = _recorded(settings, "emulator")
        grpc, rest = ports or (settings.grpc_port, settings.rest_port)
        found.append(Server("emulator", grpc, rest, models, mode, pid))
    if server_backend.container_state(settings.container_name) == "running":
        ports, models, mode = _recorded(settings, "docker")
        # Docker knows what it published; the record (or the settings) only fill a gap.
        grpc, rest = server_backend.container_host_ports(settings.container_name)
        fallback = ports or (settings.grpc_port, settings.rest_port)
        found.append(Server("docker", grpc or fallback[0], rest or fallback[1], models, mode))
    return found


def running_server(settings: Settings) -> Server | None:
    servers = running_servers(settings)
    return servers[0] if servers else None


# ---------------------------------------------------------------------------
# start: checks before, waiting after
# ---------------------------------------------------------------------------


def plan(settings: Settings, config: str | None) -> str:
    """Check what `start` would serve; shell variables describing it."""
    try:
        if config is None:
            check_model_dir(settings.model_dir, settings.model_base_dir)
        else:
            from tutorial.server_config import check_config  # needs protobuf: config mode only

            served = check_config(config, settings.model_base_dir)
    except LayoutError as err:  # also the config's ConfigError
        raise SystemExit(f"error: {err}") from None
    if config is None:
        return shell_assignments(
            SERVED_MODELS=[settings.model_name],
            SERVER_MODE=f"model {settings.model_name}",
            CONFIG_FILE="",
            CONFIG_CONTAINER_PATH="",
            MOUNT_SOURCE=settings.model_dir,
            MOUNT_TARGET=f"/models/{settings.model_name}",
        )
    return shell_assignments(
        SERVED_MODELS=served.model_names,
        SERVER_MODE=f"config {served.host_path}",
        CONFIG_FILE=served.host_path,
        CONFIG_CONTAINER_PATH=served.container_path,
        MOUNT_SOURCE=settings.model_base_dir,
        MOUNT_TARGET="/models",
    )


def check_start(settings: Settings, backend: str, mode: str, models: list[str], retry: str) -> str:
    """Can `start` go ahead? Returns "" when nothing runs and both ports are free; the
    backend when the same server already runs as asked (its models are then re-recorded:
    a config may have changed). Otherwise one error line naming the fix (SystemExit)."""
    server = running_server(settings)
    if server is None:
        clear_record(settings)  # a stale record (the server died) must not mislead stop or status
        for port, variable in ((settings.grpc_port, "GRPC_PORT"), (settings.rest_port, "REST_PORT")):
            error = port_in_use_error(port, variable, retry)
            if error:
                raise SystemExit(error)
        if backend == "docker" and server_backend.container_state(settings.container_name) == "stopped":
            # A stopped container of ours that --rm has not removed yet would block the name.
            subprocess.run(["docker", "rm", "-f", settings.container_name], capture_output=True, check=False)
        return ""
    if server.backend != backend:
        raise SystemExit(
            f"error: the {server.backend} backend is already serving; stop it first to switch to {backend}: "
            f"{SCRIPT} stop"
        )
    if server.mode and server.mode != mode:
        raise SystemExit(
            f"error: the server is already running with a different setup ({server.mode}); stop it first: "
            f"{SCRIPT} stop"
        )
    if (server.grpc_port, server.rest_port) != (settings.grpc_port, settings.rest_port):
        raise SystemExit(
            f"error: the {server.backend} server is already running on gRPC port {server.grpc_port} and REST "
            f"port {server.rest_port}, not on GRPC_PORT={settings.grpc_port} REST_PORT={settings.rest_port}; "
            f"stop it first ({SCRIPT} stop) or use its ports: GRPC_PORT={server.grpc_port} "
            f"REST_PORT={server.rest_port} {retry}"
        )
    if recorded_backend(settings.run_dir) == backend:
        record_models(settings, models)
    return server.backend


def launch_emulator(settings: Settings, flags: list[str]) -> int:
    """Start `python -m tfserving_emulator FLAGS` in the background, detached from this
    terminal (its own session), so it outlives the script and a later Ctrl-C does not reach it."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    with open(log_file(settings), "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tfserving_emulator", *flags],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def wait_for_models(settings: Settings) -> int:
    """Wait for every recorded model: 0 when all are AVAILABLE, 1 when time ran out while
    the server runs, 2 when the server exited (one error line on stderr for 1 and 2)."""
    timeout = seconds("STARTUP_TIMEOUT", run_options()["STARTUP_TIMEOUT"])
    server_backend_name = recorded_backend(settings.run_dir)
    pid = _read(settings.run_dir, "server.pid")
    alive = {"pid": int(pid)} if server_backend_name == "emulator" and pid and pid.isdigit() else {}
    if server_backend_name == "docker":
        alive = {"container": settings.container_name}
    _, models, _ = _recorded(settings, server_backend_name or "")
    for model in models:
        url = f"http://127.0.0.1:{settings.rest_port}/v1/models/{model}"
        print(f"waiting for {model} to become AVAILABLE (up to {timeout:g} s): GET {url}", flush=True)
        try:
            print(wait_available(url, timeout, **alive), flush=True)
        except TimeoutError as err:
            print(f"error: {timeout_message(url, timeout, str(err))}", file=sys.stderr)
            return 1
        except ServerGone as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


# ---------------------------------------------------------------------------
# status, stop, logs
# ---------------------------------------------------------------------------


def status(settings: Settings) -> int:
    """0 when every model is AVAILABLE, 1 when one is not, 3 when no server runs."""
    server = running_server(settings)
    if server is None:
        print(f"no server is running (start one: {SCRIPT} start)")
        return 3
    print(f"backend: {server.describe(settings)}")
    failed = []
    for model in server.models:
        print(f"GET http://localhost:{server.rest_port}/v1/models/{model}", flush=True)
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/{model}"
        available, text = check_status(url)
        if available:
            print(text)
        else:
            failed.append(timeout_message(url, 0, text))
    print("\n".join(server.addresses()))
    if failed:
        print(f"error: {'; '.join(failed)}; see the server log: {SCRIPT} logs", file=sys.stderr)
        return 1
    return 0


def stop_emulator(settings: Settings) -> None:
    """Stop the emulator if it runs, then forget the record (also of a Docker server:
    03 stops the container right after)."""
    pid = _emulator_pid(settings)
    clear_record(settings)
    if pid is None:
        return
    print(f"stopping the emulator (pid {pid})", flush=True)
    os.kill(pid, signal.SIGTERM)
    # It is not our child, so it cannot be waited for: poll until it is gone.
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        print(
            f"warning: the emulator did not exit within {STOP_GRACE_SECONDS:g} s of SIGTERM; sending SIGKILL",
            file=sys.stderr,
        )
        os.kill(pid, signal.SIGKILL)


def log_source(settings: Settings) -> str:
    """The emulator's log file, or "docker" for `docker logs`; else one error line."""
    backends = [server.backend for server in running_servers(settings)]
    if backends[:1] != ["docker"] and log_file(settings).is_file():
        return str(log_file(settings))
    if server_backend.container_state(settings.container_name) != "absent":
        return "docker"
    raise SystemExit(f"error: no server log yet; start the server first: {SCRIPT} start")


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.server_state", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plan", help="check the model layout or --config FILE").add_argument("--config")
    copy = commands.add_parser(
        "emulator-config", help="write the emulator's copy of a config; print its path"
    )
    copy.add_argument("config_file", type=Path)
    for name in ("check-start", "record", "launch-emulator"):
        command = commands.add_parser(name)
        command.add_argument("--mode", required=True)
        command.add_argument("--models", required=True, help="space-separated model names")
        if name != "launch-emulator":
            command.add_argument("--backend", required=True, choices=("docker", "emulator"))
        if name == "check-start":
            command.add_argument("--retry", default=f"{SCRIPT} start", help="the command line to suggest")
        if name == "launch-emulator":
            command.add_argument("flags", nargs=argparse.REMAINDER)
    for name in ("wait", "status", "running", "stop-emulator", "log-source", "clear"):
        commands.add_parser(name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    if settings.run_dir.exists() and not settings.run_dir.is_dir():
        raise SystemExit(
            f"error: RUN_DIR {display_path(settings.run_dir)} is a file, not a directory; set RUN_DIR to a "
            "folder for the server's record and log (settings.env: ./.run)"
        )
    try:
        return _run(args, settings)
    except OSError as err:  # e.g. RUN_DIR is a file, or a folder this user may not write
        where = f" ({err.filename})" if err.filename else ""
        raise SystemExit(
            f"error: {err.strerror or err}{where}; RUN_DIR ({display_path(settings.run_dir)}) must be a folder "
            "you can write, and MODEL_BASE_DIR one you can read"
        ) from None


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "plan":
        print(plan(settings, args.config), end="")
    elif args.command == "emulator-config":
        from tutorial.server_config import ConfigError, write_emulator_copy

        try:
            print(write_emulator_copy(args.config_file, settings.model_base_dir, settings.run_dir))
        except ConfigError as err:
            raise SystemExit(f"error: {err}") from None
    elif args.command == "check-start":
        running = check_start(settings, args.backend, args.mode, args.models.split(), args.retry)
        if running:
            print(running)
    elif args.command == "record":
        write_record(settings, args.backend, args.mode, args.models.split())
    elif args.command == "launch-emulator":
        flags = args.flags[1:] if args.flags[:1] == ["--"] else args.flags
        pid = launch_emulator(settings, flags)
        write_record(settings, "emulator", args.mode, args.models.split(), pid)
    elif args.command == "wait":
        try:
            return wait_for_models(settings)
        except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; the server is left as it is
            print(
                f"error: interrupted; the server may still be starting: {SCRIPT} status (or stop)",
                file=sys.stderr,
            )
            return 130
    elif args.command == "status":
        return status(settings)
    elif args.command == "running":
        print("".join(f"{server.backend}\n" for server in running_servers(settings)), end="")
    elif args.command == "stop-emulator":
        stop_emulator(settings)
    elif args.command == "log-source":
        print(log_source(settings))
    else:
        clear_record(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
