"""A TF Serving of a chapter's own: a container, or an emulator process, with the flags it teaches.

Chapters 10 and 11 show flags that ``03_start_server.sh`` does not pass
(``--ssl_config_file``, ``--enable_grpc_healthcheck_service``), so they start a second
server beside the one 03 may be running: on two ports the OS says are free, serving
``MODEL_BASE_DIR/MODEL_NAME`` and, when the flags name files, a folder of them mounted
into the container. With Docker it is a ``docker run`` (printed, the way 03 prints its
own); with the emulator, ``python -m tfserving_emulator`` with the same flags and the
host's paths. ``stop()`` removes it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tutorial.chapter_server import ChapterError
from tutorial.ports import free_port
from tutorial.server_backend import CONTAINER_GRPC_PORT, CONTAINER_REST_PORT, choose, docker_problem
from tutorial.settings import REPO_ROOT, Settings, caller_cwd, display_path, run_options

# The model folder, where the image's entrypoint looks for $MODEL_NAME.
CONTAINER_MODELS = "/models"
POLL_SECONDS = 0.2


@dataclass
class ServerSpec:
    """What a chapter's server is: its name, its extra flags and the folder they refer to.

    ``flags`` use container paths below ``files_target``; the emulator gets them with
    ``files_dir`` (the host folder) in their place.
    """

    name: str
    flags: list[str] = field(default_factory=list)
    files_dir: Path | None = None
    files_target: str = "/config"


class OwnServer:
    def __init__(self, settings: Settings, spec: ServerSpec):
        self.settings = settings
        self.spec = spec
        self.backend, self.backend_reason = choose(settings.serving_backend)
        self.grpc_port = free_port()
        self.rest_port = free_port()
        self.container = f"{settings.container_name}_{spec.name}"
        self.log_path = settings.run_dir / f"{spec.name}.log"
        self.process: subprocess.Popen | None = None

    # 127.0.0.1, not localhost: the ports are published there only, and a client that
    # tried ::1 first would report that refusal instead of the one worth showing.
    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def status_url(self) -> str:
        return f"{self.rest_url}/v1/models/{self.settings.model_name}"

    # -- the command ------------------------------------------------------------------

    def docker_command(self) -> list[str]:
        model = self.settings.model_name
        command = ["docker", "run", "-d", "--rm", "--name", self.container]
        command += ["-p", f"127.0.0.1:{self.grpc_port}:{CONTAINER_GRPC_PORT}"]
        command += ["-p", f"127.0.0.1:{self.rest_port}:{CONTAINER_REST_PORT}"]
        command += [
            "--mount",
            f"type=bind,source={self.settings.model_dir},target={CONTAINER_MODELS}/{model}",
        ]
        if self.spec.files_dir is not None:
            command += ["--mount", f"type=bind,source={self.spec.files_dir},target={self.spec.files_target}"]
        command += ["-e", f"MODEL_NAME={model}", self.settings.tf_serving_image, *self.spec.flags]
        return command

    def emulator_command(self) -> list[str]:
        flags = [
            f"--port={self.grpc_port}",
            f"--rest_api_port={self.rest_port}",
            f"--model_name={self.settings.model_name}",
            f"--model_base_path={self.settings.model_dir}",
        ]
        target = self.spec.files_target.rstrip("/") + "/"
        for flag in self.spec.flags:
            name, _, value = flag.partition("=")
            if self.spec.files_dir is not None and value.startswith(target):
                flag = f"{name}={self.spec.files_dir / value[len(target) :]}"
            flags.append(flag)
        return [sys.executable, "-m", "tfserving_emulator", *flags]

    def command(self) -> list[str]:
        return self.docker_command() if self.backend == "docker" else self.emulator_command()

    def shown_command(self) -> str:
        """The command as the reader would type it from where they stand (short paths)."""
        words = self.command()
        if self.backend != "docker":
            words = ["python", *words[1:]]
        here = str(caller_cwd()).rstrip("/") + "/"
        # Paths also sit inside words: --flag=/path, source=/path,target=...
        return " ".join(word.replace(here, "") for word in words)

    # -- start and wait ----------------------------------------------------------------

    def start(self, wait: bool = True) -> None:
        if self.backend == "docker" and (problem := docker_problem()):
            raise ChapterError(problem)
        if not any(self.settings.model_dir.glob("*/saved_model.pb")):
            raise ChapterError(
                f"no exported version in {display_path(self.settings.model_dir)}; "
                "export one first: python 02_train_and_export.py"
            )
        print(f"  $ {self.shown_command()}")
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w", encoding="utf-8") as log:
            if self.backend == "docker":
                result = subprocess.run(self.command(), capture_output=True, text=True, check=False)
                log.write(result.stdout + result.stderr)
                if result.returncode != 0:
                    last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                    raise ChapterError(f"docker run failed: {last[0]}")
            else:
                env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
                self.process = subprocess.Popen(
                    self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
                )
        if wait:
            self.wait_available()

    def is_running(self) -> bool:
        if self.backend == "docker":
            result = subprocess.run(
                ["docker", "container", "inspect", "-f", "{{.State.Running}}", self.container],
                capture_output=True,
                text=True,
                check=False,
            )
            return result.returncode == 0 and result.stdout.strip() == "true"
        return self.process is not None and self.process.poll() is None

    def wait_available(self) -> None:
        """Until the REST status says AVAILABLE (REST is plain HTTP even when gRPC is TLS)."""
        timeout = float(run_options()["STARTUP_TIMEOUT"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise ChapterError(f"the server exited while starting; its log ends with: {self.log_tail()}")
            try:
                status = requests.get(self.status_url, timeout=2)
                states = [v["state"] for v in status.json().get("model_version_status", [])]
                if "AVAILABLE" in states:
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(POLL_SECONDS)
        self.stop()
        raise ChapterError(
            f"{self.settings.model_name} was not AVAILABLE within {timeout:g} s: {self.log_tail()}"
        )

    def log_text(self) -> str:
        if self.backend == "docker":
            result = subprocess.run(
                ["docker", "logs", self.container], capture_output=True, text=True, check=False
            )
            return result.stdout + result.stderr
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        lines = [line for line in self.log_text().splitlines() if line.strip()]
        return lines[-1] if lines else "(no log)"

    # -- stopping ---------------------------------------------------------------------

    def send_sigterm(self) -> str:
        """SIGTERM as an orchestrator sends it; returns the command, as the reader would type it.

        With Docker, ``docker stop`` sends SIGTERM to the container's first process and,
        if it has not exited after ``--time`` seconds, SIGKILL.
        """
        if self.backend == "docker":
            command = ["docker", "stop", "--time", "5", self.container]
            subprocess.run(command, capture_output=True, text=True, check=False)
            return " ".join(command)
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return f"kill -TERM {self.process.pid}"

    def wait_exit(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        if self.backend == "docker":
            if self.is_running():
                subprocess.run(
                    ["docker", "stop", self.container], capture_output=True, text=True, check=False
                )
            return
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> OwnServer:
        return self

    def __exit__(self, *_) -> None:
        self.stop()
