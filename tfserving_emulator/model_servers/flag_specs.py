"""The flags of ``tensorflow_model_server`` 2.21, as ``model_servers/main.cc`` declares them.

One row per ``tensorflow::Flag`` in ``main.cc``'s ``flag_list``, in its order (the order
``--help`` prints and the parser tries them), with TensorFlow's type name, the default
``Server::Options`` gives it (``model_servers/server.h``) and the help text word for word
(C++ string pieces joined as the compiler joins them, missing spaces included). The last row,
``--bind_address``, is the emulator's own.

``NOT_EMULATED`` says which flags the emulator accepts without acting on them, and why;
every other flag works as in TF Serving.
"""

from __future__ import annotations

import os
from typing import NamedTuple


def _schedulable_cpus() -> int:
    """``port::NumSchedulableCPUs()``: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


CPUS = _schedulable_cpus()


class FlagSpec(NamedTuple):
    name: str
    type: str  # as Flags::Usage names it: int32, int64, bool, string or float
    default: object
    help: str


FLAG_SPECS: tuple[FlagSpec, ...] = (
    FlagSpec(
        "port",
        "int32",
        8500,
        "TCP port to listen on for gRPC/HTTP API. Disabled if port set to zero.",
    ),
    FlagSpec(
        "grpc_socket_path",
        "string",
        "",
        (
            "If non-empty, listen to a UNIX socket for gRPC API on the given path. Can be "
            "either relative or absolute path."
        ),
    ),
    FlagSpec(
        "rest_api_port",
        "int32",
        0,
        (
            "Port to listen on for HTTP/REST API. If set to zero HTTP/REST API will not be "
            "exported. This port must be different than the one specified in --port."
        ),
    ),
    FlagSpec(
        "rest_api_num_threads",
        "int32",
        4 * CPUS,
        (
            "Number of threads for HTTP/REST API processing. If not set, will be auto set "
            "based on number of CPUs."
        ),
    ),
    FlagSpec(
        "rest_api_timeout_in_ms",
        "int32",
        30000,
        "Timeout for HTTP/REST API calls.",
    ),
    FlagSpec(
        "rest_api_enable_cors_support",
        "bool",
        False,
        "Enable CORS headers in response",
    ),
    FlagSpec(
        "enable_batching",
        "bool",
        False,
        "enable batching",
    ),
    FlagSpec(
        "allow_version_labels_for_unavailable_models",
        "bool",
        False,
        "If true, allows assigning unused version labels to models that are not available yet.",
    ),
    FlagSpec(
        "batching_parameters_file",
        "string",
        "",
        (
            "If non-empty, read an ascii BatchingParameters protobuf from the supplied file "
            "name and use the contained values instead of the defaults."
        ),
    ),
    FlagSpec(
        "enable_per_model_batching_parameters",
        "bool",
        False,
        (
            "Enables model specific batching params like batch sizes, timeouts, batching "
            "feature flags to be read from `batching_params.pbtxt` file present in SavedModel"
            " dir of the model. Associated params in the global config from "
            "--batching_parameters_file are *ignored*. Only threadpool (name and size) "
            "related params are used from the global config, as this threadpool is shared "
            "across all the models that want to batch requests. This option is only "
            "applicable when --enable_batching flag is set."
        ),
    ),
    FlagSpec(
        "model_config_file",
        "string",
        "",
        (
            "If non-empty, read an ascii ModelServerConfig protobuf from the supplied file "
            "name, and serve the models in that file. This config file can be used to specify"
            " multiple models to serve and other advanced parameters including non-default "
            "version policy. (If used, --model_name, --model_base_path are ignored.)"
        ),
    ),
    FlagSpec(
        "model_config_file_poll_wait_seconds",
        "int32",
        0,
        (
            "Interval in seconds between each poll of the filesystemfor model_config_file. If"
            " unset or set to zero, poll will be done exactly once and not periodically. "
            "Setting this to negative is reserved for testing purposes only."
        ),
    ),
    FlagSpec(
        "model_name",
        "string",
        "default",
        "name of model (ignored if --model_config_file flag is set)",
    ),
    FlagSpec(
        "model_base_path",
        "string",
        "",
        "path to export (ignored if --model_config_file flag is set, otherwise required)",
    ),
    FlagSpec(
        "num_load_threads",
        "int32",
        0,
        (
            "The number of threads in the thread-pool used to load servables. If set as 0, we"
            " don't use a thread-pool, and servable loads are performed serially in the "
            "manager's main work loop, may casue the Serving request to be delayed. Default: "
            "0"
        ),
    ),
    FlagSpec(
        "num_unload_threads",
        "int32",
        0,
        (
            "The number of threads in the thread-pool used to unload servables. If set as 0, "
            "we don't use a thread-pool, and servable loads are performed serially in the "
            "manager's main work loop, may casue the Serving request to be delayed. Default: "
            "0"
        ),
    ),
    FlagSpec(
        "max_num_load_retries",
        "int32",
        5,
        (
            "maximum number of times it retries loading a model after the first failure, "
            "before giving up. If set to 0, a load is attempted only once. Default: 5"
        ),
    ),
    FlagSpec(
        "load_retry_interval_micros",
        "int64",
        60_000_000,
        (
            "The interval, in microseconds, between each servable load retry. If set "
            "negative, it doesn't wait. Default: 1 minute"
        ),
    ),
    FlagSpec(
        "file_system_poll_wait_seconds",
        "int32",
        1,
        (
            "Interval in seconds between each poll of the filesystem for new model version. "
            "If set to zero poll will be exactly done once and not periodically. Setting this"
            " to negative value will disable polling entirely causing ModelServer to "
            "indefinitely wait for a new model at startup. Negative values are reserved for "
            "testing purposes only."
        ),
    ),
    FlagSpec(
        "flush_filesystem_caches",
        "bool",
        True,
        (
            "If true (the default), filesystem caches will be flushed after the initial load "
            "of all servables, and after each subsequent individual servable reload (if the "
            "number of load threads is 1). This reduces memory consumption of the model "
            "server, at the potential cost of cache misses if model files are accessed after "
            "servables are loaded."
        ),
    ),
    FlagSpec(
        "tensorflow_session_parallelism",
        "int64",
        0,
        (
            "Number of threads to use for running a Tensorflow session. Auto-configured by "
            "default.Note that this option is ignored if --platform_config_file is non-empty."
        ),
    ),
    FlagSpec(
        "tensorflow_session_config_file",
        "string",
        "",
        (
            "If non-empty, read an ascii TensorFlow Session ConfigProto protobuf from the "
            "supplied file name. Note, parts of the session config (threads, parallelism "
            "etc.) can be overridden if needed, via corresponding command line flags."
        ),
    ),
    FlagSpec(
        "tensorflow_intra_op_parallelism",
        "int64",
        0,
        (
            "Number of threads to use to parallelize the executionof an individual op. "
            "Auto-configured by default.Note that this option is ignored if "
            "--platform_config_file is non-empty."
        ),
    ),
    FlagSpec(
        "tensorflow_inter_op_parallelism",
        "int64",
        0,
        (
            "Controls the number of operators that can be executed simultaneously. "
            "Auto-configured by default.Note that this option is ignored if "
            "--platform_config_file is non-empty."
        ),
    ),
    FlagSpec(
        "use_alts_credentials",
        "bool",
        False,
        "Use Google ALTS credentials",
    ),
    FlagSpec(
        "ssl_config_file",
        "string",
        "",
        (
            "If non-empty, read an ascii SSLConfig protobuf from the supplied file name and "
            "set up a secure gRPC channel"
        ),
    ),
    FlagSpec(
        "platform_config_file",
        "string",
        "",
        (
            "If non-empty, read an ascii PlatformConfigMap protobuf from the supplied file "
            "name, and use that platform config instead of the Tensorflow platform. (If used,"
            " --enable_batching is ignored.)"
        ),
    ),
    FlagSpec(
        "per_process_gpu_memory_fraction",
        "float",
        0.0,
        (
            "Fraction that each process occupies of the GPU memory space the value is between"
            " 0.0 and 1.0 (with 0.0 as the default) If 1.0, the server will allocate all the "
            "memory when the server starts, If 0.0, Tensorflow will automatically select a "
            "value."
        ),
    ),
    FlagSpec(
        "saved_model_tags",
        "string",
        "serve",
        "Comma-separated set of tags corresponding to the meta graph def to load from SavedModel.",
    ),
    FlagSpec(
        "grpc_channel_arguments",
        "string",
        "",
        (
            "A comma separated list of arguments to be passed to the grpc server. (e.g. "
            "grpc.max_connection_age_ms=2000)"
        ),
    ),
    FlagSpec(
        "grpc_max_threads",
        "int32",
        4 * CPUS,
        "Max grpc server threads to handle grpc messages.",
    ),
    FlagSpec(
        "enable_model_warmup",
        "bool",
        True,
        (
            "Enables model warmup, which triggers lazy initializations (such as TF "
            "optimizations) at load time, to reduce first request latency."
        ),
    ),
    FlagSpec(
        "num_request_iterations_for_warmup",
        "int32",
        0,
        "Number of times a request is iterated during warmup replay. This value is used only if > 0.",
    ),
    FlagSpec(
        "version",
        "bool",
        False,
        "Display version",
    ),
    FlagSpec(
        "monitoring_config_file",
        "string",
        "",
        "If non-empty, read an ascii MonitoringConfig protobuf from the supplied file name",
    ),
    FlagSpec(
        "remove_unused_fields_from_bundle_metagraph",
        "bool",
        True,
        "Removes unused fields from MetaGraphDef proto message to save memory.",
    ),
    FlagSpec(
        "prefer_tflite_model",
        "bool",
        False,
        (
            "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Prefer TensorFlow Lite model from "
            "`model.tflite` file in SavedModel directory, instead of the TensorFlow model "
            "from `saved_model.pb` file. If no TensorFlow Lite model found, fallback to "
            "TensorFlow model."
        ),
    ),
    FlagSpec(
        "num_tflite_pools",
        "int32",
        CPUS,
        (
            "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Number of TFLite interpreters in an "
            "interpreter pool of TfLiteSession. Typically there is one TfLiteSession for each"
            " TF Lite model that is loaded. If not set, will be auto set based on number of "
            "CPUs."
        ),
    ),
    FlagSpec(
        "num_tflite_interpreters_per_pool",
        "int32",
        1,
        (
            "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Number of TFLite interpreters in an "
            "interpreter pool of TfLiteSession. Typically there is one TfLiteSession for each"
            " TF Lite model that is loaded. If not set, will be 1."
        ),
    ),
    FlagSpec(
        "enable_signature_method_name_check",
        "bool",
        False,
        (
            "Enable method_name check for SignatureDef. Disable this if serving native TF2 "
            "regression/classification models."
        ),
    ),
    FlagSpec(
        "xla_cpu_compilation_enabled",
        "bool",
        False,
        (
            "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Enable XLA:CPU JIT (default is disabled). "
            "With XLA:CPU JIT disabled, models utilizing this feature will return bad Status "
            "on first compilation request."
        ),
    ),
    FlagSpec(
        "xla_gpu_compilation_enabled",
        "bool",
        False,
        (
            "EXPERIMENTAL; CAN BE REMOVED ANYTIME! Enable both XLA:CPU JIT and XLA:GPU JIT "
            "(default is disabled)."
        ),
    ),
    FlagSpec(
        "enable_profiler",
        "bool",
        True,
        "Enable profiler service.",
    ),
    FlagSpec(
        "thread_pool_factory_config_file",
        "string",
        "",
        "If non-empty, read an ascii ThreadPoolConfig protobuf from the supplied file name.",
    ),
    FlagSpec(
        "mixed_precision",
        "string",
        "",
        "specify mixed_precision mode",
    ),
    FlagSpec(
        "skip_initialize_tpu",
        "bool",
        False,
        "Whether to skip auto initializing TPU.",
    ),
    FlagSpec(
        "enable_grpc_healthcheck_service",
        "bool",
        False,
        "Enable the standard gRPC healthcheck service.",
    ),
    FlagSpec(
        "enable_serialization_as_tensor_content",
        "bool",
        False,
        "Enable serialization of predict response as tensor content.",
    ),
    # Ours, not the binary's: where to listen. TF Serving binds every interface; a
    # learning tool should not expose an unauthenticated server to the network by default.
    FlagSpec(
        "bind_address",
        "string",
        "127.0.0.1",
        "Address to bind the gRPC and REST ports to (emulator only; TF Serving binds 0.0.0.0).",
    ),
)

# Flags accepted but not acted on, with the reason the start-up line gives. A flag left at
# its default needs no line: only a value the user chose can be missed.
NOT_EMULATED: dict[str, str] = {
    "rest_api_num_threads": "the REST server starts one thread per connection",
    "num_load_threads": "versions load one at a time on the file-system polling thread",
    "num_unload_threads": "versions unload one at a time on the file-system polling thread",
    "flush_filesystem_caches": "TensorFlow's Python API has no call that flushes file-system caches",
    "use_alts_credentials": "ALTS works only on Google Cloud; the gRPC port is plaintext",
    "platform_config_file": "only the TensorFlow platform is served",
    "per_process_gpu_memory_fraction": "a GPU option; the emulator runs models on the CPU",
    "remove_unused_fields_from_bundle_metagraph": "a memory saving only; the loaded graph is kept whole",
    "num_tflite_interpreters_per_pool": "each request runs on one TF Lite interpreter (no batch splitting)",
    "xla_cpu_compilation_enabled": "XLA JIT is left as TensorFlow sets it",
    "xla_gpu_compilation_enabled": "XLA:GPU is a GPU option; the emulator runs models on the CPU",
    "thread_pool_factory_config_file": "inference runs on the request's own thread",
    "mixed_precision": "the mixed-precision graph rewrite is not applied",
    "skip_initialize_tpu": "a TPU option; only TPU builds initialise a TPU",
}
