"""TensorFlow's profiler service on the gRPC port (``--enable_profiler``, on by default).

The service is called both raw (its request and response, to check each field) and
through TensorFlow's own client, ``profiler_client.trace``, as TensorBoard does.
"""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest
from emulator_harness import serve
from tensorflow.python.profiler import profiler_client
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from tfserving_emulator.grpc import profiler_service as ps

TIMEOUT = 60
SERVICE = "/tensorflow.ProfilerService"


@pytest.fixture(scope="module")
def server(half_plus_two_version_dir, copy_into):
    base = copy_into(half_plus_two_version_dir, "half_plus_two", 123)
    with serve(["--model_name=half_plus_two", f"--model_base_path={base}"]) as served:
        yield served


def method(served, name: str, response_type):
    return served.grpc.channel.unary_unary(
        f"{SERVICE}/{name}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=response_type.FromString,
    )


class Load:
    """REST predictions in a background thread until stopped: something to trace."""

    def __init__(self, served):
        self.served = served
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.answers: list[dict] = []

    def _run(self):
        while not self.stop.wait(0.02):
            self.answers.append(
                self.served.rest.post("/v1/models/half_plus_two:predict", {"instances": [1.0]}).json()
            )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        assert self.answers and all(a == {"predictions": [2.5]} for a in self.answers)


def event_names(xspace: xplane_pb2.XSpace, plane_name: str) -> set[str]:
    (plane,) = [p for p in xspace.planes if p.name == plane_name]
    names = {key: meta.name for key, meta in plane.event_metadata.items()}
    return {names[event.metadata_id] for line in plane.lines for event in line.events}


def profile_request(tmp_path: Path, duration_ms: int, session_id: str = "run_1", **fields):
    request = ps.ProfileRequest(
        repository_root=str(tmp_path / "plugins" / "profile"),
        session_id=session_id,
        host_name="server_1",
        **fields,
    )
    request.opts.version = 1
    request.opts.host_tracer_level = 2
    request.opts.duration_ms = duration_ms
    return request


def test_profile_saves_the_trace_of_the_model_runs(server, tmp_path):
    with Load(server):
        response = method(server, "Profile", ps.ProfileResponse)(
            profile_request(tmp_path, 500), timeout=TIMEOUT
        )
    assert response.empty_trace is False
    assert not response.HasField("xspace")
    saved = tmp_path / "plugins" / "profile" / "run_1" / "server_1.xplane.pb"
    xspace = xplane_pb2.XSpace.FromString(saved.read_bytes())
    # The session runs of the predictions, as TensorFlow's executor records them.
    assert {"SessionRun", "Add:AddV2", "Mul:Mul"} <= event_names(xspace, "/host:CPU")


def test_emit_xspace_returns_the_trace_instead_of_saving_it(server, tmp_path):
    with Load(server):
        response = method(server, "Profile", ps.ProfileResponse)(
            profile_request(tmp_path, 500, emit_xspace=True), timeout=TIMEOUT
        )
    assert response.empty_trace is False
    assert "SessionRun" in event_names(response.xspace, "/host:CPU")
    assert not (tmp_path / "plugins").exists()


def test_an_idle_server_gives_an_empty_trace_still_saved(server, tmp_path):
    response = method(server, "Profile", ps.ProfileResponse)(profile_request(tmp_path, 200), timeout=TIMEOUT)
    assert response.empty_trace is True
    saved = tmp_path / "plugins" / "profile" / "run_1" / "server_1.xplane.pb"
    assert ps.is_empty(xplane_pb2.XSpace.FromString(saved.read_bytes()))


def test_terminate_ends_a_running_profile(server, tmp_path):
    # An hour-long profile: only Terminate can end it before the RPC deadline.
    future = method(server, "Profile", ps.ProfileResponse).future(
        profile_request(tmp_path, 3_600_000, session_id="long_run"), timeout=TIMEOUT
    )
    terminate = method(server, "Terminate", ps.TerminateResponse)
    while not future.done():
        terminate(ps.TerminateRequest(session_id="long_run"), timeout=TIMEOUT)
        threading.Event().wait(0.1)
    # Answered (nothing ran meanwhile), and the trace saved as for a full-length profile.
    assert future.result().empty_trace is True
    assert (tmp_path / "plugins" / "profile" / "long_run" / "server_1.xplane.pb").is_file()


def test_monitor_is_unimplemented(server):
    with pytest.raises(grpc.RpcError) as error:
        method(server, "Monitor", ps.ProfileResponse)(ps.MonitorRequest(duration_ms=10), timeout=TIMEOUT)
    assert (error.value.code(), error.value.details()) == (grpc.StatusCode.UNIMPLEMENTED, "unimplemented.")


def test_tensorflow_profiler_client_traces_the_server(server, tmp_path):
    logdir = tmp_path / "logs"
    with Load(server):
        profiler_client.trace(server.process.grpc_target, str(logdir), 500, "", 3)
    (run,) = (logdir / "plugins" / "profile").iterdir()
    # TensorFlow's client names the host after the address it profiled.
    saved = run / f"{server.process.grpc_target}.xplane.pb"
    assert "SessionRun" in event_names(xplane_pb2.XSpace.FromString(saved.read_bytes()), "/host:CPU")


def test_enable_profiler_false_leaves_the_service_out(half_plus_two_version_dir, copy_into, tmp_path):
    base = copy_into(half_plus_two_version_dir, "half_plus_two", 123)
    with serve(
        ["--model_name=half_plus_two", f"--model_base_path={base}", "--enable_profiler=false"]
    ) as served:
        assert "Profiler service is enabled" not in served.log_text()
        with pytest.raises(grpc.RpcError) as error:
            method(served, "Profile", ps.ProfileResponse)(profile_request(tmp_path, 10), timeout=TIMEOUT)
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
