"""Start-up and shut-down, in the order ``tensorflow_model_server`` follows.

1. parse the flags; 2. build the model config (``--model_config_file``, or
``--model_name``/``--model_base_path``); 3. load every model and wait until each has
an AVAILABLE version -- only then 4. open the gRPC port and 5. the REST port. A model
that cannot be loaded stops the server with ``Failed to start server. Error: ...``.
SIGINT and SIGTERM end it at once: ``main.cc`` installs no signal handler, so the signal's
default action ends the process with no drain, and RPCs in flight fail with UNAVAILABLE.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .. import TF_SERVING_VERSION
from ..util import log
from ..util.errors import ServingError
from .flags import Flags, not_emulated_lines, parse, usage

# TensorFlow is imported only once the flags are valid: a typo or --help should not
# cost seconds of TensorFlow start-up.

_WHERE = "tensorflow_serving/model_servers/server.cc"
_FLAGS_WHERE = "tensorflow/core/util/command_line_flags.cc"
_EMULATOR_WHERE = "tfserving_emulator"
_PROTOBUF_WHERE = "external/com_google_protobuf/src/google/protobuf/text_format.cc"
EXIT_FAILURE = 255  # the binary returns -1 from main()


def _fail(error: ServingError) -> int:
    sys.stderr.write(f"Failed to start server. Error: {error.status_string()}\n")
    sys.stderr.flush()
    return EXIT_FAILURE


def _model_server_config(flags: Flags):
    """``Server::BuildAndStart`` up to ``ServerCore::Create``: its checks, in its order."""
    from ..core.model_config import read_config_file, single_model_config

    if flags.port == 0 and not flags.grpc_socket_path:
        raise ServingError(
            "INVALID_ARGUMENT",
            "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set.",
        )
    if flags.use_alts_credentials and flags.ssl_config_file:
        raise ServingError(
            "INVALID_ARGUMENT",
            "Either use_alts_credentials must be false or ssl_config_file must be empty.",
        )
    if not flags.model_base_path and not flags.model_config_file:
        raise ServingError(
            "INVALID_ARGUMENT",
            "Both server_options.model_base_path and server_options.model_config_file are empty!",
        )
    if flags.model_config_file:
        config = read_config_file(flags.model_config_file)
    else:
        log.info(
            _WHERE,
            "Building single TensorFlow model file config:  model_name: "
            f"{flags.model_name} model_base_path: {flags.model_base_path}",
        )
        config = single_model_config(flags.model_name, flags.model_base_path)
    if not flags.platform_config_file:  # these options belong to the TensorFlow platform
        from ..servables.saved_model import configure_sessions

        configure_sessions(session_config(flags))
    return config


def _read_session_config_file(path: str):
    """``ParseProtoTextFile`` of a text ``tensorflow.ConfigProto``."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import config_pb2

    config = config_pb2.ConfigProto()
    try:
        with open(path, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), config)
    except OSError as error:
        raise ServingError("NOT_FOUND", f"{path}; {error.strerror or error}") from None
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Error parsing text-format tensorflow.ConfigProto: {error}. Invalid protobuf file: '{path}'",
        ) from None
    return config


def session_config(flags: Flags):
    """``SessionBundleConfig.session_config`` as ``server.cc`` builds it, checks in its order.

    The parallelism flags always win over the file's thread counts: with none of them
    set, both counts become ``--tensorflow_session_parallelism`` (0, TensorFlow's choice).
    """
    from tensorflow.core.protobuf import config_pb2

    if flags.batching_parameters_file and not flags.enable_batching:
        raise ServingError(
            "INVALID_ARGUMENT",
            "server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true.",
        )
    if flags.tensorflow_session_config_file:
        config = _read_session_config_file(flags.tensorflow_session_config_file)
    else:
        config = config_pb2.ConfigProto()
    config.gpu_options.per_process_gpu_memory_fraction = flags.per_process_gpu_memory_fraction
    intra, inter = flags.tensorflow_intra_op_parallelism, flags.tensorflow_inter_op_parallelism
    if intra > 0 and inter > 0 and flags.tensorflow_session_parallelism > 0:
        raise ServingError(
            "INVALID_ARGUMENT",
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, "
            "server_options.tensorflow_inter_op_parallelism) separately. You cannot configure all.",
        )
    if intra <= 0 and inter <= 0:
        intra = inter = flags.tensorflow_session_parallelism
    config.intra_op_parallelism_threads = intra
    config.inter_op_parallelism_threads = inter
    return config


def _read_command_line(argv: list[str]) -> Flags | int:
    """The flags, or the exit status when ``main.cc`` stops before serving."""
    command_line = parse(argv)
    for message in command_line.bad_values:
        log.error(_FLAGS_WHERE, message)
    if not command_line.ok:
        print(usage(), end="")
        return EXIT_FAILURE
    flags = command_line.flags
    if flags.version:
        import tensorflow as tf

        print(
            f"TensorFlow ModelServer: {TF_SERVING_VERSION} (tfserving_emulator)\nTensorFlow Library: {tf.__version__}"
        )
        return 0
    if command_line.unknown:
        print(f"unknown argument: {command_line.unknown[0]}")
        print(usage(), end="")
        # The binary carries on and serves without the argument; a mistyped flag should
        # stop a script instead (a deliberate difference, see docs/emulator.md).
        return EXIT_FAILURE
    if flags.grpc_max_threads < 1:
        log.error(_EMULATOR_WHERE, f"--grpc_max_threads must be at least 1, got {flags.grpc_max_threads}")
        return EXIT_FAILURE
    for line in not_emulated_lines(flags):
        log.warning(_EMULATOR_WHERE, line)
    return flags


def _watch_config_file(core, flags: Flags, stop: threading.Event) -> None:
    """``--model_config_file_poll_wait_seconds``: re-read the file and apply changes."""
    from ..core.model_config import read_config_file

    while not stop.wait(flags.model_config_file_poll_wait_seconds):
        try:
            config = read_config_file(flags.model_config_file)
            if config != core.config:
                log.info(_WHERE, f"Reloading model config from {flags.model_config_file}")
                core.reload_config(config)
        except ServingError as error:
            log.error(_WHERE, f"Failed to reload the model config file: {error.status_string()}")


def _grpc_threads(flags: Flags) -> int | None:
    """``--grpc_max_threads`` when given; else the emulator's own default (2 x CPUs, not 4 x:
    more Python threads only take turns on the GIL)."""
    return flags.grpc_max_threads if "grpc_max_threads" in flags.given else None


def _grpc_credentials(flags: Flags):
    """``BuildServerCredentials``: None (plaintext), TLS credentials, or an exit status.

    A file ``ParseProtoTextFile`` cannot read fails a ``CHECK_OK``: TF Serving logs one fatal
    line and aborts, so the emulator does too (killed by SIGABRT, after protobuf's parse error).
    """
    if not flags.ssl_config_file:
        return None
    from ..grpc import tls

    try:
        return tls.credentials_from_file(flags.ssl_config_file)
    except tls.SslConfigUnsupported as error:
        return _fail(ServingError("INVALID_ARGUMENT", str(error)))
    except tls.SslConfigCheckFailed as failure:
        if failure.parse_error:
            log.error(_PROTOBUF_WHERE, failure.parse_error)
        log.fatal(tls.CHECK_WHERE, failure.fatal_line)
        os.abort()


def _warm_up(warm_up, flags: Flags):
    """``ModelWarmupOptions.num_request_iterations``: set only when the flag is above 0."""
    iterations = flags.num_request_iterations_for_warmup
    return lambda model: warm_up(model, iterations if iterations > 0 else None)


def main(argv: list[str] | None = None) -> int:
    flags = _read_command_line(sys.argv[1:] if argv is None else argv)
    if isinstance(flags, int):
        return flags

    from ..core.batching import ServerBatching
    from ..core.loader import schedulable_cpus
    from ..core.server_core import CoreOptions, ServerCore
    from ..core.warmup import warm_up
    from ..grpc.server import Services, build_server, parse_channel_arguments
    from ..servables import inference
    from .metrics import DEFAULT_PATH, Metrics, read_monitoring_config

    stop = threading.Event()
    metrics = Metrics()
    batching = ServerBatching()  # configured with the other options below
    options = CoreOptions(
        file_system_poll_wait_seconds=flags.file_system_poll_wait_seconds,
        max_num_load_retries=max(flags.max_num_load_retries, 0),
        load_retry_interval_seconds=flags.load_retry_interval_micros / 1e6,
        allow_version_labels_for_unavailable_models=flags.allow_version_labels_for_unavailable_models,
        saved_model_tags=tuple(t for t in flags.saved_model_tags.split(",") if t),
        prefer_tflite_model=flags.prefer_tflite_model,
        num_tflite_pools=flags.num_tflite_pools,
        num_tflite_interpreters_per_pool=flags.num_tflite_interpreters_per_pool,
        on_loaded=_warm_up(warm_up, flags) if flags.enable_model_warmup else None,
        metrics=metrics,
        batching=batching,
    )
    core = ServerCore(options)
    # The kernel's default action, as for the binary (Python's own SIGINT handler would
    # raise KeyboardInterrupt, with a traceback, wherever the main thread is).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    inference.set_method_name_check(flags.enable_signature_method_name_check)
    try:
        config = _model_server_config(flags)
        # port::MaxParallelism() threads unless the file says num_batch_threads.
        batching.configure(
            flags.enable_batching,
            flags.batching_parameters_file,
            flags.enable_per_model_batching_parameters,
            schedulable_cpus(),
        )
        prometheus_path = None
        if flags.monitoring_config_file:
            monitoring = read_monitoring_config(flags.monitoring_config_file)
            if monitoring.prometheus_config.enable:
                prometheus_path = monitoring.prometheus_config.path or DEFAULT_PATH
        core.start(config)
    except ServingError as error:
        return _fail(error)

    services = Services(core, metrics, flags.enable_serialization_as_tensor_content)
    address = f"{flags.bind_address}:{flags.port}"
    credentials = _grpc_credentials(flags)
    if isinstance(credentials, int):
        return credentials
    try:
        channel_arguments = parse_channel_arguments(flags.grpc_channel_arguments)
    except ValueError as error:
        return _fail(ServingError("INVALID_ARGUMENT", str(error)))
    try:
        grpc_server, bound = build_server(
            services,
            address if flags.port else None,  # --port=0: the UNIX socket only
            max_workers=_grpc_threads(flags),
            socket_path=flags.grpc_socket_path,
            enable_profiler=flags.enable_profiler,
            channel_arguments=channel_arguments,
            credentials=credentials,
            enable_health=flags.enable_grpc_healthcheck_service,
        )
    except RuntimeError as error:
        bound, grpc_error = 0, error
    else:
        grpc_error = None
    if not bound:
        # gRPC logs why it could not listen; the server's own status is this one.
        log.error(_EMULATOR_WHERE, str(grpc_error or f"could not listen on {address}: address in use"))
        return _fail(ServingError("INVALID_ARGUMENT", "Failed to BuildAndStart gRPC server"))
    grpc_server.start()
    if flags.port:
        log.info(_WHERE, f"Running gRPC ModelServer at {address} ...")
    if flags.grpc_socket_path:
        log.info(_WHERE, f"Running gRPC ModelServer at UNIX socket {flags.grpc_socket_path} ...")

    rest_server = None
    if flags.rest_api_port:
        if flags.rest_api_port == flags.port:
            log.error(
                _WHERE,
                "--rest_api_port cannot be same as --port. Please use a different port for HTTP/REST API. "
                "Skipped exporting HTTP/REST API.",
            )
        else:
            from ..rest.endpoints import RestApi, RestServer  # REST is off unless --rest_api_port is set

            api = RestApi(core, metrics, flags.rest_api_timeout_in_ms, prometheus_path)
            try:
                rest_server = RestServer(
                    api, flags.bind_address, flags.rest_api_port, cors=flags.rest_api_enable_cors_support
                )
            except OSError as error:
                grpc_server.stop(0)
                return _fail(
                    ServingError(
                        "UNAVAILABLE",
                        f"Failed to start HTTP Server at localhost:{flags.rest_api_port}: {error}",
                    )
                )
            rest_server.start()
            log.info(_WHERE, f"Exporting HTTP/REST API at:localhost:{flags.rest_api_port} ...")
            log.info(
                "tensorflow_serving/util/net_http/server/internal/evhttp_server.cc",
                "Entering the event loop ...",
            )

    if flags.model_config_file and flags.model_config_file_poll_wait_seconds > 0:
        threading.Thread(target=_watch_config_file, args=(core, flags, stop), daemon=True).start()

    # Serve until a signal ends the process: main.cc has no shutdown path either.
    stop.wait()
    return 0


def run() -> None:
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: TensorFlow's can take seconds, and a stopped server
    # should be gone at once.
    os._exit(code)
