"""Helpers for the emulator conformance suite: model builders, clients, process control.

Kept apart from ``conftest.py`` so test modules can import them
(``from emulator_harness import ...``); ``conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import grpc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO_ROOT = Path(__file__).resolve().parents[2]
HALF_PLUS_TWO_VERSION = 123

# How long a test waits for the server to notice a file-system change (it polls every
# second); generous because 2 CPUs are shared with TensorFlow loading models.
POLL_TIMEOUT_S = 60.0


# ---------------------------------------------------------------------------
# Building models
# ---------------------------------------------------------------------------


def build_toolbox_model(export_dir: Path) -> None:
    """A TF1 SavedModel whose signatures exercise REST/gRPC corner cases.

    No ``serving_default`` on purpose (catalogue row 9). Signatures:
      sum_and_product  a, b (float [-1])  -> sum, product   (two inputs, two outputs)
      matmul           m (unknown rank)   -> out            (fails at run time on a vector)
      with_scalar      a                  -> doubled, total (total has rank 0)
      ragged_batch     a                  -> doubled, first (first has batch size 1)
      half             h (float16)        -> h_out          (a dtype JSON cannot convert)
      echo_text        text (string)      -> text, text_bytes
    """
    import tensorflow as tf

    tf1 = tf.compat.v1
    build = tf1.saved_model.signature_def_utils.build_signature_def
    info = tf1.saved_model.utils.build_tensor_info

    def predict_signature(inputs: dict, outputs: dict):
        return build(
            inputs={k: info(v) for k, v in inputs.items()},
            outputs={k: info(v) for k, v in outputs.items()},
            method_name=tf1.saved_model.signature_constants.PREDICT_METHOD_NAME,
        )

    builder = tf1.saved_model.builder.SavedModelBuilder(str(export_dir))
    with tf1.Session(graph=tf.Graph()) as sess:
        two = tf1.Variable(2.0, name="two")
        a = tf1.placeholder(tf.float32, [None], name="a")
        b = tf1.placeholder(tf.float32, [None], name="b")
        total_ab = tf.add(a, b, name="sum")
        product = tf.multiply(a, b, name="product")
        m = tf1.placeholder(tf.float32, name="m")
        out = tf.matmul(m, tf.constant([[1.0], [2.0]]), name="matmul")
        doubled = tf.multiply(a, two, name="doubled")
        total = tf.reduce_sum(a, name="total")
        first = tf.identity(a[:1], name="first")
        h = tf1.placeholder(tf.float16, [None], name="h")
        h_out = tf.cast(h, tf.float32, name="h_out")
        text = tf1.placeholder(tf.string, [None], name="text")
        text_out = tf.identity(text, name="text_out")
        signatures = {
            "sum_and_product": predict_signature({"a": a, "b": b}, {"sum": total_ab, "product": product}),
            "matmul": predict_signature({"m": m}, {"out": out}),
            "with_scalar": predict_signature({"a": a}, {"doubled": doubled, "total": total}),
            "ragged_batch": predict_signature({"a": a}, {"doubled": doubled, "first": first}),
            "half": predict_signature({"h": h}, {"h_out": h_out}),
            "echo_text": predict_signature({"text": text}, {"text": text_out, "text_bytes": text_out}),
        }
        sess.run(tf1.global_variables_initializer())
        builder.add_meta_graph_and_variables(
            sess, [tf1.saved_model.tag_constants.SERVING], signature_def_map=signatures
        )
    builder.save()


def install_version(source_version_dir: Path, base_dir: Path, version: int | str) -> Path:
    """Copy a version directory to ``base_dir/<version>`` in one atomic rename.

    The copy is built under a hidden, non-numeric name first, so a polling server never
    sees a half-copied version. Read-only reference files come out writable.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    target = base_dir / str(version)
    staging = base_dir / f".staging-{uuid.uuid4().hex}"
    shutil.copytree(source_version_dir, staging, copy_function=shutil.copyfile)
    for path in [staging, *staging.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    staging.rename(target)
    return target


def remove_version(version_dir: Path) -> None:
    """Take a version directory away in one step (rename out of sight, then delete)."""
    graveyard = version_dir.parent / f".removed-{uuid.uuid4().hex}"
    version_dir.rename(graveyard)
    shutil.rmtree(graveyard)


def model_config_text(models: list[dict]) -> str:
    """Text-format ``ModelServerConfig``; each dict: name, base_path, optional policy/labels/platform."""
    entries = []
    for model in models:
        lines = [
            f"    name: '{model['name']}'",
            f"    base_path: '{model['base_path']}'",
            f"    model_platform: '{model.get('platform', 'tensorflow')}'",
        ]
        if model.get("policy"):
            lines.append(f"    model_version_policy {{ {model['policy']} }}")
        for label, version in model.get("labels", {}).items():
            lines.append(f"    version_labels {{ key: '{label}' value: {version} }}")
        entries.append("  config {\n" + "\n".join(lines) + "\n  }")
    return "model_config_list {\n" + "\n".join(entries) + "\n}\n"


def model_server_config(models: list[dict]):
    """The same configuration as a proto, for HandleReloadConfigRequest."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    return text_format.Parse(model_config_text(models), model_server_config_pb2.ModelServerConfig())


def read_signature_defs(version_dir: Path) -> dict:
    """The ``serve`` MetaGraph's signature map, read straight from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    (meta_graph,) = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags]
    return dict(meta_graph.signature_def)


# ---------------------------------------------------------------------------
# Talking to a server
# ---------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def error(self) -> str:
        document = self.json()
        assert set(document) == {"error"}, document
        return document["error"]

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


class Rest:
    """A raw HTTP client: paths and bodies go on the wire exactly as given."""

    def __init__(self, base_url: str, timeout: float = 60.0):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            if isinstance(body, str):
                body = body.encode("utf-8")
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: bytes | str | dict | list) -> Reply:
        if isinstance(body, dict | list):
            body = json.dumps(body)
        return self.request("POST", path, body)


class Grpc:
    """Both services of the model server on one channel."""

    def __init__(self, target: str):
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self.channel = grpc.insecure_channel(target)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()


@dataclass
class Served:
    """A running emulator and clients for it."""

    process: object  # tfserving_emulator.launcher.EmulatorProcess
    rest: Rest
    grpc: Grpc

    def log_text(self) -> str:
        return self.process.log_text()


@contextmanager
def serve(args: list[str]) -> Iterator[Served]:
    from tfserving_emulator.launcher import EmulatorProcess

    with EmulatorProcess(args) as process:
        client = Grpc(process.grpc_target)
        try:
            yield Served(process, Rest(process.rest_url), client)
        finally:
            client.close()


def wait_for(condition: Callable[[], object], timeout: float = POLL_TIMEOUT_S, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def model_status(served: Served, name: str) -> dict[int, tuple[str, int, str]]:
    """{version: (state name, error code, error message)} from gRPC GetModelStatus; {} if none."""
    from tensorflow_serving.apis import get_model_status_pb2

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    try:
        response = served.grpc.model.GetModelStatus(request, timeout=30)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return {}
        raise
    states = get_model_status_pb2.ModelVersionStatus.State
    return {
        s.version: (states.Name(s.state), s.status.error_code, s.status.error_message)
        for s in response.model_version_status
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def emulator_command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "tfserving_emulator", *args]


def run_emulator_to_exit(args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run the emulator until it exits by itself (startup failures); stdout+stderr merged."""
    return subprocess.run(
        emulator_command(args),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
