"""TensorFlow's profiler gRPC service, on the model server's own gRPC port.

With ``--enable_profiler`` (true by default) ``server.cc`` registers
``tsl::profiler::CreateProfilerService()`` next to the model and prediction services,
so ``tf.profiler.experimental.client.trace("grpc://host:8500", logdir, ...)`` and
TensorBoard's "Capture profile" work against the serving port. This module answers the
same RPCs as ``profiler_service_impl.cc``:

- ``Profile``: start a profiler session with the request's options, wait the requested
  duration (stopping early on ``Terminate`` or when the client cancels), collect the
  session's XSpace and save it as ``<repository_root>/<session_id>/<host>.xplane.pb``
  (or return it in the response with ``emit_xspace``); ``empty_trace`` says whether any
  event was recorded.
- ``Terminate``: ask a running ``Profile`` of that session to stop now.
- ``Monitor``: UNIMPLEMENTED, ``unimplemented.``, as in TF.

The tracing itself is TensorFlow's own profiler (``_pywrap_profiler.ProfilerSession``,
what ``tf.profiler.experimental.start`` drives), so the trace holds the same host events
the C++ server's session would record for the emulator's TensorFlow runs.

TensorFlow's pip package ships the C++ ProfilerService but no Python classes for its
request and response, so they are declared here from ``profiler_service.proto`` (same
package, names and field numbers; fields the server never reads are left out and pass
through as unknown fields).
"""

from __future__ import annotations

import glob
import os
import tempfile
import threading
import time

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from tensorflow.python.profiler.internal import _pywrap_profiler
from tensorflow.tsl.profiler.protobuf import profiler_options_pb2, xplane_pb2

SERVICE = "tensorflow.ProfilerService"
_FILE = "tfserving_emulator/profiler_service.proto"

# ProfilerSession::DefaultOptions(), used when a request's options carry no version.
_DEFAULT_TRACER_LEVELS = {"host_tracer_level": 2, "device_tracer_level": 1, "python_tracer_level": 0}


def _declare_messages() -> dict[str, type]:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_FILE)
    except KeyError:
        F = descriptor_pb2.FieldDescriptorProto
        proto = descriptor_pb2.FileDescriptorProto(
            name=_FILE,
            package="tensorflow",
            syntax="proto3",
            dependency=[profiler_options_pb2.DESCRIPTOR.name, xplane_pb2.DESCRIPTOR.name],
        )

        def message(name: str, *fields: tuple) -> None:
            msg = proto.message_type.add(name=name)
            for field_name, number, kind, label, type_name in fields:
                field = msg.field.add(name=field_name, number=number, type=kind, label=label)
                if type_name:
                    field.type_name = type_name

        one, many = F.LABEL_OPTIONAL, F.LABEL_REPEATED
        message(
            "ProfileRequest",
            ("duration_ms", 1, F.TYPE_UINT64, one, None),
            ("max_events", 2, F.TYPE_UINT64, one, None),
            ("tools", 3, F.TYPE_STRING, many, None),
            ("opts", 4, F.TYPE_MESSAGE, one, ".tensorflow.ProfileOptions"),
            ("repository_root", 5, F.TYPE_STRING, one, None),
            ("session_id", 6, F.TYPE_STRING, one, None),
            ("host_name", 7, F.TYPE_STRING, one, None),
            ("emit_xspace", 9, F.TYPE_BOOL, one, None),
        )
        message(
            "ProfileToolData", ("name", 1, F.TYPE_STRING, one, None), ("data", 2, F.TYPE_BYTES, one, None)
        )
        message(
            "ProfileResponse",
            ("tool_data", 6, F.TYPE_MESSAGE, many, ".tensorflow.ProfileToolData"),
            ("empty_trace", 7, F.TYPE_BOOL, one, None),
            ("xspace", 8, F.TYPE_MESSAGE, one, ".tensorflow.profiler.XSpace"),
        )
        message("TerminateRequest", ("session_id", 1, F.TYPE_STRING, one, None))
        message("TerminateResponse")
        message(
            "MonitorRequest",
            ("duration_ms", 1, F.TYPE_UINT64, one, None),
            ("monitoring_level", 2, F.TYPE_INT32, one, None),
            ("timestamp", 3, F.TYPE_BOOL, one, None),
        )
        message("MonitorResponse", ("data", 1, F.TYPE_STRING, one, None))
        pool.Add(proto)
    names = ("ProfileRequest", "ProfileResponse", "TerminateRequest", "TerminateResponse", "MonitorRequest")
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{n}")) for n in names}


MESSAGES = _declare_messages()
ProfileRequest = MESSAGES["ProfileRequest"]
ProfileResponse = MESSAGES["ProfileResponse"]
TerminateRequest = MESSAGES["TerminateRequest"]
TerminateResponse = MESSAGES["TerminateResponse"]
MonitorRequest = MESSAGES["MonitorRequest"]


def is_empty(xspace: xplane_pb2.XSpace) -> bool:
    """``xplane_utils.cc`` ``IsEmpty``: no plane has a line with an event."""
    return not any(line.events for plane in xspace.planes for line in plane.lines)


def xplane_path(repository_root: str, session_id: str, host: str) -> str:
    """``save_profile.cc``: ``<repository_root>/<session_id>/<host>.xplane.pb``."""
    return os.path.join(repository_root, session_id, f"{host}.xplane.pb")


def _tracer_levels(opts: profiler_options_pb2.ProfileOptions) -> dict[str, int]:
    """``ProfilerSession``'s ``GetOptions``: options without a version mean the defaults."""
    if not opts.version:
        return dict(_DEFAULT_TRACER_LEVELS)
    return {name: getattr(opts, name) for name in _DEFAULT_TRACER_LEVELS}


def _hostname(request) -> str:
    """``GetHostname``: the ``override_hostname`` option if set, else the request's."""
    override = request.opts.advanced_configuration.get("override_hostname")
    if override is not None and override.WhichOneof("value") == "string_value" and override.string_value:
        return override.string_value
    return request.host_name


class ProfilerService:
    def __init__(self):
        self._lock = threading.Lock()
        self._stop_signals: set[str] = set()

    def _stopped(self, session_id: str) -> bool:
        with self._lock:
            if session_id in self._stop_signals:
                self._stop_signals.discard(session_id)
                return True
            return False

    def _collect(self, request, context) -> xplane_pb2.XSpace | None:
        """Run a profiler session for the request's duration; None if the client cancelled."""
        duration_s = (request.opts.duration_ms or request.duration_ms) / 1000
        with tempfile.TemporaryDirectory(prefix="tfserving-profile-") as logdir:
            session = _pywrap_profiler.ProfilerSession()
            try:
                session.start(logdir, _tracer_levels(request.opts))
            except Exception as error:  # another session is running, or the tracers failed
                context.abort(grpc.StatusCode.INTERNAL, str(error))
            start = time.monotonic()
            cancelled = False
            while time.monotonic() - start < duration_s:
                time.sleep(0.001)
                if not context.is_active():
                    cancelled = True
                    break
                if self._stopped(request.session_id):
                    break
            # export_to_tb() collects the session's XSpace and writes it under logdir.
            session.export_to_tb()
            if cancelled:
                return None
            written = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
            xspace = xplane_pb2.XSpace()
            for path in written:
                with open(path, "rb") as handle:
                    xspace.MergeFromString(handle.read())
            return xspace

    def profile(self, request, context):
        xspace = self._collect(request, context)
        if xspace is None:
            context.abort(grpc.StatusCode.CANCELLED, "Cancelled")
        response = ProfileResponse(empty_trace=is_empty(xspace))
        if request.emit_xspace:
            response.xspace.CopyFrom(xspace)
            return response
        import tensorflow as tf  # tf.io.gfile: the same file systems TF's Env writes to

        path = xplane_path(request.repository_root, request.session_id, _hostname(request))
        try:
            tf.io.gfile.makedirs(os.path.dirname(path))
            with tf.io.gfile.GFile(path, "wb") as handle:
                handle.write(xspace.SerializeToString())
        except (tf.errors.OpError, OSError) as error:
            context.abort(grpc.StatusCode.INTERNAL, getattr(error, "message", str(error)))
        return response

    def terminate(self, request, context):
        with self._lock:
            self._stop_signals.add(request.session_id)
        return TerminateResponse()

    def monitor(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "unimplemented.")


def generic_handler(service: ProfilerService | None = None) -> grpc.GenericRpcHandler:
    service = service or ProfilerService()

    def unary(method, request_type):
        return grpc.unary_unary_rpc_method_handler(
            method,
            request_deserializer=request_type.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Profile": unary(service.profile, ProfileRequest),
            "Terminate": unary(service.terminate, TerminateRequest),
            "Monitor": unary(service.monitor, MonitorRequest),
        },
    )


__all__ = ["SERVICE", "ProfilerService", "generic_handler", "is_empty", "xplane_path"]
