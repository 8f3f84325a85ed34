"""A stand-in for the ``docker`` CLI, for testing the tutorial's shell scripts.

Every call appends its argv (``["docker", ...]``) as one JSON line to ``$FAKE_DOCKER_LOG``.
Containers are files in ``$FAKE_DOCKER_STATE``; a "running" container is a small HTTP
process (``serving_stub.py``) listening on the host port published for container port
8501, so the scripts' real readiness checks and predict requests have something to talk to.

Knobs (environment variables):
    FAKE_DOCKER_INFO        ok (default) | fail (no daemon) | permission (socket not allowed)
    FAKE_DOCKER_CONTAINER   serve (default) | exit (dies at once) | never_ready (never listens)
    FAKE_DOCKER_PULL        ok (default) | fail
    FAKE_DOCKER_ENGINE      linux (default: Docker Engine on the host) | desktop-mac (Docker
                            Desktop on Apple Silicon) | desktop-wsl2 (Docker Desktop, WSL 2 backend):
                            what `docker info` reports as Operating System, Architecture, kernel
    FAKE_DOCKER_GPUS        ok (default) | none (no NVIDIA Container Toolkit: `run --gpus` fails)
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The tutorial's own liveness check (a zombie counts as gone), from the checkout's root.
sys.path.insert(0, str(HERE.parents[2]))
from tutorial.wait_available import pid_alive  # noqa: E402

DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
)
PERMISSION = (
    "permission denied while trying to connect to the Docker daemon socket at "
    'unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.47/info": '
    "dial unix /var/run/docker.sock: connect: permission denied"
)
# Options of `docker run` that take a value (the rest used by the scripts are flags).
RUN_VALUE_OPTIONS = {"--name", "-p", "--publish", "--mount", "-e", "--env", "--platform", "-v", "--gpus"}
# What Docker prints for `run --gpus` when no NVIDIA runtime is registered.
NO_GPU_DRIVER = (
    'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].'
)
# `docker info`'s server fields per engine, as the real ones report them.
ENGINES = {
    "desktop-mac": {
        "KernelVersion": "6.10.14-linuxkit",
        "OperatingSystem": "Docker Desktop",
        "OSType": "linux",
        "Architecture": "aarch64",
        "Name": "docker-desktop",
    },
    "desktop-wsl2": {
        "KernelVersion": "5.15.167.4-microsoft-standard-WSL2",
        "OperatingSystem": "Docker Desktop",
        "OSType": "linux",
        "Architecture": "x86_64",
        "Name": "docker-desktop",
    },
}


def state_dir() -> Path:
    path = Path(
        os.environ.get("FAKE_DOCKER_STATE") or Path(os.environ["FAKE_DOCKER_LOG"]).parent / "docker_state"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def daemon_problem() -> str | None:
    mode = os.environ.get("FAKE_DOCKER_INFO", "ok")
    return {"ok": None, "fail": DAEMON_DOWN, "permission": PERMISSION}[mode]


def load_container(name: str) -> dict | None:
    path = state_dir() / f"{name}.json"
    if not path.exists():
        return None
    container = json.loads(path.read_text())
    if container["pid"] is not None and not pid_alive(container["pid"]):
        path.unlink()  # --rm: an exited container disappears
        return None
    return container


def remove_container(name: str) -> bool:
    container = load_container(name)
    if container is None:
        return False
    if container["pid"] is not None:
        os.kill(container["pid"], signal.SIGTERM)
        for _ in range(100):
            if not pid_alive(container["pid"]):
                break
            time.sleep(0.02)
    (state_dir() / f"{name}.json").unlink(missing_ok=True)
    return True


def engine_fields() -> dict[str, str]:
    engine = os.environ.get("FAKE_DOCKER_ENGINE", "linux")
    if engine in ENGINES:
        return ENGINES[engine]
    machine = os.environ.get("FAKE_UNAME_M") or platform.machine()
    return {
        "KernelVersion": platform.release(),
        "OperatingSystem": "Ubuntu 24.04.2 LTS",
        "OSType": "linux",
        "Architecture": {"arm64": "aarch64"}.get(machine, machine),
        "Name": "fake-host",
    }


def cmd_info(args: list[str]) -> int:
    fields = engine_fields()
    if "--format" in args or "-f" in args:  # only the `{{.Field}}` templates the scripts use
        template = args[args.index("--format" if "--format" in args else "-f") + 1]
        problem = daemon_problem()
        if problem:
            return fail(problem)
        print(
            re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda match: fields.get(match.group(1), "<no value>"), template)
        )
        return 0
    print("Client:\n Version:    28.2.2\n Context:    default\n\nServer:")
    problem = daemon_problem()
    if problem:
        return fail(problem)
    print(" Server Version: 28.2.2")
    print(f" Kernel Version: {fields['KernelVersion']}")
    print(f" Operating System: {fields['OperatingSystem']}")
    print(f" OSType: {fields['OSType']}")
    print(f" Architecture: {fields['Architecture']}")
    print(f" Name: {fields['Name']}")
    return 0


def cmd_pull(args: list[str]) -> int:
    image = args[-1]
    if os.environ.get("FAKE_DOCKER_PULL", "ok") == "fail":
        return fail(
            f'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host ({image})'
        )
    tag = image.rsplit(":", 1)[-1]
    print(
        f"{tag}: Pulling from {image.rsplit(':', 1)[0]}\nDigest: sha256:{'0' * 64}\nStatus: Image is up to date for {image}"
    )
    return 0


def parse_run(args: list[str]) -> tuple[dict, str, list[str]]:
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in RUN_VALUE_OPTIONS:
            options.setdefault(args[i], []).append(args[i + 1])
            i += 2
        else:
            options.setdefault(args[i], []).append("")
            i += 1
    return options, args[i], args[i + 1 :]


def published_port(options: dict, container_port: str) -> int | None:
    for spec in options.get("-p", []):
        parts = spec.split(":")
        if parts[-1] == container_port:
            return int(parts[-2])
    return None


def cmd_run(args: list[str]) -> int:
    options, _image, _command = parse_run(args)
    for mount in options.get("--mount", []):
        fields = dict(field.split("=", 1) for field in mount.split(","))
        source = fields.get("source", "")
        if re.match(r"^[A-Za-z]:/", source):
            continue  # Docker Desktop on Windows: a drive path, not checked here
        if not os.path.isabs(source):
            return fail(
                f"docker: Error response from daemon: invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute",
                125,
            )
        if not os.path.exists(source):
            return fail(
                f'docker: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: {source}',
                125,
            )
    if options.get("--gpus") and os.environ.get("FAKE_DOCKER_GPUS", "ok") == "none":
        return fail(NO_GPU_DRIVER, 125)
    name = (options.get("--name") or [uuid.uuid4().hex[:12]])[0]
    if load_container(name) is not None:
        return fail(
            f'docker: Error response from daemon: Conflict. The container name "/{name}" is already in use.',
            125,
        )

    container_id = uuid.uuid4().hex + uuid.uuid4().hex
    mode = os.environ.get("FAKE_DOCKER_CONTAINER", "serve")
    if mode == "exit":
        print(container_id)  # started, then exited at once; --rm removed it
        return 0
    log = state_dir() / f"{name}.log"
    rest_port = published_port(options, "8501")
    grpc_port = published_port(options, "8500")
    stub = [sys.executable, str(HERE / "serving_stub.py"), "--mode", mode, "--log", str(log)]
    if rest_port:
        stub += ["--rest-port", str(rest_port)]
    if grpc_port:
        stub += ["--grpc-port", str(grpc_port)]
    process = subprocess.Popen(
        stub,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = {"id": container_id, "pid": process.pid, "argv": args, "log": str(log)}
    (state_dir() / f"{name}.json").write_text(json.dumps(state))
    print(container_id)
    return 0


def cmd_container(args: list[str]) -> int:
    if args[:1] == ["inspect"]:
        return cmd_inspect(args[1:])
    return fail(f"fake docker: unsupported: container {' '.join(args)}", 2)


def cmd_inspect(args: list[str]) -> int:
    name = args[-1]
    container = load_container(name)
    if container is None:
        return fail(f"Error response from daemon: No such container: {name}")
    print("true")
    return 0


def cmd_stop(args: list[str]) -> int:
    name = args[-1]
    if not remove_container(name):
        return fail(f"Error response from daemon: No such container: {name}")
    print(name)
    return 0


def cmd_rm(args: list[str]) -> int:
    name = args[-1]
    if not remove_container(name):
        return fail(f"Error response from daemon: No such container: {name}")
    print(name)
    return 0


def cmd_logs(args: list[str]) -> int:
    name = args[-1]
    container = load_container(name)
    if container is None:
        return fail(f"Error response from daemon: No such container: {name}")
    lines = Path(container["log"]).read_text().splitlines() if Path(container["log"]).exists() else []
    if "--tail" in args:
        lines = lines[-int(args[args.index("--tail") + 1]) :]
    print("\n".join(lines))
    return 0


def cmd_port(args: list[str]) -> int:
    """`docker port NAME`: one "8500/tcp -> 127.0.0.1:8700" line per published port."""
    name = args[0]
    container = load_container(name)
    if container is None:
        return fail(f"Error response from daemon: No such container: {name}")
    options, _image, _command = parse_run(container["argv"])
    for spec in options.get("-p", []):
        *host, container_port = spec.split(":")
        host_ip, host_port = (host[0], host[1]) if len(host) == 2 else ("0.0.0.0", host[0])
        print(f"{container_port}/tcp -> {host_ip}:{host_port}")
    return 0


def cmd_image(args: list[str]) -> int:
    if args[:1] == ["inspect"]:
        return fail(f"Error response from daemon: No such image: {args[-1]}")
    return fail(f"fake docker: unsupported: image {' '.join(args)}", 2)


COMMANDS = {
    "info": cmd_info,
    "pull": cmd_pull,
    "run": cmd_run,
    "container": cmd_container,
    "inspect": cmd_inspect,
    "stop": cmd_stop,
    "rm": cmd_rm,
    "logs": cmd_logs,
    "port": cmd_port,
    "image": cmd_image,
}


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_DOCKER_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(["docker", *argv]) + "\n")
    if os.environ.get("FAKE_DOCKER_ENV_LOG"):
        with open(os.environ["FAKE_DOCKER_ENV_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"MSYS_NO_PATHCONV": os.environ.get("MSYS_NO_PATHCONV")}) + "\n")
    if not argv or argv[0] not in COMMANDS:
        return fail(f"fake docker: unsupported command: {argv}", 2)
    if argv[0] != "info" and daemon_problem():
        return fail(daemon_problem())
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
