"""``tensorflow_model_server``'s command-line flags, with its names and defaults.

Like TensorFlow's flag parser, only ``--name=value`` is understood (booleans may be
given as a bare ``--name``); anything else is reported as an unknown argument.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# (name, type, default, help). Flags the emulator accepts but does not act on are
# listed in IGNORED_FLAGS and logged once at start-up.
FLAG_SPECS: list[tuple[str, type, object, str]] = [
    ("port", int, 8500, "Port to listen on for gRPC API"),
    ("grpc_socket_path", str, "", "If non-empty, listen to a UNIX socket for gRPC API on the given path"),
    (
        "rest_api_port",
        int,
        0,
        "Port to listen on for HTTP/REST API. If set to zero HTTP/REST API will not be exported.",
    ),
    ("rest_api_num_threads", int, 0, "Number of threads for HTTP/REST API processing."),
    ("rest_api_timeout_in_ms", int, 30000, "Timeout for HTTP/REST API calls."),
    ("rest_api_enable_cors_support", bool, False, "Enable CORS headers in response"),
    ("enable_batching", bool, False, "enable batching"),
    (
        "allow_version_labels_for_unavailable_models",
        bool,
        False,
        "If true, allows assigning unused version labels to models that are not available yet.",
    ),
    (
        "batching_parameters_file",
        str,
        "",
        "If non-empty, read an ascii BatchingParameters protobuf from the supplied file name.",
    ),
    (
        "model_config_file",
        str,
        "",
        "If non-empty, read an ascii ModelServerConfig protobuf from the supplied file name, and serve the models in that file. (If used, --model_name, --model_base_path are ignored.)",
    ),
    (
        "model_config_file_poll_wait_seconds",
        int,
        0,
        "Interval in seconds between each poll of the filesystem for model_config_file. If unset or set to zero, poll will be done exactly once and not periodically.",
    ),
    ("model_name", str, "default", "name of model (ignored if --model_config_file flag is set)"),
    (
        "model_base_path",
        str,
        "",
        "path to export (ignored if --model_config_file flag is set, otherwise required)",
    ),
    (
        "max_num_load_retries",
        int,
        5,
        "maximum number of times it retries loading a model after the first failure, before giving up.",
    ),
    (
        "load_retry_interval_micros",
        int,
        60_000_000,
        "The interval, in microseconds, between each servable load retry.",
    ),
    (
        "file_system_poll_wait_seconds",
        int,
        1,
        "Interval in seconds between each poll of the filesystem for new model version. If set to zero poll will be exactly done once and not periodically.",
    ),
    (
        "flush_filesystem_caches",
        bool,
        True,
        "If true (the default), filesystem caches will be flushed after the initial load of all servables.",
    ),
    ("tensorflow_session_parallelism", int, 0, "Number of threads to use for running a Tensorflow session."),
    (
        "tensorflow_intra_op_parallelism",
        int,
        0,
        "Number of threads to use to parallelize the execution of an individual op.",
    ),
    (
        "tensorflow_inter_op_parallelism",
        int,
        0,
        "Controls the number of operators that can be executed simultaneously.",
    ),
    (
        "ssl_config_file",
        str,
        "",
        "If non-empty, read an ascii SSLConfig protobuf from the supplied file name and set up a secure gRPC channel",
    ),
    (
        "platform_config_file",
        str,
        "",
        "If non-empty, read an ascii PlatformConfigMap protobuf from the supplied file name.",
    ),
    (
        "per_process_gpu_memory_fraction",
        float,
        0.0,
        "Fraction that each process occupies of the GPU memory space.",
    ),
    (
        "saved_model_tags",
        str,
        "serve",
        "Comma-separated set of tags corresponding to the meta graph def to load from SavedModel.",
    ),
    (
        "grpc_channel_arguments",
        str,
        "",
        "A comma separated list of arguments to be passed to the grpc server.",
    ),
    (
        "enable_model_warmup",
        bool,
        True,
        "Enables model warmup, which triggers lazy initializations (such as TF optimizations) at load time.",
    ),
    (
        "monitoring_config_file",
        str,
        "",
        "If non-empty, read an ascii MonitoringConfig protobuf from the supplied file name",
    ),
    ("enable_signature_method_name_check", bool, False, "Enable method_name check for SignatureDef."),
    ("enable_profiler", bool, True, "Enable profiler service."),
    ("version", bool, False, "Display version"),
    # Ours, not the binary's: where to listen. TF Serving binds every interface; a
    # learning tool should not expose an unauthenticated server to the network by default.
    (
        "bind_address",
        str,
        "127.0.0.1",
        "Address to bind the gRPC and REST ports to (emulator only; TF Serving binds 0.0.0.0).",
    ),
]

IGNORED_FLAGS = (
    "grpc_socket_path",
    "rest_api_num_threads",
    "enable_batching",
    "batching_parameters_file",
    "flush_filesystem_caches",
    "tensorflow_session_parallelism",
    "tensorflow_intra_op_parallelism",
    "tensorflow_inter_op_parallelism",
    "ssl_config_file",
    "platform_config_file",
    "per_process_gpu_memory_fraction",
    "grpc_channel_arguments",
    "enable_signature_method_name_check",
    "enable_profiler",
)


@dataclass
class Flags:
    port: int = 8500
    grpc_socket_path: str = ""
    rest_api_port: int = 0
    rest_api_num_threads: int = 0
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    enable_batching: bool = False
    allow_version_labels_for_unavailable_models: bool = False
    batching_parameters_file: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    model_name: str = "default"
    model_base_path: str = ""
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    file_system_poll_wait_seconds: int = 1
    flush_filesystem_caches: bool = True
    tensorflow_session_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    ssl_config_file: str = ""
    platform_config_file: str = ""
    per_process_gpu_memory_fraction: float = 0.0
    saved_model_tags: str = "serve"
    grpc_channel_arguments: str = ""
    grpc_max_threads: int = 0
    enable_model_warmup: bool = True
    monitoring_config_file: str = ""
    enable_signature_method_name_check: bool = False
    enable_profiler: bool = True
    version: bool = False
    bind_address: str = "127.0.0.1"
    given: tuple[str, ...] = ()


class FlagError(Exception):
    """The command line is not valid; the message is what the binary prints."""


def usage() -> str:
    lines = ["usage: python -m tfserving_emulator", "Flags:"]
    for name, kind, default, text in FLAG_SPECS:
        shown = str(default).lower() if kind is bool else str(default)
        lines.append(f"\t--{name}={shown}".ljust(56) + f"\t{kind.__name__}\t{text}")
    return "\n".join(lines) + "\n"


def _convert(name: str, kind: type, text: str):
    if kind is bool:
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    raise FlagError(f"Couldn't interpret value {text} for flag {name}.")


def parse(argv: list[str]) -> Flags:
    specs = {name: kind for name, kind, _, _ in FLAG_SPECS}
    values: dict[str, object] = {}
    for arg in argv:
        if arg == "--help":
            raise FlagError("")
        if not arg.startswith("--"):
            raise FlagError(f"unknown argument: {arg}")
        name, sep, text = arg[2:].partition("=")
        kind = specs.get(name)
        if kind is None:
            raise FlagError(f"unknown argument: {arg}")
        if not sep:
            if kind is not bool:
                raise FlagError(f"unknown argument: {arg}")
            text = "true"
        values[name] = _convert(name, kind, text)
    known = {f.name for f in fields(Flags)}
    flags = Flags(**{k: v for k, v in values.items() if k in known})
    flags.given = tuple(values)
    return flags
