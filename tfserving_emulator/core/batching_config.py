"""``--batching_parameters_file``: the ``BatchingParameters`` text proto and its checks.

TF Serving reads the file with ``ParseProtoTextFile`` in ``model_servers/server.cc``; with
``--enable_batching`` and no file it sets only ``thread_pool_name`` and every other option
takes the default of TensorFlow's ``SharedBatchScheduler`` (``shared_batch_scheduler.h``).
``bundle_factory_util.{h,cc}`` turns the message into the scheduler's options
(``GetQueueOptions``, ``CreateBatchScheduler``) and checks ``allowed_batch_sizes`` when it
wraps a model's session (``WrapSessionForBatching``). Each check here names its source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2

from ..util.errors import ServingError

# server.cc, --enable_batching without --batching_parameters_file.
SERVER_THREAD_POOL_NAME = "model_server_batch_threads"
# SharedBatchScheduler::Options and QueueOptions defaults (shared_batch_scheduler.h).
DEFAULT_THREAD_POOL_NAME = "batch_threads"
DEFAULT_MAX_BATCH_SIZE = 1000  # input_batch_size_limit
DEFAULT_BATCH_TIMEOUT_MICROS = 0
DEFAULT_MAX_ENQUEUED_BATCHES = 10
# --enable_per_model_batching_parameters reads this file in the version directory.
PER_MODEL_FILE = "batching_params.pbtxt"  # kBatchingParamsFilename


def _batching_parameters_class():
    """``BatchingParameters`` of ``session_bundle_config.proto``, which the pip package lacks.

    Built from the proto's field list (numbers and types as in TF Serving 2.21), so a file
    parses, or fails to, exactly as the server parses it.
    """
    proto = descriptor_pb2.FileDescriptorProto(
        name="tfserving_emulator/batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = proto.message_type.add(name="BatchingParameters")
    wrapped = {
        "max_batch_size": (1, "Int64Value"),
        "batch_timeout_micros": (2, "Int64Value"),
        "max_enqueued_batches": (3, "Int64Value"),
        "num_batch_threads": (4, "Int64Value"),
        "thread_pool_name": (5, "StringValue"),
        "enable_large_batch_splitting": (8, "BoolValue"),
        "max_execution_batch_size": (9, "Int64Value"),
    }
    for name, (number, type_name) in wrapped.items():
        message.field.add(
            name=name, number=number, type=11, label=1, type_name=f".google.protobuf.{type_name}"
        )
    message.field.add(name="allowed_batch_sizes", number=6, type=3, label=3)  # repeated int64
    message.field.add(name="pad_variable_length_inputs", number=7, type=8, label=1)  # bool
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


BatchingParameters = _batching_parameters_class()


def read_batching_parameters(path: str):
    """``ParseProtoTextFile<BatchingParameters>``, with its NOT_FOUND and parse errors."""
    params = BatchingParameters()
    try:
        with open(path, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), params)
    except OSError as error:
        raise ServingError("NOT_FOUND", f"{path}; {error.strerror or error}") from None
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise ServingError(
            "INVALID_ARGUMENT",
            "Error parsing text-format tensorflow.serving.BatchingParameters: "
            f"{error}. Invalid protobuf file: '{path}'",
        ) from None
    return params


def server_batching_parameters(enable_batching: bool, path: str):
    """The server-wide parameters server.cc builds, or None when batching is off.

    (A file without --enable_batching is refused earlier, with the session options.)"""
    if not enable_batching:
        return None
    if path:
        return read_batching_parameters(path)
    params = BatchingParameters()
    params.thread_pool_name.value = SERVER_THREAD_POOL_NAME
    return params


def per_model_batching_parameters(version_path: str, common, per_model: bool):
    """``GetPerModelBatchingParams``: with per-model parameters, only a version that has
    ``batching_params.pbtxt`` is batched (with that file's options); None means not batched."""
    if not per_model:
        return common
    path = os.path.join(version_path, PER_MODEL_FILE)
    return read_batching_parameters(path) if os.path.exists(path) else None


@dataclass(frozen=True)
class SchedulerOptions:
    """``SharedBatchScheduler::Options``: the batch threads, shared by every model."""

    num_batch_threads: int
    thread_pool_name: str


@dataclass(frozen=True)
class QueueOptions:
    """``SharedBatchScheduler::QueueOptions`` plus ``BatchingSessionOptions``: one model's batching."""

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE  # input_batch_size_limit
    batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS
    max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    @property
    def execution_batch_size(self) -> int:
        """The largest batch the model runs (``Queue::max_execution_batch_size()``)."""
        return self.max_execution_batch_size if self.enable_large_batch_splitting else self.max_batch_size


def scheduler_options(params, default_threads: int) -> SchedulerOptions:
    """``CreateBatchScheduler``; ``default_threads`` is ``port::MaxParallelism()``."""
    threads = params.num_batch_threads.value if params.HasField("num_batch_threads") else default_threads
    if threads < 1:
        raise ServingError("INVALID_ARGUMENT", f"num_batch_threads must be positive; was {threads}")
    name = params.thread_pool_name.value if params.HasField("thread_pool_name") else DEFAULT_THREAD_POOL_NAME
    return SchedulerOptions(threads, name)


def queue_options(params) -> QueueOptions:
    """``GetQueueOptions`` and the checks a model's load runs on them, in TF Serving's order:
    ``WrapSessionForBatching`` (allowed_batch_sizes), then ``SharedBatchScheduler::AddQueue``."""
    max_size = params.max_batch_size.value if params.HasField("max_batch_size") else DEFAULT_MAX_BATCH_SIZE
    allowed = tuple(params.allowed_batch_sizes)
    if allowed and allowed[-1] != max_size:
        raise ServingError(
            "INVALID_ARGUMENT",
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
            f"{allowed[-1]}; expected {max_size}",
        )
    splitting = params.HasField("enable_large_batch_splitting") and params.enable_large_batch_splitting.value
    execution = max_size
    if splitting:
        # Without max_execution_batch_size, GetQueueOptions copies max_batch_size().value():
        # 0 when that is unset too, as in TF Serving.
        execution = (
            params.max_execution_batch_size.value
            if params.HasField("max_execution_batch_size")
            else params.max_batch_size.value
        )
    options = QueueOptions(
        max_batch_size=max_size,
        batch_timeout_micros=(
            params.batch_timeout_micros.value
            if params.HasField("batch_timeout_micros")
            else DEFAULT_BATCH_TIMEOUT_MICROS
        ),
        max_enqueued_batches=(
            params.max_enqueued_batches.value
            if params.HasField("max_enqueued_batches")
            else DEFAULT_MAX_ENQUEUED_BATCHES
        ),
        enable_large_batch_splitting=splitting,
        max_execution_batch_size=execution if splitting else DEFAULT_MAX_BATCH_SIZE,
        allowed_batch_sizes=allowed,
        pad_variable_length_inputs=params.pad_variable_length_inputs,
    )
    return _checked_queue_options(options)


_SIZE_T = 2**64


def _checked_queue_options(options: QueueOptions) -> QueueOptions:
    """``SharedBatchScheduler::AddQueue``: its one rewrite, then its checks."""
    # size_t fields in C++: a negative value in the file wraps around to a huge one.
    options = QueueOptions(
        **{
            **options.__dict__,
            "max_batch_size": options.max_batch_size % _SIZE_T,
            "max_enqueued_batches": options.max_enqueued_batches % _SIZE_T,
        }
    )
    if not options.enable_large_batch_splitting and options.max_enqueued_batches == 0:
        # "Many existing models (with very low QPS) rely on this option to be >0."
        options = QueueOptions(**{**options.__dict__, "max_enqueued_batches": 1})
    if options.max_batch_size == 0:
        raise ServingError("INVALID_ARGUMENT", "input_batch_size_limit must be positive; was 0")
    if options.batch_timeout_micros < 0:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"batch_timeout_micros must be non-negative; was {options.batch_timeout_micros}",
        )
    if options.max_enqueued_batches == 0:
        raise ServingError("INVALID_ARGUMENT", "max_enqueued_batches must be positive; was 0")
    if options.enable_large_batch_splitting and options.max_batch_size < options.max_execution_batch_size:
        # TF's errors::InvalidArgument joins its arguments with no separator.
        raise ServingError(
            "INVALID_ARGUMENT",
            "When enable_large_batch_splitting is true, input_batch_size_limit must be greater than or "
            f"equal to max_execution_batch_size.1{options.max_batch_size}{options.max_execution_batch_size}",
        )
    return options
