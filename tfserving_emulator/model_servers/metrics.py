"""Prometheus metrics, named as TF Serving names them.

TF Serving exports its monitoring counters on the REST port when started with
``--monitoring_config_file`` holding ``prometheus_config { enable: true }``. Metric
names are the internal paths with every character outside ``[a-zA-Z0-9_]`` turned into
``:``, e.g. ``/tensorflow/serving/request_count`` -> ``:tensorflow:serving:request_count``
(``util/prometheus_exporter.cc``).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from ..util.errors import ServingError

DEFAULT_PATH = "/monitoring/prometheus/metrics"

# Latency buckets in microseconds: monitoring::Buckets::Exponential(10, 1.8, 33), the limits
# 10 * 1.8^i for i < 33 plus a last bucket up to DBL_MAX (rendered as le="+Inf").
_BUCKETS = [10 * 1.8**i for i in range(33)]

# The gRPC methods that count requests (model_servers/prediction_service_impl.cc):
# GetModelMetadata, MultiInference and the ModelService methods record nothing.
GRPC_COUNTED_APIS = frozenset({"Predict", "Classify", "Regress"})


def _monitoring_config_class():
    """``tensorflow_serving/config/monitoring_config.proto``, which the pip package lacks.

    Built from its two-message definition so the file is parsed exactly as the server does.
    """
    proto = descriptor_pb2.FileDescriptorProto(
        name="tfserving_emulator/monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=8, label=1)  # bool
    prometheus.field.add(name="path", number=2, type=9, label=1)  # string
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config", number=1, type=11, label=1, type_name=".tensorflow.serving.PrometheusConfig"
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


MonitoringConfig = _monitoring_config_class()


def read_monitoring_config(path: str):
    config = MonitoringConfig()
    try:
        with open(path, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), config)
    except OSError as error:
        raise ServingError("NOT_FOUND", f"{path}; {error.strerror or error}") from None
    except text_format.ParseError as error:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Error parsing text-format tensorflow.serving.MonitoringConfig: {error}. Invalid protobuf file: '{path}'",
        ) from None
    return config


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        # tsl::Histogram::Add: std::upper_bound, so a value equal to a limit goes one bucket up.
        self.counts[bisect.bisect_right(_BUCKETS, value)] += 1
        self.total += value
        self.count += 1


class Metrics:
    """Counters and histograms, rendered in the Prometheus text format.

    The metric paths, label names and kinds are those of ``servables/tensorflow/util.cc``
    (``/tensorflow/serving/...``) and TensorFlow's ``cc/saved_model/loader.cc``
    (``/tensorflow/cc/saved_model/...``). Latencies are whole microseconds, as there.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request_count: dict[tuple[str, str], int] = defaultdict(int)
        self._request_latency: dict[tuple[str, str, str], _Histogram] = defaultdict(_Histogram)
        self._runtime_latency: dict[tuple[str, str, str], _Histogram] = defaultdict(_Histogram)
        self._example_count: dict[str, int] = defaultdict(int)
        self._load_attempts: dict[tuple[str, str], int] = defaultdict(int)
        self._load_latency: dict[str, int] = defaultdict(int)

    def record_request(
        self, model_name: str, api: str, entrypoint: str, status: str, latency_us: float
    ) -> None:
        """RecordModelRequestCount for every request; RecordRequestLatency only for an OK one."""
        with self._lock:
            self._request_count[(model_name, status)] += 1
            if status == "OK":
                self._request_latency[(model_name, api, entrypoint)].observe(int(latency_us))

    def record_runtime(self, model_name: str, api: str, latency_us: float, examples: int = 0) -> None:
        with self._lock:
            self._runtime_latency[(model_name, api, "TF1")].observe(int(latency_us))
            if examples:
                self._example_count[model_name] += examples

    def record_load(self, model_path: str, status: str, latency_us: float) -> None:
        """One LoadSavedModel call: ``status`` is "success" or "fail"; both add their latency."""
        with self._lock:
            self._load_attempts[(model_path, status)] += 1
            self._load_latency[model_path] += int(latency_us)

    def render(self) -> str:
        # In the order of the real page: the registry's std::map sorts by metric path.
        lines: list[str] = []
        with self._lock:
            self._render_counters(
                lines,
                ":tensorflow:cc:saved_model:load_attempt_count",
                ("model_path", "status"),
                self._load_attempts,
            )
            self._render_counters(
                lines, ":tensorflow:cc:saved_model:load_latency", ("model_path",), self._load_latency
            )
            self._render_counters(
                lines, ":tensorflow:serving:request_count", ("model_name", "status"), self._request_count
            )
            self._render_counters(
                lines, ":tensorflow:serving:request_example_count_total", ("model",), self._example_count
            )
            self._render_histograms(
                lines,
                ":tensorflow:serving:request_latency",
                ("model_name", "API", "entrypoint"),
                self._request_latency,
            )
            self._render_histograms(
                lines,
                ":tensorflow:serving:runtime_latency",
                ("model_name", "API", "runtime"),
                self._runtime_latency,
            )
        return "\n".join(lines) + "\n"

    @staticmethod
    def _render_counters(lines, name, label_names, counters) -> None:
        lines.append(f"# TYPE {name} counter")
        for key, value in sorted(counters.items()):
            values = key if isinstance(key, tuple) else (key,)
            lines.append(f"{name}{{{_labels(label_names, values)}}} {value}")

    @staticmethod
    def _render_histograms(lines, name, label_names, histograms) -> None:
        lines.append(f"# TYPE {name} histogram")
        for key, histogram in sorted(histograms.items()):
            labels = _labels(label_names, key)
            cumulative = 0
            for bound, count in zip(_BUCKETS, histogram.counts, strict=False):
                cumulative += count
                lines.append(f'{name}_bucket{{{labels},le="{bound:g}"}} {cumulative}')
            lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {histogram.count}')
            lines.append(f"{name}_sum{{{labels}}} {histogram.total:g}")
            lines.append(f"{name}_count{{{labels}}} {histogram.count}")


def _escape(value: str) -> str:
    """SanitizeLabelValue: a backslash becomes two, a double quote gets a backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _labels(names, values) -> str:
    return ",".join(f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True))
