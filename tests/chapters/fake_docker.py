"""A stand-in for the ``docker`` CLI whose containers are the emulator, for testing the Docker paths.

The chapters' Docker variants (``03_start_server.sh`` with SERVING_BACKEND=docker, and
``07_labels.py`` and ``08_several_models.py`` on top of it) must pass the real server the right
arguments: the model base directory mounted at /models, container paths in
``--model_config_file`` and in every config sent over gRPC. With no Docker engine, this
fake plays both parts:

* As ``docker`` (a wrapper script on PATH runs ``python fake_docker.py cli ARGS``), it
  records every call in ``$FAKE_DOCKER_DIR/calls.jsonl`` and answers ``info``, ``run``,
  ``[container] inspect``, ``stop``, ``rm -f`` and ``logs`` the way the scripts use them.
* As a "container" (``python fake_docker.py container STATE_DIR``), it runs what the
  image's entrypoint would run, ``tensorflow_model_server --port=8500 --rest_api_port=8501
  --model_name=$MODEL_NAME --model_base_path=/models/$MODEL_NAME "$@"``, as the emulator,
  with the container's view of the file system translated to the host through the
  ``--mount`` options: flag paths are mapped, a ``--model_config_file`` is served as a
  translated copy that follows the original, and gRPC goes through a proxy on the
  published port that translates the base paths of ``HandleReloadConfigRequest``
  (recording what it received in ``reloads.jsonl``). A host path sent by a client does not
  exist in a container, so the proxy rejects it the way the real server's load would fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent import futures
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RELOAD_METHOD = "/tensorflow.serving.ModelService/HandleReloadConfigRequest"
# What the tensorflow/serving image sets (tools/docker/Dockerfile).
IMAGE_ENV = {"MODEL_NAME": "model", "MODEL_BASE_PATH": "/models"}


def state_root() -> Path:
    return Path(os.environ["FAKE_DOCKER_DIR"])


def container_dir(name: str) -> Path:
    return state_root() / "containers" / name


def is_running(name: str) -> bool:
    pid_file = container_dir(name) / "pid"
    if not pid_file.is_file():
        return False
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (ProcessLookupError, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------
# Paths: the container's view -> the host's, through the bind mounts
# ---------------------------------------------------------------------------


def to_host(path: str, mounts: list[tuple[str, str]]) -> str | None:
    """The host path for a container path, or None when no mount covers it."""
    for source, target in sorted(mounts, key=lambda mount: -len(mount[1])):
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return source + path[len(target.rstrip("/")) :]
    return None


def translate_config_text(text: str, mounts: list[tuple[str, str]]) -> str:
    def replace(match: re.Match) -> str:
        host = to_host(match.group(3), mounts)
        return match.group(0) if host is None else f"{match.group(1)}{match.group(2)}{host}{match.group(2)}"

    return re.sub(r"(base_path\s*:\s*)([\"'])([^\"']*)\2", replace, text)


# ---------------------------------------------------------------------------
# The CLI
# ---------------------------------------------------------------------------


def parse_run(args: list[str]) -> dict:
    """``docker run`` options up to the image; what follows the image goes to the entrypoint."""
    spec = {
        "name": None,
        "detach": False,
        "remove": False,
        "ports": [],
        "mounts": [],
        "env": {},
        "platform": None,
    }
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("-"):
            break
        value = args[index + 1] if index + 1 < len(args) else ""
        if arg == "-d":
            spec["detach"] = True
        elif arg == "--rm":
            spec["remove"] = True
        elif arg == "--name":
            spec["name"] = value
            index += 1
        elif arg == "-p":
            spec["ports"].append(value)
            index += 1
        elif arg == "--mount":
            fields = dict(part.split("=", 1) for part in value.split(","))
            spec["mounts"].append((fields["source"], fields["target"]))
            index += 1
        elif arg == "-v":
            source, target = value.split(":")[:2]
            spec["mounts"].append((source, target))
            index += 1
        elif arg == "-e":
            key, _, env_value = value.partition("=")
            spec["env"][key] = env_value
            index += 1
        elif arg == "--platform":
            spec["platform"] = value
            index += 1
        else:
            raise SystemExit(f"fake docker: unsupported run option {arg}")
        index += 1
    if index >= len(args):
        raise SystemExit("fake docker: run needs an image")
    spec["image"] = args[index]
    spec["args"] = args[index + 1 :]
    return spec


def published_port(ports: list[str], container_port: int) -> int:
    for mapping in ports:
        parts = mapping.split(":")
        if int(parts[-1]) == container_port:
            return int(parts[-2])
    raise SystemExit(f"fake docker: container port {container_port} is not published")


def cli_run(args: list[str]) -> int:
    spec = parse_run(args)
    name = spec["name"] or uuid.uuid4().hex[:12]
    if is_running(name):
        print(
            f'docker: Error response from daemon: Conflict. The container name "/{name}" is already in use.'
        )
        return 125
    state = container_dir(name)
    state.mkdir(parents=True, exist_ok=True)
    (state / "run.json").write_text(json.dumps(spec), encoding="utf-8")
    log = (state / "log").open("w")
    process = subprocess.Popen(
        [sys.executable, __file__, "container", str(state)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=os.environ.copy(),
    )
    (state / "pid").write_text(str(process.pid))
    print(uuid.uuid4().hex)
    return 0


def cli_inspect(args: list[str]) -> int:
    name = args[-1]
    if not is_running(name):
        print(f"Error: No such container: {name}", file=sys.stderr)
        return 1
    print("true")
    return 0


def stop_container(name: str) -> bool:
    pid_file = container_dir(name) / "pid"
    if not is_running(name):
        return False
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        if not is_running(name):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def cli(argv: list[str]) -> int:
    with (state_root() / "calls.jsonl").open("a", encoding="utf-8") as calls:
        calls.write(json.dumps(argv) + "\n")
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "container" and args:
        command, args = args[0], args[1:]
    if command == "info":
        print("Server:\n Server Version: fake")
        return 0
    if command == "run":
        return cli_run(args)
    if command == "inspect":
        return cli_inspect(args)
    if command == "stop":
        if not stop_container(args[-1]):
            print(f"Error response from daemon: No such container: {args[-1]}", file=sys.stderr)
            return 1
        print(args[-1])
        return 0
    if command == "rm":
        stop_container(args[-1])
        return 0
    if command == "logs":
        log = container_dir(args[-1]) / "log"
        if not log.is_file():
            print(f"Error response from daemon: No such container: {args[-1]}", file=sys.stderr)
            return 1
        sys.stdout.write(log.read_text(encoding="utf-8", errors="replace"))
        return 0
    print(f"fake docker: unsupported command {argv}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------
# The container: the emulator behind a path-translating gRPC proxy
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def entrypoint_flags(spec: dict) -> list[str]:
    env = {**IMAGE_ENV, **spec["env"]}
    return [
        "--port=8500",
        "--rest_api_port=8501",
        f"--model_name={env['MODEL_NAME']}",
        f"--model_base_path={env['MODEL_BASE_PATH']}/{env['MODEL_NAME']}",
        *spec["args"],
    ]


def follow_config(container_path: str, host_copy: Path, mounts, stop: threading.Event) -> None:
    """Keep ``host_copy`` a translated copy of the mounted config file, as it changes."""
    source = Path(to_host(container_path, mounts))
    last = None
    while not stop.is_set():
        try:
            text = source.read_text(encoding="utf-8")
        except OSError:
            text = None
        if text is not None and text != last:
            staging = host_copy.with_suffix(".tmp")
            staging.write_text(translate_config_text(text, mounts), encoding="utf-8")
            os.replace(staging, host_copy)
            last = text
        stop.wait(0.1)


def make_proxy(upstream: str, mounts, record: Path):
    import grpc
    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2

    channel = grpc.insecure_channel(upstream)

    class Forward(grpc.GenericRpcHandler):
        def service(self, handler_call_details):
            method = handler_call_details.method
            call = channel.unary_unary(method)

            def handle(request: bytes, context):
                if method == RELOAD_METHOD:
                    reload = model_management_pb2.ReloadConfigRequest.FromString(request)
                    with record.open("a", encoding="utf-8") as out:
                        out.write(json.dumps(text_format.MessageToString(reload.config)) + "\n")
                    for model in reload.config.model_config_list.config:
                        host = to_host(model.base_path, mounts)
                        if host is None:
                            context.abort(
                                grpc.StatusCode.NOT_FOUND,
                                f"Could not find base path {model.base_path} for servable {model.name}",
                            )
                        model.base_path = host
                    request = reload.SerializeToString()
                try:
                    return call(request, timeout=context.time_remaining())
                except grpc.RpcError as err:
                    context.abort(err.code(), err.details())

            return grpc.unary_unary_rpc_method_handler(handle)

    return Forward()


def run_container(state: Path) -> int:
    import grpc

    spec = json.loads((state / "run.json").read_text(encoding="utf-8"))
    mounts = [tuple(mount) for mount in spec["mounts"]]
    grpc_host_port = published_port(spec["ports"], 8500)
    rest_host_port = published_port(spec["ports"], 8501)
    inner_grpc_port = free_port()
    stop = threading.Event()

    flags = []
    for flag in entrypoint_flags(spec):
        name, _, value = flag.partition("=")
        if name == "--port":
            flag = f"--port={inner_grpc_port}"
        elif name == "--rest_api_port":
            flag = f"--rest_api_port={rest_host_port}"
        elif name == "--model_config_file":
            host_copy = state / "model_config_file.host"
            threading.Thread(target=follow_config, args=(value, host_copy, mounts, stop), daemon=True).start()
            while not host_copy.exists():
                time.sleep(0.05)
            flag = f"--model_config_file={host_copy}"
        elif value.startswith("/"):
            host = to_host(value, mounts)
            # An unmounted path does not exist in the container; keep it so the server says so.
            flag = f"{name}={host if host is not None else value}"
        flags.append(flag)

    # A plaintext proxy cannot stand in front of a TLS port: with --ssl_config_file the
    # emulator listens on the published port itself (no reload path translation then).
    proxy = None
    if any(flag.startswith("--ssl_config_file=") for flag in flags):
        flags = [f"--port={grpc_host_port}" if flag.startswith("--port=") else flag for flag in flags]
    else:
        proxy = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        proxy.add_generic_rpc_handlers(
            (make_proxy(f"127.0.0.1:{inner_grpc_port}", mounts, state / "reloads.jsonl"),)
        )
        proxy.add_insecure_port(f"127.0.0.1:{grpc_host_port}")
        proxy.start()

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "tfserving_emulator", *flags], env=env, cwd=REPO_ROOT)

    def terminate(*_):
        stop.set()

    signal.signal(signal.SIGTERM, terminate)
    while not stop.is_set() and server.poll() is None:
        stop.wait(0.2)
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    if proxy is not None:
        proxy.stop(0)
    return server.returncode or 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["cli"]:
        return cli(argv[1:])
    if argv[:1] == ["container"]:
        return run_container(Path(argv[1]))
    print("usage: fake_docker.py cli DOCKER-ARGS... | container STATE_DIR", file=sys.stderr)
    return 2


def install(bin_dir: Path, state_dir: Path) -> Path:
    """Write a ``docker`` wrapper into ``bin_dir``; put bin_dir first on PATH and set FAKE_DOCKER_DIR."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "docker"
    wrapper.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" cli "$@"\n', encoding="utf-8"
    )
    wrapper.chmod(0o755)
    return wrapper


def calls(state_dir: Path) -> list[list[str]]:
    path = state_dir / "calls.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def reloads(state_dir: Path, name: str) -> list[str]:
    """The text of every config HandleReloadConfigRequest delivered to container ``name``."""
    path = state_dir / "containers" / name / "reloads.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
