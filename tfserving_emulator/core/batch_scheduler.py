"""TensorFlow's ``SharedBatchScheduler``: queues of tasks, cut into batches, run by shared threads.

``tensorflow/core/kernels/batching_util/shared_batch_scheduler.h`` in small, with the same
rules, because they decide what a client sees:

* Each queue is a deque of batches; the last one is *open*. A task joins the open batch;
  one that does not fit (its rows would pass the queue's batch size) closes it and opens
  a new one, unless the queue already holds ``max_enqueued_batches`` batches: then it is
  refused, UNAVAILABLE ("The batch scheduling queue ... is full").
* A batch thread takes the front batch when it is closed, or the open batch once it is
  full or its first task has waited ``batch_timeout_micros``. With the default timeout 0
  a lone request runs at once, and requests merge only while every thread is busy.
* The ``num_batch_threads`` threads serve every queue of every model, round robin.

The scheduler knows nothing of tensors: a queue hands a list of tasks to the callable it
was given, as TF's ``ProcessBatchCallback``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ..util.errors import ServingError
from .batching_config import QueueOptions, SchedulerOptions


class Task:
    """One ``Run()`` call waiting in a queue; ``size`` is its number of rows (0th dimension)."""

    def __init__(self, size: int, deadline: float | None = None):
        self.size = size
        self.enqueue_time = time.monotonic()
        self.deadline = deadline  # time.monotonic() value, None for none
        self.outputs: list | None = None
        self.error: ServingError | None = None
        self._done = threading.Event()

    def finish(self, outputs: list | None, error: ServingError | None) -> None:
        self.outputs, self.error = outputs, error
        self._done.set()

    def wait(self) -> list:
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.outputs


class Batch:
    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.size = 0

    def add(self, task: Task) -> None:
        self.tasks.append(task)
        self.size += task.size


# split(task, open_batch_remaining_slot, max_execution_batch_size) -> subtasks, for
# enable_large_batch_splitting (BatchingSession's SplitInputTask).
SplitTask = Callable[[Task, int, int], list[Task]]


class Queue:
    """``internal::Queue``: one model signature's tasks. Its methods run under the scheduler's lock."""

    def __init__(
        self,
        scheduler: SharedBatchScheduler,
        options: QueueOptions,
        process_batch: Callable[[list[Task]], None],
        split: SplitTask | None,
    ):
        self.options = options
        self.process_batch = process_batch
        self._split = split
        self._scheduler = scheduler
        self._batches: deque[Batch] = deque([Batch()])
        self._open_start = 0.0
        self.closed = False

    # -- enqueue (the request's thread) -------------------------------------------------------

    def schedule(self, task: Task) -> None:
        """``Queue::Schedule``: add the task, or raise what TF Serving answers."""
        with self._scheduler.lock:
            self._validate_capacity(task)
            limit = self.options.execution_batch_size
            tasks = [task]
            remaining = limit - self._batches[-1].size
            if self.options.enable_large_batch_splitting and task.size > remaining:
                tasks = self._split(task, remaining, limit)
            for piece in tasks:
                if self._batches[-1].size + piece.size > limit:
                    self._batches.append(Batch())  # StartNewBatch: closes the open one
                if not self._batches[-1].tasks:
                    self._open_start = time.monotonic()
                self._batches[-1].add(piece)
            self._scheduler.lock.notify()

    def _validate_capacity(self, task: Task) -> None:
        """``ValidateBatchTaskQueueCapacity``, with its messages."""
        options = self.options
        if task.size > options.max_batch_size:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Task size {task.size} is larger than maximum input batch size {options.max_batch_size}",
            )
        enqueued, open_size = len(self._batches), self._batches[-1].size
        if options.enable_large_batch_splitting:
            limit = options.execution_batch_size
            capacity = (options.max_enqueued_batches - enqueued) * limit + (limit - open_size)
            if task.size > capacity:
                raise ServingError(
                    "UNAVAILABLE",
                    "The batch scheduling queue to which this task was submitted is full; task size is "
                    f"{task.size} but scheduling capacity is only {capacity} (num_enqueued_batches={enqueued}, "
                    f"max_enqueued_batches={options.max_enqueued_batches}, open_batch_size={open_size}, "
                    f"max_execution_batch_size={limit})",
                )
            return
        # TF's check stays loose here "for backward compatibility": only the batch size limit.
        if open_size + task.size > options.max_batch_size and enqueued >= options.max_enqueued_batches:
            raise ServingError(
                "UNAVAILABLE",
                "The batch scheduling queue to which this task was submitted is full; currently "
                f"{enqueued} batches enqueued and max_enqueued_batches is {options.max_enqueued_batches}",
            )

    # -- dequeue (a batch thread, under the lock) ----------------------------------------------

    def ready_at(self) -> float | None:
        """When the front batch may run (monotonic time; now or earlier: ready), None if empty."""
        if len(self._batches) > 1:
            return 0.0
        open_batch = self._batches[0]
        if not open_batch.tasks:
            return None
        if self.closed or open_batch.size >= self.options.execution_batch_size:
            return 0.0
        return self._open_start + self.options.batch_timeout_micros / 1e6

    def take(self) -> Batch:
        """``ScheduleBatch`` once ``ready_at()`` has passed: the front batch, closed."""
        if len(self._batches) == 1:
            self._batches.append(Batch())
        return self._batches.popleft()

    def empty(self) -> bool:
        return len(self._batches) == 1 and not self._batches[0].tasks


class SharedBatchScheduler:
    """The batch threads and the queues they serve (``SharedBatchScheduler::Create``)."""

    def __init__(self, options: SchedulerOptions):
        self.options = options
        self.lock = threading.Condition()
        self._queues: list[Queue] = []
        self._next = 0  # next_queue_to_schedule_: round robin over the queues
        for index in range(options.num_batch_threads):
            thread = threading.Thread(
                target=self._thread_logic, name=f"{options.thread_pool_name}_{index}", daemon=True
            )
            thread.start()

    def add_queue(
        self,
        options: QueueOptions,
        process_batch: Callable[[list[Task]], None],
        split: SplitTask | None = None,
    ) -> Queue:
        queue = Queue(self, options, process_batch, split)
        with self.lock:
            self._queues.append(queue)
        return queue

    def remove_queue(self, queue: Queue) -> None:
        """A closed queue stays until its batches have run (TF's queue destructor waits too)."""
        with self.lock:
            queue.closed = True
            if queue.empty() and queue in self._queues:
                self._queues.remove(queue)
            self.lock.notify_all()

    def _next_batch(self) -> tuple[Queue | None, Batch | None, float | None]:
        """A ready batch, or how long to wait for one (None: until a task comes)."""
        now = time.monotonic()
        wait = None
        count = len(self._queues)
        for offset in range(count):
            queue = self._queues[(self._next + offset) % count]
            ready = queue.ready_at()
            if ready is None:
                if queue.closed:
                    self._queues.remove(queue)
                    return self._next_batch()
                continue
            if ready <= now:
                self._next = (self._next + offset + 1) % count
                return queue, queue.take(), None
            wait = ready - now if wait is None else min(wait, ready - now)
        return None, None, wait

    def _thread_logic(self) -> None:
        while True:
            with self.lock:
                queue, batch, wait = self._next_batch()
                while batch is None:
                    self.lock.wait(wait)
                    queue, batch, wait = self._next_batch()
            try:
                queue.process_batch(batch.tasks)
            except Exception as error:  # a batch thread must never die
                failure = ServingError("INTERNAL", f"batch processing failed: {error!r}")
                for task in batch.tasks:
                    task.finish(None, failure)
