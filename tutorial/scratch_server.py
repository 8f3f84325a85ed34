"""A throw-away TF Serving for one experiment: its own ports, its own model folder, its own flags.

Chapter 13 compares servers that differ in one flag (``--enable_model_warmup``). The reader's
server, started by ``03_start_server.sh``, is left alone: this one listens on free ports,
serves a folder the chapter owns, and is stopped when the experiment ends. It runs on the
backend ``03_start_server.sh`` would choose (SERVING_BACKEND): the real TF Serving in Docker,
with the same ``docker run`` shape as step 3 (the folder mounted at /models, ports on
127.0.0.1, flags after the image), or the emulator with the same flags.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import grpc

from tutorial.chapter_scripts import shown
from tutorial.chapter_server import ChapterError, Server
from tutorial.ports import free_port
from tutorial.server_backend import CONTAINER_GRPC_PORT, CONTAINER_REST_PORT, container_state, docker_problem
from tutorial.settings import REPO_ROOT, Settings, run_options, seconds

STATUS_POLL_SECONDS = 0.02  # how often we ask for the status while a version loads


class ScratchServer:
    """One server serving ``model_dir`` (a folder of version directories) with ``flags``."""

    def __init__(
        self, settings: Settings, backend: str, model_dir: Path, flags: list[str], label: str, log_dir: Path
    ):
        # Free ports, so the reader's server on GRPC_PORT/REST_PORT can keep running.
        self.settings = dataclasses.replace(settings, grpc_port=free_port(), rest_port=free_port())
        self.backend = backend
        self.model_dir = model_dir
        self.flags = flags
        self.container = f"{settings.container_name}_{label}"
        self.log_path = log_dir / f"server_{label}.log"
        self.process: subprocess.Popen | None = None
        self.client = Server(self.settings)

    @property
    def model_name(self) -> str:
        return self.model_dir.name

    def command(self) -> list[str]:
        if self.backend == "docker":
            # The whole folder is mounted at /models; the image's entrypoint serves
            # /models/$MODEL_NAME and passes the arguments after the image to the server.
            command = ["docker", "run", "-d", "--rm", "--name", self.container]
            command += ["-p", f"127.0.0.1:{self.settings.grpc_port}:{CONTAINER_GRPC_PORT}"]
            command += ["-p", f"127.0.0.1:{self.settings.rest_port}:{CONTAINER_REST_PORT}"]
            command += ["--mount", f"type=bind,source={self.model_dir.parent},target=/models"]
            command += ["-e", f"MODEL_NAME={self.model_name}"]
            # DOCKER_PLATFORM (e.g. linux/amd64 on an arm64 Mac), as 03_start_server.sh passes it.
            if platform := os.environ.get("DOCKER_PLATFORM"):
                command += ["--platform", platform]
            return [*command, self.settings.tf_serving_image, *self.flags]
        return [
            sys.executable, "-m", "tfserving_emulator",
            f"--port={self.settings.grpc_port}", f"--rest_api_port={self.settings.rest_port}",
            f"--model_name={self.model_name}", f"--model_base_path={self.model_dir}", *self.flags,
        ]  # fmt: skip

    def display(self) -> str:
        words = self.command()
        if self.backend != "docker":
            words = ["python", *words[1:]]
        return shlex.join(shown(word) if word.startswith("/") else word for word in words)

    def start(self) -> None:
        print(f"  $ {self.display()}")
        if self.backend == "docker":
            if problem := docker_problem():
                raise ChapterError(problem)
            # A container of this name can only be ours, left by a run that was killed.
            subprocess.run(["docker", "rm", "-f", self.container], capture_output=True, check=False)
            result = subprocess.run(self.command(), capture_output=True, text=True, check=False)
            if result.returncode != 0:
                lines = (result.stdout + result.stderr).strip().splitlines() or ["no output"]
                raise ChapterError(f"docker run failed: {lines[-1]}")
            return
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def log_text(self) -> str:
        if self.backend == "docker":
            result = subprocess.run(
                ["docker", "logs", self.container], capture_output=True, text=True, check=False
            )
            return result.stdout + result.stderr
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def save_log(self) -> str:
        """The server's log so far, also kept in ``log_path`` (for Docker, from ``docker logs``)."""
        text = self.log_text()
        if self.backend == "docker":
            self.log_path.write_text(text, encoding="utf-8")
        return text

    def stop(self) -> None:
        if self.backend == "docker":
            subprocess.run(["docker", "stop", self.container], capture_output=True, check=False)
        elif self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.client.__exit__()

    def _gone(self) -> str | None:
        """Why the server is no longer there, or None while it runs."""
        if self.backend == "docker":
            if container_state(self.container) == "running":
                return None
            return (
                f"the container {self.container} stopped (--rm removed it with its log); "
                "run the docker run above without -d to watch it fail"
            )
        if self.process is None or self.process.poll() is None:
            return None
        tail = " | ".join(self.log_text().strip().splitlines()[-3:])
        return f"the server exited with code {self.process.returncode}: {tail}"

    def wait_available(self, version: int) -> float:
        """Wait until ``version`` is AVAILABLE; returns the seconds it took (loading + warm-up)."""
        timeout = seconds("STARTUP_TIMEOUT", run_options()["STARTUP_TIMEOUT"])
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if self.client.status(self.model_name).get(version) == "AVAILABLE":
                    return time.monotonic() - start
            except grpc.RpcError as err:
                # Not listening yet (UNAVAILABLE) or the model not known yet (NOT_FOUND).
                if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND):
                    raise
            if reason := self._gone():
                raise ChapterError(reason)
            time.sleep(STATUS_POLL_SECONDS)
        where = f"docker logs {self.container}" if self.backend == "docker" else shown(self.log_path)
        raise ChapterError(
            f"version {version} of {self.model_name} was not AVAILABLE within {timeout:g} s "
            f"(STARTUP_TIMEOUT); see the server log: {where}"
        )
