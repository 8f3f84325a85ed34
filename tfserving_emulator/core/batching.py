"""TF Serving's ``BatchingSession``: concurrent runs of one model merged into one run.

With ``--enable_batching``, TF Serving wraps each loaded model's session
(``bundle_factory_util.cc`` ``WrapSessionForBatching``) so that every ``Run()`` (Predict,
Classify, Regress, MultiInference and warm-up alike) becomes a task in a queue of the shared
``SharedBatchScheduler`` (batch_scheduler.py). Runs that feed and fetch the same tensors share
a queue; a batch thread concatenates its tasks' inputs along dimension 0, runs the model
once, and splits every output back by each task's rows (``batching/batching_session.cc``):

* inputs are checked first (``ComputeTensorBatchSize``): at least one, none a scalar, all
  with the same 0th dimension, with TF's INVALID_ARGUMENT messages;
* with ``allowed_batch_sizes`` the merged batch is padded up to the next allowed size by
  repeating the first row of the last task (``MergeInputTensors``), and the padding rows'
  outputs are dropped;
* with ``pad_variable_length_inputs`` tensors of different shapes are padded, in every
  dimension but the 0th, to the largest with the tensor's first element (``AddPadding``);
  without it, such a batch fails with FAILED_PRECONDITION;
* a batch whose every task has outlived its deadline fails with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..util import log
from ..util.errors import ServingError
from . import turns
from .batch_scheduler import Queue, SharedBatchScheduler, Task
from .batching_config import (
    QueueOptions,
    per_model_batching_parameters,
    queue_options,
    scheduler_options,
    server_batching_parameters,
)

# The wrapped session: run(feeds, fetches, timeout_ms) -> outputs in fetch order.
RunFunction = Callable[[dict[str, np.ndarray], Sequence[str], int | None], list[np.ndarray]]

_MAX_PADDED_RANK = 6  # "like in tensorflow/core/kernels/pad_op.cc"


class SessionTask(Task):
    def __init__(
        self, size: int, feeds: dict[str, np.ndarray], fetches: Sequence[str], timeout_ms: int | None
    ):
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms and timeout_ms > 0 else None
        super().__init__(size, deadline)
        self.feeds = feeds
        self.fetches = list(fetches)
        self.timeout_ms = timeout_ms


class _SplitPart(SessionTask):
    """A piece of a task too large for the open batch (``enable_large_batch_splitting``)."""

    def __init__(self, parent: SessionTask, start: int, size: int, barrier: _Barrier):
        feeds = {name: value[start : start + size] for name, value in parent.feeds.items()}
        super().__init__(size, feeds, parent.fetches, parent.timeout_ms)
        self.enqueue_time, self.deadline = parent.enqueue_time, parent.deadline
        self._barrier = barrier

    def finish(self, outputs, error) -> None:
        self._barrier.part_done(self, outputs, error)


class _Barrier:
    """``SplitInputTask``'s IncrementalBarrier: the parent finishes when every part has."""

    def __init__(self, parent: SessionTask, parts: int):
        self._parent = parent
        self._outputs: dict[int, list] = {}
        self._error: ServingError | None = None
        self._left = parts
        self._lock = threading.Lock()
        self.order: list[_SplitPart] = []

    def part_done(self, part: _SplitPart, outputs, error) -> None:
        with self._lock:
            if error is not None and self._error is None:
                self._error = error  # ThreadSafeStatus keeps the first failure
            if outputs is not None:
                self._outputs[id(part)] = outputs
            self._left -= 1
            if self._left:
                return
        if self._error is not None:
            self._parent.finish(None, self._error)
            return
        pieces = [self._outputs[id(part)] for part in self.order]
        merged = [np.concatenate([piece[i] for piece in pieces]) for i in range(len(self._parent.fetches))]
        self._parent.finish(merged, None)


def split_task(task: SessionTask, open_batch_remaining_slot: int, max_batch_size: int) -> list[Task]:
    """``SplitInputTask`` with ``InputSplitMetadata``'s sizes: fill the open batch, then full batches."""
    sizes = []
    left = task.size
    if open_batch_remaining_slot > 0:
        sizes.append(min(open_batch_remaining_slot, left))
        left -= sizes[0]
    while left > 0:
        sizes.append(min(max_batch_size, left))
        left -= sizes[-1]
    barrier = _Barrier(task, len(sizes))
    start = 0
    for size in sizes:
        barrier.order.append(_SplitPart(task, start, size, barrier))
        start += size
    return list(barrier.order)


def input_batch_size(feeds: dict[str, np.ndarray]) -> int:
    """``ComputeTensorBatchSize`` (batching_util.h)."""
    if not feeds:
        raise ServingError("INVALID_ARGUMENT", "Batching Run() must have at least one input tensor")
    size = None
    for value in feeds.values():
        if np.ndim(value) == 0:
            raise ServingError(
                "INVALID_ARGUMENT", "Batching Run() input tensors must have at least one dimension"
            )
        if size is None:
            size = value.shape[0]
        elif value.shape[0] != size:
            raise ServingError(
                "INVALID_ARGUMENT", "Batching Run() input tensors must have equal 0th-dimension size"
            )
    return size


def round_to_allowed_batch_size(allowed: Sequence[int], size: int) -> int:
    """``RoundToLowestAllowedBatchSize``: the first allowed size that holds ``size``."""
    for allowed_size in allowed:
        if allowed_size >= size:
            return allowed_size
    return size


def pad_to(value: np.ndarray, max_dims: Sequence[int]) -> np.ndarray:
    """``AddPadding``: grow every dimension but the 0th to ``max_dims`` with the first element."""
    widths = [(0, 0)] + [
        (0, max(0, big - have)) for have, big in zip(value.shape[1:], max_dims[1:], strict=True)
    ]
    if not any(after for _, after in widths):
        return value
    if not 1 <= value.ndim <= _MAX_PADDED_RANK:
        raise ServingError("INVALID_ARGUMENT", "Only tensors with rank from 1 to 6 can be padded.")
    if value.size < 1:
        raise ServingError("INVALID_ARGUMENT", "Got empty tensor in batch of non-empty tensors.")
    return np.pad(value, widths, mode="constant", constant_values=value.flat[0])


def merge_inputs(
    names: Sequence[str], tasks: Sequence[SessionTask], options: QueueOptions, padding: int
) -> dict:
    """``MergeInputTensors``: one array per input name, padded rows last."""
    merged = {}
    for name in names:
        values = [task.feeds[name] for task in tasks]
        if options.pad_variable_length_inputs:
            # CalculateMaxDimSizes: the first task's rank, the largest size in each dimension.
            max_dims = [max(v.shape[d] for v in values if v.ndim > d) for d in range(values[0].ndim)]
            values = [pad_to(value, max_dims) for value in values]
        else:
            reference = values[0].shape[1:]
            for value in values[1:]:
                if value.shape[1:] != reference:
                    raise ServingError(
                        "FAILED_PRECONDITION",
                        f"Tensors with name '{name}' from different tasks have different shapes and padding is "
                        "turned off. Set pad_variable_length_inputs to true, or ensure that all tensors with the "
                        "same name have equal dimensions starting with the first dim.",
                    )
        if padding > 0:
            # "Use the first row of this task's tensor as the padding data": the last task's.
            values.append(np.repeat(values[-1][:1], padding, axis=0))
        try:
            merged[name] = np.concatenate(values)
        except ValueError as error:
            raise ServingError("INTERNAL", f"Tensor concat operation failed: {error}") from None
    return merged


def split_outputs(
    fetches: Sequence[str], outputs: Sequence[np.ndarray], tasks: Sequence[SessionTask], padded: int
):
    """``SplitOutputTensors``: each task's rows of each output, in the task's fetch order."""
    total = sum(task.size for task in tasks) + padded
    bounds = np.cumsum([task.size for task in tasks])[:-1]
    pieces = {}
    for name, output in zip(fetches, outputs, strict=True):
        if np.ndim(output) == 0:
            raise ServingError("FAILED_PRECONDITION", "Batched output tensor has 0 dimensions")
        if output.shape[0] != total:
            raise ServingError(
                "FAILED_PRECONDITION",
                "Batched output tensor's 0th dimension does not equal the sum of the 0th dimension sizes "
                "of the input tensors",
            )
        pieces[name] = np.split(output[: total - padded], bounds)
    return [[pieces[name][index] for name in task.fetches] for index, task in enumerate(tasks)]


class BatchingSession:
    """A model's ``run`` behind batching queues, one per (input tensors, output tensors) set."""

    def __init__(
        self,
        run: RunFunction,
        scheduler: SharedBatchScheduler,
        options: QueueOptions,
        waiting: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    ):
        self._run = run
        self._scheduler = scheduler
        self.options = options
        # The request's thread waits for its batch inside this (turns.pause: others go on).
        self._waiting = waiting
        self._queues: dict[tuple, Queue] = {}
        self._lock = threading.Lock()

    def run(
        self, feeds: dict[str, np.ndarray], fetches: Sequence[str], timeout_ms: int | None = None
    ) -> list:
        """``BatchingSession::Run``: enqueue, wait for the batch, return this run's rows."""
        size = input_batch_size(feeds)
        key = (tuple(sorted(feeds)), tuple(sorted(set(fetches))))
        task = SessionTask(size, feeds, fetches, timeout_ms)
        self._queue(key).schedule(task)
        with self._waiting():
            return task.wait()

    def close(self) -> None:
        with self._lock:
            queues, self._queues = list(self._queues.values()), {}
        for queue in queues:
            self._scheduler.remove_queue(queue)

    def _queue(self, key: tuple) -> Queue:
        queue = self._queues.get(key)
        if queue is None:
            with self._lock:
                queue = self._queues.get(key)
                if queue is None:
                    split = split_task if self.options.enable_large_batch_splitting else None
                    queue = self._scheduler.add_queue(
                        self.options, lambda tasks: self._process(key, tasks), split
                    )
                    self._queues[key] = queue
        return queue

    def _process(self, key: tuple, tasks: list[SessionTask]) -> None:
        """``ProcessBatch``: every task gets the batch's outcome, whatever happens."""
        outputs, error = None, None
        try:
            outputs = self._run_batch(key, tasks)
        except ServingError as failure:
            error = failure
        for index, task in enumerate(tasks):
            task.finish(None if outputs is None else outputs[index], error)

    def _run_batch(self, key: tuple, tasks: list[SessionTask]) -> list:
        now = time.monotonic()
        if all(task.deadline is not None and task.deadline <= now for task in tasks):
            raise ServingError("RESOURCE_EXHAUSTED", "Run() timeout exceeded while waiting in batching queue")
        rows = sum(task.size for task in tasks)
        padding = round_to_allowed_batch_size(self.options.allowed_batch_sizes, rows) - rows
        names, fetches = key
        merged = merge_inputs(names, tasks, self.options, padding)
        # The batch runs with its tasks' longest timeout (see docs/emulator.md).
        timeouts = [task.timeout_ms for task in tasks]
        timeout_ms = None if None in timeouts or 0 in timeouts else max(timeouts)
        outputs = self._run(merged, list(fetches), timeout_ms)
        return split_outputs(fetches, outputs, tasks, padding)


class ServerBatching:
    """``--enable_batching`` for the whole server: the parameters and the shared batch threads.

    Until ``configure`` turns it on, ``wrap`` hands every model back as it is. The loader
    calls ``wrap`` on each version it loads, as ``SavedModelBundleFactory`` wraps each
    bundle's session (SavedModel and TF Lite alike).
    """

    _WHERE = "tensorflow_serving/servables/tensorflow/bundle_factory_util.cc"

    def __init__(self) -> None:
        self._params = None
        self._per_model = False
        self._scheduler: SharedBatchScheduler | None = None

    def configure(self, enable: bool, parameters_file: str, per_model: bool, default_threads: int) -> None:
        """server.cc's parameters, then ``SavedModelBundleFactory::Create``'s scheduler."""
        self._params = server_batching_parameters(enable, parameters_file)
        if self._params is None:
            return
        self._per_model = per_model
        self._scheduler = SharedBatchScheduler(scheduler_options(self._params, default_threads))

    def wrap(self, model, path: str):
        """``WrapSessionForBatching`` when this version is batched; the model's ``run`` becomes
        the batching session's, and unloading the model closes its queues."""
        if self._scheduler is None:
            return model
        params = per_model_batching_parameters(path, self._params, self._per_model)
        if params is None:
            return model
        log.info(self._WHERE, "Wrapping session to perform batch processing")
        try:
            options = queue_options(params)
        except ServingError:
            model.close()
            raise
        session = BatchingSession(model.run, self._scheduler, options, turns.pause)
        free = model._free

        def free_with_queues() -> None:
            session.close()
            free()

        model.run, model._free = session.run, free_with_queues
        return model
